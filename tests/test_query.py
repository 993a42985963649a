"""bot/query.py: parsing brand queries, their errors (with positions), and matching texts."""

from __future__ import annotations

import re

import pytest

from bot.errors import QueryError
from bot.models import Brand
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Word, fold, parse, parse_search, tokenize

a, b, c, d = Word("a"), Word("b"), Word("c"), Word("d")


# --- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, tree", [
    ("mindful", Word("mindful")),
    ("Mindful", Word("mindful")),  # terms are folded like texts
    ('"mindful health"', Phrase(("mindful", "health"))),
    ('"Mindful"', Word("mindful")),  # a one-word phrase is that word
    ("#calmapp", Hashtag("calmapp")),
    ("@CalmApp", Handle("calmapp")),
    ("calm*", Prefix("calm")),
    ("side-effects", Phrase(("side", "effects"))),  # punctuation inside a term: a phrase
    ("a b", And((a, b))),  # juxtaposition is AND
    ("a AND b", And((a, b))),
    ("a OR b", Or((a, b))),
    ("a b c", And((a, b, c))),
    ("a OR b OR c", Or((a, b, c))),
    ("a -b", And((a, Not(b)))),
    ("a NOT b", And((a, Not(b)))),
    ("NOT b a", And((Not(b), a))),
    ('a -"b c"', And((a, Not(Phrase(("b", "c")))))),
    ("a -#b", And((a, Not(Hashtag("b"))))),
    ("a -(b OR c)", And((a, Not(Or((b, c)))))),
    ("((a))", a),
    ("(a OR b) c", And((Or((a, b)), c))),
    ("a (b OR c)", And((a, Or((b, c))))),
    ("mindful(health)", And((Word("mindful"), Word("health")))),  # parentheses split terms
    ("a OR(b)", Or((a, b))),
    ("  a   OR\tb  ", Or((a, b))),
    # operators are upper-case only: lower-case ones are words, as in X search
    ("a or b", And((a, Word("or"), b))),
    ("and not", And((Word("and"), Word("not")))),
])
def test_parse_builds_the_tree(query, tree):
    assert parse(query) == tree


@pytest.mark.parametrize("query, tree", [
    # AND binds tighter than OR: `a b OR c` is `(a b) OR c`
    ("a b OR c", Or((And((a, b)), c))),
    ("a AND b OR c", Or((And((a, b)), c))),
    ("a OR b c", Or((a, And((b, c))))),
    ("a OR b AND c", Or((a, And((b, c))))),
    ("a b OR c d", Or((And((a, b)), And((c, d))))),
    # NOT binds tightest: it negates one term, not the conjunction
    ("a -b c", And((a, Not(b), c))),
    ("a -b OR c", Or((And((a, Not(b))), c))),
])
def test_precedence(query, tree):
    assert parse(query) == tree


def test_precedence_changes_what_matches():
    query = parse("a b OR c")
    assert query.matches("c alone")  # (a b) OR c
    assert not query.matches("a alone")
    assert query.matches("b then a")
    explicit = parse("a (b OR c)")
    assert not explicit.matches("c alone")


@pytest.mark.parametrize("query", [
    "mindful", '"mindful health"', "#calmapp", "@calmapp", "calm*",
    "a b", "a OR b", "a b OR c", "a OR b c", "(a OR b) c", "a -b", "a -(b OR c)", '-"x y" a',
    "a OR (b OR c)", "a (b c)", '"mindful health" OR mindfulhealth OR "mindful app"',
    "theranow -#ad -@theranow OR \"thera now\"", "Ｍｉｎｄｆｕｌ", "café OR CAFÉ", "שלום OR مرحبا",
    "नमस्ते #हिंदी", "a --b",
])
def test_str_round_trips_to_an_equal_tree(query):
    tree = parse(query)
    assert parse(str(tree)) == tree
    assert str(parse(str(tree))) == str(tree)  # and the text is stable


@pytest.mark.parametrize("query, text", [
    ("a b OR c", "(a b) OR c"),
    ("a OR b c", "a OR (b c)"),
    ("a NOT b", "a -b"),
    ("A AND #B AND @C AND d*", "a #b @c d*"),
    ('"Mindful  Health"', '"mindful health"'),
])
def test_str_is_canonical(query, text):
    assert str(parse(query)) == text


# --- parse errors, with the 0-based position of the problem ----------------------------------------

@pytest.mark.parametrize("query, position, message", [
    ("", 0, "the query is empty"),
    ("   ", 0, "the query is empty"),
    ("(a", 0, "unbalanced '('"),
    ("a (b", 2, "unbalanced '('"),
    ("(a OR b", 0, "unbalanced '('"),
    ("a)", 1, "unbalanced ')'"),
    ("a ) b", 2, "unbalanced ')'"),
    ("()", 1, "')' needs a term"),
    ('"a', 0, 'unterminated "phrase"'),
    ('a "b c', 2, 'unterminated "phrase"'),
    ('"a b" "c', 6, 'unterminated "phrase"'),
    ('""', 0, 'empty "phrase"'),
    ("a OR", 4, "ends where a term was expected"),
    ("a OR   ", 7, "ends where a term was expected"),
    ("a AND", 5, "ends where a term was expected"),
    ("NOT", 3, "ends where a term was expected"),
    ("OR a", 0, "'OR' needs a term before and after it"),
    ("a OR OR b", 5, "'OR' needs a term before and after it"),
    ("a AND AND b", 6, "'AND' needs a term before and after it"),
    ("a (OR b)", 3, "'OR' needs a term before and after it"),
    ("NOT a", 0, "only excludes"),
    ("-a", 0, "only excludes"),
    ("-a -b", 0, "only excludes"),
    ("NOT (a OR b)", 0, "only excludes"),
    ('-"a b"', 0, "only excludes"),
    # an OR branch that only excludes matches every post without that term
    ("a OR -b", 0, "an OR branch only excludes"),
    ("a OR NOT b", 0, "an OR branch only excludes"),
    ("(a -b) OR (-c)", 0, "an OR branch only excludes"),
    ("#", 0, "no letters or digits"),
    ("a *", 2, "no letters or digits"),
    ("a - b", 2, "no letters or digits"),
    ("#calm*", 0, "a prefix* cannot also be a #tag or @handle"),
    ("x @calm*", 2, "a prefix* cannot also be a #tag or @handle"),
    ("#side-effects", 0, "not one word"),
])
def test_errors_say_what_and_where(query, position, message):
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_exclusions_inside_a_branch_that_also_looks_for_something_are_fine():
    assert parse("(a -b) OR c") == Or((And((a, Not(b))), c))
    assert parse("a OR (b -c)").matches("b only")


# --- matching --------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, text, expected", [
    # case-insensitive, whole words
    ("calm", "CALM down", True),
    ("Calm", "feeling calm.", True),
    ("calm", "I slept calmly", False),
    ("calm", "becalmed", False),
    ("calm*", "I slept calmly", True),
    ("calm*", "Calmer days", True),
    ("calm*", "becalmed", False),  # a prefix, not a substring
    # a plain word matches the same word as a hashtag or handle
    ("calm", "try #Calm today", True),
    ("calm", "thanks @calm", True),
    ("calm", "#calmapp", False),
    # a hashtag or handle matches only itself
    ("#calmapp", "I use #CalmApp", True),
    ("#calmapp", "I use calmapp", False),
    ("#calmapp", "I use @calmapp", False),
    ("@calmapp", "ask @CALMAPP", True),
    ("@calmapp", "ask calmapp", False),
    ("@calmapp", "#calmapp", False),
    # phrases: the words in order, across punctuation and whitespace, not with words between
    ('"mindful health"', "Mindful Health rocks", True),
    ('"mindful health"', "Mindful-Health!", True),
    ('"mindful health"', "mindful,\n\t health", True),
    ('"mindful health"', "love #mindful #health", True),
    ('"mindful health"', "health mindful", False),
    ('"mindful health"', "mindful; the health", False),
    ('"mindful health"', "mindfulhealth", False),
    ("side-effects", "side effects are bad", True),
    # boolean structure
    ("a b", "b and a", True),
    ("a b", "a only", False),
    ("a -b", "a only", True),
    ("a -b", "a and b", False),
    ("a -(b OR c)", "a with c", False),
    ("a OR b", "just b", True),
    ("a OR b", "neither", False),
    ("mindful's", "Mindful's app", True),
])
def test_matching(query, text, expected):
    assert parse(query).matches(text) is expected


@pytest.mark.parametrize("query, text", [
    ("mindful", "Ｍｉｎｄｆｕｌ is great"),  # full-width letters (NFKC)
    ('"mindful health"', "ＭＩＮＤＦＵＬ　ＨＥＡＬＴＨ"),  # ... and an ideographic space
    ("Ｍｉｎｄｆｕｌ", "mindful"),  # the query is folded the same way
    ("#mindful", "＃Ｍｉｎｄｆｕｌ"),  # full-width number sign
    ("fine", "ﬁne"),  # the fi ligature
    # zero-width and bidi control characters inside a brand name
    ("mindful", "Mind\u200bful"),
    ("mindful", "Mind\u200cful\u200d"),
    ("mindful", "Mi\u00adnd\ufeffful"),  # soft hyphen, BOM
    ("mindful", "Mind\u2060ful"),
    ("mindful", "Mind\u202eful\u202c"),
    ("mindful", "Mind\u2066ful\u2069"),  # bidi isolates (what editors insert today)
    ("mindful", "Mind\u2067ful"),
    ("mindful", "Mind\u061cful"),  # Arabic letter mark
    ("mindful", "Mind\u2063ful"),  # invisible separator
    ("mindful", "Mind\ufe0fful"),  # variation selector
    ("mindful", "Mind\U000e0041ful"),  # tag character
    ("mindfulhealth", "Mindful\u200bHealth"),
    ('"mindful health"', "Mind\u200bful He\u200dalth"),
    ("#mindful", "#Mind\u200bful"),
    # accents: kept, but case-folded; composed and decomposed forms are the same word
    ("café", "CAFÉ time"),
    ("café", "cafe\u0301 time"),
    ("cafe\u0301", "café"),
    ("café", "cafe\u200b\u0301"),
    ("straße", "STRASSE"),
    ("istanbul", "İstanbul"),  # casefold's "i + combining dot" would split the word
    ("ωμέγα", "ΩΜΈΓΑ"),
    # right-to-left scripts
    ("שלום", "אמרתי שלום לכולם"),
    ('"مرحبا بكم"', "قال: مرحبا بكم!"),
    ("مرحبا", "\u2067مرحبا\u2069 world"),
    # scripts with combining marks stay one word
    ("नमस्ते", "नमस्ते दुनिया"),
    ("#हिंदी", "I love #हिंदी"),
    ("สวัสดี", "สวัสดี ครับ"),
    ("مَرْحَبًا", "قال مَرْحَبًا"),
    # emoji are not words, and do not glue words together
    ("mindful", "I ❤️ Mindful😀!"),
    ('"mindful health"', "mindful😀health"),
    ("mindful", "👨\u200d👩\u200d👧 mindful"),
])
def test_unicode_matches(query, text):
    assert parse(query).matches(text)


@pytest.mark.parametrize("query, text", [
    ("mindful", "mindfulness"),
    ("mindful", "Ｍｉｎｄｆｕｌｎｅｓｓ"),
    ("café", "cafe"),  # accents are not stripped
    ("नमस्ते", "नमस त"),  # the word, not fragments of it
    ("#हिंदी", "हिंदी"),
    ("mindful", "mind ful"),
])
def test_unicode_non_matches(query, text):
    assert not parse(query).matches(text)


def test_tokenize_splits_words_hashtags_and_handles():
    tokens = tokenize("Love #CalmApp, thanks @Team_Calm! calm-ish")
    assert tokens.words == ("love", "calmapp", "thanks", "team_calm", "calm", "ish")
    assert tokens.hashtags == frozenset({"calmapp"})
    assert tokens.handles == frozenset({"team_calm"})
    assert tokens.vocabulary == frozenset(tokens.words)


@pytest.mark.parametrize("text", ["Ｍｉｎｄ\u200bful", "İSTANBUL", "cafe\u0301", "ǰ", "ﬃ", "ＡＢＣ", "Straße", "\u2067x\u2069"])
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


# --- brands: query and exclude -----------------------------------------------------------------------

def _brand(query: str, exclude: str | None = None) -> Brand:
    return Brand("mindful", "Mindful Health", "brand", parse(query), parse(exclude) if exclude else None)


@pytest.mark.parametrize("text, expected", [
    ("Mindful Health is great", True),
    ("I love mindfulhealth", True),
    ("the mindful app crashed", True),
    ("Mindful eating with Mindful Health", False),  # excluded
    ("be mindful, said Mindful Health", False),  # excluded
    ("Be Mindful Health", False),  # the exclusion is case-insensitive too
    ("be more mindful", False),  # not matched at all
    ("mindful eating", False),
])
def test_brand_matches_applies_the_exclusion(text, expected):
    brand = _brand('"mindful health" OR mindfulhealth OR "mindful app"', '"mindful eating" OR "be mindful"')
    assert brand.matches(text) is expected


def test_brand_without_exclusion():
    assert _brand("theranow").matches("TheraNow launched")
    assert not _brand("theranow").matches("thera now")


# --- terms: what a platform search must ask for -------------------------------------------------------

@pytest.mark.parametrize("query, terms", [
    ("a", ["a"]),
    ("a b", ["a", "b"]),
    ('a OR "b c" OR #d OR @e OR f*', ["a", '"b c"', "#d", "@e", "f*"]),
    ("a -b", ["a"]),
    ("a -(b OR c) d", ["a", "d"]),
    ('(a -"b c") OR d', ["a", "d"]),
    ("a NOT #b NOT @c", ["a"]),
])
def test_terms_skip_negated_terms(query, terms):
    assert [str(t) for t in parse(query).terms()] == terms


def test_search_fields_and_fts5_prefixes():
    from bot.query import Field, Handle, Phrase, Prefix, Word, parse_search

    assert parse_search("title:refund") == Field("title", Word("refund"))
    assert parse_search('TEXT:"charged twice"') == Field("text", Phrase(("charged", "twice")))
    assert parse_search("author:@Alice") == Field("author", Word("alice"))  # stored without the @
    assert parse_search('"refu"*') == Prefix("refu")
    assert parse_search("https://example.com/a") == Phrase(("https", "example", "com", "a"))  # a link, not a field
    assert parse_search("Update: refund") == And((Word("update"), Word("refund")))  # a word with a colon
    assert parse_search("@calm") == Handle("calm")
    for text, message in (("mentions:foo", "'mentions' is not a field you can search; the searchable fields are"
                                           " text:, title:, author:"),
                          ("title:", "'title:' needs a term after it"),
                          ("title:(author:x)", "inside another field")):
        with pytest.raises(QueryError, match=re.escape(message)):
            parse_search(text)
    # brand queries have no fields: the old meaning stays
    assert parse("title:calm") == Phrase(("title", "calm"))


def test_a_term_that_folds_to_nothing_is_a_sentence_not_a_crash():
    # a soft hyphen (U+00AD) alone folds to '' (found by the backends' hypothesis test)
    for text in ("\xad", "\u200b", "#\xad"):
        with pytest.raises(QueryError, match="no letters or digits"):
            parse_search(text)
