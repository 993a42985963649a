"""bot/durations.py: durations as people write them in YAML, and back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from bot.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("7d", timedelta(days=7)),
    ("1w", timedelta(weeks=1)),
    ("1.5h", timedelta(minutes=90)),
    ("0.5m", timedelta(seconds=30)),
    ("1s", timedelta(seconds=1)),
    (" 5m ", timedelta(minutes=5)),
    ("5 m", timedelta(minutes=5)),
    ("5M", timedelta(minutes=5)),
    ("520w", timedelta(weeks=520)),
])
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, message", [
    ("5 minutes", "is not a duration; write a number and a unit: 90s, 5m, 2h, 7d"),
    ("5min", "is not a duration"),
    ("5", "is not a duration"),
    ("", "is not a duration"),
    ("m", "is not a duration"),
    ("-5m", "is not a duration"),
    ("5mm", "is not a duration"),
    ("1e3s", "is not a duration"),
    ("5y", "is not a duration"),
    ("0s", "must be longer than zero"),
    ("0m", "must be longer than zero"),
    ("0.4s", "shorter than a second"),
    ("0.001m", "shorter than a second"),
    # beyond what timedelta holds: a ValueError (a validation message), never an OverflowError
    ("10000000000d", "too long"),
    ("99999999999w", "too long"),
])
def test_parse_errors_are_value_errors_with_the_accepted_forms(text, message):
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert type(caught.value) is ValueError
    assert message in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("delta, text", [
    (timedelta(seconds=90), "90s"),
    (timedelta(seconds=59), "59s"),
    (timedelta(minutes=5), "5m"),
    (timedelta(minutes=90), "90m"),
    (timedelta(hours=2), "2h"),
    (timedelta(hours=25), "25h"),
    (timedelta(days=1), "1d"),
    (timedelta(days=7), "1w"),
    (timedelta(weeks=3), "3w"),
    (timedelta(seconds=1.5), "1.5s"),  # not truncated to "1s"
    (timedelta(0), "0s"),
])
def test_format(delta, text):
    assert format_duration(delta) == text


@pytest.mark.parametrize("delta", [
    timedelta(seconds=1), timedelta(seconds=61), timedelta(minutes=5), timedelta(hours=1.5), timedelta(days=2),
    timedelta(days=9), timedelta(weeks=52), timedelta(seconds=1.25), timedelta(seconds=3601),
])
def test_format_round_trips_through_parse(delta):
    assert parse_duration(format_duration(delta)) == delta


def test_format_never_writes_exponents():
    assert "e" not in format_duration(timedelta(microseconds=1))


class _Model(BaseModel):
    every: Duration = timedelta(minutes=5)


@pytest.mark.parametrize("value, expected", [
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    (timedelta(seconds=30), timedelta(seconds=30)),  # Python callers may pass a timedelta
])
def test_pydantic_field_accepts(value, expected):
    assert _Model(every=value).every == expected


@pytest.mark.parametrize("value, message", [
    (5, "5 has no unit; write 5s, 5m, 5h or 5d"),
    (2.5, "2.5 has no unit"),
    (True, "expected a duration such as 90s, 5m, 2h or 7d"),
    (None, "expected a duration"),
    ([5], "expected a duration"),
    ("5 minutes", "'5 minutes' is not a duration"),
    ("0s", "'0s' must be longer than zero"),
    ("10000000000d", "too long"),
])
def test_pydantic_field_errors_are_validation_errors(value, message):
    with pytest.raises(ValidationError) as caught:
        _Model(every=value)
    (error,) = caught.value.errors()
    assert error["loc"] == ("every",)
    assert message in error["msg"]


def test_pydantic_field_serialises_as_text():
    assert _Model(every="90m").model_dump() == {"every": "90m"}
    assert _Model(every="1h").model_dump(mode="json") == {"every": "1h"}


def test_a_duration_that_may_be_zero_reads_zero_and_still_refuses_nonsense():
    from pydantic import TypeAdapter, ValidationError

    from bot.durations import DurationOrZero

    read = TypeAdapter(DurationOrZero).validate_python
    assert [read(v) for v in ("0", "0m", "0s", 0, "90s")] == [timedelta(0)] * 4 + [timedelta(seconds=90)]
    for bad in ("-1m", "soon", True):
        with pytest.raises(ValidationError):
            read(bad)
