"""Durations as people write them in YAML: 90s, 5m, 2h, 7d (and 1w)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """'5m' -> 5 minutes. Raises ValueError with the accepted forms on anything else."""
    match = _PATTERN.match(str(text).lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 90s, 5m, 2h, 7d")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=value)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
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


Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration)]
