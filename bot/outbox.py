"""The sender: what the outbox holds goes to the notifiers, once, in order.

Each outbox row was written in the same transaction as the alert state it reports, so an
alert the store knows about is an alert the sender will deliver. For each row, in id order:

- **Silences** settle an alert's rows unsent ('silenced'); the alert itself stays recorded.
- **Routing** picks the channel (the rule's, else `slack.routes`, else the default);
  **quiet hours** hold a non-critical alert until they end, and a **digest** holds the
  severities it collects until its time of day, then sends them all as one message.
- **Grouping**: alerts of one brand raised by the same evaluation for one channel go out as
  one message. Follow-ups ('update': it got worse; 'resolve': edit the message, then note
  it in the thread) wait for their alert's message and go to the channel it went to.
- **Order**: a row waiting to be retried holds back the rows behind it for the same channel,
  so after an outage a channel receives everything, in the order it happened.
- **Lanes**: a lane is one (notifier, channel). Every ordering and grouping rule above holds
  inside a lane and none across lanes, so lanes may be drained by different processes at once
  (`deliver(..., lanes=...)`, each lane under a lease: bot/workers.py); one lane, one sender.
- **Exactly once** (bot/sending.py): rows are claimed (committed) before the request goes out
  and marked sent after. A claimed row that is still open was interrupted (a crash, a
  timeout): before posting it again the sender asks the notifier to look for the message by
  the key in its metadata, and marks the row sent if it is there. A notifier that cannot look
  (an incoming webhook) delivers at least once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Collection, Mapping, Sequence

from bot.errors import NotifyError
from bot.models import Alert
from bot.notifiers import blocks
from bot.routing import Routing
from bot.sending import Lane, Once, at_or_before
from bot.store import Delivery, Message, Silence, Store

log = logging.getLogger("harkbot")

GROUP_MAX = 5  # alerts in one message: more would not fit Slack's 50 blocks with their evidence
DIGEST_MAX = 40
__all__ = ["Lane", "deliver", "lanes"]


def deliver(store: Store, notifiers: Mapping[str, Any], now: datetime, *,
            lanes: Collection[Lane] | None = None, fence: Callable[[], bool] | None = None) -> tuple[int, int]:
    """Send what is due (in `lanes` only, when given). Returns (rows sent, rows that failed this time).
    `fence()` is asked just before each post (a worker's lane lease): False stops the run."""
    rows = store.open_deliveries(list(notifiers), due_by=now)
    if not rows:
        return 0, 0
    sender = _Sender(store, notifiers, now, only=None if lanes is None else set(lanes), fence=fence)
    sender.run(rows)
    if sender.sent or sender.failed:
        log.info("deliver: sent %d, failed %d, %d still queued", sender.sent, sender.failed,
                 len(store.open_deliveries(list(notifiers))))
    return sender.sent, sender.failed


def lanes(store: Store, notifiers: Mapping[str, Any], now: datetime) -> list[Lane]:
    """The lanes that hold rows due now, in the order of their oldest row."""
    sender = _Sender(store, notifiers, now)
    seen: dict[Lane, None] = {}
    for row in store.open_deliveries(list(notifiers), due_by=now):
        seen.setdefault(sender.lane_of(row))
    return list(seen)


class _Sender:
    def __init__(self, store: Store, notifiers: Mapping[str, Any], now: datetime, *,
                 only: set[Lane] | None = None, fence: Callable[[], bool] | None = None):
        self.store, self.notifiers, self.now, self.only = store, notifiers, now, only
        self.silences: list[Silence] = store.silences(now)
        self.once = Once(store, now, store.instance(), fence)
        self.done = self.once.done  # rows settled, sent or failed in this run: never looked at again
        self._alerts: dict[int, Alert | None] = {}

    @property
    def sent(self) -> int:
        return self.once.sent

    @property
    def failed(self) -> int:
        return self.once.failed

    # -- the loop

    def run(self, rows: Sequence[Delivery]) -> None:
        for row in rows:
            if self.once.lost:
                return
            if row.id in self.done or row.notifier in self.once.paused:
                continue
            if self.only is not None and self.lane_of(row) not in self.only:
                continue
            try:
                self._row(row, rows)
            except Exception:  # noqa: BLE001 - one bad row must not block the outbox behind it
                log.exception("deliver: outbox row %d could not be sent", row.id)
                self.once.settle([row], "dead", "unexpected error; see the log")
                self.once.failed += 1

    def _row(self, row: Delivery, rows: Sequence[Delivery]) -> None:
        notifier = self.notifiers[row.notifier]
        if row.action == "notice":
            self._notice(row, notifier)
        elif row.action in ("alert", "digest"):
            self._alert_row(row, rows, notifier)
        else:
            self._follow_up(row, notifier)

    def lane_of(self, row: Delivery) -> Lane:
        """Where the row goes: a follow-up to its alert's message, the rest by their channel."""
        if row.action in ("update", "resolve"):
            message = self.store.message_of(row.alert_id, row.notifier)
            if message is not None:
                return row.notifier, message.channel
        if row.action == "notice":
            return row.notifier, row.channel
        return row.notifier, self._channel(row, _routing(self.notifiers[row.notifier]))

    def _alert(self, alert_id: int) -> Alert | None:
        if alert_id not in self._alerts:
            self._alerts[alert_id] = self.store.alert(alert_id)
        return self._alerts[alert_id]

    def _current(self, row: Delivery) -> Alert:
        """The row's alert as it is now (its state may have moved on), else as the row holds it."""
        return self._alert(row.alert_id) or Alert.from_json(row.payload)

    # -- new alerts, grouped; digests

    def _alert_row(self, row: Delivery, rows: Sequence[Delivery], notifier: Any) -> None:
        alert = self._current(row)
        routing = _routing(notifier)
        channel = self._channel(row, routing)
        lane = (row.notifier, channel)
        if self._silenced(alert) and not row.claimed:
            self.once.settle([row], "silenced", "silenced")
            return
        if not row.claimed and not _serves(notifier, channel):
            self._not_served(row, channel)
            return
        if not self.once.due(row, lane):
            return
        if row.action == "digest":  # held, or retried/interrupted after its claim: still a digest
            self._digest(row, rows, notifier, channel)
            return
        if not row.claimed and row.status == "pending":
            digest_at = routing.digest_at(channel, alert, self.now)
            if digest_at is not None:
                self.store.hold([row.id], digest_at, action="digest")
                self.done.add(row.id)
                return
            release = routing.release_at(channel, alert, self.now)
            if release is not None:
                self.store.hold([row.id], release)
                self.done.add(row.id)
                log.info("deliver: alert %d held for %s until quiet hours end at %s", alert.id or 0,
                         channel or "the default channel", release.strftime("%H:%M UTC"))
                return
        batch = self._batch(row, rows, alert, channel, routing)
        alerts = [self._current(r) for r in batch]
        self.once.send(batch, notifier, channel,
                       lambda key: blocks.group_payload(alerts, key=key, privacy=_privacy(notifier),
                                                        actions=_actions(notifier)))

    def _batch(self, row: Delivery, rows: Sequence[Delivery], alert: Alert, channel: str | None,
               routing: Routing) -> list[Delivery]:
        """The rows that go out with `row` as one message."""
        if row.claimed:  # rebuild exactly the message that was (perhaps) sent
            return [r for r in rows if r.batch == row.batch and r.id not in self.done]
        batch = [row]
        for other in rows:
            if len(batch) >= GROUP_MAX:
                break
            if (other.id <= row.id or other.id in self.done or other.claimed or other.action != "alert"
                    or other.status != "pending" or other.notifier != row.notifier
                    or other.created_at != row.created_at):
                continue
            peer = self._alert(other.alert_id)
            if (peer is None or peer.brand != alert.brand or self._silenced(peer)
                    or self._channel(other, routing) != channel
                    or routing.digest_at(channel, peer, self.now) is not None
                    or routing.release_at(channel, peer, self.now) is not None):
                continue
            batch.append(other)
        return batch

    def _digest(self, row: Delivery, rows: Sequence[Delivery], notifier: Any, channel: str | None) -> None:
        routing = _routing(notifier)
        if row.claimed:
            batch = [r for r in rows if r.batch == row.batch and r.id not in self.done]
        else:
            batch = [r for r in rows if r.action == "digest" and r.status == "held" and not r.claimed
                     and r.notifier == row.notifier and r.id not in self.done and at_or_before(r, self.now)
                     and self._channel(r, routing) == channel][:DIGEST_MAX]
        live = [r for r in batch if not self._silenced(self._current(r))]
        self.once.settle([r for r in batch if r not in live], "silenced", "silenced")
        if not live:
            return
        alerts = [self._current(r) for r in live]
        self.once.send(live, notifier, channel,
                       lambda key: blocks.digest_payload(alerts, key=key, privacy=_privacy(notifier), now=self.now),
                       digest=True)

    def _channel(self, row: Delivery, routing: Routing) -> str | None:
        """The rule's own channel, else where the routes send the alert."""
        return row.channel if row.channel is not None else routing.channel_for(self._current(row))

    # -- follow-ups: updates and resolutions

    def _follow_up(self, row: Delivery, notifier: Any) -> None:
        message = self.store.message_of(row.alert_id, row.notifier)
        if message is None:
            self._without_message(row)
            return
        lane = (row.notifier, message.channel)
        if not self.once.due(row, lane):
            return
        if message.digest:
            self.once.settle([row], "skipped", "the alert was reported in a digest")
            return
        alert = self._current(row)
        if row.action == "update" and self._silenced(alert) and not row.claimed:
            self.once.settle([row], "silenced", "silenced")  # a resolution still goes: it closes the message
            return
        if row.action == "update":
            self._update(row, notifier, message, alert)
        else:
            self._resolution(row, notifier, message, alert)

    def _update(self, row: Delivery, notifier: Any, message: Message, alert: Alert) -> None:
        """It got worse: a reply in the alert's thread, with the numbers of that update."""
        privacy, threads, brief = _privacy(notifier), _threads(notifier, message), _brief(notifier)
        update = self.store.update_of(row.update_id) if row.update_id else None
        newer = Alert.from_json(update["payload"]) if update else alert
        reason = update["reason"] if update else ""
        self.once.send([row], notifier, message.channel,
                       lambda key: blocks.update_payload(newer, reason, key=key, privacy=privacy, thread=threads,
                                                         brief=brief),
                       thread=message if threads else None)

    def _resolution(self, row: Delivery, notifier: Any, message: Message, alert: Alert) -> None:
        """It resolved: the message is re-drawn with its state now, then a note goes in its thread."""
        privacy, threads, brief = _privacy(notifier), _threads(notifier, message), _brief(notifier)
        times = self.store.alert_times(row.alert_id)
        resolved_at = times[1] if times and times[1] else self.now
        if threads and not self._edit(row, notifier, message, privacy):
            return
        self.once.send([row], notifier, message.channel,
                       lambda key: blocks.resolved_payload(alert, resolved_at, key=key, privacy=privacy,
                                                           thread=threads, brief=brief),
                       thread=message if threads else None)

    def _without_message(self, row: Delivery) -> None:
        """A follow-up whose alert has no message (yet): wait for it, or settle as it did."""
        firsts = [d for d in self.store.deliveries_of(row.alert_id)
                  if d.notifier == row.notifier and d.action in ("alert", "digest")]
        if any(d.status in ("pending", "held", "sending") for d in firsts):
            return  # the alert's own message goes first
        status = next((d.status for d in firsts if d.status in ("silenced", "dead")), "skipped")
        note = {"silenced": "silenced", "dead": "the alert's message was never posted"}.get(
            status, "the alert was never sent through this notifier")
        self.once.settle([row], status, note)

    def _edit(self, row: Delivery, notifier: Any, message: Message, privacy: Any) -> bool:
        """Re-draw the alert's message (all alerts it groups) with their states now."""
        ids = self.store.alerts_in_message(message)
        alerts = [a for a in (self._alert(i) for i in ids) if a is not None]
        # Buttons and what people said through them stay on the message through its redraws.
        payload = blocks.group_payload(alerts, key=message.key, privacy=privacy, actions=_actions(notifier),
                                       triage=self.store.triage_events(ids) if _actions(notifier) else ())
        try:
            notifier.edit(payload, message.channel, message.channel_id, message.ts)
        except NotifyError as exc:
            if exc.retryable:
                self.once.fail([row], (row.notifier, message.channel), exc)
                return False
            # Someone deleted the message, say: the resolved note still goes in.
            log.warning("deliver: could not edit the message of alert %d: %s", row.alert_id, exc)
        return True

    # -- notices

    def _notice(self, row: Delivery, notifier: Any) -> None:
        alert = Alert.from_json(row.payload)
        lane = (row.notifier, row.channel)
        if not row.claimed and not _serves(notifier, row.channel):
            self._not_served(row, row.channel)
            return
        if not self.once.due(row, lane):
            return
        self.once.send([row], notifier, row.channel,
                       lambda key: blocks.payload(alert, key=key, privacy=_privacy(notifier)))

    # -- small things

    def _not_served(self, row: Delivery, channel: str | None) -> None:
        # Channel names are shared by every notifier; one with no target for this name is not
        # where the alert was routed. Settled, so the row neither waits nor counts as a failure.
        self.once.settle([row], "skipped", f"{row.notifier} has no channel '{channel}'")
        if row.action == "notice":  # a possible crisis: say so where someone reads the logs
            log.warning("deliver: safety notice %d not sent through %s, which has no channel '%s'", row.alert_id,
                        row.notifier, channel)

    def _silenced(self, alert: Alert) -> bool:
        return alert.state != "notice" and any(s.matches(alert.rule, alert.brand) for s in self.silences)


def _serves(notifier: Any, channel: str | None) -> bool:
    """Does the notifier have a target for this channel name? One without `serves` (the
    console) shows every channel; None is the notifier's own default."""
    serves = getattr(notifier, "serves", None)
    return serves is None or channel is None or bool(serves(channel))


def _routing(notifier: Any) -> Routing:
    return getattr(notifier, "routing", None) or Routing()


def _actions(notifier: Any) -> bool:
    """Triage buttons on its messages: Slack with Socket Mode on (bot/notifiers/slack_socket.py)."""
    return bool(getattr(notifier, "interactive", False))


def _privacy(notifier: Any) -> Any:
    return getattr(notifier, "privacy", None)


def _threads(notifier: Any, message: Message) -> bool:
    """Follow-ups go in the message's thread when the notifier has threads and knows where it is."""
    return bool(getattr(notifier, "threads", False)) and message.ts is not None


def _brief(notifier: Any) -> bool:
    return bool(getattr(notifier, "brief_follow_ups", False))
