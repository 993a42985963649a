import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from bot import spikes

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday, midnight UTC
STEP = timedelta(minutes=5)
DAY = 288  # 5-minute buckets a day


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), deterministic for a seeded generator."""
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation, plenty for a test series
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def series(means, seed=1):
    rng = random.Random(seed)
    return [(T0 + STEP * i, float(poisson(rng, m))) for i, m in enumerate(means)]


def run(rows, config=None):
    detector = spikes.Detector(config)
    return detector, [detector.step(t, v) for t, v in rows]


# --------------------------------------------------------------------------- window helpers


def test_level_ignores_earlier_spikes_and_empty_history():
    assert spikes.level([]) == 0
    assert spikes.level([10] * 9 + [500]) == 10


def test_significance_respects_small_counts():
    assert spikes.anscombe_z(3, 0) < 3 < spikes.anscombe_z(400, 40)
    assert spikes.anscombe_z(40, 40) == pytest.approx(0)


def test_negative_binomial_z_needs_a_bigger_jump_when_bursty():
    assert spikes.nb_z(80, 40, 0.0) == pytest.approx(spikes.anscombe_z(80, 40))
    assert spikes.nb_z(80, 40, 0.1) < spikes.nb_z(80, 40, 0.0)
    assert spikes.nb_z(400, 40, 0.1) > 3  # still a crisis


def test_windows_cut_backwards_and_skip_time_before_data():
    series_ = [1] * 12 + [5] * 12
    observed, earlier = spikes.windows(series_, 12)
    assert observed == 60 and earlier == [12]
    observed, earlier = spikes.windows([0] * 24 + [2] * 12 + [9] * 12, 12, usable=24)
    assert observed == 108 and earlier == [24]


def test_score():
    s = spikes.score(80, [10, 10, 10])
    assert (s.usual, s.ratio, s.windows) == (10, 8, 3) and s.z > 10


# --------------------------------------------------------------------------- the detector


def test_small_counts_are_not_a_crisis_and_big_jumps_are():
    quiet = series([0.2] * (2 * DAY))
    _, readings = run(quiet + [(T0 + STEP * 2 * DAY, 3.0)])
    assert readings[-1].score < 0.5  # 0 -> 3 mentions
    assert readings[-1].guarded

    busy = series([40] * (2 * DAY))
    _, readings = run(busy + [(T0 + STEP * 2 * DAY, 400.0)])
    assert readings[-1].score > 0.9  # 40 -> 400 mentions
    assert readings[-1].z > 10 and not readings[-1].guarded


def test_minimum_count_guard_holds_a_jump_from_nothing():
    rows = [(T0 + STEP * i, 0.0) for i in range(2 * DAY)] + [(T0 + STEP * 2 * DAY, 4.0)]
    _, readings = run(rows)
    assert readings[-1].guarded and readings[-1].score < 0.5
    guarded = spikes.DetectorConfig(min_count=1.0, significance=0.0)
    _, readings = run(rows, guarded)
    assert not readings[-1].guarded


def daily_peak_means(days, peak_hour=14, base=10.0, peak=100.0):
    return [peak if (i % DAY) // 12 == peak_hour else base for i in range(days * DAY)]


def test_a_daily_peak_that_repeats_is_learned_not_alerted():
    rows = series(daily_peak_means(7))
    detector, readings = run(rows)
    day = lambda d: readings[d * DAY:(d + 1) * DAY]  # noqa: E731
    assert max(r.score for r in day(0)) > 0.5  # the first afternoon peak is news ...
    assert max(r.score for r in day(6)) < 0.5  # ... the seventh is expected
    afternoon = T0 + timedelta(days=7, hours=14, minutes=30)
    night = T0 + timedelta(days=7, hours=3)
    assert detector.expected(afternoon) > 5 * detector.expected(night)
    assert detector.expected(afternoon) == pytest.approx(100, rel=0.3)


def test_a_peak_at_an_unusual_hour_still_alerts():
    means = daily_peak_means(7)
    means[6 * DAY + 3 * 12] = 400.0  # 03:00 on the seventh day, above anything seen
    _, readings = run(series(means))
    assert readings[6 * DAY + 3 * 12].score > 0.5


def test_earlier_spikes_do_not_inflate_the_baseline():
    means = [20.0] * (2 * DAY) + [500.0] * 24 + [20.0] * 12
    detector, _ = run(series(means))
    nxt = T0 + STEP * len(means)
    assert detector.expected(nxt) < 1.5 * 20


def test_refractory_one_event_alerts_once():
    means = [20.0] * (2 * DAY) + [300.0] * 12 + [60.0] * 72 + [20.0] * (DAY - 84)
    _, readings = run(series(means))
    event = readings[2 * DAY:]
    alerts = [i for i, r in enumerate(event) if r.score >= 0.5]
    assert alerts == [0]
    assert all(r.refractory for r in event[1:DAY])


def test_refractory_can_be_switched_off():
    means = [20.0] * (2 * DAY) + [300.0] * 12 + [20.0] * 12
    config = spikes.DetectorConfig(refractory=timedelta(0))
    _, readings = run(series(means), config)
    assert sum(r.score >= 0.5 for r in readings[2 * DAY:]) > 1


def test_scores_never_change_when_later_rows_are_appended():
    means = daily_peak_means(3) + [500.0] * 6 + [10.0] * 50
    rows = series(means, seed=7)
    full = spikes.score_series(rows)
    for n in (1, 13, DAY, 2 * DAY + 7, 3 * DAY + 3):
        assert spikes.score_series(rows[:n]) == full[:n]


def test_scores_are_in_the_unit_interval_and_warm_up_at_zero():
    rng = random.Random(3)
    means = [rng.choice([0, 0, 1, 5, 50, 2000]) for _ in range(2 * DAY)]
    scores = spikes.score_series(series(means, seed=3))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[:12] == [0.0] * 12


def test_bad_rows_are_refused():
    detector = spikes.Detector()
    detector.update(T0, 1)
    with pytest.raises(ValueError):
        detector.update(T0, 1)  # not after the previous row
    with pytest.raises(ValueError):
        detector.update(T0 + STEP, -1)
    with pytest.raises(ValueError):
        detector.update(T0 + 2 * STEP, float("nan"))


def test_score_series_takes_the_bucket_from_the_rows():
    hourly = [T0 + timedelta(hours=i) for i in range(50)]
    assert spikes.infer_bucket(hourly) == timedelta(hours=1)
    assert spikes.infer_bucket([]) == timedelta(minutes=5)
    scores = spikes.score_series([(t, 3.0) for t in hourly])
    assert len(scores) == 50 and scores[0] == 0.0


def test_seasonal_score_uses_the_usual_count_for_that_hour():
    means = daily_peak_means(4)
    counts = [v for _, v in series(means)]
    end = T0 + timedelta(days=3, hours=15)  # the window is 14:00-15:00 on the fourth day
    window = counts[:3 * DAY + 15 * 12]
    seasonal = spikes.seasonal_score(window, 12, end)
    flat = spikes.score(sum(window[-12:]), spikes.windows(window, 12)[1])
    assert seasonal.usual == pytest.approx(1200, rel=0.3)  # 12 buckets at about 100
    assert seasonal.ratio < 1.5 < flat.ratio
    young = spikes.seasonal_score(window[-DAY:], 12, end)  # one day of history: trailing level
    assert young.usual < 0.5 * seasonal.usual
    with pytest.raises(ValueError):
        spikes.seasonal_score(window, 0, end)


# --------------------------------------------------------------------------- seasonality, shifts, routine


def weekly_peak_means(weeks, weekday=0, hour=10, base=10.0, peak=120.0):
    """An hour that is busy on one weekday only (T0 is a Monday)."""
    return [peak if (i // DAY) % 7 == weekday and (i % DAY) // 12 == hour else base
            for i in range(weeks * 7 * DAY)]


def test_day_of_week_seasonality_learns_a_weekly_peak():
    rows = series(weekly_peak_means(4))
    detector, readings = run(rows)
    monday = lambda w: readings[w * 7 * DAY:(w * 7 + 1) * DAY]  # noqa: E731
    assert max(r.score for r in monday(0)) > 0.5  # news the first Monday ...
    assert max(r.score for r in monday(3)) < 0.5  # ... expected once two Mondays have been seen
    monday_peak = T0 + timedelta(days=28, hours=10, minutes=30)
    tuesday_same_hour = monday_peak + timedelta(days=1)
    assert detector.expected(monday_peak) == pytest.approx(120, rel=0.3)
    assert detector.expected(tuesday_same_hour) == pytest.approx(10, rel=0.3)


def test_without_day_of_week_the_weekly_peak_is_not_expected():
    config = spikes.DetectorConfig(baseline=spikes.BaselineConfig(week_min=0))
    detector, _ = run(series(weekly_peak_means(4)), config)
    # the hour-of-day shape is a median over days: one busy day in seven does not move it
    assert detector.expected(T0 + timedelta(days=28, hours=10, minutes=30)) < 20


def test_a_level_shift_stops_alerting_within_hours_even_without_a_refractory_period():
    config = spikes.DetectorConfig(refractory=timedelta(0))
    means = [20.0] * (3 * DAY) + [80.0] * (2 * DAY)
    detector, readings = run(series(means), config)
    after = readings[3 * DAY:]
    assert after[0].score > 0.5  # the jump itself is news
    alerting = [i for i, r in enumerate(after) if r.score >= 0.5]
    assert max(alerting) < 6 * 12  # the new normal stops alerting within 6 hours
    assert all(r.score < 0.3 for r in after[12 * 12:])
    assert detector.expected(T0 + STEP * len(means)) == pytest.approx(80, rel=0.2)


def test_a_level_shift_alerts_once_with_the_default_refractory_period():
    means = [20.0] * (3 * DAY) + [80.0] * (2 * DAY)
    _, readings = run(series(means))
    assert [i for i, r in enumerate(readings[3 * DAY:]) if r.score >= 0.5] == [0]


def test_the_routine_term_weighs_a_burst_against_this_weeks_daily_tops():
    rng = random.Random(5)
    means = [10.0] * (12 * DAY)
    for day in range(10):  # one 5-minute burst of about 150 a day, at a random hour
        means[day * DAY + rng.randrange(DAY)] = 150.0
    small = 10 * DAY + 20 * 12  # below this brand's routine daily top
    big = 11 * DAY + 20 * 12  # four times it
    means[small], means[big] = 60.0, 600.0
    rows = series(means, seed=5)
    _, plain = run(rows, spikes.DetectorConfig(routine_weight=0.0, refractory=timedelta(0)))
    _, learned = run(rows, spikes.DetectorConfig(refractory=timedelta(0)))
    assert learned[small].surprise < plain[small].surprise - 0.5  # an ordinary day's burst counts for less
    assert learned[big].surprise > plain[big].surprise + 0.5  # one far beyond the routine counts for more
    assert learned[big].score > 0.9


def test_daily_maxima_rank_skips_the_current_day_and_warm_up():
    maxima = spikes._DailyMaxima(days=3, rank=2, min_days=2)
    day = lambda d, h=0: T0 + timedelta(days=d, hours=h)  # noqa: E731
    maxima.add(day(0), None)  # warm-up bucket: does not count
    maxima.add(day(0, 5), 4.0)
    assert maxima.value() is None  # no finished day yet
    maxima.add(day(1), 9.0)
    maxima.add(day(1, 3), 1.0)
    assert maxima.value() is None  # one finished day: fewer than min_days
    maxima.add(day(2), 7.0)
    assert maxima.value() == 4.0  # days 0 and 1 are finished: maxima 4 and 9; the second highest is 4
    for d in (3, 4, 5):
        maxima.add(day(d), 1.0)
    assert maxima.value() == 1.0  # only the last three finished days (7, 1, 1) remain


def test_scores_over_weeks_never_change_when_later_rows_are_appended():
    rows = series(weekly_peak_means(3), seed=11)
    full = spikes.score_series(rows)
    for n in (7 * DAY + 5, 14 * DAY + 10 * 12 + 3, len(rows) - 1):
        assert spikes.score_series(rows[:n]) == full[:n]
