"""The spike detector's tail lane for quiet series (bench/lowvolume.py measures it at scale)."""

import math
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot import spikes

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
STEP = timedelta(minutes=5)


def _quiet(rate_per_hour: float, days: int, seed: int, burst: tuple[int, int, float] | None = None,
           alpha: float = 0.0) -> list[int]:
    """Poisson counts per 5 minutes with a daily cycle; burst = (start bucket, length, factor).

    alpha > 0: over-dispersed, each 2-hour block's rate times a gamma draw of mean 1 and variance
    alpha (negative-binomial block counts), the swings of a brand that is talked about in surges."""
    rng = random.Random(seed)
    out = []
    swing = 1.0
    for i in range(days * 288):
        if alpha > 0 and i % 24 == 0:
            swing = rng.gammavariate(1.0 / alpha, alpha)
        lam = swing * rate_per_hour / 12 * (1 + 0.5 * math.cos(2 * math.pi * ((i % 288) / 12 - 15) / 24))
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


def test_a_five_fold_two_hour_burst_at_one_post_an_hour_alerts_in_the_burst():
    start = 16 * 288 + 10 * 12  # day 16, 10:00, after the 14-day warm-up
    counts = _quiet(1.0, 18, seed=0, burst=(start, 24, 5.0))
    assert sum(counts[start:start + 24]) == 13  # about 10 expected: an ordinary draw, not a lucky one
    alerts = [i for i in _alerts(counts) if i >= 14 * 288]
    assert len(alerts) == 1 and start <= alerts[0] < start + 24


POISSON_TAIL = replace(spikes.DetectorConfig(), tail_shrink=1e12, tail_predictive=False)


def test_an_over_dispersed_month_without_bursts_stays_quiet_where_a_poisson_tail_would_not():
    # 3 posts an hour whose 2-hour blocks swing with variance 0.25 (a 3x block comes every few
    # days): 30 scored days after the 14-day warm-up, four brands (seeds 0-3, the first four)
    series = [_quiet(3.0, 44, seed=s, alpha=0.25) for s in range(4)]
    negative_binomial = sum(len([i for i in _alerts(c) if i >= 14 * 288]) for c in series)
    poisson = sum(len([i for i in _alerts(c, POISSON_TAIL) if i >= 14 * 288]) for c in series)
    assert negative_binomial <= 4  # the target, <= 1 a brand-month (bench/lowvolume.py: 1.4 at scale)
    assert poisson >= 5 * max(1, negative_binomial)  # the plug-in Poisson tail cries wolf every few days


def test_the_dispersion_is_zero_on_a_poisson_series_and_found_on_an_over_dispersed_one():
    def alphas(counts):
        detector = spikes.Detector()
        for i, c in enumerate(counts):
            detector.step(T0 + STEP * i, c)
        return [detector._rate.alpha(h) for h in (1, 2, 3, 4)]

    assert alphas(_quiet(2.0, 20, seed=1)) == [0.0] * 4  # shrunk to Poisson: no excess beyond noise
    swinging = alphas(_quiet(2.0, 20, seed=1, alpha=0.5))
    assert 0.2 < swinging[1] < 0.8  # 2-hour windows: the blocks' own variance, 0.5
    assert swinging[3] < swinging[1]  # two independent blocks in a 4-hour window: about half


def test_one_burst_in_the_pooled_days_does_not_make_a_calm_brand_bursty():
    start = 10 * 288 + 14 * 12
    counts = _quiet(1.0, 14, seed=3, burst=(start, 36, 6.0))
    detector = spikes.Detector()
    for i, c in enumerate(counts):
        detector.step(T0 + STEP * i, c)
    assert [detector._rate.alpha(h) for h in (1, 2, 3, 4)] == [0.0] * 4  # the burst's day is left out
    untrimmed = spikes.Detector(replace(spikes.DetectorConfig(), tail_trim_days=0))
    for i, c in enumerate(counts):
        untrimmed.step(T0 + STEP * i, c)
    assert untrimmed._rate.alpha(3) > 0.05


def test_the_lane_waits_for_whole_days_and_stays_off_where_the_main_path_sees_the_counts():
    detector = spikes.Detector()
    for i in range(2 * 288):  # two days: below tail_min_days
        detector.step(T0 + STEP * i, 0)
    assert detector._tail(T0 + STEP * 576, 9) is None  # two whole days: the lane waits for three
    busy = [30] * (4 * 288)  # 360 an hour: the main path's own ratio is the data's
    detector = spikes.Detector()
    for i, c in enumerate(busy):
        detector.step(T0 + STEP * i, c)
    assert detector._rate.days >= 3
    assert detector._tail(T0 + STEP * len(busy), 200, blind=False) is None
    assert detector.step(T0 + STEP * len(busy), 200).score >= 0.5  # the main path alerts on its own


def test_a_lane_alert_does_not_hide_the_main_paths_alert_on_a_bigger_event():
    start = 18 * 288 + 14 * 12
    counts = _quiet(1.0, 21, seed=3, burst=(start, 36, 6.0))
    lane = _alerts(counts)
    lane = [i for i in lane if i >= 14 * 288]
    assert len(lane) == 1
    big = lane[0] + 12  # an hour after the lane's alert, 80 posts in five minutes
    counts[big] = 80
    own = [i for i in _alerts(counts) if i >= 14 * 288]
    shared = [i for i in _alerts(counts, replace(spikes.DetectorConfig(), tail_own_refractory=False))
              if i >= 14 * 288]
    assert own == [lane[0], big]
    assert shared == [lane[0]]  # one refractory period for both: the spike is damped below 0.5


@pytest.mark.parametrize("k,mean,alpha", [(1, 0.5, 0.2), (5, 1.0, 0.1), (12, 2.0, 0.3), (30, 3.0, 0.01),
                                          (2, 9.0, 0.5), (400, 100.0, 0.05), (7, 0.3, 2.0)])
def test_nb_sf_is_the_exact_negative_binomial_upper_tail(k, mean, alpha):
    r = 1.0 / alpha
    p = r / (r + mean)

    def pmf(i):
        return math.exp(math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1) + r * math.log(p)
                        + i * math.log1p(-p))

    upper = math.fsum(pmf(i) for i in range(k, k + 20_000))  # summed upwards: no cancellation
    assert spikes.nb_sf(k, mean, alpha) == pytest.approx(upper, rel=1e-9)


def test_nb_sf_edges_and_its_poisson_limit():
    assert spikes.nb_sf(0, 2.0, 0.3) == 1.0 and spikes.nb_sf(3, 0.0, 0.3) == 0.0
    assert spikes.nb_sf(8, 1.0, 0.0) == spikes.poisson_sf(8, 1.0)
    assert spikes.nb_sf(8, 1.0, 1e-6) == pytest.approx(spikes.poisson_sf(8, 1.0), rel=1e-3)
    tails = [spikes.nb_sf(10, 2.0, a) for a in (0.0, 0.1, 0.5, 2.0)]
    assert tails == sorted(tails)  # more dispersion, a heavier tail
    assert spikes.nb_sf(6000, 1000.0, 0.1) == pytest.approx(3.5387502639e-16, rel=1e-8)  # as cheap when big


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
