"""`harkbot demo --database postgresql://...`: the whole demo on PostgreSQL raises the same
alerts as on SQLite (the session's SQLite run, tests/conftest.py's demo_run)."""

from __future__ import annotations

from click.testing import CliRunner

from bot.demo.replay import run_demo
from tests.conftest import DEMO_START


def _alerts(summary):
    return [(a.fired_at, a.rule, a.brand, a.severity, a.state, a.finding.title, a.finding.observed)
            for a in summary.alerts]


def test_the_demo_on_postgresql_raises_the_same_alerts_as_on_sqlite(pg_dsn, demo_run):
    on_pg = run_demo(pg_dsn, start=DEMO_START, env={}, with_console=False)
    assert len(demo_run.alerts) == 7
    assert _alerts(on_pg) == _alerts(demo_run)
    assert (on_pg.mentions, on_pg.fetched, on_pg.delivered, on_pg.failed) == \
        (demo_run.mentions, demo_run.fetched, demo_run.delivered, demo_run.failed)
    again = run_demo(pg_dsn, start=DEMO_START, env={}, with_console=False)  # a rerun starts from empty
    assert _alerts(again) == _alerts(demo_run) and again.mentions == demo_run.mentions


def test_the_demo_refuses_a_postgresql_database_holding_live_data(pg_dsn):
    import pytest

    from bot.errors import HarkError
    from bot.store.postgres import PostgresStore
    from tests.helpers import T0, mention, scored

    live = PostgresStore(pg_dsn)
    live.ingest("x", [scored(mention(1))], None, T0)
    live.close()
    with pytest.raises(HarkError, match="holds 1 mentions that the demo did not write"):
        run_demo(pg_dsn, start=DEMO_START, env={}, with_console=False)


def test_harkbot_demo_takes_database_as_an_alias_of_db(pg_dsn):
    from bot.cli import main

    result = CliRunner().invoke(main, ["demo", "--database", pg_dsn, "--days", "2"], env={"SLACK_BOT_TOKEN": "",
                                                                                          "SLACK_WEBHOOK_URL": ""})
    assert result.exit_code == 0, result.output
    assert "Alerts" in result.output and "postgresql://" in result.output
