"""What only the PostgreSQL backend has to get right: migrations under concurrency, races
between processes (dedupe, leases, outbox claims, safety alerts), text search with tags and
handles, NUL and odd text, and rows equal to SQLite's."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import LeaseLost, StoreError
from bot.models import Alert, Finding, Post, iso
from bot.store import SCHEMA_VERSION, RuleState, Store
from tests.backends import sql
from tests.helpers import T0, mention, scored

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pg(pg_dsn):
    from bot.store.postgres import PostgresStore

    s = PostgresStore(pg_dsn)
    yield s
    s.close()


def together(n: int, work) -> list:
    """Run work(i) in n threads released at the same instant; their results in order."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def an_alert(rule: str = "spike", title: str = "Spike: Mindful Health") -> Alert:
    finding = Finding("mindful", title, "why", 40.0, 10.0, T0, T0 + timedelta(hours=1),
                      posts=(Post("x", "user1", "post text", "https://x.com/1", T0, 10, 1, "negative", "x:1"),))
    return Alert(None, f"fp-{rule}", rule, "volume_spike", "warning", "mindful", None, T0, finding)


# -- schema ---------------------------------------------------------------------------------

def test_migrations_run_once_and_a_rerun_does_nothing(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    assert pg.version == SCHEMA_VERSION and len(pg._migrated) == SCHEMA_VERSION
    assert pg.migrate() == []
    again = PostgresStore(pg_dsn)
    assert again._migrated == [] and again.version == SCHEMA_VERSION
    again.close()
    assert sql(pg, "SELECT version FROM schema_version ORDER BY version") == [(i,) for i in range(1, SCHEMA_VERSION + 1)]


def test_two_processes_opening_a_fresh_schema_at_once_migrate_it_once(pg_dsn):
    code = ("import sys, json; from bot.store.postgres import PostgresStore; sys.stdin.readline();"
            f" s = PostgresStore({pg_dsn!r}); print(json.dumps(s._migrated)); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:  # both imported and waiting: release them together
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(len(r) for r in results) == [0, 0, SCHEMA_VERSION]  # one did it all, the others nothing


def test_a_newer_schema_and_a_foreign_mentions_table_are_refused(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    sql(pg, "INSERT INTO schema_version(version, name) VALUES (?, 'from the future')", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this harkbot"):
        PostgresStore(pg_dsn)


def test_a_server_that_is_not_there_is_an_error_naming_it_without_the_password():
    from bot.store.postgres import PostgresStore

    with pytest.raises(StoreError, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/db") as caught:
        PostgresStore("postgresql://u:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(caught.value)


# -- races ------------------------------------------------------------------------------------

def test_the_same_page_ingested_by_four_workers_at_once_is_stored_once(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    stores = [PostgresStore(pg_dsn) for _ in range(4)]
    page = [scored(mention(i, at=T0 + timedelta(minutes=i % 10)), brands=("mindful", "haven")) for i in range(200)]
    new = together(4, lambda i: stores[i].ingest("x", page, f"c{i}", T0))
    assert sum(new) == 200
    assert pg.count("mentions") == 200 and pg.count("mention_brands") == 400
    assert sum(pg.series("mindful", T0, T0 + timedelta(minutes=10))) == 200  # buckets counted once
    for s in stores:
        s.close()


def test_one_of_many_racing_for_a_free_lease_gets_it(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    stores = [PostgresStore(pg_dsn) for _ in range(6)]
    got = together(6, lambda i: stores[i].acquire_lease("poll:x", f"w{i}", T0, timedelta(minutes=1)))
    winners = [lease for lease in got if lease is not None]
    assert len(winners) == 1 and winners[0].token == 1
    assert pg.leases() == winners
    for s in stores:
        s.close()


def test_a_lease_taken_over_fences_the_old_holders_write(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    other = PostgresStore(pg_dsn)
    old = pg.acquire_lease("poll:x", "w1", T0, timedelta(minutes=1))
    assert other.acquire_lease("poll:x", "w2", T0 + timedelta(seconds=30), timedelta(minutes=1)) is None
    new = other.acquire_lease("poll:x", "w2", T0 + timedelta(minutes=2), timedelta(minutes=1))
    assert new is not None and new.token == old.token + 1
    with pytest.raises(LeaseLost):
        pg.ingest("x", [scored(mention(1))], "zombie cursor", T0 + timedelta(minutes=2), lease=old)
    assert pg.count("mentions") == 0 and pg.cursor("x") is None
    assert pg.renew_lease(old, T0 + timedelta(minutes=2), timedelta(minutes=1)) is None
    assert other.ingest("x", [scored(mention(1))], "c", T0 + timedelta(minutes=2), lease=new) == 1
    other.release_lease(new)
    again = pg.acquire_lease("poll:x", "w1", T0 + timedelta(minutes=2), timedelta(minutes=1))
    assert again is not None and again.token == new.token + 1  # released: free at once, tokens still rise
    other.close()


def test_a_takeover_waits_for_a_fenced_write_in_flight(pg_dsn, pg):
    """The fence holds the lease row until the page commits: an acquire in between waits, so a
    write that passed its fence can never land after the lease changed hands."""
    from bot.store.postgres import PostgresStore

    lease = pg.acquire_lease("poll:x", "w1", T0, timedelta(seconds=1))
    taker = PostgresStore(pg_dsn)
    order: list[str] = []
    with pg._tx() as c:
        pg._fence(c, lease)
        thread = threading.Thread(target=lambda: order.append(
            "taken" if taker.acquire_lease("poll:x", "w2", T0 + timedelta(minutes=1), timedelta(minutes=1)) else "no"))
        thread.start()
        thread.join(0.5)
        order.append("committed")
    thread.join()
    assert order == ["committed", "taken"]
    taker.close()


def test_several_senders_claiming_the_same_rows_at_once_get_them_once(pg_dsn, pg):
    from bot.store.postgres import PostgresStore

    state = RuleState("fp-spike", "spike", "mindful", "firing", T0, None, None, T0)
    pg.save_state(state, an_alert(), ["slack", "console", "teams"], T0)
    ids = [d.id for d in pg.open_deliveries()]
    stores = [PostgresStore(pg_dsn) for _ in range(5)]
    claimed = together(5, lambda i: stores[i].claim(ids if i % 2 else list(reversed(ids))))
    assert claimed.count(True) == 1
    assert {d.status for d in pg.open_deliveries()} == {"sending"} and {d.batch for d in pg.open_deliveries()} == {min(ids)}
    for s in stores:
        s.close()


def test_a_safety_flag_is_alerted_once_by_racing_processes(pg_dsn, pg):
    from bot.selfharm import SafetyFlag
    from bot.store.postgres import PostgresStore

    sm = replace(scored(mention(1, "I want to end it all")), safety=SafetyFlag("intent", ("end it all",), "cue"))
    pg.ingest("x", [sm], None, T0)
    stores = [PostgresStore(pg_dsn) for _ in range(4)]
    notice = replace(an_alert("self-harm-safety"), state="notice")
    ids = together(4, lambda i: stores[i].record_safety_alert(sm.mention.key, notice, ["slack"], T0))
    assert len([i for i in ids if i is not None]) == 1 and pg.count("outbox") == 1
    for s in stores:
        s.close()


# -- search and text --------------------------------------------------------------------------

def test_hashtags_and_handles_are_searchable_apart_from_the_word(pg):
    pg.ingest("x", [scored(mention(1, "Loving #SelfCare with @CalmApp today")),
                    scored(mention(2, "selfcare is a word here, calmapp too")),
                    scored(mention(3, "nothing relevant"), brands=("haven",)),
                    scored(mention(4, "reach me at x@calmapp.com side-effects"))], None, T0)
    ids = lambda q, **kw: sorted(sm.mention.id for sm in pg.search(q, **kw))  # noqa: E731
    assert ids("#selfcare") == ["1"] and ids("@calmapp") == ["1", "4"]  # '@calmapp' in an email is a handle to harkbot too
    assert ids("selfcare") == ["1", "2"]  # a word matches its hashtag, as in bot.query
    assert ids('"side effects"') == ["4"] and ids("side-effects") == ["4"]
    assert ids("calm*") == ["1", "2", "4"] and ids("selfcare -#selfcare") == ["2"]
    assert ids("#selfcare OR nothing") == ["1", "3"] and ids("nothing", brand="mindful") == []
    with pytest.raises(StoreError, match="cannot search"):
        pg.search('"unbalanced')


def test_link_rows_reads_the_fts5_forms_memhistory_writes(pg):
    from bot.memhistory import to_fts
    from bot.query import parse

    pg.ingest("x", [scored(mention(1, "Loving #SelfCare")), scored(mention(2, "refunds please")),
                    scored(mention(3, "Café crème"), brands=("haven",))], None, T0)
    end = T0 + timedelta(hours=1)
    keys = lambda q: sorted(r[0] for r in pg.link_rows(T0, end, fts=to_fts(parse(q))))  # noqa: E731
    assert keys("#selfcare") == ["x:1"] and keys("refund*") == ["x:2"] and keys("café") == ["x:3"]
    assert [r[0] for r in pg.link_rows(T0, end, odd=True)] == ["x:3"]  # beyond ASCII: checked by harkbot
    assert [r[0] for r in pg.link_rows(T0, end, containing="fé cr")] == ["x:3"]


def test_nul_characters_become_replacement_characters_at_the_edge(pg):
    m = replace(mention(1, "Mindful\x00Health leak"), title="ti\x00tle", author="us\x00er",
                raw={"text": "a\x00b", "nested": ["\x00"]})
    assert pg.ingest("x", [replace(scored(m), )], "cur\x00sor", T0) == 1
    (got,) = pg.search("leak")
    assert got.mention.text == "Mindful\ufffdHealth leak" and got.mention.title == "ti\ufffdtle"
    assert got.mention.author == "us\ufffder" and got.mention.raw == {"text": "a\ufffdb", "nested": ["\ufffd"]}
    assert [sm.mention.id for sm in pg.search("health")] == ["1"]  # still a word boundary
    assert pg.cursor("x") == "cur\ufffdsor"
    state = RuleState("fp-spike", "spike", "mindful", "firing", T0, None, None, T0)
    alert_id = pg.save_state(state, an_alert(title="Spike\x00 title"), ["slack"], T0)
    assert pg.alert(alert_id).finding.title == "Spike\ufffd title"
    assert pg.alert_rows(T0)[0]["title"] == "Spike\ufffd title"
    assert pg.record_failure("x", "bad\x00error", T0) == 1 and pg.health()[0]["last_error"] == "bad\ufffderror"


def test_odd_unicode_round_trips(pg):
    texts = ["Mindful Health 😀👍🏽 family 👨‍👩‍👧", "שלום Mindful Health", "Mindful\u200bHealth", "नमस्ते Mindful",
             "e\u0301 combining", "\U0001d54e math", "line\r\nbreak\ttab"]
    pg.ingest("x", [scored(mention(i, t)) for i, t in enumerate(texts)], None, T0)
    got = {sm.mention.id: sm.mention.text for sm in pg.recent(limit=100)}
    assert got == {str(i): t for i, t in enumerate(texts)}
    assert [sm.mention.id for sm in pg.search("שלום")] == ["1"] and [sm.mention.id for sm in pg.search("नमस्ते")] == ["3"]


# -- the same rows as SQLite --------------------------------------------------------------------

def test_both_backends_hand_out_equal_rows(pg):
    lite = Store(":memory:")
    rows = [scored(mention(i, f"Mindful Health post {i} #tag{i % 3}", at=T0 + timedelta(minutes=3 * i),
                           author=f"a{i % 4}", platform="x" if i % 2 else "reddit", reach=10 * i),
                   brands=("mindful",) if i % 3 else ("mindful", "haven"),
                   label=("negative", "neutral", "positive")[i % 3], polarity=(i % 3 - 1) * 0.5)
            for i in range(30)]
    end = T0 + timedelta(hours=2)
    state = RuleState("fp-spike", "spike", "mindful", "firing", T0, None, None, T0)
    for s in (lite, pg):
        s.ingest("x", rows[:20], "c1", T0 + timedelta(minutes=1))
        s.bulk_ingest("y", rows[15:], T0 + timedelta(minutes=2))
        s.record_failure("x", "HTTP 503", T0, T0 + timedelta(minutes=5))
        s.record_success("y", T0, 10, 5)
        alert_id = s.save_state(state, an_alert(), ["slack", "console"], T0)
        s.record_update(replace(state, alert_id=alert_id), an_alert(title="worse"), "doubled", T0 + timedelta(minutes=5))
        s.claim([1, 2])
        s.delivered([1], T0, channel="#a", channel_id="C1", ts="1.1", key="k")
        s.retry_later([2], "boom", T0 + timedelta(minutes=1))
        s.save_state(replace(state, state="resolved", alert_id=alert_id), now=T0 + timedelta(hours=1),
                     resolved_alert=alert_id)
        s.add_silence("spike", None, T0, end, "known", "me", T0)
        s.record_notice(replace(an_alert("admin"), state="notice"), ["slack"], T0)
        s.acquire_lease("poll:x", "w1", T0, timedelta(minutes=1))

    def plain(rows) -> list[tuple]:
        return sorted(tuple(r) for r in rows)

    def calls(s):
        return {
            "version": s.version, "counts": [s.count(t) for t in ("mentions", "alerts", "outbox", "mention_brands")],
            "series": s.series("mindful", T0, end), "neg": s.series("mindful", T0, end, sentiment="neutral"),
            "stats": s.stats("mindful", T0, end), "totals": s.totals("mindful", T0, end, platforms=["x"]),
            "authors": s.authors("mindful", T0, end, sentiment="negative"),
            "mentions": s.mentions("mindful", T0, end, order="time"), "first": s.first_seen("haven"),
            "records": [tuple(r) for r in s.mention_records("mindful", T0, end, order="time")],
            "rows": plain(s.mention_rows("haven", T0, end)), "span": s.mention_span(),
            "buckets": plain(s.bucket_rows(T0, end)), "links": plain(s.link_rows(T0, end, min_reach=100)),
            "authors_links": plain(s.link_rows(T0, end, authors=["@A1"])), "brand_links": plain(s.brand_links(T0, end)),
            "iter": plain(s.iter_mentions(T0, end)), "iter_links": [tuple(r) for r in s.iter_links("haven", T0, end)],
            "times": [tuple(r) for r in s.ingest_times(T0, end)], "health": s.health(), "health_of": s.health_of("x"),
            "activity": s.listener_activity(), "retry": s.retry_at("x"), "cursor": s.cursor("x"),
            "state": s.rule_state("fp-spike"), "open": s.open_states(), "alerts": s.alerts(),
            "alert": s.alert(1), "times1": s.alert_times(1), "alert_rows": s.alert_rows(T0),
            "report": s.alert_report(1), "updates": s.alert_updates(1), "update": s.update_of(1),
            "deliveries": s.open_deliveries(), "of": s.deliveries_of(1), "message": s.message_of(1, "slack"),
            "in_message": s.alerts_in_message(s.message_of(1, "slack")), "outbox": s.outbox_counts(),
            "silences": s.silences(), "active": s.silences(T0 + timedelta(minutes=1)),
            "leases": s.leases(), "recent": s.recent(brand="haven", limit=5),
            "existing": s.existing_keys(["x:1", "x:99", "reddit:2"]),
        }

    ours, theirs = calls(pg), calls(lite)
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert [sm.mention.id for sm in pg.search("tag1")] == [sm.mention.id for sm in lite.search("tag1")]
    lite.close()
