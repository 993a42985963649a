"""`harkbot alerts` and `harkbot silence` against a real store file."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.outbox import deliver
from bot.notifiers.console import ConsoleNotifier
from bot.store import Store
from tests.notifiers import hostile_alert
from tests.test_outbox import alert, fire, resolve

NO_SECRETS = {k: "" for k in ("X_BEARER_TOKEN", "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "YOUTUBE_API_KEY",
                              "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SLACK_CHANNEL", "SLACK_BASE_URL")}
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def project(tmp_path, repo, monkeypatch):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "harkbot.db")
    first = fire(store, alert("negative-spike", at=NOW - timedelta(hours=2)), notifiers=("slack",))
    fire(store, alert("privacy-complaint", severity="warning", at=NOW - timedelta(hours=1)), notifiers=("slack",))
    resolve(store, first, NOW - timedelta(minutes=30))
    store.close()
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), env=NO_SECRETS, catch_exceptions=False)


def test_alerts_list_shows_each_alert_with_its_deliveries(project):
    out = invoke("alerts", "list", "--json")
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [(r["id"], r["rule"], r["state"]) for r in rows] == [(2, "privacy-complaint", "firing"),
                                                                (1, "negative-spike", "resolved")]
    assert rows[1]["deliveries"] == {"pending": 2}  # the alert and its resolution
    table = invoke("alerts", "list", "--state", "firing").output
    assert "privacy-complaint" in table and "negative-spike" not in table


def test_alerts_render_prints_exactly_the_payload_slack_receives(project):
    from bot.app import privacy_for, routing_for
    from bot.config import load_config
    from bot.notifiers import blocks

    result = invoke("alerts", "render", "2")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    store = Store(project / "harkbot.db")
    config = load_config("config.yaml")
    expected = blocks.group_payload([store.alert(2)], key=f"{store.instance()}.(outbox id)",
                                    privacy=privacy_for(config))
    assert shown == {"channel": "#brand-alerts", **expected}
    assert routing_for(config).channel_for(store.alert(2)) == "alerts"
    # config.yaml turns privacy mode on: a private Redditor is not named, a public account is.
    assert "throwaway_42" not in result.output and "a Reddit user" in result.output
    assert "*@angry_customer*" in result.output
    drawn = invoke("alerts", "render", "2", "--console").output
    assert drawn.startswith("→ alerts") and "privacy-complaint: Mindful Health" in drawn


def test_alerts_render_after_delivery_uses_the_message_it_went_out_in(project):
    import io

    from rich.console import Console

    store = Store(project / "harkbot.db")
    deliver(store, {"slack": ConsoleNotifier(Console(file=io.StringIO()))}, NOW)
    shown = json.loads(invoke("alerts", "render", "1").output)
    assert shown["blocks"][0]["text"]["text"].startswith("✅ RESOLVED")
    assert shown["metadata"]["event_payload"]["key"] == f"{store.instance()}.1"


def test_render_of_a_hostile_alert_is_escaped(project):
    from dataclasses import replace

    store = Store(project / "harkbot.db")
    alert_id = fire(store, replace(hostile_alert(), id=None, fired_at=NOW), notifiers=("slack",))
    out = invoke("alerts", "render", str(alert_id)).output
    assert "<!channel>" not in out and "<@U123>" not in out
    drawn = invoke("alerts", "render", str(alert_id), "--console").output
    assert "\x1b" not in drawn


def test_an_unknown_alert_says_how_to_find_one(project):
    result = CliRunner().invoke(main, ["alerts", "render", "99"], env=NO_SECRETS)
    assert result.exit_code == 1 and "harkbot alerts list" in result.output


def test_silence_add_list_expire(project):
    added = invoke("silence", "add", "--rule", "negative-spike", "--brand", "mindful", "--for", "4h",
                   "--comment", "known outage, ticket 123")
    assert added.exit_code == 0 and added.output.startswith("silence 1: rule negative-spike and brand mindful until")
    listed = [json.loads(line) for line in invoke("silence", "list", "--json").output.splitlines()]
    assert [(s["id"], s["rule"], s["brand"], s["active"], s["comment"]) for s in listed] == [
        (1, "negative-spike", "mindful", True, "known outage, ticket 123")]
    assert invoke("silence", "expire", "1").output.strip() == "silence 1 expired"
    assert invoke("silence", "list", "--json").output == ""
    assert len(invoke("silence", "list", "--all", "--json").output.splitlines()) == 1
    again = CliRunner().invoke(main, ["silence", "expire", "1"], env=NO_SECRETS)
    assert again.exit_code == 1 and "no active silence 1" in again.output


def test_silence_refuses_to_silence_everything_or_an_unknown_brand(project):
    runner = CliRunner()
    bare = runner.invoke(main, ["silence", "add", "--for", "1h", "--comment", "x"], env=NO_SECRETS)
    assert bare.exit_code == 2 and "would hide a crisis" in bare.output
    typo = runner.invoke(main, ["silence", "add", "--brand", "mindfull", "--for", "1h", "--comment", "x"],
                         env=NO_SECRETS)
    assert typo.exit_code == 2 and "unknown brand 'mindfull'" in typo.output
    bad = runner.invoke(main, ["silence", "add", "--rule", "r", "--for", "soon", "--comment", "x"], env=NO_SECRETS)
    assert bad.exit_code == 2 and "--for" in bad.output


def test_alerts_retry_requeues_refused_deliveries(project):
    store = Store(project / "harkbot.db")
    store.settle([1, 2], "dead", "not_in_channel")
    assert invoke("alerts", "retry").output.startswith("2 deliveries queued again")
    assert store.outbox_counts() == {"pending": 3}


def test_render_of_an_alert_in_a_digest_draws_the_digest_as_sent(project):
    # A warning held for the channel's digest, then sent in it: render shows the digest line,
    # as Slack got it, not the full alert it never received (#19 item 2).
    from bot.notifiers import blocks

    store = Store(project / "harkbot.db")
    row = next(d for d in store.deliveries_of(2) if d.action == "alert")
    store.hold([row.id], NOW, action="digest")
    held = json.loads(invoke("alerts", "render", "2").output)
    assert held["blocks"][0]["text"]["text"].startswith("🗞️ Digest · 1 alert")
    assert store.claim([row.id])
    store.delivered([row.id], NOW, channel="alerts", key=f"{store.instance()}.{row.id}", digest=True)
    sent = json.loads(invoke("alerts", "render", "2").output)
    expected = blocks.digest_payload([store.alert(2)], key=f"{store.instance()}.{row.id}", now=NOW)
    assert sent["blocks"][0] == expected["blocks"][0] and sent["text"] == expected["text"]
