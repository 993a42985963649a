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
