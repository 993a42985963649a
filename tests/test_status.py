"""`harkbot status`: read from the database the daemon writes, as text and as stable JSON, on
a SQLite file and on PostgreSQL (HARKBOT_DATABASE_URL) alike."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from bot.status import permission_problems, status
from bot.store import Store
from tests.backends import backend, dsn_of, is_pg, make_store, sql  # noqa: F401 - fixtures
from tests.helpers import mention, scored

CONFIG = """
database: live.db
rules: rules
brands:
  mindful: {name: Mindful Health, query: '"mindful health"'}
listeners:
  twitter: {every: 5m}
  youtube: {every: 1h}
  reddit: {enabled: false}
"""

GOOD_RULE = "name: spike\nvolume_spike: {window: 1h, baseline: 24h, factor: 3}\n"
BROKEN_RULE = "name: broken\nvolume_spike: {window: 1h, factr: 3}\n"


def _setup(tmp_path, now: datetime, make_store=None) -> Store:
    """config.yaml, rules, and the database it names (`make_store`: this test's backend)."""
    (tmp_path / "config.yaml").write_text(CONFIG)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "spike.yaml").write_text(GOOD_RULE)
    (rules / "broken.yaml").write_text(BROKEN_RULE)
    store = make_store(tmp_path / "live.db") if make_store else Store(tmp_path / "live.db")
    newest = now - timedelta(minutes=7)
    store.ingest("twitter", [scored(mention(1, "Mindful Health rocks", at=newest)),
                             scored(mention(2, "Mindful Health rocks", at=newest - timedelta(hours=1)))], "c", now)
    store.record_success("twitter", now - timedelta(minutes=4), 2, 2)
    store.set_meta("quota:twitter", json.dumps({"left": 447, "unit": "requests", "window": "15m"}))
    store.record_failure("youtube", "youtube: quotaExceeded", now - timedelta(minutes=2), now + timedelta(hours=3))
    store.record_failure("youtube", "youtube: quotaExceeded", now - timedelta(minutes=1), now + timedelta(hours=3))
    sql(store, "INSERT INTO alerts(fingerprint, rule, state, fired_at, payload) VALUES ('f', 'r', 'resolved', ?, '{}')",
        (now.isoformat(),))
    for st, attempts in (("pending", 0), ("pending", 2), ("sent", 1), ("sent", 1), ("dead", 8)):
        sql(store, "INSERT INTO outbox(alert_id, notifier, payload, status, attempts, next_attempt_at, created_at)"
                   " VALUES (1, 'slack', '{}', ?, ?, ?, ?)", (st, attempts, now.isoformat(), now.isoformat()))
    return store


def _env(store) -> dict:
    """The environment a CLI run needs to open this store (PostgreSQL: the DSN)."""
    return {"HARKBOT_DATABASE_URL": dsn_of(store)} if is_pg(store) else {}


def test_status_reads_listener_health_rules_outbox_and_database(tmp_path, make_store):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = _setup(tmp_path, now, make_store)
    report = status(load_config(tmp_path / "config.yaml"), store, now)
    listeners = {item["name"]: item for item in report["listeners"]}
    assert list(listeners) == ["twitter", "youtube", "reddit"]
    tw = listeners["twitter"]
    assert tw["state"] == "ok" and tw["error_streak"] == 0 and tw["retry_at"] is None
    assert tw["lag_seconds"] == {"newest_mention": 420.0, "last_success": 240.0}
    assert tw["quota"]["left"] == 447 and tw["quota"]["source"] == "last response"
    yt = listeners["youtube"]
    assert yt["state"] == "resting" and yt["error_streak"] == 2 and "quotaExceeded" in yt["last_error"]
    assert yt["last_success"] is None and yt["lag_seconds"]["newest_mention"] is None
    assert yt["quota"]["source"] == "plan" and yt["quota"]["budget_per_day"] == 10_000
    assert yt["quota"]["left"] is None  # used today is not recorded: the plan, not a guess
    assert listeners["reddit"]["state"] == "disabled"
    assert report["rules"]["loaded"] == 1 and report["rules"]["files_broken"] == 1
    assert "broken.yaml" in report["rules"]["broken"][0]["file"] and "factr" in report["rules"]["broken"][0]["problem"]
    assert report["outbox"] == {"pending": 2, "retrying": 1, "failed": 1, "sent": 2, "held": 0, "sending": 0,
                                "silenced": 0, "skipped": 0, "other": 0}
    db = report["database"]
    assert db["bytes"] == db["file_bytes"] + db["wal_bytes"] + db["shm_bytes"] > 0
    assert db["mentions"] == 2 and db["private"] and db["warnings"] == [] and db["schema_version"] == store.version
    if is_pg(store):
        assert db["backend"] == "postgresql" and db["path"].startswith("postgresql://") and db["wal_bytes"] == 0
    else:
        assert db["backend"] == "sqlite" and db["path"] == str(tmp_path / "live.db") and db["wal_bytes"] > 0
    assert report["audit"] == {"requests": 0, "last_at": None}
    assert report["dead_letters"] == {"open": 0} and tw["dead_letters"] == 0


def test_status_counts_the_posts_set_aside(tmp_path, make_store):
    from tests.test_poison_store import poison_page

    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = _setup(tmp_path, now, make_store)
    store.ingest_page("twitter", poison_page(), None, now)  # x:2 was stored by _setup: no fault of this page
    report = status(load_config(tmp_path / "config.yaml"), store, now)
    assert report["dead_letters"] == {"open": 1}
    assert {i["name"]: i["dead_letters"] for i in report["listeners"]} == {"twitter": 1, "youtube": 0, "reddit": 0}


def test_status_counts_erasure_requests(tmp_path, make_store):
    from bot.retention import forget_author

    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = _setup(tmp_path, now, make_store)
    forget_author(store, "user1", now - timedelta(minutes=3))
    forget_author(store, "nobody", now - timedelta(minutes=1))
    assert status(load_config(tmp_path / "config.yaml"), store, now)["audit"] == {
        "requests": 2, "last_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_status_json_has_the_documented_shape_and_exits_0(tmp_path, make_store):
    now = datetime.now(timezone.utc)
    store = _setup(tmp_path, now, make_store)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "status", "--json"], env=_env(store))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"version", "now", "database", "listeners", "rules", "outbox", "audit", "dead_letters",
                           "slack_triage"}
    assert report["slack_triage"] == "off (Slack is not configured)"
    assert report["version"] == 1
    assert set(report["listeners"][0]) == {"name", "enabled", "state", "last_poll", "last_success", "newest_mention",
                                           "lag_seconds", "error_streak", "last_error", "retry_at", "dead_letters", "quota"}
    assert set(report["database"]) == {"path", "backend", "bytes", "file_bytes", "wal_bytes", "shm_bytes",
                                       "schema_version", "mentions", "private", "warnings"}
    assert report["outbox"]["retrying"] == 1 and report["database"]["mentions"] == 2
    if is_pg(store):  # a password in the DSN is never shown (the test server trusts any)
        with_password = dsn_of(store).replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
        assert "s3cret" in with_password
        shown = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "status", "--json"],
                                   env={"HARKBOT_DATABASE_URL": with_password})
        assert shown.exit_code == 0, shown.output
        assert "s3cret" not in shown.output and ":***@" in json.loads(shown.output)["database"]["path"]


def test_status_text_on_postgresql(tmp_path, backend, make_store):
    if backend == "sqlite":
        pytest.skip("SQLite: test_status_text_and_a_warning_for_a_database_others_can_read")
    now = datetime.now(timezone.utc)
    store = _setup(tmp_path, now, make_store)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "status"], env=_env(store))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "twitter" in flat and "resting" in flat and "447 requests left" in flat
    assert "outbox: 2 pending (1 retrying), 1 failed" in flat and "postgresql://" in flat and "2 mentions" in flat
    assert "readable by group or others" not in flat
    assert "in harkbot's tables" in flat and "WAL" not in flat  # no file, no WAL on a server


def test_status_text_and_a_warning_for_a_database_others_can_read(tmp_path):
    now = datetime.now(timezone.utc)
    _setup(tmp_path, now).close()
    os.chmod(tmp_path / "live.db", 0o644)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "status"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "twitter" in flat and "resting" in flat and "447 requests left" in flat
    assert "rules: 1 loaded, 1 file(s) broken" in flat
    assert "outbox: 2 pending (1 retrying), 1 failed (`harkbot alerts retry` once fixed), 2 sent" in flat
    assert "readable by group or others" in flat and "chmod 600" in flat
    problems = permission_problems(tmp_path / "live.db")
    assert [p.file for p in problems] == [str(tmp_path / "live.db")] and problems[0].severity == "warning"
    os.chmod(tmp_path / "live.db", 0o600)
    assert permission_problems(tmp_path / "live.db") == []


def test_status_without_a_database_says_how_to_make_one(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "status"])
    assert result.exit_code == 1 and "`harkbot run` or `harkbot once` creates it" in " ".join(result.output.split())
    assert not (tmp_path / "live.db").exists()
