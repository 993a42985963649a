import pytest

from bot import spikes


def test_level_ignores_earlier_spikes_and_empty_history():
    assert spikes.level([]) == 0
    assert spikes.level([10] * 9 + [500]) == 10


def test_significance_respects_small_counts():
    assert spikes.anscombe_z(3, 0) < 3 < spikes.anscombe_z(400, 40)
    assert spikes.anscombe_z(40, 40) == pytest.approx(0)


def test_windows_cut_backwards_and_skip_time_before_data():
    series = [1] * 12 + [5] * 12
    observed, earlier = spikes.windows(series, 12)
    assert observed == 60 and earlier == [12]
    observed, earlier = spikes.windows([0] * 24 + [2] * 12 + [9] * 12, 12, usable=24)
    assert observed == 108 and earlier == [24]


def test_score():
    s = spikes.score(80, [10, 10, 10])
    assert (s.usual, s.ratio, s.windows) == (10, 8, 3) and s.z > 10
