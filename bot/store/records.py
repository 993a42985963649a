"""The frozen rows both storage backends hand out: outbox deliveries, message locations,
silences, rule state and an alert's last report. Pure data: no SQL here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.models import floor_bucket


@dataclass(frozen=True)
class Delivery:
    """An outbox row: one thing to tell one notifier about one alert."""

    id: int
    alert_id: int
    notifier: str
    channel: str | None  # the channel the rule named; None: the notifier routes it
    payload: str  # the alert as JSON when the row was written (an update's newer alert)
    attempts: int
    action: str = "alert"  # alert, update, resolve, notice
    status: str = "pending"  # pending, held (quiet hours, digest), sending, sent, dead, silenced, skipped
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    batch: int | None = None  # set once claimed: the rows sent as one message share it
    update_id: int | None = None
    last_error: str | None = None

    @property
    def claimed(self) -> bool:
        """Claimed before: a message may already be in Slack, so look before posting again."""
        return self.batch is not None


@dataclass(frozen=True)
class Message:
    """Where an alert's message lives, so its follow-ups can reply to it and edit it."""

    alert_id: int
    notifier: str
    channel: str | None
    channel_id: str | None
    ts: str | None
    key: str
    digest: bool


@dataclass(frozen=True)
class Silence:
    id: int
    rule: str | None
    brand: str | None
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str | None
    created_at: datetime
    expired_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    def matches(self, rule: str, brand: str | None) -> bool:
        return (self.rule is None or self.rule == rule) and (self.brand is None or self.brand == brand)


class Report(NamedTuple):
    """What an open alert last told its channel: the number, and when (at firing or its latest update)."""

    observed: float | None
    at: datetime | None


@dataclass(frozen=True)
class RuleState:
    fingerprint: str
    rule: str
    brand: str
    state: str  # "firing" (an alert is open) or "inactive"
    since: datetime | None  # when the condition became true
    false_since: datetime | None  # when a firing condition stopped holding
    alert_id: int | None
    last_fired_at: datetime | None


def window_bounds(now: datetime, window: timedelta) -> tuple[datetime, datetime]:
    end = floor_bucket(now)
    return end - window, end


@dataclass(frozen=True)
class Lease:
    """A claim on one piece of work (a listener's poll, a notifier lane) until `expires_at`.

    `token` rises every time the lease changes hands: a write carrying an older token is a
    zombie's (a worker that lost its lease while it was stalled) and the store refuses it.
    """

    name: str
    holder: str
    token: int
    expires_at: datetime
