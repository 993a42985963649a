"""The query syntax as a PostgreSQL tsquery (bot/store/pg_search.py): pure, no server needed."""

from __future__ import annotations

import pytest

from bot.errors import QueryError
from bot.memhistory import to_fts
from bot.query import parse
from bot.store.pg_search import to_tsquery_text


@pytest.mark.parametrize("query, expected", [
    ("calm", "'calm'"),
    ("Calm App", "('calm' & 'app')"),
    ("calm AND app", "('calm' & 'app')"),
    ('"side effects"', "('side' <-> 'effects')"),
    ("calm OR quiet", "('calm' | 'quiet')"),
    ("calm NOT spam", "('calm' & !'spam')"),
    ("calm -spam", "('calm' & !'spam')"),
    ("refu*", "'refu':*"),
    ("#SelfCare", "'#selfcare'"),
    ("@CalmApp", "'@calmapp'"),
    ("(calm OR quiet) #selfcare", "(('calm' | 'quiet') & '#selfcare')"),
    ("side-effects", "('side' <-> 'effects')"),  # harkbot reads it as a phrase
    ("foo_bar", "('foo' <-> 'bar')"),  # the 'simple' parser splits at '_'
    ("foo_ba*", "('foo' <-> 'ba':*)"),
    ("it's", "('it' <-> 's')"),
    ("Café", "'café'"),
    ("ＣＡＬＭ", "'calm'"),  # full-width folds (NFKC) as harkbot's matcher folds it
    ("नमस्ते", "'नमस्ते'"),  # combining marks stay inside the word
])
def test_the_user_syntax_becomes_a_tsquery(query, expected):
    assert to_tsquery_text(query) == expected


@pytest.mark.parametrize("query, expected", [
    ('"calm"', "'calm'"),
    ('"refu"*', "'refu':*"),
    ('("mindful" AND "health")', "('mindful' & 'health')"),
    ('("calm" OR "quiet"*)', "('calm' | 'quiet':*)"),
    ('"side eff"*', "('side' & 'eff':*)"),  # FTS5's prefix phrase: never matches less
])
def test_the_fts5_forms_memhistory_writes_read_the_same(query, expected):
    assert to_tsquery_text(query) == expected


def test_every_to_fts_translation_reads_back():
    for text in ('"mindful health" OR mindfulhealth', "#selfcare calm*", "@calmapp -spam", "a (b OR c*)"):
        fts = to_fts(parse(text))
        assert fts is not None and to_tsquery_text(fts)


def test_quotes_and_backslashes_are_escaped_inside_lexemes():
    from bot.store.pg_search import _lexeme

    assert _lexeme("it's") == "'it''s'" and _lexeme("a\\b") == "'a\\\\b'"


def test_nothing_indexable_is_none_and_a_malformed_query_says_where():
    assert to_tsquery_text("_") is None
    assert to_tsquery_text("calm OR _") is None  # a branch the index cannot find: no narrowing
    assert to_tsquery_text("calm _") == "'calm'"
    with pytest.raises(QueryError):
        to_tsquery_text('"unbalanced')
    with pytest.raises(QueryError, match="only excludes"):
        to_tsquery_text("NOT spam")


def test_fields_narrow_by_the_index_and_check_their_own_column():
    from bot.store.pg_search import highlight_tsquery, search_condition

    assert to_tsquery_text("title:refund") == "'refund'"  # the index holds title and text together
    assert to_tsquery_text("author:alice") is None  # authors are not in the index
    assert to_tsquery_text("refund -title:scam") == "'refund'"  # NOT title:x excludes less than NOT x
    sql, args = search_condition("refund -title:scam")
    assert sql.startswith("m.fts @@ %s::tsquery AND (") and "NOT (" in sql and "coalesce(m.title, '')" in sql
    assert args == ["'refund'", "'refund'", "'scam'"]
    assert search_condition("calm") == ("m.fts @@ %s::tsquery", ["'calm'"])
    assert search_condition("_") is None
    assert highlight_tsquery("#SelfCare @calm refund -spam") == "'selfcare' | 'calm' | 'refund'"
    with pytest.raises(QueryError, match="searchable fields"):
        search_condition("mentions:foo")


def test_the_fts5_twin_compiles_the_same_syntax():
    from bot.store.sqlite_search import compile_query, matches

    assert compile_query("refund").fts == '{title text} : "refund"' and compile_query("refund").exact
    assert compile_query('"charged twice" OR quick*').fts == '({title text} : "charged twice" OR {title text} : "quick"*)'
    assert compile_query("refund -scam").fts == '({title text} : "refund" NOT {title text} : "scam")'
    assert compile_query("title:refund author:bob").fts == '(title : "refund" AND author : "bob")'
    tagged = compile_query("#selfcare -@spam")
    assert tagged.fts == '{title text} : "selfcare"' and not tagged.exact  # checked row by row
    assert compile_query("calm_app").fts == '{title text} : "calm app"'
    assert compile_query("_").fts is None
    assert matches("#selfcare -@spam", "", "tired #SelfCare today", "a")
    assert not matches("#selfcare", "", "selfcare as a word", "a")
    assert not matches("#selfcare -@spam", "", "#selfcare by @Spam", "a")
    assert matches("title:#news", "#news today", "body", "a") and not matches("title:#news", "x", "#news", "a")
