from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest

from bot.errors import StoreError
from bot.models import iso
from bot.store import SCHEMA_VERSION, Store
from tests.backends import backend, make_store, store  # noqa: F401 - fixtures: both backends
from tests.helpers import T0, mention, scored


def test_new_file_is_owner_only_and_versioned(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.version == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    assert Store(path).version == SCHEMA_VERSION  # reopening migrates nothing twice


def test_refuses_a_newer_schema_and_foreign_files(tmp_path):
    path = tmp_path / "h.db"
    Store(path).conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this harkbot"):
        Store(path)
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="did not create"):
        Store(other)


def test_ingest_dedupes_and_commits_cursor_with_mentions(store):
    batch = [scored(mention(1)), scored(mention(2), label="negative", polarity=-0.5), scored(mention(1))]
    assert store.ingest("x", batch, '{"since_id": "2"}', T0) == 2
    assert store.ingest("x", batch, '{"since_id": "3"}', T0) == 0
    assert store.count("mentions") == 2
    assert store.cursor("x") == '{"since_id": "3"}'
    assert store.health() == []  # a page is not a finished walk: health is the pipeline's call


def test_ingest_without_cursor_keeps_the_old_one(store):
    store.ingest("x", [scored(mention(1))], "old", T0)
    store.ingest("x", [scored(mention(2))], None, T0)
    assert store.cursor("x") == "old"


def test_a_failed_transaction_leaves_nothing_behind(store):
    good = scored(mention(1))
    broken = type(good)(None, ("mindful",), good.score)  # fails after the first row is written
    with pytest.raises(AttributeError):
        store.ingest("x", [good, broken], "c", T0)
    assert store.count("mentions") == 0
    assert store.cursor("x") is None
    assert store.series("mindful", T0, T0 + timedelta(hours=1)) == [0] * 12


def test_buckets_series_and_stats(store):
    rows = [scored(mention(i, at=T0 + timedelta(minutes=i), author=f"a{i % 3}"),
                   label="negative" if i % 2 else "positive", polarity=-0.5 if i % 2 else 0.5) for i in range(12)]
    rows.append(scored(mention(99, at=T0 + timedelta(minutes=7), platform="reddit"), brands=("mindful", "haven")))
    store.ingest("x", rows, None, T0)
    series = store.series("mindful", T0, T0 + timedelta(minutes=20))
    assert series == [5, 6, 2, 0]
    assert store.series("mindful", T0, T0 + timedelta(minutes=15), sentiment="negative") == [2, 3, 1]
    assert store.series("mindful", T0, T0 + timedelta(minutes=15), platforms=["reddit"]) == [0, 1, 0]
    assert store.series("haven", T0, T0 + timedelta(minutes=10)) == [0, 1]
    stats = store.stats("mindful", T0, T0 + timedelta(minutes=15))
    assert (stats.count, stats.negative, stats.positive) == (13, 6, 6)
    assert stats.authors == 4  # a0, a1, a2 on x and user99 on reddit
    assert stats.platforms == {"x": 12, "reddit": 1}
    assert store.first_seen("mindful") == T0
    assert store.first_seen("nobody") is None


def test_mentions_by_reach_and_by_time_with_brand_links(store):
    store.ingest("x", [scored(mention(1, reach=10)), scored(mention(2, reach=5000), brands=("mindful", "haven")),
                       scored(mention(3, reach=50))], None, T0)
    by_reach = store.mentions("mindful", T0, T0 + timedelta(hours=1))
    assert [sm.mention.id for sm in by_reach] == ["2", "3", "1"]
    assert by_reach[0].brands == ("haven", "mindful")
    by_time = store.mentions("mindful", T0, T0 + timedelta(hours=1), order="time", limit=2)
    assert [sm.mention.id for sm in by_time] == ["3", "2"]


def test_full_text_search_is_newest_first_and_filtered(store):
    store.ingest("x", [
        scored(mention(1, "Mindful Health refund please")),
        scored(mention(2, "still waiting on my refund from mindful health")),
        scored(mention(3, "TheraNow refund", ), brands=("theranow",)),
        scored(mention(4, "Mindful Health is lovely")),
    ], None, T0)
    assert [sm.mention.id for sm in store.search("refund", brand="mindful")] == ["2", "1"]
    assert [sm.mention.id for sm in store.search("refund", since=T0 + timedelta(minutes=2))] == ["3", "2"]
    assert [sm.mention.id for sm in store.search('"refund please"')] == ["1"]
    assert [sm.mention.id for sm in store.search("refu*", until=T0 + timedelta(minutes=2))] == ["1"]
    with pytest.raises(StoreError, match="cannot search"):
        store.search('"unbalanced')


def test_failures_count_up_and_reset_on_success(store):
    assert store.record_failure("x", "HTTP 503", T0) == 1
    assert store.record_failure("x", "HTTP 503", T0) == 2
    health = store.health()[0]
    assert (health["failures"], health["last_error"], health["last_error_at"]) == (2, "HTTP 503", iso(T0))
    store.ingest("x", [], "c", T0 + timedelta(minutes=5))
    assert store.health()[0]["failures"] == 2  # storing a page proves nothing about the walk
    store.record_success("x", T0 + timedelta(minutes=5), fetched=10, new=3)
    health = store.health()[0]
    assert (health["failures"], health["retry_at"], health["fetched"], health["new"]) == (0, None, 10, 3)


def test_opening_a_file_while_another_connection_writes_waits_for_wal_instead_of_failing(tmp_path):
    # The store tests' flake: switching a file to WAL while another connection holds a write
    # lock is answered "database is locked" at once (SQLite skips the busy handler where it
    # could deadlock). Made certain here: a writer holds the lock for 0.3 s as the store opens.
    import sqlite3
    import threading

    path = tmp_path / "h.db"
    first = Store(path)
    first.conn.execute("PRAGMA journal_mode = DELETE")  # as a file copied in, or never opened by harkbot
    first.close()
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA busy_timeout = 10000")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO cursors(listener, cursor, updated_at) VALUES ('x', 'c', 't')")
    done = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    done.start()
    try:
        store = Store(path)
    finally:
        done.join()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.cursor("x") == "c"  # it waited for the writer, not around it
    store.close()
    writer.close()


def test_opening_a_new_file_from_many_connections_at_once_migrates_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "race.db"
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: Store(path), range(6)))
    assert {s.version for s in stores} == {SCHEMA_VERSION}
    for s in stores:
        s.close()
