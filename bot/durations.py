"""Durations as people write them in YAML: 90s, 5m, 2h, 7d (and 1w)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX = timedelta(weeks=520)  # ten years: past that, a window or a cooldown is a typo, and dates overflow
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """'5m' -> 5 minutes. Raises ValueError with the accepted forms on anything else."""
    match = _PATTERN.match(str(text).lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 90s, 5m, 2h, 7d")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    if value < 1:  # nothing here runs more finely than seconds; "0.4s" would print as "0s"
        raise ValueError(f"{text!r} is shorter than a second; write at least 1s")
    if value > MAX.total_seconds():  # also keeps timedelta() and `now + d` from overflowing
        raise ValueError(f"{text!r} is too long: the limit is 520w (ten years); write a shorter duration")
    return timedelta(seconds=value)


def format_duration(delta: timedelta) -> str:
    """The shortest text `parse_duration` reads back as the same duration: 90m, 2h, 1.5s."""
    total = delta.total_seconds()
    if total != int(total):
        return f"{total:.6f}".rstrip("0") + "s"  # int() printed 1.5s as "1s"; no 1e-06 form
    seconds = int(total)
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def _coerce(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a duration such as 90s, 5m, 2h or 7d")
    if isinstance(value, (int, float)):
        raise ValueError(f"{value} has no unit; write {value}s, {value}m, {value}h or {value}d")
    return parse_duration(value)


def _coerce_or_zero(value: Any) -> Any:
    if not isinstance(value, bool) and (value == 0 or (isinstance(value, str) and _ZERO.match(value.lower()))):
        return timedelta(0)
    return _coerce(value)


_ZERO = re.compile(r"^\s*0+(?:\.0+)?\s*[smhdw]?\s*$")
Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration)]
# A spell that may be none at all ("0", "0m": no wait), e.g. a rule's update_every.
DurationOrZero = Annotated[timedelta, BeforeValidator(_coerce_or_zero), PlainSerializer(format_duration)]


def parse_when(text: str, now: datetime) -> datetime:
    """'7d' or '12h' back from `now`, or a date or time ('2026-11-01', '2026-11-01T09:00Z'),
    as an aware UTC time. Raises ValueError saying which forms work."""
    from bot.models import parse_iso

    if _PATTERN.match(text.lower()):
        return now - parse_duration(text)
    try:
        return parse_iso(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError:
        raise ValueError(f"{text!r}: write a duration back from now (7d, 12h) or a date (2026-11-01)") from None
