"""The sender: what the outbox holds goes to the notifiers, once, in order."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Mapping

from bot.errors import NotifyError
from bot.models import Alert
from bot.store import Store

log = logging.getLogger("harkbot")

MAX_ATTEMPTS = 8


def deliver(store: Store, notifiers: Mapping[str, object], now: datetime) -> tuple[int, int]:
    """Send what the outbox holds that is due. Returns (sent, failed)."""
    sent = failed = 0
    # Rows for a notifier configured off since are kept for when it returns, not fetched now.
    for delivery in store.due_deliveries(now, notifiers=list(notifiers)):
        notifier = notifiers[delivery.notifier]
        try:
            payload = notifier.payload(Alert.from_json(delivery.payload))
            remote = notifier.send(payload, delivery.channel)
        except Exception as exc:  # noqa: BLE001 - one bad row must not block the outbox behind it
            if not isinstance(exc, NotifyError):
                log.exception("deliver: outbox row %d could not be sent", delivery.id)
                exc = NotifyError(f"unexpected {type(exc).__name__}; see the log", retryable=False)
            failed += 1
            attempts = delivery.attempts + 1
            if exc.retryable and attempts < MAX_ATTEMPTS:
                wait = exc.retry_after or min(3600, 30 * 2 ** (attempts - 1))
                store.mark_failed(delivery.id, str(exc), now + timedelta(seconds=wait))
                log.warning("deliver: %s to %s failed (attempt %d), retry in %ds: %s", delivery.notifier,
                            delivery.channel or "default channel", attempts, wait, exc)
            else:
                store.mark_failed(delivery.id, str(exc), None)
                log.error("deliver: %s to %s gave up after %d attempts: %s", delivery.notifier,
                          delivery.channel or "default channel", attempts, exc)
            continue
        store.mark_sent(delivery.id, remote, now)
        sent += 1
    if sent or failed:
        log.info("deliver: sent %d, failed %d", sent, failed)
    return sent, failed
