"""bot/text.py: the text tokens every stage reads, and Text, which makes each cut once."""

import pickle

from hypothesis import given, settings, strategies as st

from bot.models import Brand
from bot.query import parse
from bot.text import BOUNDARY, Text, as_text, cased_tokens, fold, folded_of, tokenize


def test_a_text_is_its_string_and_keeps_its_cuts():
    t = Text("Loving #CalmApp, thanks @Mindful!")
    assert t == "Loving #CalmApp, thanks @Mindful!" and isinstance(t, str)
    assert t.tokens is t.tokens  # made once, then shared
    assert tokenize(t) is t.tokens
    assert t.words == ("loving", "calmapp", "thanks", "mindful")
    assert t.tokens.hashtags == {"calmapp"} and t.tokens.handles == {"mindful"}
    assert t.folded == "loving #calmapp, thanks @mindful!"
    assert as_text(t) is t and type(as_text("x")) is Text


def test_folding_drops_invisibles_and_reads_turkish_i():
    assert fold("Mind\u200bful") == "mindful"
    assert fold("İstanbul") == "istanbul"
    assert Text("ﬁne Ｍindful").words == ("fine", "mindful")  # NFKC: ligature, full-width
    assert Text("नमस्ते दोस्त").words == ("नमस्ते", "दोस्त")  # combining marks stay in the word


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=80))
def test_a_text_cuts_as_the_plain_tokenizer_does(s):
    """The fast paths (ASCII folds to lower case; a Text's cached cut) give what the slow ones do."""
    assert folded_of(s) == fold(s)
    assert Text(s).tokens == tokenize(s)
    assert Text(s).folded == fold(s)


def test_one_text_serves_every_brand():
    brands = [Brand("a", "A", "brand", parse("mindful")), Brand("b", "B", "brand", parse("#calm -spam")),
              Brand("c", "C", "brand", parse('"bad app"'))]
    t = Text("Mindful is a bad app #calm")
    first = t.tokens
    assert [b.key for b in brands if b.matches_tokens(tokenize(t))] == ["a", "b", "c"]
    assert t.tokens is first


def test_a_text_pickles_as_its_string_without_its_cuts():
    t = Text("Mindful rocks")
    _ = t.tokens
    back = pickle.loads(pickle.dumps(t))
    assert type(back) is Text and back == t and "tokens" not in back.__dict__
    assert back.tokens == t.tokens


def test_cased_tokens_keep_capitals_emoji_emoticons_and_sentence_ends():
    toks, caps = cased_tokens("The app is GREAT :) but slow. #NeverAgain 😡 @mindful http://x.co",
                              {"😡": -2.0}, frozenset({":)"}))
    assert toks == ["the", "app", "is", "great", ":)", "but", "slow", BOUNDARY, "never", "again", "😡"]
    assert caps == [False, False, False, True, False, False, False, False, False, False, False]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(["GOOD", "good", ":)", ":D", "#NeverAgain", "@x", "http://a", "ok.", "😡!", "’s",
                                 "don’t", "A", "3h", "end!)", "\u200b"]) | st.text(max_size=12), max_size=12))
def test_a_cased_cutter_cuts_as_cased_tokens_with_its_memo_full_or_cleared(chunks):
    from bot.text import CasedCutter

    emoji, emoticons = {"😡": -2.0}, frozenset({":)", ":d"})
    cutter = CasedCutter(emoji, emoticons)
    cutter.LIMIT = 3  # starts over often
    text = " ".join(chunks)
    for _ in range(2):  # the second time from the memo
        assert cutter(text) == cased_tokens(text, emoji, emoticons)


def test_a_cased_cutter_pickles_without_its_memo():
    from bot.text import CasedCutter

    cutter = CasedCutter({"😡": -2.0}, frozenset({":)"}))
    assert cutter("GREAT :) 😡") == cased_tokens("GREAT :) 😡", {"😡": -2.0}, frozenset({":)"}))
    back = pickle.loads(pickle.dumps(cutter))
    assert back._memo == {} and cutter._memo
    assert back("GREAT :) 😡") == cutter("GREAT :) 😡")
