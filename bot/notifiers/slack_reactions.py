"""Triage by emoji, for a Slack set up with a bot token but no app-level token (so no Socket
Mode, so no buttons): a job reads the reactions on the alert messages it posted
(reactions.get) and records 👍 as useful, 👎 as noise and 👀 as an ack.

Each reaction is recorded once: its ref is the message, the user and the emoji, so the same
poll run again, or a reaction taken off and put back, records nothing new. Only messages of
recent alerts are read (`WINDOW`, newest first, at most `MAX_MESSAGES` a run: reactions.get
is Tier 3, about 50 a minute), never a digest (one emoji on forty alerts says nothing about
each). After recording, the message is drawn again with the line of who said what.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from bot.errors import NotifyError
from bot.notifiers import blocks
from bot.store.records import Message
from bot.triage import TriageError

log = logging.getLogger("harkbot")

NOTIFIER = "slack"
WINDOW = timedelta(days=3)
MAX_MESSAGES = 40
EVERY = timedelta(minutes=2)  # the schedule `harkbot run` polls on
# Slack's names; a skin tone is a suffix ("+1::skin-tone-3").
REACTIONS: dict[str, tuple[str, str | None]] = {
    "+1": ("verdict", "useful"), "thumbsup": ("verdict", "useful"),
    "-1": ("verdict", "noise"), "thumbsdown": ("verdict", "noise"),
    "eyes": ("ack", None),
}


@dataclass(frozen=True)
class Said:
    """One reaction read as a triage event, not yet recorded."""

    alert_id: int
    kind: str
    verdict: str | None
    user: str
    ref: str


def read(message: Message, alert_ids: Iterable[int], reactions: Iterable[Mapping[str, Any]], *,
         bot_user: str | None = None) -> list[Said]:
    """The events a message's reactions say, for each of its alerts; pure. Users that are not
    Slack user ids (and the bot itself) are skipped."""
    out: list[Said] = []
    for reaction in reactions:
        name = str(reaction.get("name") or "").split("::", 1)[0]
        if name not in REACTIONS:
            continue
        kind, verdict = REACTIONS[name]
        for user in reaction.get("users") or ():
            if not isinstance(user, str) or not blocks.SLACK_USER.fullmatch(user) or user == bot_user:
                continue
            for alert_id in alert_ids:
                ref = f"reaction:{message.channel_id}:{message.ts}:{user}:{name}:{alert_id}"
                out.append(Said(alert_id, kind, verdict, user, ref))
    return out


@dataclass(frozen=True)
class Polled:
    messages: int
    recorded: int
    failed: int


def poll(store: Any, slack: Any, now: datetime, *, notifier: str = NOTIFIER, bot_user: str | None = None,
         window: timedelta = WINDOW, limit: int = MAX_MESSAGES) -> Polled:
    """One run: read the reactions on recent alert messages, record what is new, redraw those
    messages. `slack` is a SlackNotifier with a bot token (`reactions`, `edit`, `privacy`,
    `bot_user`: the bot's own reactions never count)."""
    seen: dict[tuple[str | None, str | None], Message] = {}
    for row in store.alert_rows(now - window):
        message = store.message_of(row["id"], notifier)
        if message is not None and message.ts and message.channel_id and not message.digest:
            seen.setdefault((message.channel_id, message.ts), message)
    recorded = failed = 0
    for message in list(seen.values())[:limit]:
        try:
            if bot_user is None:
                bot_user = slack.bot_user()
            reactions = slack.reactions(message.channel_id, message.ts)
        except NotifyError as exc:
            failed += 1
            log.warning("reactions: could not read the reactions on alert %d's message: %s", message.alert_id, exc)
            if exc.retryable:
                break  # rate-limited or Slack is down: the next run goes on
            continue
        ids = store.alerts_in_message(message)
        known = {e.ref for e in store.triage_events(ids) if e.ref}
        new = [s for s in read(message, ids, reactions, bot_user=bot_user) if s.ref not in known]
        added = 0
        for said in new:
            try:
                store.record_triage(said.alert_id, said.kind, blocks.slack_actor(said.user), now,
                                    verdict=said.verdict, source="reaction", ref=said.ref)
                added += 1
            except TriageError as exc:
                if exc.reason != "replayed":  # replayed: another process recorded it just now
                    log.warning("reactions: not recorded: %s", exc)
        if added:
            recorded += added
            _redraw(store, slack, message)
    if recorded or failed:
        log.info("reactions: %d messages read, %d reactions recorded, %d failed", len(seen), recorded, failed)
    return Polled(min(len(seen), limit), recorded, failed)


def _redraw(store: Any, slack: Any, message: Message) -> None:
    from bot.notifiers.slack_interactive import redraw

    try:
        slack.edit(redraw(store, message, privacy=getattr(slack, "privacy", None), actions=False),
                   message.channel, message.channel_id, message.ts)
    except NotifyError as exc:
        log.warning("reactions: recorded, but could not update alert %d's message: %s", message.alert_id, exc)
