"""Quiet hours and digest times, in the channel's time zone, across midnight and DST."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from bot.routing import Digest, QuietHours, Route, Routing, parse_time_of_day
from tests.notifiers import sample_alert

UTC = timezone.utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_quiet_hours_across_midnight_end_the_next_morning_in_local_time():
    quiet = QuietHours(time(22), time(7), "America/New_York")
    assert quiet.release(at(2026, 11, 21, 2, 30)) is None  # 21:30 EST: not yet quiet
    assert quiet.release(at(2026, 11, 21, 3, 0)) == at(2026, 11, 21, 12, 0)  # 22:00 EST
    assert quiet.release(at(2026, 11, 21, 4, 0)) == at(2026, 11, 21, 12, 0)  # 23:00 EST -> 07:00 EST
    assert quiet.release(at(2026, 11, 21, 11, 59)) == at(2026, 11, 21, 12, 0)
    assert quiet.release(at(2026, 11, 21, 12, 0)) is None


def test_a_daytime_quiet_window():
    quiet = QuietHours(time(12), time(13), "UTC")
    assert quiet.release(at(2026, 11, 21, 12, 30)) == at(2026, 11, 21, 13, 0)
    assert quiet.release(at(2026, 11, 21, 13, 0)) is None and quiet.release(at(2026, 11, 21, 11, 0)) is None


def test_digest_time_is_the_next_one_after_now():
    digest = Digest(time(9), zone="Europe/London")
    assert digest.next_after(at(2026, 11, 21, 8, 0)) == at(2026, 11, 21, 9, 0)
    assert digest.next_after(at(2026, 11, 21, 9, 0)) == at(2026, 11, 22, 9, 0)
    assert digest.next_after(at(2026, 7, 1, 7, 0)) == at(2026, 7, 1, 8, 0)  # BST


def test_the_repeated_hour_of_a_fall_back_night_never_gives_a_time_already_past():
    now = at(2026, 11, 1, 6, 15)  # the second 01:15 in New York
    assert Digest(time(1, 30), zone="America/New_York").next_after(now) > now
    release = QuietHours(time(1), time(1, 30), "America/New_York").release(now)
    assert release is None or release > now


def test_routes_match_on_every_condition_they_name():
    routing = Routing(default="alerts", routes=(Route("crisis", severities=frozenset({"critical"}),
                                                      brands=frozenset({"mindful"})),))
    assert routing.channel_for(sample_alert(channel=None)) == "crisis"
    assert routing.channel_for(sample_alert(channel=None, brand="haven")) == "alerts"
    assert routing.channel_for(sample_alert(channel="ops")) == "ops"
    assert routing.release_at("alerts", sample_alert(), at(2026, 1, 1)) is None


@pytest.mark.parametrize("text", ["7", "25:00", "07:60", "seven"])
def test_a_bad_time_of_day_says_how_to_write_one(text):
    with pytest.raises(ValueError, match="write it as HH:MM"):
        parse_time_of_day(text)
