"""The triage buttons end to end: the real slack-sdk SocketModeClient (bot/notifiers/slack_socket.py)
against the fake Socket Mode server and Web API (tests/fakes/slack_socket.py, slack.py), with a
real store. A click is acked within 3 s, recorded once, and its message updated in place; a
replayed or forged click changes nothing and is logged; a disconnect reconnects."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest

from bot.notifiers import blocks
from bot.notifiers.slack import SlackNotifier
from bot.notifiers.slack_socket import InteractiveRunner
from bot.store import Store
from bot.triage import CLOSE_REASONS
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.slack_socket import FakeSocketMode, block_actions
from tests.backends import backend, make_store  # noqa: F401 - fixtures: both backends
from tests.notifiers.outbox_steps import T0, alert, fire

TOKEN = "xoxb-1234-5678-s3cr3tT0k3n"
APP_TOKEN = "xapp-1-A0HARKBOT-99-s3cr3tAppT0k3n"
NOW = T0 + timedelta(minutes=4)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"C0ALERTS": "alerts"}) as fake:
        yield fake


@pytest.fixture
def socket(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode(slack, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def runner(slack: FakeSlack, socket: FakeSocketMode, store: Store) -> Iterator[InteractiveRunner]:
    editor = SlackNotifier(token=TOKEN, base_url=slack.url, channels={"alerts": "C0ALERTS"}, pace=0, timeout=5)
    r = InteractiveRunner(APP_TOKEN, editor, store, base_url=slack.url, clock=lambda: NOW, ping_interval=1)
    r.start()
    socket.wait_connections(1)
    yield r
    r.stop()


def posted(store: Store, slack: FakeSlack, *rules: str, actions: bool = True, at=T0) -> tuple[Message, list[int]]:
    """Alerts fired and sent as one message with their buttons, as the sender posts them."""
    ids = [fire(store, alert(rule, at=at), ("slack",)) for rule in rules or ("negative-spike",)]
    rows = store.open_deliveries(["slack"])
    assert store.claim([r.id for r in rows])
    key = f"{store.instance()}.{rows[0].id}"
    message = blocks.group_payload([store.alert(i) for i in ids], key=key, actions=actions)
    sender = SlackNotifier(token=TOKEN, base_url=slack.url, channels={"alerts": "C0ALERTS"}, pace=0)
    out = sender.post(message, "alerts")
    store.delivered([r.id for r in rows], at, channel="alerts", channel_id=out.channel_id, ts=out.ts, key=key)
    [stored] = [m for m in slack.messages("C0ALERTS") if m.ts == out.ts]
    return stored, ids


def eventually(check: Callable[[], Any], timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def handled(runner: InteractiveRunner, n: int) -> None:
    assert eventually(lambda: runner.handled >= n), f"{runner.handled} clicks handled, wanted {n}"


def updates(slack: FakeSlack) -> list[Any]:
    return [c for c in slack.calls if c.method == "chat.update"]


def triage_line(message: Message) -> list[str]:
    return [e["text"] for b in message.blocks if b.get("block_id") == blocks.TRIAGE_BLOCK for e in b["elements"]]


# -- the buttons themselves


def test_the_actions_block_of_one_alert() -> None:
    from tests.notifiers import sample_alert

    message = blocks.payload(sample_alert(), actions=True)
    assert message["blocks"][-1] == {
        "type": "actions",
        "block_id": "harkbot_triage",
        "elements": [
            {"type": "button", "action_id": "harkbot_ack", "style": "primary", "value": "7",
             "text": {"type": "plain_text", "text": "👀 Acknowledge", "emoji": True}},
            {"type": "button", "action_id": "harkbot_useful", "value": "7",
             "text": {"type": "plain_text", "text": "👍 Useful", "emoji": True}},
            {"type": "button", "action_id": "harkbot_noise", "value": "7",
             "text": {"type": "plain_text", "text": "👎 Noise", "emoji": True}},
            {"type": "static_select", "action_id": "harkbot_close",
             "placeholder": {"type": "plain_text", "text": "Close as…", "emoji": True},
             "options": [
                 {"text": {"type": "plain_text", "text": "Resolved", "emoji": True}, "value": "7|resolved"},
                 {"text": {"type": "plain_text", "text": "False positive: the rule", "emoji": True},
                  "value": "7|false-positive:rule"},
                 {"text": {"type": "plain_text", "text": "False positive: wrong brand", "emoji": True},
                  "value": "7|false-positive:wrong-brand"},
                 {"text": {"type": "plain_text", "text": "False positive: spam", "emoji": True},
                  "value": "7|false-positive:spam"},
                 {"text": {"type": "plain_text", "text": "False positive: wrong sentiment", "emoji": True},
                  "value": "7|false-positive:wrong-sentiment"},
                 {"text": {"type": "plain_text", "text": "Duplicate", "emoji": True}, "value": "7|duplicate"},
             ]},
        ],
    }
    # Off by default: every existing payload stays as it was.
    assert blocks.payload(sample_alert()) == {**message, "blocks": message["blocks"][:-1]}


def test_a_group_messages_buttons_carry_every_id_and_fit_slacks_limits() -> None:
    from tests.fakes.slack import block_problems
    from tests.notifiers import sample_alert

    big = 2**63 - 1  # the largest id either backend holds
    group = [sample_alert(id=big - i, rule=f"r{i}") for i in range(5)]
    message = blocks.group_payload(group, actions=True)
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    ids = ",".join(str(big - i) for i in range(5))
    assert [e.get("value") for e in actions["elements"][:3]] == [ids] * 3
    assert [o["value"] for o in actions["elements"][3]["options"]] == [f"{ids}|{r}" for r in CLOSE_REASONS]
    assert block_problems(message["blocks"]) == []
    # An unsaved alert has no id for a button to carry: no buttons, rather than buttons that lie.
    assert not [b for b in blocks.payload(sample_alert(id=None), actions=True)["blocks"] if b["type"] == "actions"]


def test_the_triage_line_names_who_said_what_and_a_group_that_differs_gets_a_line_each() -> None:
    from bot.triage import TriageEvent
    from tests.notifiers import sample_alert

    def event(n: int, alert_id: int, kind: str, actor: str, source: str = "slack", **values: Any) -> TriageEvent:
        return TriageEvent(n, alert_id, kind, actor, NOW, source=source, **values)

    said = [event(1, 7, "ack", "ann (slack:U0ANN)"), event(2, 7, "verdict", "ann (slack:U0ANN)", verdict="noise",
                                                          reason="spam"),
            event(3, 7, "close", "<b>bob</b>", "cli", reason="duplicate")]
    message = blocks.payload(sample_alert(), triage=said)
    assert message["blocks"][-1] == {"type": "context", "block_id": "harkbot_triage_state", "elements": [
        {"type": "mrkdwn", "verbatim": True,
         "text": "👀 Acknowledged by <@U0ANN> · verdict: noise (spam) · closed: Duplicate by &lt;b&gt;bob&lt;/b&gt;"}]}
    # A reopen clears the close; events of other alerts are not this one's.
    reopened = [*said, event(4, 7, "reopen", "ann (slack:U0ANN)"), event(5, 8, "ack", "cat (slack:U0CAT)")]
    assert triage_line(Message("C", "1.1", "", blocks.payload(sample_alert(), triage=reopened)["blocks"])) == [
        "👀 Acknowledged by <@U0ANN> · verdict: noise (spam)"]

    group = [sample_alert(id=7), sample_alert(id=8, rule="volume-spike")]
    drawn = blocks.group_payload(group, triage=[event(1, 7, "ack", "slack:U0ANN")])
    assert triage_line(Message("C", "1.1", "", drawn["blocks"])) == ["#7: 👀 Acknowledged by <@U0ANN>"]
    # A source we did not write cannot make a mention, whatever its actor says.
    forged = blocks.payload(sample_alert(), triage=[event(1, 7, "ack", "slack:U0BOSS", "cli")])
    assert triage_line(Message("C", "1.1", "", forged["blocks"])) == ["👀 Acknowledged by slack:U0BOSS"]


def test_the_fake_refuses_actions_beyond_slacks_limits() -> None:
    from tests.fakes.slack import block_problems

    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "A"}, "value": "1"}
    assert block_problems([{"type": "actions", "elements": [button]}]) == []
    many = [{**button, "action_id": f"a{i}"} for i in range(26)]
    assert block_problems([{"type": "actions", "elements": many}])
    assert block_problems([{"type": "actions", "elements": [{**button, "value": "1" * 2001}]}])
    assert block_problems([{"type": "actions", "elements": [button, button]}])  # a duplicate action_id
    select = {"type": "static_select", "action_id": "s", "placeholder": {"type": "plain_text", "text": "P"},
              "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "1" * 151}]}
    assert block_problems([{"type": "actions", "elements": [select]}])


# -- clicks through Socket Mode


def test_acknowledge_is_acked_within_3s_recorded_and_the_message_updated_in_place(runner, socket, slack, store):
    message, [alert_id] = posted(store, slack)

    envelope = socket.click(message, blocks.ACK, user="U0ANN", name="ann")

    ack = socket.wait_ack(envelope)
    assert ack.seconds < 3 and ack.body == {"envelope_id": envelope}
    handled(runner, 1)
    [event] = store.triage_events([alert_id])
    assert (event.kind, event.actor, event.source, event.at) == ("ack", "ann (slack:U0ANN)", "slack", NOW)
    assert event.ref and event.ref.startswith(f"slack:C0ALERTS:{message.ts}:")
    [update] = eventually(lambda: updates(slack))
    assert (update.params["channel"], update.params["ts"]) == ("C0ALERTS", message.ts)
    [now] = [m for m in slack.messages("C0ALERTS") if m.ts == message.ts]
    assert now.edits == 1 and len(slack.top_level()) == 1  # in place: no second message
    assert triage_line(now) == ["👀 Acknowledged by <@U0ANN>"]
    assert [b for b in now.blocks if b["type"] == "actions"]  # the buttons stay for the verdict


@pytest.mark.parametrize("action, reason, kind, verdict, line", [
    (blocks.USEFUL, None, "verdict", "useful", "verdict: useful by <@U0BOB>"),
    (blocks.NOISE, None, "verdict", "noise", "verdict: noise by <@U0BOB>"),
    (blocks.CLOSE, "false-positive:spam", "close", None, "closed: False positive: spam by <@U0BOB>"),
])
def test_useful_noise_and_close_record_what_was_said(runner, socket, slack, store, action, reason, kind,
                                                     verdict, line):
    message, [alert_id] = posted(store, slack)
    socket.wait_ack(socket.click(message, blocks.ACK, user="U0ANN"))
    handled(runner, 1)

    socket.wait_ack(socket.click(message, action, user="U0BOB", name="bob", reason=reason))
    handled(runner, 2)

    event = store.triage_events([alert_id])[-1]
    assert (event.kind, event.verdict, event.reason, event.actor) == (kind, verdict, reason, "bob (slack:U0BOB)")
    eventually(lambda: len(updates(slack)) == 2)
    [now] = slack.messages("C0ALERTS")
    assert triage_line(now) == [f"👀 Acknowledged by <@U0ANN> · {line}"]


def test_a_click_on_a_group_message_judges_every_alert_in_it(runner, socket, slack, store):
    message, ids = posted(store, slack, "negative-spike", "volume-spike")

    socket.wait_ack(socket.click(message, blocks.USEFUL, user="U0ANN"))
    handled(runner, 1)

    assert [(e.alert_id, e.verdict) for e in store.triage_events(ids)] == [(ids[0], "useful"), (ids[1], "useful")]
    eventually(lambda: updates(slack))
    [now] = slack.messages("C0ALERTS")
    assert triage_line(now) == ["verdict: useful by <@U0ANN>"]
    assert len([b for b in now.blocks if b["type"] == "header"]) == 1  # still the group's one message


def test_a_replayed_envelope_is_refused_logged_and_changes_nothing(runner, socket, slack, store, caplog):
    message, [alert_id] = posted(store, slack)
    click = block_actions(message, blocks.USEFUL, user="U0ANN")
    socket.wait_ack(socket.push(click))
    handled(runner, 1)
    eventually(lambda: updates(slack))
    before = (store.triage_events(), len(updates(slack)), len(store.audit_rows(100)))

    with caplog.at_level(logging.WARNING, logger="harkbot"):
        again = socket.push(click)  # Slack delivering the same click twice: a new envelope, the same action
        assert socket.wait_ack(again).seconds < 3
        handled(runner, 2)

    assert (store.triage_events(), len(updates(slack)), len(store.audit_rows(100))) == before
    assert any("seen before" in r.getMessage() and "not recorded twice" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("forge, why", [
    ({"value": "999"}, "was not posted in message"),  # no such alert
    ({"value": "seven"}, "is not a list of alert ids"),
    ({"value": "7;DROP TABLE alerts"}, "is not a list of alert ids"),
    ({"value": ",".join(["1"] * 30)}, "is not a list of alert ids"),
    ({"action_id": "other_app_button"}, "is not one of harkbot's"),
    ({"user": "<!channel>"}, "is not a Slack user id"),
    ({"action_id": blocks.CLOSE, "reason": "because"}, "close reason"),
])
def test_a_forged_click_is_refused_logged_and_changes_nothing(runner, socket, slack, store, caplog, forge, why):
    message, [alert_id] = posted(store, slack)
    options = dict(forge)
    action_id = options.pop("action_id", blocks.ACK)

    with caplog.at_level(logging.WARNING, logger="harkbot"):
        socket.wait_ack(socket.click(message, action_id, **options))
        handled(runner, 1)

    assert store.triage_events() == [] and updates(slack) == []
    [warning] = [r.getMessage() for r in caplog.records if r.name == "harkbot"]
    assert warning.startswith("slack click refused") and why in warning


def test_an_alert_id_from_another_message_is_refused(runner, socket, slack, store):
    first, [first_id] = posted(store, slack, "negative-spike")
    second, [second_id] = posted(store, slack, "volume-spike")

    # Alert 2's id on alert 1's message: a value copied from elsewhere, or made up.
    socket.wait_ack(socket.click(first, blocks.NOISE, value=str(second_id)))
    handled(runner, 1)

    assert store.triage_events() == [] and updates(slack) == []


def test_a_disconnect_reconnects_with_a_new_url_and_the_next_click_works(runner, socket, slack, store):
    message, [alert_id] = posted(store, slack)

    socket.disconnect("refresh_requested")
    socket.wait_connections(2)
    socket.wait_ack(socket.click(message, blocks.ACK))
    handled(runner, 1)

    assert socket.acks[-1].connection == 1
    assert [e.kind for e in store.triage_events([alert_id])] == ["ack"]
    assert socket.refused_handshakes == 0  # each connection had a ticket of its own
    assert len([c for c in slack.calls if c.method == "apps.connections.open"]) == 2


def test_a_dropped_socket_reconnects_too(runner, socket, slack, store):
    message, [alert_id] = posted(store, slack)

    socket.drop()
    socket.wait_connections(2)
    socket.wait_ack(socket.click(message, blocks.NOISE))
    handled(runner, 1)

    assert [e.verdict for e in store.triage_events([alert_id])] == ["noise"]


def test_hostile_user_names_are_recorded_as_text_and_never_reach_the_message(runner, socket, slack, store):
    message, [alert_id] = posted(store, slack)
    hostile = "<!channel> \u202e<@U0BOSS> & co\x1b[31m"

    socket.wait_ack(socket.click(message, blocks.ACK, user="U0ANN", name=hostile))
    handled(runner, 1)
    # A CLI user with a hostile name: escaped as text, never a mention.
    store.record_triage(alert_id, "verdict", "<!here>", NOW, verdict="noise")
    socket.wait_ack(socket.click(message, blocks.CLOSE, user="W0ENTERPRISE", reason="duplicate"))
    handled(runner, 2)

    [event] = [e for e in store.triage_events([alert_id]) if e.kind == "ack"]
    assert event.actor == "<!channel> <@U0BOSS> & co[31m (slack:U0ANN)"
    eventually(lambda: len(updates(slack)) == 2)
    [now] = slack.messages("C0ALERTS")
    assert triage_line(now) == ["👀 Acknowledged by <@U0ANN> · verdict: noise by &lt;!here&gt; · "
                                "closed: Duplicate by <@W0ENTERPRISE>"]
    text = str(now.blocks)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U0BOSS>" not in text


def test_other_envelopes_are_acked_and_ignored(runner, socket, slack, store):
    posted(store, slack)

    events = socket.push({"type": "event_callback", "event": {"type": "app_mention"}}, "events_api")
    command = socket.push({"command": "/harkbot", "text": "ack 1"}, "slash_commands")

    assert socket.wait_ack(events).seconds < 3 and socket.wait_ack(command).seconds < 3
    time.sleep(0.2)
    assert store.triage_events() == [] and updates(slack) == [] and runner.handled == 0


def test_a_bot_token_given_as_the_app_token_is_refused_with_a_hint(slack, socket, store):
    from bot.errors import NotifyError

    editor = SlackNotifier(token=TOKEN, base_url=slack.url, channels={}, pace=0)
    with pytest.raises(NotifyError) as caught:
        InteractiveRunner(TOKEN, editor, store, base_url=slack.url, clock=lambda: NOW).start()
    assert "must be an app-level token (xapp-" in str(caught.value)
    assert TOKEN not in str(caught.value)
    with pytest.raises(NotifyError) as caught:
        InteractiveRunner("xapp-1-wrong", editor, store, base_url=slack.url, clock=lambda: NOW).start()
    assert "connections:write" in str(caught.value) and "SLACK_APP_TOKEN" in str(caught.value)


def test_the_ack_does_not_wait_for_a_busy_database(runner, socket, slack, store):
    message, [alert_id] = posted(store, slack)

    with store._lock:  # another transaction holds the writer (a purge slice, say) for 3.5 s
        envelope = socket.click(message, blocks.ACK)
        ack = socket.wait_ack(envelope)
        time.sleep(3.5)
        assert store.triage_events() == []

    assert ack.seconds < 1
    handled(runner, 1)
    assert [e.kind for e in store.triage_events([alert_id])] == ["ack"]


# -- wiring: start_interactive and the mode `harkbot status` shows


def with_app_token(config):
    """The config with `slack.app_token: ${SLACK_APP_TOKEN}` (the field's default once config.py has it)."""
    from dataclasses import replace

    slack = config.model.slack
    if getattr(slack, "app_token", None) is None:
        slack = slack.model_copy(update={"app_token": "${SLACK_APP_TOKEN}"})
    return replace(config, model=config.model.model_copy(update={"slack": slack}))


def test_start_interactive_connects_with_the_configs_tokens_and_its_own_store(tmp_path, slack, socket):
    from bot.config import load_config
    from bot.notifiers.slack_socket import start_interactive
    from tests.test_config import MINI, write

    config = with_app_token(load_config(write(tmp_path, MINI + f"""\
slack:
  base_url: {slack.url}
  channels: {{alerts: C0ALERTS}}
""")))
    db = tmp_path / "harkbot.db"
    store = Store(db)
    message, [alert_id] = posted(store, slack)
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}

    assert start_interactive(config, {"SLACK_BOT_TOKEN": TOKEN}, lambda: Store(db)) is None
    assert start_interactive(config, {"SLACK_APP_TOKEN": APP_TOKEN}, lambda: Store(db)) is None
    runner = start_interactive(config, env, lambda: Store(db))
    assert runner is not None
    try:
        socket.wait_connections(1)
        socket.wait_ack(socket.click(message, blocks.USEFUL, user="U0ANN"))
        handled(runner, 1)
        assert [e.verdict for e in store.triage_events([alert_id])] == ["useful"]
        assert eventually(lambda: updates(slack))
    finally:
        runner.stop()
    store.close()
    assert not runner.is_connected()


def test_the_mode_says_how_people_triage_from_slack(tmp_path):
    from bot.config import load_config
    from bot.notifiers.slack_socket import mode
    from tests.test_config import MINI, write

    config = with_app_token(load_config(write(tmp_path, MINI)))
    assert mode(config, {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}) == "buttons (Socket Mode)"
    assert mode(config, {"SLACK_BOT_TOKEN": TOKEN}).startswith("reactions")
    assert mode(config, {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}).startswith("none")
    assert mode(config, {}).startswith("off")


def test_a_click_and_its_replay_on_both_backends(make_store, slack, socket):
    store = make_store()
    message, ids = posted(store, slack, "negative-spike", "volume-spike")
    editor = SlackNotifier(token=TOKEN, base_url=slack.url, channels={}, pace=0, timeout=5)
    runner = InteractiveRunner(APP_TOKEN, editor, store, base_url=slack.url, clock=lambda: NOW).start()
    try:
        socket.wait_connections(1)
        click = block_actions(message, blocks.CLOSE, user="U0ANN", reason="resolved")
        socket.wait_ack(socket.push(click))
        socket.wait_ack(socket.push(click))
        handled(runner, 2)
    finally:
        runner.stop()
    assert [(e.alert_id, e.kind, e.reason) for e in store.triage_events(ids)] == [
        (ids[0], "close", "resolved"), (ids[1], "close", "resolved")]
    assert len(updates(slack)) == 1


def test_a_failed_update_still_records_the_click_and_says_so(runner, socket, slack, store, caplog):
    message, [alert_id] = posted(store, slack)
    slack.fail_next(1, status=200, error="message_not_found")  # someone deleted the message

    with caplog.at_level(logging.WARNING, logger="harkbot"):
        socket.wait_ack(socket.click(message, blocks.ACK))
        handled(runner, 1)

    assert [e.kind for e in store.triage_events([alert_id])] == ["ack"]
    assert any("recorded, but could not update the message" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
