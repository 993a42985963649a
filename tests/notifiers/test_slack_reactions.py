"""Triage by emoji without Socket Mode (bot/notifiers/slack_reactions.py): the real slack-sdk
reads reactions.get from the fake Slack; 👍 useful, 👎 noise, 👀 ack, each recorded once however
often the poll runs, and the message redrawn with who said what."""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import pytest

from bot.notifiers import blocks
from bot.notifiers.slack import SlackNotifier
from bot.notifiers.slack_reactions import poll
from bot.store import Store
from tests.fakes.slack import BOT_USER_ID, FakeSlack
from tests.notifiers.outbox_steps import T0
from tests.notifiers.test_slack_interactive import TOKEN, posted, triage_line, updates

NOW = T0 + timedelta(minutes=30)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"C0ALERTS": "alerts"}) as fake:
        yield fake


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


def notifier(slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(token=TOKEN, base_url=slack.url, channels={"alerts": "C0ALERTS"}, pace=0, timeout=5)


def said(store: Store, ids=None) -> list[tuple]:
    return [(e.alert_id, e.kind, e.verdict, e.actor, e.source) for e in store.triage_events(ids)]


def test_reactions_are_recorded_once_and_the_message_redrawn(slack, store):
    message, [alert_id] = posted(store, slack, actions=False)
    slack.react("C0ALERTS", message.ts, "U0ANN", "+1")
    slack.react("C0ALERTS", message.ts, "U0BOB", "eyes")
    slack.react("C0ALERTS", message.ts, "U0CAT", "-1::skin-tone-3")
    slack.react("C0ALERTS", message.ts, "U0DAN", "tada")  # not one of ours
    slack.react("C0ALERTS", message.ts, BOT_USER_ID, "-1")  # the bot itself

    result = poll(store, notifier(slack), NOW)  # the bot user from auth.test

    assert (result.messages, result.recorded, result.failed) == (1, 3, 0)
    assert said(store) == [(alert_id, "verdict", "useful", "slack:U0ANN", "reaction"),
                           (alert_id, "ack", None, "slack:U0BOB", "reaction"),
                           (alert_id, "verdict", "noise", "slack:U0CAT", "reaction")]
    [update] = updates(slack)
    assert update.params["ts"] == message.ts
    [now] = slack.messages("C0ALERTS")
    assert triage_line(now) == ["👀 Acknowledged by <@U0BOB> · verdict: noise by <@U0CAT>"]
    assert not [b for b in now.blocks if b["type"] == "actions"]  # no app token: no buttons

    # Run again, and with a reaction taken off and put back: nothing new, nothing redrawn.
    slack.react("C0ALERTS", message.ts, "U0ANN", "+1", remove=True)
    slack.react("C0ALERTS", message.ts, "U0ANN", "+1")
    assert poll(store, notifier(slack), NOW + timedelta(minutes=2)).recorded == 0
    assert len(said(store)) == 3 and len(updates(slack)) == 1


def test_a_reaction_on_a_group_message_counts_for_each_alert(slack, store):
    message, ids = posted(store, slack, "negative-spike", "volume-spike", actions=False)
    slack.react("C0ALERTS", message.ts, "U0ANN", "thumbsup")

    assert poll(store, notifier(slack), NOW).recorded == 2
    assert [(a, v) for a, _, v, _, _ in said(store)] == [(ids[0], "useful"), (ids[1], "useful")]


def test_only_recent_alert_messages_are_read(slack, store):
    old, [old_id] = posted(store, slack, "volume-spike", actions=False, at=T0 - timedelta(days=4))
    slack.react("C0ALERTS", old.ts, "U0ANN", "+1")

    assert poll(store, notifier(slack), NOW).messages == 0
    assert [c for c in slack.calls if c.method == "reactions.get"] == [] and said(store) == []


def test_a_failed_read_is_logged_and_the_next_run_records_it(slack, store, caplog):
    message, [alert_id] = posted(store, slack, actions=False)
    slack.react("C0ALERTS", message.ts, "U0ANN", "eyes")
    slack.fail_next(1, status=500)

    failed = poll(store, notifier(slack), NOW)

    assert (failed.recorded, failed.failed) == (0, 1) and said(store) == []
    assert any("could not read the reactions" in r.getMessage() for r in caplog.records)
    assert poll(store, notifier(slack), NOW).recorded == 1
    assert said(store) == [(alert_id, "ack", None, "slack:U0ANN", "reaction")]


def test_a_forged_user_in_a_reaction_list_is_skipped(slack, store):
    message, [alert_id] = posted(store, slack, actions=False)
    slack.react("C0ALERTS", message.ts, "<!channel>", "+1")
    slack.react("C0ALERTS", message.ts, "U0ANN", "+1")

    assert poll(store, notifier(slack), NOW).recorded == 1
    assert [a for _, _, _, a, _ in said(store)] == ["slack:U0ANN"]
    assert "<!channel>" not in str(slack.messages("C0ALERTS")[0].blocks)
