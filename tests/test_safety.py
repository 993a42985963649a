"""Ingest privacy and self-harm safety, end to end: redaction before storage, flags stored
with the mention, one safety alert per flag to the safety channel (through the fake Slack),
and flagged posts kept out of ordinary alerts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from bot.config import SafetyModel
from bot.intake import Intake
from bot.kinds.mention import Options
from bot.notifiers.slack import SlackNotifier
from bot.outbox import deliver
from bot.pipeline import evaluate_once, poll_once, prepare
from bot.routing import QuietHours, Routing
from bot.rules import Rule
from bot.sentiment import make_scorer
from bot.store import Store
from tests.backends import backend, dump, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.fakes.slack import FakeSlack
from tests.helpers import T0, ScriptedListener, brand, mention

BRANDS = {"mindful": brand()}
SCORER = make_scorer("vader")
SAFETY = SafetyModel(channel="crisis")
AT_RISK = "honestly I want to end it all, not even the Mindful Health app helps anymore"
RISK_ONLY = "Mindful Health meds gave me suicidal thoughts, scary stuff"


def ingest(store: Store, *texts: str, intake: Intake = Intake()) -> None:
    pages = [[mention(i, t) for i, t in enumerate(texts, start=1)]]
    assert poll_once(ScriptedListener(pages), BRANDS, SCORER, store, T0 + timedelta(hours=1), intake=intake).error is None


def test_redaction_at_ingest_keeps_emails_and_phones_out_of_the_database(store):
    m = replace(mention(1, "Mindful Health billing: write jane.doe@example.com or call +1 (555) 123-4567"),
                title="Help jane.doe@example.com", raw={"text": "jane.doe@example.com", "n": [1, "+1 555 123 4567"]})
    store.ingest("t", prepare([m], BRANDS, SCORER, store, Intake(emails=True, phones=True)), None, T0)

    everything = dump(store)
    assert "jane.doe" not in everything and "123-4567" not in everything and "555 123 4567" not in everything
    assert "write [email] or call [phone]" in everything
    assert store.search("jane") == [] and len(store.search("email")) == 1


def test_without_redaction_the_store_keeps_the_full_text(store):
    store.ingest("t", prepare([mention(1, "Mindful Health: jane.doe@example.com")], BRANDS, SCORER, store), None, T0)
    assert "jane.doe@example.com" in dump(store)


def test_a_person_at_risk_raises_one_safety_alert_to_the_safety_channel_with_resources(store):
    ingest(store, "Mindful Health app keeps crashing", AT_RISK)
    now = T0 + timedelta(hours=1)

    first = evaluate_once([], BRANDS, store, now, ["slack"], safety=SAFETY)
    again = evaluate_once([], BRANDS, store, now + timedelta(minutes=5), ["slack"], safety=SAFETY)

    (alert,) = first.alerts
    assert again.alerts == []
    assert alert.channel == "crisis" and alert.severity == "critical" and alert.state == "notice"
    assert alert.finding.title == "Possible self-harm: a person may be at risk (Mindful)"
    assert "988" in alert.finding.reason and "not treated as a complaint" in alert.finding.reason
    assert [p.text for p in alert.finding.posts] == [AT_RISK]
    (row,) = store.open_deliveries()
    assert row.action == "notice" and row.channel == "crisis"


def test_the_safety_alert_reaches_slack_through_quiet_hours_and_silences(store):
    ingest(store, AT_RISK)
    now = T0 + timedelta(hours=1)
    store.add_silence(None, "mindful", T0, T0 + timedelta(days=1), "launch week noise", None, T0)
    evaluate_once([], BRANDS, store, now, ["slack"], safety=SAFETY)
    with FakeSlack(token="xoxb-t", channels={"C0ALERTS": "alerts", "C0CARE": "care"}) as slack:
        routing = Routing(default="alerts", quiet={"crisis": QuietHours(T0.time(), (T0 - timedelta(minutes=1)).time())})
        notifier = SlackNotifier(token="xoxb-t", base_url=slack.url, channels={"alerts": "C0ALERTS", "crisis": "C0CARE"},
                                 default_channel="alerts", routing=routing, pace=0)
        assert deliver(store, {"slack": notifier}, now) == (1, 0)
        (message,) = slack.messages("C0CARE")
    sent = message.text + json.dumps(message.blocks, ensure_ascii=False)
    assert "Possible self-harm" in sent and "call or text 988" in sent and "findahelpline.com" in sent


def test_risk_flags_are_alerted_by_default_and_never_quoted_in_other_alerts(store):
    # #14: the default routes every level but `none`; a config that lists fewer holds risk back.
    ingest(store, RISK_ONLY, "Mindful Health meds are a ripoff", "Mindful Health meds made me dizzy")
    now = T0 + timedelta(hours=1)
    rule = Rule("meds", "", ("mindful",), None, "warning", None, timedelta(hours=1), timedelta(minutes=30),
                "mention", Options(query="meds", window=timedelta(hours=2)), "r.yaml", 1)

    narrow = SafetyModel(channel="crisis", alert_levels=["intent", "ideation"])
    result = evaluate_once([rule], BRANDS, store, now, ["slack"], safety=narrow)

    (alert,) = result.alerts
    assert alert.rule == "meds"
    assert RISK_ONLY not in [p.text for p in alert.finding.posts] and len(alert.finding.posts) == 2
    level = sql(store, "SELECT level FROM safety_flags")
    assert [r[0] for r in level] == ["risk"]
    by_default = evaluate_once([], BRANDS, store, now, ["slack"], safety=SAFETY)
    assert [a.rule for a in by_default.alerts] == ["self-harm-safety"]
    assert by_default.alerts[0].channel == "crisis" and by_default.alerts[0].state == "notice"


def test_a_none_flag_is_stored_and_kept_out_of_alerts_but_not_routed_by_default(store):
    told = "Mindful Health: suicidal thoughts were scary to admit but my therapist handled it with care"
    ingest(store, told)
    now = T0 + timedelta(hours=1)
    assert [r[0] for r in sql(store, "SELECT level FROM safety_flags")] == ["none"]
    assert evaluate_once([], BRANDS, store, now, ["slack"], safety=SAFETY).alerts == []
    routed = evaluate_once([], BRANDS, store, now, ["slack"], safety=SafetyModel(alert_levels=["none"]))
    assert [a.rule for a in routed.alerts] == ["self-harm-safety"]


def test_a_self_harm_flag_raises_a_safety_alert_by_default(store):
    ingest(store, "Mindful Health, I relapsed and I've been cutting again, hiding the scars")
    (alert,) = evaluate_once([], BRANDS, store, T0 + timedelta(hours=1), ["slack"], safety=SAFETY).alerts
    assert ("Level", "self-harm") in alert.finding.facts and "describes self-harm" in alert.finding.reason


def test_safety_off_flags_nothing(store):
    ingest(store, AT_RISK, intake=Intake(safety=False))
    assert sql(store, "SELECT COUNT(*) FROM safety_flags")[0][0] == 0
    assert evaluate_once([], BRANDS, store, T0 + timedelta(hours=1), ["slack"],
                         safety=SafetyModel(enabled=False)).alerts == []


def test_an_unknown_safety_channel_is_a_config_error(tmp_path, repo):
    import pytest

    from bot.config import load_config
    from bot.errors import ConfigError

    text = (repo / "config.yaml").read_text().replace("  channel: crisis ", "  channel: crisis-care ")
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml")
    assert "safety.channel: 'crisis-care' is not one of slack.channels" in str(caught.value.problems[0])


def test_forgetting_an_author_removes_their_safety_flags_too():
    from bot.retention import forget_author

    # SQLite only: forgetting on PostgreSQL belongs to bot/retention.py and its pg_reads twin.
    store = Store(":memory:")
    ingest(store, AT_RISK)
    assert sql(store, "SELECT COUNT(*) FROM safety_flags")[0][0] == 1
    forget_author(store, "user1", T0 + timedelta(hours=2), actor="test")
    assert sql(store, "SELECT COUNT(*) FROM safety_flags")[0][0] == 0
