"""Where and when an alert goes: channel routes, quiet hours and digests. Pure: the sender
asks, with the clock it was given.

- A rule's own `channel` wins; else the first of `slack.routes` whose conditions all match
  (brand, severity, kind, rule); else the default channel.
- Quiet hours hold non-critical alerts for a channel until the hours end (critical passes).
- A digest collects the alerts of the severities it names for a channel and sends them as
  one message at a set time of day.
Times of day are in the channel's own time zone, since "07:00" means the team's morning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

from bot.models import Alert


@dataclass(frozen=True)
class Route:
    channel: str
    brands: frozenset[str] = frozenset()  # empty: any
    severities: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()

    def matches(self, alert: Alert) -> bool:
        return all(
            not wanted or value in wanted
            for wanted, value in ((self.brands, alert.brand), (self.severities, alert.severity),
                                  (self.kinds, alert.kind), (self.rules, alert.rule))
        )


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: str = "UTC"

    def release(self, now: datetime) -> datetime | None:
        """When the quiet hours around `now` end (UTC), or None when `now` is not in them."""
        tz = ZoneInfo(self.zone)
        local = now.astimezone(tz)
        today_start = datetime.combine(local.date(), self.start, tz)
        today_end = datetime.combine(local.date(), self.end, tz)
        if self.start <= self.end:  # 13:00-14:00
            quiet = today_start <= local < today_end
            end = today_end
        else:  # 22:00-07:00 spans midnight
            quiet = local >= today_start or local < today_end
            end = today_end if local < today_end else datetime.combine(local.date() + timedelta(days=1),
                                                                        self.end, tz)
        end = end.astimezone(timezone.utc)
        return end if quiet and end > now else None


@dataclass(frozen=True)
class Digest:
    at: time
    severities: frozenset[str] = frozenset({"info"})
    zone: str = "UTC"

    def next_after(self, now: datetime) -> datetime:
        """The next digest time after `now` (UTC)."""
        tz = ZoneInfo(self.zone)
        local = now.astimezone(tz)
        candidate = datetime.combine(local.date(), self.at, tz)
        # Compared in UTC: aware datetimes sharing a tzinfo compare by wall clock, which in a
        # repeated (fall-back) hour puts an instant already past "after" now.
        if candidate.astimezone(timezone.utc) <= now:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.at, tz)
        return candidate.astimezone(timezone.utc)


@dataclass(frozen=True)
class Routing:
    default: str | None = None
    routes: tuple[Route, ...] = ()
    quiet: Mapping[str, QuietHours] = field(default_factory=dict)
    digests: Mapping[str, Digest] = field(default_factory=dict)

    def channel_for(self, alert: Alert) -> str | None:
        if alert.channel:
            return alert.channel
        for route in self.routes:
            if route.matches(alert):
                return route.channel
        return self.default

    def digest_at(self, channel: str | None, alert: Alert, now: datetime) -> datetime | None:
        digest = self.digests.get(channel or "")
        if digest is None or alert.severity not in digest.severities:
            return None
        return digest.next_after(now)

    def release_at(self, channel: str | None, alert: Alert, now: datetime) -> datetime | None:
        """When a quiet channel may receive this alert; None: now. Critical alerts never wait."""
        quiet = self.quiet.get(channel or "")
        if quiet is None or alert.severity == "critical":
            return None
        return quiet.release(now)


def parse_time_of_day(text: str) -> time:
    """'07:00' or '7:30' -> time; ValueError with the expected form otherwise."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise ValueError(f"'{text}' is not a time of day; write it as HH:MM, e.g. 07:00") from None
