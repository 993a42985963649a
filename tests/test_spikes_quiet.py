"""The spike detector's tail lane for quiet series (bench/lowvolume.py measures it at scale)."""

import math
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot import spikes

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
STEP = timedelta(minutes=5)


def _quiet(rate_per_hour: float, days: int, seed: int, burst: tuple[int, int, float] | None = None) -> list[int]:
    """Poisson counts per 5 minutes with a daily cycle; burst = (start bucket, length, factor)."""
    rng = random.Random(seed)
    out = []
    for i in range(days * 288):
        lam = rate_per_hour / 12 * (1 + 0.5 * math.cos(2 * math.pi * ((i % 288) / 12 - 15) / 24))
        if burst and burst[0] <= i < burst[0] + burst[1]:
            lam *= burst[2]
        k, p, limit = 0, rng.random(), math.exp(-lam)
        while p > limit:
            k, p = k + 1, p * rng.random()
        out.append(k)
    return out


def _alerts(counts, config=None) -> list[int]:
    detector = spikes.Detector(config)
    scores = [detector.update(T0 + STEP * i, c) for i, c in enumerate(counts)]
    return [i for i, s in enumerate(scores) if s >= 0.5 and (i == 0 or scores[i - 1] < 0.5)]


@pytest.mark.parametrize("k,lam", [(0, 2.0), (1, 0.5), (3, 2.0), (8, 1.0), (25, 4.0), (60, 30.0), (2, 9.0)])
def test_poisson_sf_is_the_exact_upper_tail(k, lam):
    below = sum(math.exp(-lam) * lam ** i / math.factorial(i) for i in range(k))
    assert spikes.poisson_sf(k, lam) == pytest.approx(1.0 - below, rel=1e-9, abs=1e-15)


def test_poisson_sf_edges():
    assert spikes.poisson_sf(0, 0.0) == 1.0
    assert spikes.poisson_sf(1, 0.0) == 0.0
    assert 0.0 < spikes.poisson_sf(400, 1.0) < 1e-300 or spikes.poisson_sf(400, 1.0) == 0.0


def test_a_five_fold_burst_at_one_post_an_hour_alerts_once():
    start = 18 * 288 + 14 * 12  # day 18, 14:00
    counts = _quiet(1.0, 21, seed=3, burst=(start, 36, 6.0))
    alerts = [i for i in _alerts(counts) if i >= 14 * 288]
    assert len(alerts) == 1 and start <= alerts[0] <= start + 42
    # the same series without the lane (the detector before it) never reaches the alert level
    assert not [i for i in _alerts(counts, replace(spikes.DetectorConfig(), tail_significance=0)) if i >= 14 * 288]


def test_a_quiet_month_without_bursts_stays_quiet():
    total = sum(len([i for i in _alerts(_quiet(rate, 30, seed=s)) if i >= 14 * 288])
                for rate in (0.5, 2.0) for s in (11, 12))
    assert total <= 1  # 4 brand-halves of a month: the bench's rate is well under 1 a brand-month


def test_the_lane_stays_off_on_busy_series_and_needs_whole_days():
    detector = spikes.Detector()
    for i in range(2 * 288):  # two days: below tail_min_days
        detector.step(T0 + STEP * i, 0)
    assert detector._tail(T0 + STEP * 576, 9) is None  # two whole days: the lane waits for three
    busy = [30] * (4 * 288)
    reading = None
    detector = spikes.Detector()
    for i, c in enumerate(busy):
        reading = detector.step(T0 + STEP * i, c)
    assert detector._rate.per_hour_rate() > spikes.DetectorConfig().tail_max_rate
    assert detector._tail(T0 + STEP * len(busy), 200) is None


def test_scores_with_the_lane_never_change_when_later_rows_are_appended():
    counts = _quiet(1.0, 6, seed=5, burst=(5 * 288, 30, 7.0))
    full = spikes.score_series([(T0 + STEP * i, c) for i, c in enumerate(counts)])
    head = spikes.score_series([(T0 + STEP * i, c) for i, c in enumerate(counts[:5 * 288 + 10])])
    assert full[:len(head)] == head


def test_the_lane_windows_are_times_and_it_stays_off_for_buckets_over_an_hour():
    hourly = spikes.Detector(spikes.DetectorConfig(baseline=spikes.BaselineConfig(bucket=timedelta(hours=1))))
    assert hourly._tail_scales == (1, 2, 3, 4)
    daily = spikes.Detector(spikes.DetectorConfig(baseline=spikes.BaselineConfig(bucket=timedelta(days=1))))
    assert daily._rate is None and daily._tail(T0, 5) is None
