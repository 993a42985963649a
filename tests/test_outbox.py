"""The sender against a fake Slack spoken to by the real slack-sdk: grouping, threads,
edits, silences, quiet hours, digests, ordering after outages, and exactly-once delivery
across crashes and timeouts."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest
from rich.console import Console

from bot.models import UTC, Alert
from bot.notifiers.console import ConsoleNotifier
from bot.notifiers.slack import SlackNotifier
from bot.outbox import deliver
from bot.routing import Digest, QuietHours, Route, Routing
from bot.store import RuleState, Store
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.fakes.slack import FakeSlack
from tests.notifiers import HOSTILE_TEXTS, hostile_alert, post, sample_alert

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # before the fake's wall clock: `oldest` filters work
CHANNELS = {"C0ALERTS": "brand-alerts", "C0CRISIS": "brand-crisis", "C0OPS": "ops"}
ROUTES = {"alerts": "C0ALERTS", "crisis": "C0CRISIS", "ops": "C0OPS"}


@pytest.fixture
def slack():
    with FakeSlack(token="xoxb-test", channels=CHANNELS) as fake:
        yield fake


def slack_notifier(fake: FakeSlack, routing: Routing | None = None, **options) -> SlackNotifier:
    return SlackNotifier(token="xoxb-test", base_url=fake.url, channels=ROUTES, default_channel="alerts",
                         routing=routing or Routing(default="alerts"), pace=options.pop("pace", 0), timeout=2,
                         **options)


def alert(rule: str = "negative-spike", brand: str = "mindful", severity: str = "critical",
          channel: str | None = None, at: datetime = T0, **finding) -> Alert:
    base = sample_alert(rule=rule, brand=brand, severity=severity, channel=channel, fired_at=at, id=None,
                        fingerprint=f"{rule}/{brand}")
    title = finding.pop("title", f"{rule}: Mindful Health, 6.2x usual")
    return replace(base, finding=replace(base.finding, title=title, **finding))


def fire(store: Store, a: Alert, notifiers=("slack",), at: datetime | None = None) -> int:
    at = at or a.fired_at
    state = RuleState(a.fingerprint, a.rule, a.brand, "firing", at, None, None, at)
    alert_id = store.save_state(state, replace(a, fired_at=at), list(notifiers), at)
    assert alert_id is not None
    return alert_id


def resolve(store: Store, alert_id: int, at: datetime) -> None:
    a = store.alert(alert_id)
    state = RuleState(a.fingerprint, a.rule, a.brand, "inactive", None, None, None, a.fired_at)
    store.save_state(state, None, (), at, resolved_alert=alert_id)


def worsen(store: Store, alert_id: int, at: datetime, observed: float = 70) -> None:
    a = store.alert(alert_id)
    state = RuleState(a.fingerprint, a.rule, a.brand, "firing", a.fired_at, None, alert_id, a.fired_at)
    newer = replace(a, finding=replace(a.finding, observed=observed, title=f"{a.rule}: Mindful Health, 14x usual"))
    store.record_update(state, newer, "worse", at)


def statuses(store: Store) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql(store, "SELECT action, status FROM outbox ORDER BY id")]


# -- content and threads


def test_an_alert_is_posted_with_its_key_in_the_metadata(slack, store):
    fire(store, alert())
    assert deliver(store, {"slack": slack_notifier(slack)}, T0) == (1, 0)

    (message,) = slack.messages("C0ALERTS")
    assert message.metadata["event_type"] == "harkbot_alert"
    assert message.metadata["event_payload"]["key"] == f"{store.instance()}.1"
    assert "6.2x usual" in message.blocks[0]["text"]["text"]
    assert statuses(store) == [("alert", "sent")]
    assert deliver(store, {"slack": slack_notifier(slack)}, T0) == (0, 0)


def test_alerts_of_one_brand_from_one_evaluation_are_one_message(slack, store):
    fire(store, alert("negative-spike"))
    fire(store, alert("negative-share", severity="warning", title="Negative share: Mindful Health, 51% negative"))
    fire(store, alert("theranow-surge", brand="theranow", severity="info", title="Surge: TheraNow, 3x usual"))

    assert deliver(store, {"slack": slack_notifier(slack)}, T0) == (3, 0)

    first, second = slack.messages("C0ALERTS")
    assert first.blocks[0]["text"]["text"] == "🔴 CRITICAL · 2 alerts: Mindful Health"
    text = json.dumps(first.blocks)
    assert "negative-spike: Mindful Health" in text and "Negative share: Mindful Health" in text
    assert "TheraNow" not in text and "Surge: TheraNow" in second.text
    assert first.metadata["event_payload"]["alert_ids"] == [1, 2]


def test_worse_goes_in_the_thread_and_resolving_edits_the_message_then_notes_it(slack, store):
    alert_id = fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}
    deliver(store, notifiers, T0)
    worsen(store, alert_id, T0 + timedelta(minutes=10))
    deliver(store, notifiers, T0 + timedelta(minutes=10))
    resolve(store, alert_id, T0 + timedelta(hours=2))
    deliver(store, notifiers, T0 + timedelta(hours=2))

    (top,) = slack.top_level("C0ALERTS")
    update, resolved = slack.replies(top.ts)
    assert update.text.startswith("UPDATE (it is getting worse): negative-spike: Mindful Health, 14x usual")
    assert resolved.text.startswith("RESOLVED: ")
    assert "after 2h" in json.dumps(resolved.blocks)
    assert top.edits == 1 and top.blocks[0]["text"]["text"].startswith("✅ RESOLVED · ")
    assert statuses(store) == [("alert", "sent"), ("update", "sent"), ("resolve", "sent")]


def test_resolving_one_alert_of_a_group_redraws_the_group(slack, store):
    first = fire(store, alert("negative-spike"))
    fire(store, alert("negative-share", severity="warning", title="Negative share: Mindful Health, 51%"))
    notifiers = {"slack": slack_notifier(slack)}
    deliver(store, notifiers, T0)
    resolve(store, first, T0 + timedelta(hours=1))
    deliver(store, notifiers, T0 + timedelta(hours=1))

    (top,) = slack.top_level("C0ALERTS")
    assert top.blocks[0]["text"]["text"] == "🟠 WARNING · 2 alerts: Mindful Health"  # one still firing
    sections = [b["text"]["text"] for b in top.blocks if b["type"] == "section" and "text" in b]
    assert sections[0].startswith("✅ *negative-spike") and sections[2].startswith("🟠 *Negative share")


def test_follow_ups_wait_for_their_alert_and_an_outage_delivers_everything_in_order_once(slack, store):
    notifiers = {"slack": slack_notifier(slack)}
    slack.fail_next(100, status=503, error="service_unavailable")
    ids = [fire(store, alert(f"rule-{i}", brand=f"brand{i}"), at=T0 + timedelta(minutes=i)) for i in range(4)]
    worsen(store, ids[0], T0 + timedelta(minutes=5))
    resolve(store, ids[1], T0 + timedelta(minutes=6))
    now = T0 + timedelta(minutes=6)
    for _ in range(3):  # Slack is down: each pass tries the head of the channel once
        assert deliver(store, notifiers, now)[0] == 0
        now += timedelta(minutes=15)
    calls = len(slack.calls)
    assert calls == 3  # the rest of the channel waited behind the failing head
    slack._faults.clear()

    assert deliver(store, notifiers, now) == (6, 0)

    top = slack.top_level("C0ALERTS")
    assert [m.text.split(":")[1].strip() for m in top] == [f"rule-{i}" for i in range(4)]
    assert [m.text.split(":")[0] for m in slack.replies(top[0].ts)] == ["UPDATE (it is getting worse)"]
    assert [m.text.split(":")[0] for m in slack.replies(top[1].ts)] == ["RESOLVED"]
    assert deliver(store, notifiers, now + timedelta(hours=1)) == (0, 0)
    assert len(slack.messages()) == 6


def test_a_429_waits_for_retry_after_and_pauses_the_notifier(slack, store):
    fire(store, alert("a", brand="one"))
    fire(store, alert("b", brand="two", channel="ops"))
    slack.rate_limit_next(1, retry_after=30)
    notifiers = {"slack": slack_notifier(slack)}

    assert deliver(store, notifiers, T0) == (0, 1)
    assert len(slack.calls) == 1  # nothing more through a rate-limited notifier this pass
    assert deliver(store, notifiers, T0 + timedelta(seconds=10)) == (1, 0)  # ops was not blocked
    assert deliver(store, notifiers, T0 + timedelta(seconds=31)) == (1, 0)
    assert len(slack.messages()) == 2


def test_a_refusal_waiting_cannot_fix_is_dead_and_does_not_block_the_channel(slack, store):
    first = fire(store, alert("a", brand="one"))
    fire(store, alert("b", brand="two"), at=T0 + timedelta(minutes=1))
    slack.fail_next(1, status=200, error="not_in_channel")
    resolve(store, first, T0 + timedelta(minutes=2))

    assert deliver(store, {"slack": slack_notifier(slack)}, T0 + timedelta(minutes=2)) == (1, 1)

    assert statuses(store) == [("alert", "dead"), ("alert", "sent"), ("resolve", "dead")]
    row = sql(store, "SELECT last_error FROM outbox WHERE id = 1")[0][0]
    assert "invite the bot" in row
    assert store.requeue(None, T0) == 2


# -- exactly once


def test_a_crash_after_slacks_ok_does_not_post_twice(slack, monkeypatch, store):
    fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between Slack's OK and marking the row sent")

    with monkeypatch.context() as patch:
        patch.setattr(type(store), "delivered", crash)
        with pytest.raises(KeyboardInterrupt):
            deliver(store, notifiers, T0)
    assert len(slack.messages()) == 1 and statuses(store) == [("alert", "sending")]

    assert deliver(store, notifiers, T0 + timedelta(minutes=1)) == (1, 0)

    assert len(slack.messages()) == 1
    assert [c.method for c in slack.calls] == ["chat.postMessage", "conversations.history"]
    assert statuses(store) == [("alert", "sent")]
    # ... and its follow-ups still find the message.
    resolve(store, 1, T0 + timedelta(hours=1))
    deliver(store, notifiers, T0 + timedelta(hours=1))
    assert len(slack.replies(slack.messages()[0].ts)) == 1


def test_a_crash_before_the_request_posts_once_after_restart(slack, monkeypatch, store):
    fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}
    with monkeypatch.context() as patch:
        patch.setattr(SlackNotifier, "post", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            deliver(store, notifiers, T0)
    assert slack.messages() == []

    deliver(store, notifiers, T0 + timedelta(minutes=1))

    assert len(slack.messages()) == 1


def test_a_timeout_whose_post_landed_is_not_posted_again(slack, store):
    fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}
    slack.delay_next(1, 3)  # the client gives up after 2 s; Slack posts anyway

    assert deliver(store, notifiers, T0) == (0, 1)
    row = store.open_deliveries()[0]
    assert row.status == "pending" and row.claimed and "could not reach Slack" in row.last_error

    assert deliver(store, notifiers, T0 + timedelta(minutes=5)) == (1, 0)
    assert len(slack.messages()) == 1


def test_a_lost_thread_reply_is_looked_for_in_the_thread(slack, monkeypatch, store):
    alert_id = fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}
    deliver(store, notifiers, T0)
    worsen(store, alert_id, T0 + timedelta(minutes=5))
    with monkeypatch.context() as patch:
        patch.setattr(type(store), "delivered", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            deliver(store, notifiers, T0 + timedelta(minutes=5))

    deliver(store, notifiers, T0 + timedelta(minutes=6))

    assert len(slack.replies(slack.messages()[0].ts)) == 1
    assert slack.calls[-1].method == "conversations.replies"


def test_two_harkbots_in_one_channel_do_not_take_each_others_messages(slack, monkeypatch, make_store):
    ours, theirs = make_store(), make_store()
    fire(theirs, alert())
    deliver(theirs, {"slack": slack_notifier(slack)}, T0)  # their row 1 has the same id as ours
    fire(ours, alert())
    with monkeypatch.context() as patch:
        patch.setattr(SlackNotifier, "post", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            deliver(ours, {"slack": slack_notifier(slack)}, T0)

    deliver(ours, {"slack": slack_notifier(slack)}, T0 + timedelta(minutes=1))

    assert len(slack.messages()) == 2


# -- routing and noise


def test_routes_pick_the_channel_when_the_rule_names_none(slack, store):
    routing = Routing(default="alerts", routes=(Route("crisis", severities=frozenset({"critical"})),
                                                Route("ops", brands=frozenset({"theranow"}))))
    fire(store, alert("a"))  # critical -> crisis
    fire(store, alert("b", brand="theranow", severity="info"), at=T0 + timedelta(minutes=1))  # -> ops
    fire(store, alert("c", severity="warning"), at=T0 + timedelta(minutes=2))  # -> default
    fire(store, alert("d", severity="critical", channel="ops"), at=T0 + timedelta(minutes=3))  # the rule's own

    deliver(store, {"slack": slack_notifier(slack, routing)}, T0 + timedelta(minutes=3))

    assert [m.text.split(":")[1].strip() for m in slack.messages("C0CRISIS")] == ["a"]
    assert [m.text.split(":")[1].strip() for m in slack.messages("C0OPS")] == ["b", "d"]
    assert [m.text.split(":")[1].strip() for m in slack.messages("C0ALERTS")] == ["c"]


def test_quiet_hours_hold_all_but_critical_until_they_end(slack, store):
    routing = Routing(default="alerts", quiet={"alerts": QuietHours(time(22), time(7), "Europe/London")})
    night = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 23:30 in London in November
    fire(store, alert("loud", severity="critical"), at=night)
    fire(store, alert("calm", brand="other", severity="warning"), at=night)
    notifiers = {"slack": slack_notifier(slack, routing)}

    assert deliver(store, notifiers, night) == (1, 0)
    assert statuses(store) == [("alert", "sent"), ("alert", "held")]
    assert deliver(store, notifiers, datetime(2026, 11, 21, 6, 59, tzinfo=UTC)) == (0, 0)
    assert deliver(store, notifiers, datetime(2026, 11, 21, 7, 0, tzinfo=UTC)) == (1, 0)
    assert [m.text.split(":")[1].strip() for m in slack.messages()] == ["loud", "calm"]


def test_a_digest_collects_low_severity_alerts_into_one_message_at_its_time(slack, store):
    routing = Routing(default="alerts", digests={"alerts": Digest(time(9), frozenset({"info"}))})
    first = fire(store, alert("new-term", severity="info"), at=T0)
    fire(store, alert("influencer", brand="b", severity="info"), at=T0 + timedelta(hours=2))
    fire(store, alert("crisis", brand="c", severity="critical"), at=T0 + timedelta(hours=3))
    notifiers = {"slack": slack_notifier(slack, routing)}
    deliver(store, notifiers, T0)
    deliver(store, notifiers, T0 + timedelta(hours=3))
    resolve(store, first, T0 + timedelta(hours=4))
    assert len(slack.messages()) == 1  # only the critical one so far

    deliver(store, notifiers, datetime(2026, 11, 21, 9, 0, tzinfo=UTC))

    digest = slack.messages()[1]
    assert digest.blocks[0]["text"]["text"].startswith("🗞️ Digest · 2 alerts since 20 Nov 10:00 UTC")
    lines = [b["text"]["text"] for b in digest.blocks[1:]]
    assert lines[0].startswith("✅ *new-term") and lines[1].startswith("🔵 *influencer")
    assert statuses(store) == [("digest", "sent"), ("digest", "sent"), ("alert", "sent"), ("resolve", "skipped")]


def test_a_silence_keeps_an_alert_and_its_follow_ups_out_of_slack(slack, store):
    store.add_silence("negative-spike", "mindful", T0, T0 + timedelta(hours=4), "known outage", "sam", T0)
    silenced = fire(store, alert())
    fire(store, alert("other"), at=T0 + timedelta(minutes=1))
    resolve(store, silenced, T0 + timedelta(hours=1))
    notifiers = {"slack": slack_notifier(slack)}

    deliver(store, notifiers, T0 + timedelta(hours=1))

    assert [m.text.split(":")[1].strip() for m in slack.messages()] == ["other"]
    assert statuses(store) == [("alert", "silenced"), ("alert", "sent"), ("resolve", "silenced")]
    assert store.alert(silenced).state == "resolved"  # recorded all the same


def test_an_expired_silence_stops_silencing(slack, store):
    silence = store.add_silence(None, "mindful", T0, T0 + timedelta(hours=4), "maintenance", None, T0)
    assert store.expire_silence(silence, T0) and not store.expire_silence(silence, T0)
    fire(store, alert())
    deliver(store, {"slack": slack_notifier(slack)}, T0)
    assert len(slack.messages()) == 1


# -- pacing, webhooks, escaping


def test_pacing_keeps_a_burst_under_slacks_limit(slack, store):
    slack.enforce_pace(burst=1)
    for i in range(3):
        fire(store, alert(f"r{i}", brand=f"b{i}"))
    notifiers = {"slack": slack_notifier(slack, pace=1.05)}

    assert deliver(store, notifiers, T0) == (3, 0)
    assert len(slack.messages()) == 3


def test_pacing_sleeps_only_as_long_as_needed():
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock[0] += seconds

    with FakeSlack(token="xoxb-test", channels=CHANNELS) as fake:
        notifier = slack_notifier(fake, pace=1.0, clock=lambda: clock[0], sleep=sleep)
        payload = {"text": "t", "blocks": []}
        notifier.post(payload, "alerts")
        clock[0] += 0.25
        notifier.post(payload, "alerts")
        notifier.post(payload, "ops")  # another channel has its own pace
        clock[0] += 5
        notifier.post(payload, "alerts")
    assert slept == [0.75]


def test_through_a_webhook_follow_ups_are_messages_of_their_own(slack, store):
    alert_id = fire(store, alert())
    webhook = SlackNotifier(webhook_url=slack.webhook_url, routing=Routing(default="alerts"), pace=0)
    deliver(store, {"slack": webhook}, T0)
    worsen(store, alert_id, T0 + timedelta(minutes=5))
    resolve(store, alert_id, T0 + timedelta(hours=1))

    deliver(store, {"slack": webhook}, T0 + timedelta(hours=1))

    texts = [m.text.split(":")[0] for m in slack.messages()]
    assert texts == ["CRITICAL", "UPDATE (it is getting worse)", "RESOLVED"]
    assert all(m.thread_ts is None for m in slack.messages())
    assert slack.messages()[2].blocks[0]["text"]["text"].startswith("✅ RESOLVED · ")


def test_hostile_posts_cannot_ping_anyone_in_any_message(slack, store, make_store):
    hostile = hostile_alert()
    first = fire(store, replace(hostile, id=None, fingerprint="h1", severity="info"), at=T0)
    fire(store, replace(hostile, id=None, fingerprint="h2", rule="second", severity="warning"), at=T0)
    worsen(store, first, T0 + timedelta(hours=1))
    resolve(store, first, T0 + timedelta(hours=2))
    routing = Routing(default="alerts")
    deliver(store, {"slack": slack_notifier(slack, routing)}, T0 + timedelta(hours=2))
    digest_store = make_store()
    fire(digest_store, replace(hostile, id=None, fingerprint="h3", severity="info"), at=T0)
    digests = Routing(default="alerts", digests={"alerts": Digest(time(9))})
    deliver(digest_store, {"slack": slack_notifier(slack, digests)}, T0)
    deliver(digest_store, {"slack": slack_notifier(slack, digests)}, T0 + timedelta(days=1))

    assert len(slack.messages()) == 4  # group, update, resolved note, digest (Slack accepted them all)
    for message in slack.messages():
        sent = message.text + json.dumps(message.blocks, ensure_ascii=False)
        for ping in ("<!channel>", "<!here", "<@U123>", "<#C999", "<https://evil.example|bank.com>"):
            assert ping not in sent
        assert "\u202e" not in sent and "\x1b" not in sent


def test_the_console_gets_the_same_messages_without_threads(store):
    import io

    from rich.console import Console

    out = io.StringIO()
    alert_id = fire(store, alert(), notifiers=("console",))
    console = ConsoleNotifier(Console(file=out, width=120, color_system=None))
    deliver(store, {"console": console}, T0)
    resolve(store, alert_id, T0 + timedelta(hours=1))
    deliver(store, {"console": console}, T0 + timedelta(hours=1))

    printed = out.getvalue()
    assert printed.count("→ (default channel)") == 2
    assert "CRITICAL · negative-spike: Mindful Health" in printed
    assert "│ ✅ Resolved at 20 Nov 11:00 UTC, after 1h: negative-spike: Mindful Health" in printed  # one line


def test_privacy_is_applied_to_every_post_before_it_is_drawn(slack, store):
    class Hide:
        def post(self, p):
            return replace(p, author="a private person", text=self.text(p.text.replace("Charged", "[redacted]")))

        def text(self, t):
            return t.replace("refund", "[term]")

    fire(store, alert(posts=(post(),), terms=("refund",)))
    deliver(store, {"slack": slack_notifier(slack, privacy=Hide())}, T0)

    # The link to the post stays (the team must be able to act on it); what shows is redacted.
    sent = re.sub(r"<https?://[^|>]+\|", "<", json.dumps(slack.messages()[0].blocks))
    assert "angry_customer" not in sent and "Charged" not in sent and "[redacted] twice" in sent
    assert "[term]" in sent and "refund" not in sent
    assert sql(store, "SELECT payload FROM alerts")[0][0].count("angry_customer") >= 1


def test_notices_are_never_grouped_or_silenced(slack, store):
    store.add_silence(None, None, T0, T0 + timedelta(days=1), "everything", None, T0)
    notice = replace(alert("rules-reload"), state="notice", severity="warning", channel="ops")
    store.record_notice(notice, ["slack"], T0)
    deliver(store, {"slack": slack_notifier(slack)}, T0)
    assert len(slack.messages("C0OPS")) == 1


assert HOSTILE_TEXTS  # imported for the hostile alert's shape


def test_privacy_mode_from_config_redacts_contacts_and_private_handles(slack, store):
    from bot.config import SlackPrivacyModel
    from bot.notifiers.redact import SlackPrivacy
    from bot.query import parse

    privacy = SlackPrivacy.from_settings(SlackPrivacyModel(keep_handles=["@NHSuk"]), [parse("@MindfulHealth OR mindful")])
    text = "email jane.doe@example.com or call +44 20 7946 0958; @bob_smith @MindfulHealth @nhsuk"
    fire(store, alert(posts=(post(text=text, author="bob_smith", author_reach=45),
                             post(text="big account", author="newsdesk", author_reach=2_000_000,
                                  url="https://x.com/newsdesk/status/9"))))
    deliver(store, {"slack": slack_notifier(slack, privacy=privacy)}, T0)

    sent = json.dumps(slack.messages()[0].blocks, ensure_ascii=False)
    assert "jane.doe" not in sent and "7946" not in sent and "bob_smith" not in sent
    assert "[email]" in sent and "[phone]" in sent and "@[user] @MindfulHealth @nhsuk" in sent
    assert "*an X user (45 followers)*" in sent and "<https://x.com/i/web/status/1|open>" in sent
    assert "*@newsdesk*" in sent and "https://x.com/newsdesk/status/9" in sent
    stored = sql(store, "SELECT payload FROM alerts")[0][0]
    assert "jane.doe@example.com" in stored  # the store keeps the full text for the reputation team


def test_two_senders_on_one_database_post_a_row_once(slack, store):
    """`harkbot once` run beside the daemon: both read the row as pending; one claims it."""
    fire(store, alert())
    stale = store.open_deliveries()
    deliver(store, {"slack": slack_notifier(slack)}, T0)

    from bot.outbox import _Sender

    late = _Sender(store, {"slack": slack_notifier(slack)}, T0)
    late.run(stale)  # what the second process read before the first one claimed
    assert len(slack.messages()) == 1 and statuses(store) == [("alert", "sent")]


# -- regressions found in review


def test_a_digest_that_failed_once_is_retried_as_a_digest(slack, store):
    routing = Routing(default="alerts", digests={"alerts": Digest(time(9), frozenset({"info"}))})
    for i in range(20):
        fire(store, alert(f"rule{i}", brand=f"b{i}", severity="info"), at=T0 + timedelta(minutes=i))
    notifiers = {"slack": slack_notifier(slack, routing)}
    deliver(store, notifiers, T0 + timedelta(minutes=30))
    nine = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    slack.fail_next(1, status=500, error="internal_error")
    assert deliver(store, notifiers, nine) == (0, 20)

    assert deliver(store, notifiers, nine + timedelta(minutes=20)) == (20, 0)

    (digest,) = slack.messages()
    assert digest.blocks[0]["text"]["text"].startswith("🗞️ Digest · 20 alerts")
    assert store.message_of(1, "slack").digest


def test_rows_held_for_a_digest_never_hide_a_critical_alert_behind_them(slack, store):
    routing = Routing(default="alerts", digests={"alerts": Digest(time(9), frozenset({"info"}))})
    for i in range(510):
        fire(store, alert(f"r{i}", brand=f"b{i}", severity="info"), at=T0)
    notifiers = {"slack": slack_notifier(slack, routing)}
    deliver(store, notifiers, T0)
    deliver(store, notifiers, T0)  # two passes: the window is 500 rows
    crisis = fire(store, alert("crisis", brand="acme", severity="critical"), at=T0 + timedelta(minutes=5))

    deliver(store, notifiers, T0 + timedelta(minutes=5))

    assert [d.status for d in store.deliveries_of(crisis)] == ["sent"]


def test_privacy_covers_the_header_and_the_facts(slack):
    from bot.notifiers import blocks
    from bot.notifiers.redact import SlackPrivacy

    a = alert("influencer", severity="warning",
              title="Influencer mention: Mindful Health, 2 posts (top: @jane.doe.private, 45 followers)",
              facts=(("Authors", "@jane.doe.private (youtube): 45, call 555-123-4567"),))
    sent = json.dumps(blocks.payload(replace(a, id=1), key="k", privacy=SlackPrivacy()), ensure_ascii=False)
    assert "jane.doe" not in sent and "123-4567" not in sent and "(top: @[user], 45 followers)" in sent


def test_a_safety_notice_is_redacted_in_privacy_mode(slack, store):
    from bot.notifiers.redact import SlackPrivacy

    notice = replace(alert("self-harm-safety", posts=(post(author="private_person", author_reach=12,
                                                           text="reach me at jane@example.com"),)),
                     state="notice")
    store.record_notice(notice, ["slack"], T0)
    deliver(store, {"slack": slack_notifier(slack, privacy=SlackPrivacy())}, T0)
    sent = json.dumps(slack.messages()[0].blocks)
    assert "private_person" not in sent and "jane@example.com" not in sent


def test_updates_of_a_silenced_alert_stay_out_but_its_resolution_goes(slack, store):
    alert_id = fire(store, alert())
    notifiers = {"slack": slack_notifier(slack)}
    deliver(store, notifiers, T0)
    store.add_silence("negative-spike", None, T0, T0 + timedelta(days=1), "we know", None, T0)
    worsen(store, alert_id, T0 + timedelta(minutes=5))
    resolve(store, alert_id, T0 + timedelta(hours=1))

    deliver(store, notifiers, T0 + timedelta(hours=1))

    assert statuses(store) == [("alert", "sent"), ("update", "silenced"), ("resolve", "sent")]
    assert [m.text.split(":")[0] for m in slack.replies(slack.messages()[0].ts)] == ["RESOLVED"]


def test_privacy_keeps_a_public_account_named_in_a_title_and_hides_a_private_one():
    from bot.notifiers import blocks
    from bot.notifiers.redact import SlackPrivacy

    a = alert("influencer", severity="warning",
              title="Influencer mention: Mindful Health, 2 posts (top: @newsdesk, 2,000,000 followers)",
              reason="@newsdesk and @private_pat posted", posts=(post(author="newsdesk", author_reach=2_000_000),
                                                                  post(author="private_pat", author_reach=40)))
    sent = json.dumps(blocks.payload(replace(a, id=1), privacy=SlackPrivacy()), ensure_ascii=False)
    assert "(top: @newsdesk, 2,000,000 followers)" in sent and "@newsdesk and @[user] posted" in sent
    assert "private_pat" not in sent


# -- channel names shared by several notifiers

def test_a_channel_goes_to_every_notifier_that_serves_it_and_is_skipped_by_the_rest(slack, store):
    """Slack knows alerts/crisis/ops; a second notifier knows only 'exec' and 'alerts'."""

    class Exec(ConsoleNotifier):
        name = "exec"

        def serves(self, channel: str) -> bool:
            return channel in ("exec", "alerts")

    screen = Console(file=io.StringIO(), record=True, width=120)
    notifiers = {"slack": slack_notifier(slack), "exec": Exec(screen, routing=Routing(default="alerts"))}
    fire(store, alert(rule="to-alerts"), notifiers=list(notifiers))
    fire(store, alert(rule="to-exec", channel="exec"), notifiers=list(notifiers))
    fire(store, alert(rule="to-ops", channel="ops"), notifiers=list(notifiers))

    deliver(store, notifiers, T0)

    assert [m.text.split(":")[0] for m in slack.messages()] == ["CRITICAL", "CRITICAL"]
    assert sorted(m.channel for m in slack.messages()) == ["C0ALERTS", "C0OPS"]
    shown = screen.export_text()
    assert "→ alerts" in shown and "→ exec" in shown and "→ ops" not in shown
    rows = sql(store, "SELECT notifier, status, last_error FROM outbox ORDER BY id")
    assert sorted((n, s) for n, s, _ in rows) == sorted([("slack", "sent"), ("exec", "sent"), ("slack", "skipped"),
                                                        ("exec", "sent"), ("slack", "sent"), ("exec", "skipped")])
    assert {e for n, s, e in rows if s == "skipped"} == {"slack has no channel 'exec'", "exec has no channel 'ops'"}
