"""The whole job on the synthetic stream: which alerts fire, when, and with what evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import build_notifiers
from bot.demo.replay import DemoSummary, demo_config, fresh_store, run_demo
from bot.errors import HarkError
from bot.store import Store
from listeners.demo import events
from tests.conftest import DEMO_START
from tests.helpers import mention, scored


def _event_for(alert, summary: DemoSummary):
    for event in events(summary.start):
        # an alert belongs to an event if it fires for its brand between its start and end
        if event.brand == alert.brand and event.start <= alert.fired_at <= event.end:
            return event
    return None


def test_every_alert_belongs_to_a_planted_event(demo_run: DemoSummary):
    assert demo_run.alerts, "the demo raised no alert"
    for alert in demo_run.alerts:
        event = _event_for(alert, demo_run)
        assert event is not None, f"false alarm: {alert.rule} {alert.finding.title} at {alert.fired_at}"
        assert event.expect_alert, f"{alert.rule} fired on {event.name}, which must stay quiet"


def test_crisis_and_launch_are_both_caught_quickly(demo_run: DemoSummary):
    by_event: dict[str, list] = {}
    for alert in demo_run.alerts:
        by_event.setdefault(_event_for(alert, demo_run).name, []).append(alert)
    planted = {e.name: e for e in events(demo_run.start)}
    crisis = by_event["privacy-leak"]
    assert "reputation-crisis" in {a.rule for a in crisis}
    assert min(a.fired_at for a in crisis) - planted["privacy-leak"].start <= timedelta(hours=1)
    launch = by_event["competitor-launch"]
    assert "competitor-launch" in {a.rule for a in launch}
    assert min(a.fired_at for a in launch) - planted["competitor-launch"].start <= timedelta(hours=1)


def test_each_rule_fires_at_most_once_per_event(demo_run: DemoSummary):
    seen = [(a.rule, a.brand) for a in demo_run.alerts]
    assert len(seen) == len(set(seen))


def test_crisis_alert_shows_observed_vs_usual_negative_share_and_linked_posts(demo_run: DemoSummary):
    crisis = next(a for a in demo_run.alerts if a.rule == "reputation-crisis")
    finding = crisis.finding
    facts = dict(finding.facts)
    assert finding.observed >= 4 * max(finding.usual, 1)
    assert "Observed (1h)" in facts and "Usual (1h)" in facts
    assert "Negative share" in facts and "usual" in facts["Negative share"]
    assert crisis.severity == "critical" and crisis.channel == "crisis"
    assert 3 <= len(finding.posts) <= 5
    assert all(p.url.startswith("https://") for p in finding.posts)
    reach = [p.author_reach + p.engagement for p in finding.posts]
    assert reach == sorted(reach, reverse=True), "top posts are the most reached first"
    assert any(term in " ".join(finding.terms) for term in ("leak", "breach", "hipaa", "notes", "exposed"))
    assert len(finding.series) == 288  # 24 hours of 5-minute buckets for the sparkline
    assert "--brand mindful" in crisis.search


def test_database_is_left_for_other_commands(demo_run: DemoSummary):
    store = Store(demo_run.database)
    try:
        assert store.count("mentions") == demo_run.mentions > 3000
        assert len(store.alerts()) == len(demo_run.alerts)
        assert store.outbox_counts() == {}  # no notifier configured: nothing to deliver
        found = store.search("refund", brand="mindful", since=DEMO_START)
        assert found and all("refund" in sm.mention.full_text.lower() for sm in found)
        times = [sm.mention.created_at for sm in found]
        assert times == sorted(times, reverse=True)
    finally:
        store.close()


def test_demo_is_deterministic(tmp_path, demo_run: DemoSummary):
    again = run_demo(tmp_path / "again.db", start=DEMO_START, env={}, with_console=False)
    assert again.mentions == demo_run.mentions
    assert [(a.rule, a.brand, a.fired_at, a.finding.title) for a in again.alerts] == [
        (a.rule, a.brand, a.fired_at, a.finding.title) for a in demo_run.alerts
    ]


def test_rerunning_replaces_the_demo_database_but_never_a_live_one(tmp_path):
    path = tmp_path / "h.db"
    fresh_store(path).ingest("demo", [scored(mention(1))], None, DEMO_START)
    store = fresh_store(path)
    assert store.count("mentions") == 0 and store.get_meta("purpose") == "demo"
    store.set_meta("purpose", "live")
    store.ingest("x", [scored(mention(1))], None, DEMO_START)
    store.close()
    with pytest.raises(HarkError, match="holds 1 mentions that the demo did not write"):
        fresh_store(path)


def test_demo_sends_its_alerts_to_slack_when_a_token_and_channel_are_set(tmp_path):
    from tests.fakes.slack import FakeSlack

    with FakeSlack(token="xoxb-demo", channels={"C0DEMO": "harkbot-demo"}) as slack:
        env = {"SLACK_BOT_TOKEN": "xoxb-demo", "SLACK_CHANNEL": "C0DEMO", "SLACK_BASE_URL": slack.url}
        summary = run_demo(tmp_path / "slack.db", start=DEMO_START, env=env, with_console=False)
        messages = slack.messages("C0DEMO")
        top = slack.top_level("C0DEMO")
    assert summary.notes == ["slack: on, bot token"]
    store = Store(tmp_path / "slack.db")
    # Every row went out: one message per alert (or per group of a brand's alerts that fired
    # together), and the follow-ups as replies in their threads.
    assert store.outbox_counts() == {"sent": summary.delivered}
    assert 0 < len(top) <= len(summary.alerts) < summary.delivered
    assert {m.thread_ts for m in messages if m.thread_ts} <= {m.ts for m in top}
    headers = " ".join(m.blocks[0]["text"]["text"] for m in top)
    assert "Negative spike: Mindful Health" in " ".join(m.text for m in top)
    # The demo's alerts all resolve by its end: every message was edited to say so.
    assert all(m.edits >= 1 for m in top) and headers.count("RESOLVED") == len(top)
    store.close()


def test_slack_settings_are_explained_when_incomplete():
    config = demo_config()
    assert build_notifiers(config, {"SLACK_BOT_TOKEN": "xoxb-x"}).notes == [
        "slack: off, the bot token is set but channels are not: set SLACK_CHANNEL"]
    off = build_notifiers(config, {})
    assert off.active == {} and "set SLACK_BOT_TOKEN (with channels) or SLACK_WEBHOOK_URL" in off.notes[0]
    hook = build_notifiers(config, {"SLACK_WEBHOOK_URL": "https://hooks.example/x"})
    assert list(hook.active) == ["slack"] and "incoming webhook" in hook.notes[0]
