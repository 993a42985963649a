"""`harkbot copy --to postgresql://...` (bot/store/copy.py) from the demo's SQLite history, and
`harkbot migrate` on both backends."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import StoreError
from bot.store import Store
from bot.store.copy import TABLES, _Interrupted, copy_history
from tests.backends import sql
from tests.helpers import T0, mention, scored


@pytest.fixture
def pg(pg_dsn):
    from bot.store.postgres import PostgresStore

    s = PostgresStore(pg_dsn)
    yield s
    s.close()


@pytest.fixture
def source(demo_run, tmp_path):
    """The demo's history (a copy of its file) plus deliveries, messages, updates and a silence,
    which the console-less demo run does not write."""
    import shutil
    from dataclasses import replace

    from bot.store import RuleState

    shutil.copy(demo_run.database, tmp_path / "source.db")
    s = Store(tmp_path / "source.db")
    for alert in s.alerts()[:3]:
        state = RuleState(f"copy-{alert.fingerprint}", alert.rule, alert.brand, "firing", T0, None, None, T0)
        alert_id = s.save_state(state, replace(alert, id=None), ["slack", "console"], T0)
        s.record_update(replace(state, alert_id=alert_id), alert, "worse", T0)
        first = s.deliveries_of(alert_id)[0]
        s.claim([first.id])
        s.delivered([first.id], T0, channel="#c", channel_id="C1", ts=f"{alert_id}.1", key="k")
    s.add_silence(None, "mindful", T0, T0, "copied too", "me", T0)
    s.conn.execute("INSERT INTO audit(at, action, subject, rows, counts) VALUES ('2026-03-02T00:00:00Z', 'forget',"
                   " 'user1', 3, '{\"mentions\": 3}')")
    s.instance()
    first = s.alerts()[0].id
    s.record_triage(first, "ack", "ann", T0, source="slack", ref="trigger-copied")
    s.record_triage(first, "verdict", "ann", T0, verdict="noise", reason="spam", note="bots")
    s.record_label(s.recent(limit=1)[0].mention.key, "neutral", "ann", T0)
    yield s
    s.close()


def counts_of(store) -> dict[str, int]:
    return {table: sql(store, f"SELECT COUNT(*) FROM {table}")[0][0] for table, _pk in TABLES}


def test_a_copy_moves_every_table_and_the_copy_reads_as_the_original(source, pg):
    counts = copy_history(source, pg, source_name="demo", page=5000)
    assert all(c.ok for c in counts) and {c.table: c.target for c in counts} == counts_of(source)
    assert all(n > 0 for n in counts_of(source).values()), counts_of(source)
    assert pg.alerts() == source.alerts()
    span = source.mention_span()
    assert pg.mention_span() == span
    assert pg.series("mindful", *span) == source.series("mindful", *span)
    assert pg.stats("mindful", *span) == source.stats("mindful", *span)
    assert [pg.deliveries_of(a.id) for a in source.alerts()] == [source.deliveries_of(a.id) for a in source.alerts()]
    assert pg.health() == source.health() and pg.instance() == source.instance()
    assert pg.triage_events() == source.triage_events() and pg.labels() == source.labels()
    assert pg.audit_rows() == source.audit_rows()
    assert [sm.mention.key for sm in pg.search("refund", limit=500)] == \
        [sm.mention.key for sm in source.search("refund", limit=500)]
    # the identity sequences moved past the copied ids: a new alert does not collide
    next_id = pg.record_notice(source.alerts()[0], ["console"], T0)
    assert next_id == sql(source, "SELECT MAX(id) FROM alerts")[0][0] + 1
    # ... nor does a new triage event; and a copied Slack click is still one seen before
    assert pg.record_triage(next_id, "ack", "bob", T0).id == len(source.triage_events()) + 1
    with pytest.raises(StoreError, match="recorded before"):
        pg.record_triage(next_id, "ack", "bob", T0, source="slack", ref="trigger-copied")


def test_an_interrupted_copy_resumes_where_it_stopped_without_doubles(source, pg):
    with pytest.raises(_Interrupted):
        copy_history(source, pg, source_name="demo", page=1000, stop_after=3)
    partial = pg.count("mentions")
    assert 0 < partial < source.count("mentions")
    seen: list[tuple[str, int, int]] = []
    counts = copy_history(source, pg, source_name="demo", page=1000, on_progress=lambda *a: seen.append(a))
    assert all(c.ok for c in counts)
    mentions = next(c for c in counts if c.table == "mentions")
    assert mentions.copied == mentions.source - partial  # only what was missing went over again
    assert ("mentions", mentions.source, mentions.source) in seen
    again = copy_history(source, pg, source_name="demo", page=1000)
    assert all(c.ok and c.copied == 0 for c in again)


def test_odd_rows_are_converted_not_refused(tmp_path, pg):
    lite = Store(tmp_path / "odd.db")
    lite.ingest("x", [scored(mention(1, "nul\x00inside"))], "c\x00", T0)
    lite.conn.execute("INSERT INTO alerts(fingerprint, rule, state, fired_at, payload) VALUES ('f', 'r', 'firing',"
                      " '2026-03-02T00:00:00Z', '{}')")
    lite.conn.execute("INSERT INTO outbox(alert_id, notifier, payload, next_attempt_at, created_at)"
                      " VALUES (1, 'console', 'not json', '2026-03-02T00:00:00Z', '2026-03-02T00:00:00Z')")
    assert all(c.ok for c in copy_history(lite, pg, source_name="odd"))
    assert pg.recent()[0].mention.text == "nul\ufffdinside" and pg.cursor("x") == "c\ufffd"
    assert pg.open_deliveries()[0].payload == '"not json"'
    lite.close()


def test_a_target_holding_other_data_is_refused(source, pg):
    pg.ingest("x", [scored(mention(1))], None, T0)
    with pytest.raises(StoreError, match="already holds mentions"):
        copy_history(source, pg, source_name="demo")


def test_harkbot_copy_prints_the_counts_and_fails_on_a_mismatch(source, pg_dsn, pg):
    args = ["copy", "--db", source.path, "--to", pg_dsn]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "counts match" in first.output and "mentions" in first.output and "MISMATCH" not in first.output
    sql(pg, "INSERT INTO silences(rule, starts_at, ends_at, comment, created_at) VALUES"
            " ('extra', now(), now(), 'not in the source', now())")
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 1 and "MISMATCH" in second.output and "silences" in second.output


def test_harkbot_copy_refuses_a_target_that_is_not_postgresql(demo_run, tmp_path):
    result = CliRunner().invoke(main, ["copy", "--db", str(demo_run.database), "--to", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "must be a postgresql:// DSN" in result.output


def test_harkbot_migrate_says_what_it_did_on_both_backends(tmp_path, pg_dsn):
    path = tmp_path / "new.db"
    first = CliRunner().invoke(main, ["migrate", "--db", str(path)])
    assert first.exit_code == 0 and "1: _migration_1" in first.output and "_migration_leases" in first.output
    assert "up to date" in CliRunner().invoke(main, ["migrate", "--db", str(path)]).output
    on_pg = CliRunner().invoke(main, ["migrate", "--db", pg_dsn])
    assert on_pg.exit_code == 0 and "6: _migration_leases" in on_pg.output
    from bot.store.pg_schema import SCHEMA_VERSION
    assert "the task queue's tables (procrastinate)" in on_pg.output  # what `harkbot worker` needs
    again = CliRunner().invoke(main, ["migrate", "--db", pg_dsn])
    assert f"schema version {SCHEMA_VERSION}, up to date" in again.output
    down = CliRunner().invoke(main, ["migrate", "--db", "postgresql://u:pw@127.0.0.1:1/x"])
    assert down.exit_code == 1 and "cannot connect" in down.output and ":pw@" not in down.output
