"""Notifiers turn messages into deliveries; config names them by `name`.

The sender (bot/outbox.py) draws each message with bot/notifiers/blocks.py and hands it to a
notifier: the console and Slack receive the very same payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol, TypeVar


@dataclass(frozen=True)
class Posted:
    """Where a message landed: the channel name it was for, Slack's channel id and ts."""

    channel: str | None
    channel_id: str | None = None
    ts: str | None = None


class Notifier(Protocol):
    """What the outbox delivers through.

    Every method raises NotifyError on failure; its `.retryable` says whether trying again
    later can succeed (and `.retry_after`, when known, how much later).
    """

    name: str
    threads: bool  # can reply in a thread, edit a message and find one it posted

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        """Deliver to a configured channel name (None: the default), in a thread when given.
        `ready()`, when given, is asked last, after any wait for the channel's turn, just
        before the request; False raises NotSent and sends nothing."""
        ...

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """Replace a message this notifier posted."""
        ...

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        """The message posted with this key in its metadata since `since`, if there is one."""
        ...

    # Optional: `serves(channel) -> bool`, whether this notifier has a target for a channel
    # name. Channel names are shared by all notifiers; an alert routed to a name a notifier
    # does not serve is settled 'skipped' for it (bot/outbox.py). Without it: every name.


from bot.notifiers.console import ConsoleNotifier  # noqa: E402 - they import Posted from here
from bot.notifiers.email import EmailNotifier  # noqa: E402
from bot.notifiers.slack import SlackNotifier  # noqa: E402
from bot.notifiers.teams import TeamsNotifier  # noqa: E402
from bot.notifiers.webhook import WebhookNotifier  # noqa: E402

N = TypeVar("N", bound="type[Notifier]")

NOTIFIERS: dict[str, type] = {}


def register(cls: N) -> N:
    NOTIFIERS[cls.name] = cls
    return cls


register(ConsoleNotifier)
register(SlackNotifier)
register(EmailNotifier)
register(WebhookNotifier)
register(TeamsNotifier)
