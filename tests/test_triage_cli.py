"""The triage loop's CLI twins on a real database: `harkbot alerts ack|feedback|close|reopen`,
the triage column of `alerts list`, `harkbot rules stats`, `harkbot label` and `labels export`."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.store import Store, open_store
from tests.test_alerts_cli import NO_SECRETS
from tests.test_outbox import alert, fire, resolve

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def invoke(*args: str, user: str = "ann"):
    return CliRunner().invoke(main, list(args), env={**NO_SECRETS, "USER": user},
                                              catch_exceptions=False)


@pytest.fixture
def demo(demo_run, tmp_path, repo, monkeypatch):
    """A project folder whose config.yaml names a copy of the demo's database."""
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    shutil.copy(demo_run.database, tmp_path / "harkbot.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def demo_alert(project) -> tuple[int, str]:
    store = Store(project / "harkbot.db")
    try:
        a = next(a for a in reversed(store.alerts(1000)) if a.state != "notice")
        return a.id, a.rule
    finally:
        store.close()


def listed(alert_id: int) -> dict:
    rows = [json.loads(line) for line in invoke("alerts", "list", "--since", "2026-01-01", "--json").stdout.splitlines()]
    return next(r for r in rows if r["id"] == alert_id)


def test_ack_feedback_close_and_reopen_on_the_demo_database(demo):
    alert_id, _rule = demo_alert(demo)
    assert listed(alert_id)["triage"]["label"] == "new"
    first = invoke("alerts", "ack", str(alert_id))
    assert first.exit_code == 0, first.output
    assert f"alert {alert_id}: acked by ann" in first.stdout
    judged = invoke("alerts", "feedback", str(alert_id), "noise", "--reason", "spam", "--note", "bot network",
                    "--as", "bob")
    assert judged.exit_code == 0 and "acked by ann, noise (spam)" in judged.stdout
    closed = invoke("alerts", "close", str(alert_id), "--reason", "false-positive:spam")
    assert closed.exit_code == 0 and "closed: false-positive:spam, noise (spam)" in closed.stdout
    row = listed(alert_id)["triage"]
    assert (row["acked_by"], row["verdict"], row["verdict_by"], row["closed"], row["closed_by"]) == \
        ("ann", "noise", "bob", "false-positive:spam", "ann")
    table = invoke("alerts", "list", "--since", "2026-01-01").stdout
    assert "triage" in table and "closed:" in table
    reopened = invoke("alerts", "reopen", str(alert_id), user="cat")
    assert reopened.exit_code == 0 and f"alert {alert_id}: acked by ann, noise (spam)" in reopened.stdout
    store = Store(demo / "harkbot.db")
    audit = [(r["action"], r["actor"]) for r in reversed(store.audit_rows()) if r["action"].startswith("triage.")]
    assert audit == [("triage.ack", "ann"), ("triage.verdict", "bob"), ("triage.close", "ann"), ("triage.reopen", "cat")]
    assert [e.note for e in store.triage_events(alert_ids=[alert_id])] == [None, "bot network", None, None]
    store.close()


def test_who_defaults_to_user_and_else_to_cli(demo):
    alert_id, _rule = demo_alert(demo)
    assert "acked by zoe" in invoke("alerts", "ack", str(alert_id), user="zoe").stdout
    invoke("alerts", "ack", str(alert_id), user="")
    store = Store(demo / "harkbot.db")
    assert [e.actor for e in store.triage_events(alert_ids=[alert_id])] == ["zoe", "cli"]
    store.close()


def test_errors_are_sentences_that_say_what_to_do(demo):
    unknown = invoke("alerts", "ack", "99999")
    assert unknown.exit_code == 1
    assert "no alert 99999" in unknown.stderr and "`harkbot alerts list --since 30d` shows alert ids" in unknown.stderr
    alert_id, _rule = demo_alert(demo)
    bad = invoke("alerts", "close", str(alert_id), "--reason", "bored")
    assert bad.exit_code == 2
    for reason in ("resolved", "false-positive:rule", "false-positive:wrong-brand", "duplicate"):
        assert reason in bad.stderr
    missing = invoke("alerts", "close", str(alert_id))
    assert missing.exit_code == 2 and "--reason" in missing.stderr
    useful = invoke("alerts", "feedback", str(alert_id), "useful", "--reason", "spam")
    assert useful.exit_code == 2 and "leave it out for a useful one" in useful.stderr
    long = invoke("alerts", "feedback", str(alert_id), "noise", "--note", "x" * 2500)
    assert long.exit_code == 1 and "the note is 2500 characters; at most 2000" in long.stderr
    blank = invoke("alerts", "ack", str(alert_id), "--as", "  ")
    assert blank.exit_code == 1 and "who did it is required" in blank.stderr
    store = Store(demo / "harkbot.db")
    assert store.triage_events() == []  # nothing refused was written
    store.close()


def seed_history(store, now: datetime) -> None:
    """Ten `negative-spike` alerts judged 7 useful, 3 noise (acked after 2, 4, ... 20 minutes;
    two closed as false positives, one resolved within an evaluation), and two `quiet-rule`
    alerts nobody judged."""
    for i in range(10):
        fired = now - timedelta(days=10 - i)
        alert_id = fire(store, alert("negative-spike", brand=f"brand{i}", at=fired))
        resolve(store, alert_id, fired + timedelta(minutes=4 if i == 0 else 90))
        store.record_triage(alert_id, "ack", "ann", fired + timedelta(minutes=2 * (i + 1)))
        if i < 7:
            store.record_triage(alert_id, "verdict", "ann", fired + timedelta(hours=1), verdict="useful")
        else:
            store.record_triage(alert_id, "verdict", "bob", fired + timedelta(hours=1), verdict="noise", reason="rule")
            if i < 9:
                store.record_triage(alert_id, "close", "bob", fired + timedelta(hours=1), reason="false-positive:rule")
    for i in range(2):
        fire(store, alert("quiet-rule", brand=f"q{i}", at=now - timedelta(days=3 + i)))
    fire(store, alert("negative-spike", brand="old", at=now - timedelta(days=60)))  # outside --since 30d


@pytest.fixture
def history(tmp_path, repo, monkeypatch):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "harkbot.db")
    seed_history(store, NOW)
    store.close()
    return tmp_path


def test_rules_stats_shows_precision_and_its_wilson_bound(history):
    result = invoke("rules", "stats", "--format", "json")
    assert result.exit_code == 0, result.output
    stats = {s["rule"]: s for s in json.loads(result.stdout)}
    spike = stats["negative-spike"]
    assert (spike["fired"], spike["acked"], spike["useful"], spike["noise"]) == (10, 10, 7, 3)
    assert spike["precision"] == pytest.approx(0.70) and spike["precision_low"] == pytest.approx(0.397, abs=5e-4)
    assert spike["median_ack_seconds"] == 11 * 60  # 2, 4 ... 20 minutes: the median is 11
    assert spike["closed"] == {"false-positive:rule": 2} and spike["resolved_within_one_evaluation"] == 1
    assert stats["quiet-rule"]["precision"] is None and stats["quiet-rule"]["fired"] == 2
    table = invoke("rules", "stats").stdout
    line = next(l for l in table.splitlines() if l.strip().startswith("negative-spike"))
    assert "0.70" in line and "0.40" in line and "11m" in line
    assert "0.70 ≥0.40" in line and "Wilson" in table
    ended = next(l for l in table.split("How they ended")[1].splitlines() if l.strip().startswith("negative-spike"))
    assert ended.split() == ["negative-spike", "false-positive:rule", "2", "0", "1"]


def test_rules_stats_counts_a_silence_made_soon_after_firing(history):
    store = Store(history / "harkbot.db")
    newest = max(r["fired_at"] for r in store.alert_rows(NOW - timedelta(days=30)) if r["rule"] == "quiet-rule")
    from bot.models import parse_iso

    fired = parse_iso(newest)
    store.add_silence("quiet-rule", None, fired, fired + timedelta(hours=4), "known", "ann", fired + timedelta(minutes=5))
    store.close()
    stats = {s["rule"]: s for s in json.loads(invoke("rules", "stats", "--format", "json").stdout)}
    assert stats["quiet-rule"]["silenced_within_15m"] == 1 and stats["negative-spike"]["silenced_within_15m"] == 0


def test_rules_stats_on_an_empty_window_and_a_missing_database(history, tmp_path):
    assert "no alerts since" in invoke("rules", "stats", "--since", "1h").stdout
    missing = invoke("rules", "stats", "--db", str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "no database at" in missing.stderr


def test_the_cli_twins_on_postgresql(pg_dsn, tmp_path, repo, monkeypatch):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    monkeypatch.chdir(tmp_path)
    store = open_store(pg_dsn)
    seed_history(store, NOW)
    first = fire(store, alert("fresh", at=NOW - timedelta(hours=1)))
    store.close()
    assert invoke("alerts", "ack", str(first), "--db", pg_dsn).exit_code == 0
    assert invoke("alerts", "feedback", str(first), "useful", "--db", pg_dsn).exit_code == 0
    rows = [json.loads(l) for l in invoke("alerts", "list", "--db", pg_dsn, "--json").stdout.splitlines()]
    assert next(r for r in rows if r["id"] == first)["triage"]["label"] == "acked by ann, useful"
    stats = {s["rule"]: s for s in json.loads(invoke("rules", "stats", "--db", pg_dsn, "--format", "json").stdout)}
    assert stats["negative-spike"]["precision_low"] == pytest.approx(0.397, abs=5e-4)
    assert stats["fresh"]["useful"] == 1
    assert "no alert 424242" in invoke("alerts", "close", "424242", "--reason", "duplicate", "--db", pg_dsn).stderr


def test_label_and_export_keep_post_text_out_unless_asked(demo):
    store = Store(demo / "harkbot.db")
    first, second = store.recent(limit=2)
    store.close()
    key = first.mention.key
    done = invoke("label", key, "positive")
    assert done.exit_code == 0, done.output
    assert f"{key} labelled positive by ann (the scorer said {first.score.label})" in done.stdout
    invoke("label", key, "neutral", "--as", "bob")
    invoke("label", second.mention.key, "negative")
    plain = list(csv.DictReader(io.StringIO(invoke("labels", "export").stdout)))
    assert [(r["mention_key"], r["label"], r["previous"], r["actor"]) for r in plain] == \
        [(key, "neutral", first.score.label, "bob"), (second.mention.key, "negative", second.score.label, "ann")]
    assert set(plain[0]) == {"mention_key", "label", "previous", "scorer", "actor", "at"}
    everything = invoke("labels", "export", "--all", "--format", "jsonl").stdout
    assert len(everything.splitlines()) == 3 and first.mention.text not in everything
    with_text = [json.loads(l) for l in invoke("labels", "export", "--format", "jsonl", "--with-text").stdout.splitlines()]
    assert with_text[0]["text"] == first.mention.text and with_text[0]["mention_key"] == key
    out = demo / "labels.csv"
    assert invoke("labels", "export", "--out", str(out)).exit_code == 0 and out.read_text().count("\n") == 3


def test_label_errors_say_what_a_mention_id_is(demo):
    unknown = invoke("label", "x:nope", "negative")
    assert unknown.exit_code == 1 and "no stored mention 'x:nope'" in unknown.stderr
    assert "platform:id" in unknown.stderr and "harkbot search" in unknown.stderr
    bad = invoke("label", "x:1", "angry")
    assert bad.exit_code == 2 and "negative" in bad.stderr and "positive" in bad.stderr


def test_a_label_dry_run_says_what_it_would_record_and_records_nothing(demo):
    store = Store(demo / "harkbot.db")
    (first,) = store.recent(limit=1)
    store.close()
    key = first.mention.key
    dry = invoke("label", key, "positive", "--dry-run")
    assert dry.exit_code == 0 and f"would label {key} positive as ann; nothing recorded" in " ".join(dry.stdout.split())
    assert invoke("labels", "export").stdout.count("\n") == 1  # the header alone
    assert invoke("label", "x:nope", "positive", "--dry-run").exit_code == 1
