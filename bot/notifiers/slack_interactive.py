"""A click on an alert's buttons (a Slack `block_actions` payload) turned into a triage event,
and the message drawn again to show it. No network here: bot/notifiers/slack_socket.py
receives the payload over Socket Mode, acks it, calls `handle`, then `chat.update`s the message
with `redraw`.

Nothing in a payload is trusted. The action must be one of ours, the value must read as
alert ids (bot.notifiers.blocks.ids_value) that were posted in the very message clicked (its
channel and ts, as the store recorded them when it was sent), and the user id must look like
a Slack user id. Each click is recorded once: its `ref` is made of the message, the click's
`action_ts`, the user and the action, so an envelope Slack delivers twice (a retry, a
reconnect) is refused as 'replayed' and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from bot.models import Alert
from bot.notifiers import blocks
from bot.store.records import Message
from bot.triage import CLOSE_REASONS, TriageError, TriageEvent

NOTIFIER = "slack"
# action_id -> (kind, verdict)
ACTIONS: dict[str, tuple[str, str | None]] = {
    blocks.ACK: ("ack", None),
    blocks.USEFUL: ("verdict", "useful"),
    blocks.NOISE: ("verdict", "noise"),
    blocks.CLOSE: ("close", None),
}
MAX_IDS = 25  # far more than a message groups (outbox.GROUP_MAX); a longer value is forged
_IDS = re.compile(r"[1-9][0-9]{0,18}(,[1-9][0-9]{0,18}){0,%d}" % (MAX_IDS - 1))
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,20}")
SAID = {"ack": "acknowledged", "verdict": "judged", "close": "closed"}


@dataclass(frozen=True)
class Click:
    """What a block_actions payload asks, once read and checked."""

    action_id: str
    kind: str  # ack, verdict, close
    verdict: str | None
    reason: str | None  # a close reason
    alert_ids: tuple[int, ...]
    user: str  # the Slack user id, checked against blocks.SLACK_USER
    actor: str  # how the store records them: blocks.slack_actor
    channel: str  # the message clicked: its channel id and ts
    ts: str
    action_ts: str

    def ref(self, alert_id: int) -> str:
        """Unique per click and alert: a replayed envelope makes the same refs."""
        return f"slack:{self.channel}:{self.ts}:{self.action_ts}:{self.user}:{self.action_id}:{alert_id}"


@dataclass(frozen=True)
class Outcome:
    """What became of a click. `refused` is None when something was recorded, else 'invalid'
    (not ours, or malformed), 'unknown' (no such alert in this message) or 'replayed'."""

    refused: str | None
    detail: str  # one sentence for the log
    click: Click | None = None
    events: tuple[TriageEvent, ...] = ()
    message: Message | None = None  # the stored message to draw again

    @property
    def ok(self) -> bool:
        return self.refused is None


def read(payload: Mapping[str, Any]) -> Click:
    """The click a block_actions payload describes; TriageError('invalid') for anything else."""
    if not isinstance(payload, Mapping) or payload.get("type") != "block_actions":
        raise _invalid(f"not a block_actions payload ({_short(_get(payload, 'type'))})")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], Mapping):
        raise _invalid("a click carries exactly one action")
    action = actions[0]
    action_id = action.get("action_id")
    if action_id not in ACTIONS:
        raise _invalid(f"action {_short(action_id)} is not one of harkbot's")
    kind, verdict = ACTIONS[str(action_id)]
    if kind == "close":
        selected = action.get("selected_option")
        raw = selected.get("value") if isinstance(selected, Mapping) else None
        ids_text, _, reason = str(raw or "").partition("|")
        if reason not in CLOSE_REASONS:
            raise _invalid(f"close reason {_short(reason)} is not one of {', '.join(CLOSE_REASONS)}")
    else:
        ids_text, reason = str(action.get("value") or ""), None
    if not _IDS.fullmatch(ids_text):
        raise _invalid(f"the value {_short(ids_text)} is not a list of alert ids")
    ids = tuple(dict.fromkeys(int(i) for i in ids_text.split(",")))
    user = _get(payload, "user", "id")
    if not isinstance(user, str) or not blocks.SLACK_USER.fullmatch(user):
        raise _invalid(f"user {_short(user)} is not a Slack user id")
    name = _get(payload, "user", "username") or _get(payload, "user", "name") or ""
    container = payload.get("container")
    if not isinstance(container, Mapping) or container.get("type") != "message":
        raise _invalid("the click did not come from a message")
    channel = container.get("channel_id") or _get(payload, "channel", "id")
    ts = container.get("message_ts")
    action_ts = action.get("action_ts")
    if not (isinstance(channel, str) and _CHANNEL.fullmatch(channel)):
        raise _invalid(f"channel {_short(channel)} is not a Slack channel id")
    if not (isinstance(ts, str) and _TS.fullmatch(ts) and isinstance(action_ts, str) and _TS.fullmatch(action_ts)):
        raise _invalid("the message ts or the action_ts is missing or malformed")
    return Click(str(action_id), kind, verdict, reason or None, ids, user, blocks.slack_actor(user, str(name)),
                 channel, ts, action_ts)


def handle(payload: Mapping[str, Any], store: Any, now: datetime, *, notifier: str = NOTIFIER) -> Outcome:
    """Record the click a block_actions payload describes, once (`store`: bot.store.protocols'
    Triage and Outbox). Refusals are returned, not raised: the caller logs them."""
    try:
        click = read(payload)
    except TriageError as exc:
        return Outcome(exc.reason, f"slack click refused: {exc}")
    message: Message | None = None
    for alert_id in click.alert_ids:
        found = store.message_of(alert_id, notifier)
        if found is None or found.channel_id != click.channel or found.ts != click.ts or found.digest:
            return Outcome("unknown", f"slack click refused: alert {alert_id} was not posted in message "
                                      f"{click.channel}/{click.ts} (a forged or stale value)", click)
        message = message or found
    events: list[TriageEvent] = []
    replayed: list[int] = []
    for alert_id in click.alert_ids:
        try:
            events.append(store.record_triage(alert_id, click.kind, click.actor, now, verdict=click.verdict,
                                              reason=click.reason, source="slack", ref=click.ref(alert_id)))
        except TriageError as exc:
            if exc.reason != "replayed":
                return Outcome(exc.reason, f"slack click refused: {exc}", click, tuple(events), message)
            replayed.append(alert_id)  # recorded before: a partly recorded click is completed, not doubled
    ids = ", ".join(str(i) for i in click.alert_ids)
    if not events:
        return Outcome("replayed", f"slack click on alert {ids} seen before ({click.action_id} by {click.user} "
                                   f"at {click.action_ts}); not recorded twice", click, (), message)
    what = click.verdict or click.reason or ""
    return Outcome(None, f"slack: alert {ids} {SAID[click.kind]}{' ' + what if what else ''} by {click.user}",
                   click, tuple(events), message)


def redraw(store: Any, message: Message, *, privacy: Any = None, actions: bool = True) -> dict[str, Any]:
    """The message as it should read now: every alert it groups, with its state, its buttons
    and the line of who acked it and what they said."""
    ids = store.alerts_in_message(message)
    alerts: list[Alert] = [a for a in (store.alert(i) for i in ids) if a is not None]
    events = store.triage_events(ids)
    return blocks.group_payload(alerts, key=message.key, privacy=privacy, actions=actions, triage=events)


def _invalid(why: str) -> TriageError:
    return TriageError(why, "invalid")


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _short(value: Any, limit: int = 60) -> str:
    """A forged value, quoted for a log line: repr (no control characters), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

