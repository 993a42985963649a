"""The history commands give the same answers on SQLite and PostgreSQL: the same rows in the
same order, the same counts, the same stats and the same report, from one set of mentions
stored in both."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bot import history
from bot.history import BrandInfo, Filters
from bot.report import build_report
from bot.store import Store
from tests.backends import backend, make_store, sql  # noqa: F401 - fixtures
from tests.helpers import T0
from tests.pg import server_dsn, skip_without_server, with_schema
from tests.test_history import BRANDS, fill

QUERIES = ["refund", "refund*", '"charged twice"', "quick OR twice", "refund NOT scam", "review", "#selfcare",
           "session -#selfcare", "booked #selfcare", "title:review", "author:alice", "mindful health", "fan3",
           "refund -author:bob", "#therapy OR #refunded", "helped"]


@pytest.fixture
def pair():
    """(SQLite store, PostgreSQL store) holding the same mentions and one alert."""
    import psycopg

    from bot.store.postgres import PostgresStore

    skip_without_server()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    lite, pg = fill(Store(":memory:")), fill(PostgresStore(with_schema(server_dsn(), schema)))
    for store in (lite, pg):
        sql(store, "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, payload)"
                   " VALUES ('f', 'crisis', 'mindful', 'volume_spike', 'critical', 'alerts', 'firing',"
                   " '2026-03-03T01:10:00Z', '{\"finding\": {\"title\": \"Negative spike\"}}')")
    yield lite, pg
    lite.close()
    pg.close()
    with psycopg.connect(server_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_the_same_rows_and_counts(pair):
    lite, pg = pair
    for query in QUERIES:
        for sort in ("time", "reach"):
            f = Filters(query=query)
            a, b = history.search(lite, f, sort=sort, limit=500), history.search(pg, f, sort=sort, limit=500)
            assert [h.row for h in a] == [h.row for h in b], (query, sort)
        assert history.count_rows(lite, f) == history.count_rows(pg, f) == len(a), query
        rows = [[r for c in history.iter_rows(s, f, chunk=7) for r in c] for s in (lite, pg)]
        assert rows[0] == rows[1], query
    everything = Filters(since=T0 + timedelta(hours=3), until=T0 + timedelta(days=2), platforms=("x",),
                         sentiments=("neutral", "negative"), min_reach=10, authors=("FAN3", "@fan4"))
    assert [h.row for h in history.search(lite, everything, limit=500)] == [
        h.row for h in history.search(pg, everything, limit=500)]
    assert [r for c in history.iter_rows(lite, Filters()) for r in c] == [
        r for c in history.iter_rows(pg, Filters()) for r in c]


def _marked_words(marked: str) -> tuple[str, list[str]]:
    """The text and the words marked in it (a phrase is one mark in FTS5, a mark per word in
    ts_headline: the same words light up)."""
    words = [w for piece, on in history.split_marks(marked) if on for w in piece.split()]
    return marked.replace(history.MARK_OPEN, "").replace(history.MARK_CLOSE, ""), words


def test_the_same_highlights_for_words_phrases_prefixes_and_tags(pair):
    lite, pg = pair
    for query in ("refund", '"charged twice"', "mindful review", "session", "refund*", "#therapy", "title:review"):
        a, b = history.search(lite, Filters(query=query)), history.search(pg, Filters(query=query))
        assert a and [(_marked_words(h.marked_title), _marked_words(h.marked_text)) for h in a] == [
            (_marked_words(h.marked_title), _marked_words(h.marked_text)) for h in b], query
        assert any(_marked_words(h.marked_text)[1] or _marked_words(h.marked_title)[1] for h in a), query


def test_the_same_stats_and_report(pair):
    lite, pg = pair
    topic = BrandInfo("haven", "Haven", "topic", ("haven",))
    for every in ("hour", "day", "week"):
        for brands, platforms in ((BRANDS, ()), ([BRANDS[0], topic], ("x", "youtube"))):
            a = history.stats(lite, brands, T0, T0 + timedelta(days=3), every=every, platforms=platforms,
                              versus=BRANDS[:2])
            b = history.stats(pg, brands, T0, T0 + timedelta(days=3), every=every, platforms=platforms,
                              versus=BRANDS[:2])
            assert a == b, (every, platforms)
    reports = [build_report(s, BRANDS, T0, T0 + timedelta(days=3), every="hour", versus=BRANDS, top=5,
                            generated=T0 + timedelta(days=3)) for s in (lite, pg)]
    assert reports[0].html == reports[1].html
    assert reports[0].alerts == reports[1].alerts and len(reports[0].alerts) == 1
    assert history.top_posts(lite, "mindful", T0, T0 + timedelta(days=3), sentiment="negative") == \
        history.top_posts(pg, "mindful", T0, T0 + timedelta(days=3), sentiment="negative")
    assert lite.stored_brands() == pg.stored_brands() == ["haven", "mindful", "theranow"]


def test_both_stores_implement_the_new_protocols(make_store):
    from bot.store.protocols import Database, Operations, Reports, Retention, Search

    store = make_store()
    for protocol in (Search, Reports, Operations, Retention, Database):
        assert isinstance(store, protocol), protocol.__name__


def test_whatever_is_typed_is_rows_or_a_sentence_on_both(make_store):
    """Arbitrary text as a query (hypothesis): a list of hits or StoreError('cannot search for ...'),
    never a database's own error, on either backend."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    from bot.errors import StoreError

    store = fill(make_store(), filler=20)
    alphabet = st.sampled_from(list('#@"()*-:_\'!?.,;/\\+^{}[]&%$ ') + ["OR", "AND", "NOT", "refund", "title",
                                                                        "author", "mentions", "é", "日本", "\x00"])

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(alphabet, min_size=1, max_size=8).map("".join) | st.text(max_size=20))
    def check(query):
        try:
            found = history.search(store, Filters(query=query), limit=5)
        except StoreError as exc:
            assert str(exc).startswith("cannot search for "), str(exc)
            return
        assert len(found) <= 5

    check()
