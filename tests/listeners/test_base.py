"""What listeners/base.py gives every platform listener: here, the one unit of `timeout`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from listeners.reddit import RedditListener
from listeners.twitter import TwitterListener
from listeners.youtube import YouTubeListener

PLATFORMS = [TwitterListener, RedditListener, YouTubeListener]


@pytest.mark.parametrize("cls", PLATFORMS)
@pytest.mark.parametrize(("written", "seconds"), [("45s", 45), (45, 45), (2.5, 2.5), ("2m", 120), ("300s", 300)])
def test_every_listener_reads_timeout_in_the_same_unit(cls, written, seconds):
    options = cls.Options.model_validate({"timeout": written})
    assert options.timeout == timedelta(seconds=seconds)
    assert cls.Options.model_validate(options.model_dump()).timeout == options.timeout  # round trip


@pytest.mark.parametrize("cls", PLATFORMS)
@pytest.mark.parametrize(("written", "says"), [
    (0, "more than 0 and at most 300"),
    (-3, "more than 0 and at most 300"),
    (301, "more than 0 and at most 300"),
    ("10m", "too long; write at most 300s"),
    ("soon", "not a duration"),
    (True, "expected a duration"),
])
def test_a_timeout_out_of_range_or_unreadable_says_what_to_write(cls, written, says):
    with pytest.raises(ValidationError, match=says):
        cls.Options.model_validate({"timeout": written})


def test_the_defaults_are_durations():
    assert TwitterListener.Options().timeout == timedelta(seconds=30)
    assert RedditListener.Options().timeout == timedelta(seconds=15)
    assert YouTubeListener.Options().timeout == timedelta(seconds=30)
