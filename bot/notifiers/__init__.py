"""Notifiers turn alerts into messages and deliver them; config names them by `name`."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from bot.models import Alert
from bot.notifiers.console import ConsoleNotifier
from bot.notifiers.slack import SlackNotifier


class Notifier(Protocol):
    """What the outbox delivers through.

    `send` raises NotifyError on failure; its `.retryable` says whether trying the same
    payload again later can succeed (and `.retry_after`, when known, how much later).
    """

    name: str

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The message for an alert, as JSON-ready data stored in the outbox until sent."""
        ...

    def send(self, payload: dict[str, Any], channel: str | None) -> str | None:
        """Deliver to a configured channel name (None: the default); the message id if any."""
        ...


N = TypeVar("N", bound="type[Notifier]")

NOTIFIERS: dict[str, type] = {}


def register(cls: N) -> N:
    NOTIFIERS[cls.name] = cls
    return cls


register(ConsoleNotifier)
register(SlackNotifier)
