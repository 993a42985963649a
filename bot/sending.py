"""Posting one outbox batch exactly once, and what a failure does to its lane.

The sender (bot/outbox.py) decides what goes out, grouped how and where; this is the step
after: claim the rows (committed before the request, so a crash leaves them 'sending'),
post, mark them sent. A batch found 'sending' was interrupted: the notifier is asked to look
for the message by the key in its metadata before anything is posted again. With a `fence`
(a worker's lane lease, bot/workers.py) the notifier renews the lease last, after waiting its
channel's turn and just before the request, so a sender frozen past its lease while another
took the lane over posts nothing; what is left open is the instant between that renewal and
the request itself. A failure that
may pass is retried later and holds back the rest of its lane, so a channel keeps its order;
one that will not pass is settled 'dead' for `harkbot alerts retry`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from bot.errors import NotifyError, NotSent
from bot.notifiers import Posted
from bot.store import Delivery, Message, Store

log = logging.getLogger("harkbot")

MAX_WAIT = 600  # seconds: the longest backoff between attempts at a retryable failure

Lane = tuple[str, "str | None"]  # (notifier, channel); None is the notifier's default channel


class Once:
    """One delivery run's sending: which rows are done, which lanes wait, what went out."""

    def __init__(self, store: Store, now: datetime, instance: str, fence: Callable[[], bool] | None = None):
        self.store, self.now, self.instance, self.fence = store, now, instance, fence
        self.lost = False  # the lane's lease was lost: this run posts nothing more
        self.sent = self.failed = 0
        self.blocked: set[Lane] = set()  # lanes held back behind a failing or waiting row
        self.paused: set[str] = set()  # notifiers that were rate-limited in this run
        self.done: set[int] = set()

    def due(self, row: Delivery, lane: Lane) -> bool:
        """May this row go now? A failing row also holds back the rest of its lane."""
        if lane in self.blocked:
            return False
        if row.status == "sending" or at_or_before(row, self.now):
            return True
        if row.status == "pending":
            self.blocked.add(lane)  # waiting out a backoff: keep the channel's order
        return False

    def send(self, batch: list[Delivery], notifier: Any, channel: str | None, render: Callable[[str], dict], *,
             thread: Message | None = None, digest: bool = False) -> None:
        """Post `render(key)` once for the rows of `batch` (one message), in a thread if given."""
        lane = (batch[0].notifier, channel)
        key = f"{self.instance}.{batch[0].batch or min(r.id for r in batch)}"
        ids = [r.id for r in batch]
        self.done.update(ids)
        thread_ts = thread.ts if thread else None
        try:
            if any(r.claimed for r in batch) and getattr(notifier, "threads", False):
                found = self._already_posted(batch, notifier, key, channel, thread_ts)
                if found is not None:
                    self._delivered(ids, found, key, digest)
                    return
            if not self.store.claim(ids, batch[0].batch):
                log.info("deliver: %s is being sent by another harkbot process; leaving it", key)
                return
            posted = notifier.post(render(key), channel, thread_ts=thread_ts, ready=self.fence)
        except NotSent:
            # Frozen past the lease (a stopped VM, a long pause): the lane's new holder finds the
            # row claimed, looks for the message by its key and posts it if it is not there.
            log.warning("deliver: the lane's lease was lost before %s went out; leaving it to the new holder", key)
            self.lost = True
            return
        except NotifyError as exc:
            self.fail(batch, lane, exc)
            return
        self._delivered(ids, posted, key, digest)

    def _already_posted(self, batch: Sequence[Delivery], notifier: Any, key: str, channel: str | None,
                        thread_ts: str | None) -> Posted | None:
        """An interrupted batch: is its message there already (a crash after the post)?"""
        since = min(r.created_at or self.now for r in batch)
        found = notifier.find(key, channel, since, thread_ts=thread_ts)
        if found is not None:
            log.info("deliver: %s already in %s (sent before an interruption); not posting again",
                     key, channel or "the default channel")
        return found

    def _delivered(self, ids: list[int], posted: Posted, key: str, digest: bool) -> None:
        self.store.delivered(ids, self.now, channel=posted.channel, channel_id=posted.channel_id, ts=posted.ts,
                             key=key, digest=digest)
        self.sent += len(ids)

    def fail(self, batch: Sequence[Delivery], lane: Lane, exc: NotifyError) -> None:
        """Retry later and hold the lane (a failure that may pass), or settle dead (one that will not)."""
        ids = [r.id for r in batch]
        self.done.update(ids)
        self.failed += len(ids)
        attempts = max(r.attempts for r in batch) + 1
        where = lane[1] or "the default channel"
        if exc.retryable:
            wait = exc.retry_after if exc.retry_after is not None else min(MAX_WAIT, 15 * 2 ** (attempts - 1))
            self.store.retry_later(ids, str(exc), self.now + timedelta(seconds=wait))
            self.blocked.add(lane)
            if exc.retry_after is not None:
                self.paused.add(lane[0])  # rate-limited: nothing more through it this run
            log.warning("deliver: %s to %s failed (attempt %d), retry in %ds: %s", lane[0], where, attempts,
                        wait, exc)
        else:
            self.store.settle(ids, "dead", str(exc))
            log.error("deliver: %s to %s refused, not retrying (`harkbot alerts retry` after fixing it): %s",
                      lane[0], where, exc)

    def settle(self, rows: Sequence[Delivery], status: str, note: str) -> None:
        """Close rows without sending them (silenced, skipped, dead)."""
        if rows:
            self.store.settle([r.id for r in rows], status, note)
            self.done.update(r.id for r in rows)


def at_or_before(row: Delivery, now: datetime) -> bool:
    return row.next_attempt_at is None or row.next_attempt_at <= now
