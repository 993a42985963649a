"""Baselines and spike scores over count series. Pure and numeric: no I/O, no clock.

Two layers live here.

**Window helpers** (`level`, `anscombe_z`, `windows`, `score` -> `Spike`), used by the
volume_spike rule kind: compare a window's count with the robust level of the same-length
windows before it. Small counts get a variance-stabilised significance, so 0 -> 3 mentions is not
a crisis while 40 -> 400 is.

**The streaming detector** (`Detector`, `score_series`), which scores a mention-count series one
bucket at a time, each score in [0, 1] from that bucket and the buckets before it (never later
ones), so the same code serves a live bot, a backtest and `harkbot spikes FILE.csv`. The model,
in the order it runs for each bucket:

1. *The usual count for this brand at this time* (`SeasonalBaseline`). A robust trailing level,
   the mean of the last 24 hours of buckets after dropping their top tenth (so earlier spikes do
   not inflate it), times an hour-of-day shape: for each hour of the day, the median over the last
   14 days of (that hour's mean count / the trailing level at the time). The shape is used once
   3 days of that hour exist; before that the trailing level alone is the baseline. Once a weekday's
   hour has been seen on 2 weeks, its own shape (median over the last 4 weeks, against the trailing
   level at the time) replaces the hour-of-day one: weekends are quieter for most brands, and a
   Monday morning measured against a quiet Sunday's level would otherwise look like a surge.
   Mentions of a brand follow the audience's day and week (about 3x between night and afternoon on
   the NAB tickers), so a peak that comes back every afternoon, or every Monday, is expected once
   learned, not an anomaly.

2. *Count-aware surprise.* The ratio (observed + c) / (usual + c) with a pseudo-count c = 6, in
   logs, for the last bucket and for the sum of the last three (a burst spread over 15 minutes).
   The pseudo-count is what makes small counts small: 0 -> 3 mentions is a ratio of 1.5, while
   40 -> 400 is 8.8. The larger of the two scales is kept.

3. *Novelty against the brand's own history.* Brands differ in how bursty they are; a brand that
   spikes every day should not alert on every spike. Three terms add to the surprise:
   `peak_weight` * log((observed + 1) / (the highest bucket in the previous 24 hours + 1)), i.e.
   how far above yesterday's peak this is; `routine_weight` * (surprise - this week's routine top
   surprise), the routine top being the second-highest of the daily maximum surprises over the
   last 7 finished days ("a day like this has happened twice this week"), so a burst below what
   the brand does most days counts for less and one far above it for more; and `record_weight` *
   (surprise - the strongest surprise this brand has ever shown). The first and last ignore the last
   30 minutes and the routine ignores the current day, so an event is not compared with its own
   rising edge.

4. *Guards* (a guarded bucket scores below the alert level, whatever the terms above say): fewer
   than `min_count` mentions in the driving scale, or a significance below `significance`, where
   significance is the Anscombe-transformed difference divided by sqrt(1 + phi * usual) -- a
   negative-binomial z, with the overdispersion phi estimated robustly from the last 3 days of
   residuals (median of squared residuals against its Poisson value). Distinct authors are not in
   a count series; volume_spike guards on them from the store.

5. *Score and refractory period.* score = logistic(surprise - alert_level), so 0.5 is the alert
   level. After a bucket reaches 0.5, the next 30 hours are scored at `refractory_damp` times
   their value (below 0.5): one event alerts once, and its aftermath and its echo at the same hour
   the next day do not. A level shift (a new normal after an event) alerts on its first bucket and
   then stops: the trimmed trailing level catches up within hours, before the refractory period
   ends.

6. *The tail lane, for quiet series* (`tail_*` in `DetectorConfig`; bench/lowvolume.py). Where the
   usual count is well under one post a bucket the pseudo-count, not the data, sets the surprise
   above. So a second reading runs beside it: the last 14 whole days pooled per UTC hour into a
   rate with an hour-of-day shape, the count of the last 1, 2, 3 and 4 hours, and the exact
   negative-binomial tail probability of that count, its over-dispersion measured per window
   length on the pooled days and shrunk towards Poisson (`_HourlyRate`, `nb_sf`). -log10 p at or
   above `tail_significance` alerts, with a refractory period of its own.

Tuning (see bench/nab.py): the pseudo-count, the novelty weights, the alert level, the refractory
length and the weekly switch are global constants chosen on NAB's realTweets (the ten files that are
scored), as every NAB entry's parameters are; nothing is keyed to a file or a date. The bench also
prints how the score moves when each knob moves one step, and a leave-one-series-out figure.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Spike:
    observed: float
    usual: float  # the robust baseline level per window
    ratio: float  # observed / max(usual, floor)
    z: float  # Anscombe-transformed difference: ~N(0, 1) for Poisson counts
    windows: int  # how many earlier windows the baseline used
    tail: float | None = None  # -log10 of the exact tail probability (`tail_score`), when computed


def level(history: Sequence[float]) -> float:
    """A robust trailing level: the mean after dropping the top tenth.

    The median of sparse counts is often 0, and a plain mean is dragged up by the very
    spikes we look for; an upper-trimmed mean is neither.
    """
    if not history:
        return 0.0
    ordered = sorted(history)
    keep = max(1, math.ceil(len(ordered) * 0.9))
    kept = ordered[:keep]
    return sum(kept) / len(kept)


def anscombe_z(observed: float, expected: float) -> float:
    """How many standard deviations `observed` lies from a Poisson(`expected`) count."""
    return 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(max(expected, 0.0) + 0.375))


def nb_z(observed: float, expected: float, phi: float = 0.0) -> float:
    """Like `anscombe_z`, for a negative-binomial count: variance expected + phi * expected**2.

    On the square-root scale that variance is about 1 + phi * expected, so a bursty series
    (phi > 0) needs a larger jump to be as significant. phi = 0 is the Poisson case.
    """
    return anscombe_z(observed, expected) / math.sqrt(1.0 + max(phi, 0.0) * max(expected, 0.0))


def poisson_sf(k: float, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), exact (summed in floating point, no approximation).

    The upper tail is summed term by term from k, where the terms fall as soon as k > lam; a k at
    or below lam has a large tail, taken as 1 - P(X < k).
    """
    k = math.ceil(k)
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    if k <= lam:
        term, below = math.exp(-lam), 0.0
        for i in range(k):
            below += term
            term *= lam / (i + 1)
        return min(1.0, max(0.0, 1.0 - below))
    term = math.exp(log_term)
    total, i = 0.0, k
    while term > 0.0 and (term > total * 1e-17 or i < k + 2):
        total += term
        i += 1
        term *= lam / i
        if i > k + 10_000:  # cannot happen for counts that fit a bucket series; a guard, not a path
            break
    return min(1.0, total)


def nb_sf(k: float, mean: float, alpha: float) -> float:
    """P(X >= k) for a negative-binomial X with this mean and variance mean + alpha * mean**2.

    alpha <= 0 is the Poisson case (`poisson_sf`). Otherwise X counts failures before the r-th
    success with r = 1 / alpha, and its upper tail is a regularised incomplete beta function,
    P(X >= k) = I_q(k, r) with q = mean / (mean + r), evaluated by its continued fraction: exact to
    rounding (no normal approximation), and as cheap at 5 posts as at 5,000.
    """
    if alpha <= 0.0:
        return poisson_sf(k, mean)
    k = math.ceil(k)
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    r = 1.0 / alpha
    return _beta_inc(float(k), r, mean / (mean + r))


def _beta_inc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta I_x(a, b) (Numerical Recipes' `betai`, Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):  # the fraction converges fast here: the upper tail itself
        return min(1.0, math.exp(log_front) * _beta_fraction(a, b, x) / a)
    return max(0.0, 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b)


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):  # O(sqrt(max(a, b))) steps; the bound is a guard, not a path
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def windows(series: Sequence[int], size: int, usable: int | None = None) -> tuple[int, list[int]]:
    """Split a bucket series into (the last window's sum, the sums of earlier whole windows).

    Earlier windows are cut backwards from the last one; only the last `usable` buckets of
    the series hold real history (the rest predate the first data) and count.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    observed = sum(series[-size:])
    earlier = series[:-size]
    if usable is not None:
        earlier = earlier[max(0, len(earlier) - max(0, usable - size)):]
    sums = [sum(earlier[i - size : i]) for i in range(len(earlier), size - 1, -size)]
    return observed, sums


def score(observed: float, history: Sequence[float], floor: float = 1.0) -> Spike:
    usual = level(history)
    ratio = observed / max(usual, floor)
    return Spike(observed, usual, ratio, anscombe_z(observed, usual), len(history))


def tail_score(observed: float, history: Sequence[float], shrink: float = 1.0) -> Spike:
    """`score` for a quiet series: how improbable `observed` is against earlier windows' counts.

    The usual count is the plain mean of the earlier windows with one pseudo-post ((posts + 1) /
    windows: a trimmed level of mostly-empty windows reads 0, and a brand never seen is not certain
    never to be), and `tail` is -log10 of the exact negative-binomial probability of at least
    `observed`, with the windows' own over-dispersion (method of moments, shrunk towards Poisson as
    `_HourlyRate` does) plus 1 / (posts + 1) for the uncertainty of a rate learned from that many
    posts (the gamma-Poisson predictive distribution). No daily cycle: callers ask for stricter
    evidence instead.
    """
    m = len(history)
    if m == 0:
        return Spike(observed, 0.0, float(observed), anscombe_z(observed, 0.0), 0, None)
    posts = float(sum(history))
    mean = posts / m
    deviation = sum((h - mean) ** 2 - mean for h in history)
    noise = m * (mean + 2.0 * mean * mean)  # the deviation's variance, were the windows Poisson
    alpha = 0.0
    if deviation > 0.0 and mean > 0.0:
        alpha = deviation / (m * mean * mean) * max(0.0, 1.0 - shrink * noise / deviation ** 2)
    usual = (posts + 1.0) / m
    p = nb_sf(observed, usual, alpha + 1.0 / (posts + 1.0))
    tail = 350.0 if p <= 0.0 else -math.log10(p)
    return Spike(observed, usual, observed / usual, anscombe_z(observed, usual), m, tail)


# --------------------------------------------------------------------------- streaming pieces


class _TrimmedWindow:
    """The last `size` values, kept sorted, for an upper-trimmed mean in O(size) per step."""

    def __init__(self, size: int, trim: float) -> None:
        self.size = size
        self.trim = trim
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._order)

    def add(self, value: float) -> None:
        self._order.append(value)
        bisect.insort(self._sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def mean(self) -> float:
        if not self._sorted:
            return 0.0
        keep = max(1, math.ceil(len(self._sorted) * (1.0 - self.trim)))
        return sum(self._sorted[:keep]) / keep


class _Dispersion:
    """Negative-binomial overdispersion phi, estimated robustly from recent residuals.

    For residuals r = anscombe_z(x, mu), r**2 / (1 + phi * mu) is chi-square(1), whose median is
    0.4549. With the median usual count m: phi = (median(r**2) / 0.4549 - 1) / m, floored at 0.
    Medians ignore the spikes themselves. Re-estimated every `every` buckets.
    """

    MEDIAN_CHI2_1 = 0.4549

    def __init__(self, size: int, every: int = 12, minimum: int = 36) -> None:
        self._r2: deque[float] = deque(maxlen=size)
        self._mu: deque[float] = deque(maxlen=size)
        self.every = every
        self.minimum = minimum
        self.phi = 0.0
        self._count = 0

    def add(self, residual: float, expected: float) -> None:
        self._r2.append(residual * residual)
        self._mu.append(expected)
        self._count += 1
        if self._count % self.every == 0 and len(self._r2) >= self.minimum:
            r2 = sorted(self._r2)
            mu = sorted(self._mu)
            ratio = r2[len(r2) // 2] / self.MEDIAN_CHI2_1
            self.phi = max(0.0, (ratio - 1.0) / max(mu[len(mu) // 2], 1.0))


class _DelayedMax:
    """The maximum of the values added between `span` and `gap` steps ago (None before any)."""

    def __init__(self, span: int | None, gap: int) -> None:
        self.span = span  # None: all history
        self.gap = gap
        self._pending: deque[float] = deque()
        self._best: deque[tuple[int, float]] = deque()  # (step, value), values decreasing
        self._step = 0
        self._record: float | None = None

    def value(self) -> float | None:
        if self.span is None:
            return self._record
        return self._best[0][1] if self._best else None

    def add(self, value: float) -> None:
        """Record `value` for this step; it becomes visible `gap` steps later."""
        self._pending.append(value)
        self._step += 1
        if len(self._pending) > self.gap:
            ripe = self._pending.popleft()
            ripe_step = self._step - self.gap
            if self.span is None:
                self._record = ripe if self._record is None else max(self._record, ripe)
            else:
                while self._best and self._best[-1][1] <= ripe:
                    self._best.pop()
                self._best.append((ripe_step, ripe))
        if self.span is not None:
            # visible values are those at steps > (step + 1) - span, as seen from the next step
            while self._best and self._best[0][0] <= self._step - self.span:
                self._best.popleft()


class _DailyMaxima:
    """The highest value of each UTC day, for the last `days` days before the current one.

    `value()` is the `rank`-th highest of them once `min_days` earlier days have been seen (the
    first, partial day counts), else None. The current day never counts: an event is not
    compared with itself.
    """

    def __init__(self, days: int, rank: int, min_days: int) -> None:
        self._days: deque[float] = deque(maxlen=max(1, days))
        self.rank = rank
        self.min_days = max(min_days, rank)
        self._seen = 0
        self._key: int | None = None
        self._max: float | None = None

    def value(self) -> float | None:
        if self.rank <= 0 or self._seen < self.min_days or len(self._days) < self.rank:
            return None
        return sorted(self._days, reverse=True)[self.rank - 1]

    def add(self, ts: datetime, value: float | None) -> None:
        """Record this bucket's value (None: a bucket that must not count, e.g. during warm-up)."""
        key = ts.toordinal()
        if key != self._key:
            if self._key is not None:
                self._days.append(0.0 if self._max is None else self._max)
                self._seen += 1
            self._key, self._max = key, None
        if value is not None:
            self._max = value if self._max is None else max(self._max, value)


class _HourlyRate:
    """The usual posts per bucket of a quiet series: a pooled rate times a shrunk hour shape, and
    how over-dispersed its hour counts are.

    Counts are kept per UTC hour of day for the last `days` whole days. The level is their total
    over those days (less the busiest day, once there are 5, so one past burst does not raise it)
    per bucket; an hour's shape is (its posts + prior) / (the mean hour's posts + prior), so an
    hour seen empty on a few days is a little under 1, not 0.

    The dispersion, per window length of `scales` hours: windows of that many hours tile each
    day, and with c a window's posts and e its usual count (rate times shape), a Poisson series has
    E[(c - e)**2 - e] = 0 and a negative-binomial one alpha * e**2. The method-of-moments alpha is
    the sum of the first over the sum of the second, on the days left after dropping up to `trim`
    days that stand out from the rest (`outlier` spreads beyond the median day: one past burst on
    a calm brand does not make it bursty, while a brand bursty every day keeps its days); it is shrunk
    towards Poisson, James-Stein fashion, by max(0, 1 - shrink * v / s**2), s the summed deviation
    and v its variance if the series were Poisson: an excess within noise counts for nothing, one
    of three of its standard errors for 8/9 of itself. Each window length has its own alpha, since
    the surges of a bursty series last hours and widen a 4-hour sum more than four 1-hour ones.
    """

    def __init__(self, days: int, prior: float, per_hour: int, scales: Sequence[int] = (),
                 trim: int = 2, shrink: float = 1.0, outlier: float | None = 4.0) -> None:
        self._days: deque[list[float]] = deque(maxlen=max(1, days))
        self.prior = prior
        self.per_hour = per_hour
        self.scales = tuple(scales)
        self.trim = trim
        self.shrink = shrink
        self.outlier = outlier
        self._key: int | None = None
        self._today = [0.0] * 24
        self._hours: list[float] = [0.0] * 24
        self._per_bucket = 0.0
        self._shape = [1.0] * 24
        self._alpha = {h: 0.0 for h in self.scales}

    @property
    def days(self) -> int:
        return len(self._days)

    @property
    def pooled_days(self) -> int:
        """How many days the rate is pooled over (the busiest left out once there are 5)."""
        return len(self._days) - (1 if len(self._days) >= 5 else 0)

    def per_hour_rate(self) -> float:
        return self._per_bucket * self.per_hour

    def alpha(self, hours: int) -> float:
        """The shrunk over-dispersion of a window of `hours` hours (0: Poisson)."""
        return self._alpha.get(hours, 0.0)

    def expected(self, ts: datetime) -> float:
        self._roll(ts)
        return self._per_bucket * self._shape[ts.hour]

    def add(self, ts: datetime, value: float) -> None:
        self._roll(ts)
        self._today[ts.hour] += value

    def _roll(self, ts: datetime) -> None:
        key = ts.toordinal()
        if key == self._key:
            return
        if self._key is not None:
            self._days.append(self._today)
            days = list(self._days)
            if len(days) >= 5:  # one burst in a fortnight should not lift the usual rate
                days.remove(max(days, key=sum))
            hours = [sum(day[h] for day in days) for h in range(24)]
            total = sum(hours)
            mean_hour = total / 24.0
            self._per_bucket = total / (len(days) * 24.0 * self.per_hour)
            self._shape = [(hours[h] + self.prior) / (mean_hour + self.prior) for h in range(24)]
            usual = [self._per_bucket * self.per_hour * self._shape[h] for h in range(24)]
            for span in self.scales:
                self._alpha[span] = self._dispersion(span, usual)
        self._key, self._today = key, [0.0] * 24

    def _dispersion(self, span: int, usual: Sequence[float]) -> float:
        tiles = range(0, 24 - span + 1, span)
        expected = [sum(usual[t:t + span]) for t in tiles]
        per_day = []
        for day in self._days:
            deviation = sum((sum(day[t:t + span]) - e) ** 2 - e for t, e in zip(tiles, expected))
            per_day.append(deviation)
        per_day.sort()
        # a day is left out only when it stands out from the rest (a burst on a calm series), not
        # when the series is bursty every day: beyond the median day by `outlier` spreads, the spread
        # the larger of a Poisson day's and the days' own (MAD)
        day_sd = math.sqrt(sum(e + 2.0 * e * e for e in expected))
        mid = _median(per_day)
        spread = max(day_sd, 1.4826 * _median(abs(d - mid) for d in per_day))
        kept = len(per_day)
        while (len(per_day) - kept < min(self.trim, len(per_day) - 3)
               and (self.outlier is None or per_day[kept - 1] > mid + self.outlier * spread)):
            kept -= 1
        deviation = sum(per_day[:kept])
        squares = kept * sum(e * e for e in expected)
        variance = kept * sum(e + 2.0 * e * e for e in expected)  # of the deviation, were it Poisson
        if deviation <= 0.0 or squares <= 0.0:
            return 0.0
        return deviation / squares * max(0.0, 1.0 - self.shrink * variance / deviation ** 2)


# --------------------------------------------------------------------------- the baseline


@dataclass(frozen=True)
class BaselineConfig:
    bucket: timedelta = timedelta(minutes=5)
    level_span: timedelta = timedelta(hours=24)  # the robust trailing level's window
    level_trim: float = 0.1  # share of the highest buckets dropped from the level
    season_slot: timedelta = timedelta(hours=1)  # the hour-of-day profile's slot
    season_days: int = 14  # how many past days each slot's shape remembers
    season_min_days: int = 3  # the shape is used once a slot has this many days
    week_min: int = 2  # a weekday's own shape is used once it has this many weeks (0: never)
    season_weeks: int = 4  # how many past weeks each weekday-and-hour slot remembers

    def rows(self, span: timedelta) -> int:
        return max(1, round(span / self.bucket))


class SeasonalBaseline:
    """The usual count for a bucket: a robust trailing level times an hour-of-day shape.

    Feed it buckets in time order with `add`; ask `expected(ts)` for the bucket at `ts` before
    adding it. Pure and causal: it only knows what it has been given.
    """

    def __init__(self, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()
        self._level = _TrimmedWindow(self.config.rows(self.config.level_span), self.config.level_trim)
        self._shape: dict[int, deque[float]] = {}
        self._weekly: dict[tuple[int, int], deque[float]] = {}
        self._slot_key: tuple[int, int] | None = None
        self._slot_sum = 0.0
        self._slot_n = 0
        self._slot_rows = self.config.rows(self.config.season_slot)

    def __len__(self) -> int:
        return len(self._level)

    def _slot(self, ts: datetime) -> tuple[int, int]:
        minutes = ts.hour * 60 + ts.minute
        slot_minutes = max(1, round(self.config.season_slot.total_seconds() / 60))
        return ts.toordinal(), minutes // slot_minutes

    def level(self) -> float:
        return self._level.mean()

    def shape(self, ts: datetime) -> float:
        """The seasonal factor for `ts`: its weekday-and-hour's once that has `week_min` weeks, else
        its hour-of-day's, else 1.0 while the hour has fewer than `season_min_days` days."""
        slot = self._slot(ts)[1]
        if self.config.week_min > 0:
            # weekends and Monday mornings differ from the average day; once a weekday's slot
            # has been seen on enough weeks, its own shape is the better guess
            weeks = self._weekly.get((ts.weekday(), slot))
            if weeks is not None and len(weeks) >= self.config.week_min:
                return _median(weeks)
        days = self._shape.get(slot)
        if days is None or len(days) < self.config.season_min_days:
            return 1.0
        return _median(days)

    def expected(self, ts: datetime) -> float:
        self._roll(ts)
        return self.level() * self.shape(ts)

    def add(self, ts: datetime, value: float) -> None:
        self._roll(ts)
        self._level.add(value)
        self._slot_sum += value
        self._slot_n += 1

    def _roll(self, ts: datetime) -> None:
        key = self._slot(ts)
        if key == self._slot_key:
            return
        if self._slot_key is not None and self._slot_n >= max(1, self._slot_rows // 2):
            level = self.level()
            if level > 0:
                days = self._shape.setdefault(self._slot_key[1], deque(maxlen=self.config.season_days))
                days.append(self._slot_sum / self._slot_n / level)
                day = datetime.fromordinal(self._slot_key[0]).weekday()
                weeks = self._weekly.setdefault((day, self._slot_key[1]), deque(maxlen=self.config.season_weeks))
                weeks.append(self._slot_sum / self._slot_n / level)
        self._slot_key = key
        self._slot_sum = 0.0
        self._slot_n = 0


# --------------------------------------------------------------------------- the detector


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's knobs. Defaults are the ones measured by bench/nab.py on NAB realTweets."""

    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    pseudo_count: float = 6.0  # c in (observed + c) / (usual + c): small counts stay small
    burst_buckets: int = 3  # also score the sum of the last few buckets
    peak_span: timedelta = timedelta(hours=24)  # novelty against the previous day's peak ...
    peak_weight: float = 2.5
    record_weight: float = 0.25  # ... and against the strongest surprise in all history ...
    routine_weight: float = 0.75  # ... and against this week's routine daily top surprise:
    routine_days: int = 7  # the days it looks back over,
    routine_rank: int = 2  # the rank-th highest of their daily maxima (2: "twice this week"),
    routine_min_days: int = 3  # used once this many days have been seen
    novelty_gap: timedelta = timedelta(minutes=30)  # an event is not compared with its own rise
    min_count: float = 5.0  # guard: fewer mentions than this never reach the alert level
    significance: float = 3.0  # guard: negative-binomial z below this never reaches it either
    dispersion_span: timedelta = timedelta(days=3)
    alert_level: float = 2.0  # the surprise that scores 0.5
    temperature: float = 1.0  # score = logistic((surprise - alert_level) / temperature)
    refractory: timedelta = timedelta(hours=30)
    refractory_damp: float = 0.4  # scores inside a refractory period are multiplied by this
    warmup: timedelta = timedelta(hours=1)  # score 0 until this much history exists
    guard_margin: float = 2.0  # a guarded bucket's surprise is capped this far below the alert
    # The tail lane, for quiet series (bench/lowvolume.py). Below ~1 post a bucket the trimmed
    # level is 0 and the hour shapes are medians of mostly-empty hours, so the usual count reads 0
    # and the pseudo-count, not the data, sets the surprise: a 5x burst at one post an hour never
    # reaches the alert level. This lane pools the last `tail_days` whole days per hour of day
    # (a rate, not a median), sums the last 1-4 hours, and alerts on the exact negative-binomial
    # tail probability of that sum: -log10 p >= tail_significance (0 switches the lane off). The
    # over-dispersion is measured on the same pooled days (`_HourlyRate`), so a series whose hours
    # swing more than Poisson's needs a bigger burst to be as surprising, and no rate gate is
    # needed: on NAB realTweets (4-850 posts an hour) the ungated lane scores 76.4 (76.6 without it).
    # bench/lowvolume.py's tune split, caught and false alarms a brand-month: significance 5 ->
    # 82.9%, 0.05; 4.5 -> 86.2%, 0.11; 4 -> 88.3%, 0.17; 3.75 -> 88.8%, 0.29 (the Poisson tail at 5
    # with a 3-an-hour gate, before: 80.4%, 0.11).
    tail_significance: float = 4.0
    tail_windows: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in (1, 2, 3, 4))
    tail_max_rate: float | None = None  # posts an hour above which the lane stays off (None: never)
    tail_trim_days: int = 2  # the most deviant pooled days left out of the dispersion
    tail_trim_outlier: float | None = 4.0  # ... when they stand this many spreads out (None: always)
    tail_predictive: bool = True  # add the rate's own uncertainty to the dispersion
    tail_shrink: float = 1.0  # how hard the dispersion is pulled towards Poisson (0: not at all)
    # Surprise per decade of p above the significance. Low, so a lane alert scores just over 0.5
    # (p = 1e-10: 0.71) and ranks under the main path's: NAB's unlabelled bursts are the lane's
    # (slope 1 -> 75.1, 0.5 -> 75.7, 0.25 -> 76.5, 0.15 -> 76.6); alerts (>= 0.5) are the same.
    tail_slope: float = 0.15
    # A lane alert damps later lane alerts only, not the main path's: one that fired at 0.52 on
    # an event's rising edge must not hide the main path's alert on the same event an hour later
    # (NAB at significance 5, slope 1: 72.8 with one shared period, 76.5 with two). False: shared.
    tail_own_refractory: bool = True
    # The lane runs where the main path is blind: while the main path's usual over its burst scale
    # is below this many pseudo-counts (about 24 posts an hour with the defaults; None: always).
    # Above it the main path's ratio is the data's, and its trimmed level follows a new normal
    # within hours and its weekday shapes know a busy Monday, where a fortnight's pooled rate
    # knows neither (tests/test_spikes.py's level shift and weekly peak).
    tail_blind_below: float | None = 1.0
    tail_min_count: float = 4.0  # never fire on fewer mentions than this in the window
    tail_min_ratio: float = 3.0  # nor below this many times the usual count
    tail_floor_rate: float = 0.25  # posts an hour: the least a usual rate is taken to be
    tail_days: int = 14  # whole days pooled for the rate and its hour-of-day shape
    tail_min_days: int = 3  # the lane waits for this many whole days
    tail_prior: float = 2.0  # pseudo-posts pulling each hour's shape towards flat

    @property
    def bucket(self) -> timedelta:
        return self.baseline.bucket

    def rows(self, span: timedelta) -> int:
        return self.baseline.rows(span)


@dataclass(frozen=True)
class Reading:
    """One bucket as the detector saw it."""

    score: float  # in [0, 1]; 0.5 is the alert level
    observed: float  # the count in the driving scale (one bucket, or the burst sum)
    usual: float  # the baseline for the same buckets
    ratio: float  # (observed + c) / (usual + c)
    z: float  # negative-binomial significance of observed against usual
    surprise: float  # the log-evidence before the logistic (ratio + novelty terms)
    guarded: bool  # a minimum-count or significance guard held the score down
    refractory: bool  # inside the refractory period after an alert


class Detector:
    """A streaming, causal spike detector for one count series (see the module docstring).

        detector = Detector()
        for ts, count in rows:
            s = detector.update(ts, count)   # in [0, 1], from this row and earlier ones only

    Rows must come in time order, one per bucket of `config.bucket`.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = cfg = config or DetectorConfig()
        self.baseline = SeasonalBaseline(cfg.baseline)
        self._scales = [1] + ([cfg.burst_buckets] if cfg.burst_buckets > 1 else [])
        self._values: deque[float] = deque(maxlen=max(self._scales))
        self._usuals: deque[float] = deque(maxlen=max(self._scales))
        gap = cfg.rows(cfg.novelty_gap) if cfg.novelty_gap > timedelta(0) else 0
        self._peaks = _DelayedMax(cfg.rows(cfg.peak_span), gap)
        self._record = _DelayedMax(None, gap)
        self._routine = _DailyMaxima(cfg.routine_days, cfg.routine_rank, cfg.routine_min_days)
        self._dispersion = _Dispersion(cfg.rows(cfg.dispersion_span))
        self._warmup = cfg.rows(cfg.warmup) if cfg.warmup > timedelta(0) else 0
        self._refractory_rows = cfg.rows(cfg.refractory) if cfg.refractory > timedelta(0) else 0
        self._refractory_left = 0
        self._tail_refractory_left = 0
        self._last: datetime | None = None
        self.rows = 0
        per_hour = max(1, round(timedelta(hours=1) / cfg.bucket))
        # the lane learns an hour-of-day rate, so it needs buckets of an hour or less
        on = cfg.tail_significance > 0 and cfg.bucket <= timedelta(hours=1)
        self._tail_scales = tuple(sorted({cfg.rows(w) for w in cfg.tail_windows})) if on else ()
        # each window's length in whole hours, for its dispersion
        self._tail_hours = tuple(max(1, round(k / per_hour)) for k in self._tail_scales)
        self._rate = None
        if self._tail_scales:
            self._rate = _HourlyRate(cfg.tail_days, cfg.tail_prior, per_hour, sorted(set(self._tail_hours)),
                                     cfg.tail_trim_days, cfg.tail_shrink, cfg.tail_trim_outlier)
        depth = max(self._tail_scales, default=0)
        self._tail_counts: deque[float] = deque(maxlen=depth or 1)
        self._tail_usuals: deque[float] = deque(maxlen=depth or 1)
        self._tail_sums = [0.0] * len(self._tail_scales)
        self._tail_means = [0.0] * len(self._tail_scales)

    @property
    def phi(self) -> float:
        """The current overdispersion estimate (0 = Poisson)."""
        return self._dispersion.phi

    def expected(self, ts: datetime) -> float:
        """The usual count for the bucket at `ts`, from the buckets seen so far."""
        return self.baseline.expected(ts)

    def update(self, ts: datetime, value: float) -> float:
        return self.step(ts, value).score

    def step(self, ts: datetime, value: float) -> Reading:
        cfg = self.config
        x = float(value)
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"a count must be a finite number >= 0 (got {value!r} at {ts})")
        if self._last is not None and ts <= self._last:
            raise ValueError(f"rows must come in time order ({ts} after {self._last})")
        self._last = ts
        self.rows += 1
        warming = self.rows <= self._warmup

        usual = self.baseline.expected(ts)
        self._values.append(x)
        self._usuals.append(usual)
        c = cfg.pseudo_count

        # count-aware surprise at one bucket and over the last few; the larger drives the reading
        surprise = observed = expected = None
        scale = 1
        for k in self._scales:
            if k > len(self._values):
                continue
            s_sum = x if k == 1 else sum(itertools.islice(reversed(self._values), k))
            m_sum = usual if k == 1 else sum(itertools.islice(reversed(self._usuals), k))
            this = math.log((s_sum + c) / (m_sum + c))
            if surprise is None or this > surprise:
                surprise, observed, expected, scale = this, s_sum, m_sum, k
        assert surprise is not None and observed is not None and expected is not None
        phi = self._dispersion.phi
        z = anscombe_z(observed, expected) / math.sqrt(1.0 + phi * expected / scale)

        # novelty against this brand's own history
        raw = surprise
        record = self._record.value()
        if record is not None:
            raw += cfg.record_weight * (surprise - record)
        routine = self._routine.value()
        if routine is not None:
            raw += cfg.routine_weight * (surprise - routine)
        peak = self._peaks.value()
        if peak is not None:
            raw += cfg.peak_weight * math.log((x + 1.0) / (peak + 1.0))

        guarded = observed < cfg.min_count or z < cfg.significance
        if guarded:
            raw = min(raw, cfg.alert_level - cfg.guard_margin)
        # the lane speaks where the main path is blind: where the usual count over its burst scale
        # is below (a multiple of) the pseudo-count, which then sets the surprise instead of the data
        main_usual = sum(itertools.islice(reversed(self._usuals), self._scales[-1]))
        blind = cfg.tail_blind_below is None or main_usual < cfg.tail_blind_below * c
        tail = self._tail(ts, x, blind)
        t_raw = None
        if tail is not None:
            evidence, t_observed, t_expected = tail
            lifted = cfg.alert_level + (evidence - cfg.tail_significance) * cfg.tail_slope
            if evidence >= cfg.tail_significance and lifted > raw:
                t_raw = lifted

        # the lane's alert opens a refractory period of its own, which damps the lane but not the
        # main path: a small burst that grows into a spike the main path sees alerts again, once
        def scored(r: float) -> float:
            return 0.0 if warming else _logistic((r - cfg.alert_level) / cfg.temperature)

        main_out = scored(raw)
        lane_out = 0.0 if t_raw is None else scored(t_raw)
        in_refractory = self._refractory_left > 0
        lane_resting = self._tail_refractory_left > 0
        if in_refractory:
            self._refractory_left -= 1
        if lane_resting:
            self._tail_refractory_left -= 1
        if not cfg.tail_own_refractory:
            lane_resting = in_refractory
        main_damped = main_out * cfg.refractory_damp if in_refractory else main_out
        lane_damped = lane_out * cfg.refractory_damp if in_refractory or lane_resting else lane_out
        if not in_refractory and max(main_out, 0.0 if lane_resting else lane_out) >= 0.5:
            if main_out >= 0.5 or not cfg.tail_own_refractory:
                self._refractory_left = self._refractory_rows
            else:
                self._tail_refractory_left = self._refractory_rows
        out = max(main_damped, lane_damped)
        if t_raw is not None and lane_damped > main_damped:
            raw, guarded, observed, expected = t_raw, False, t_observed, t_expected
            in_refractory = in_refractory or lane_resting

        # learn from this bucket (after scoring it); warm-up surprises use a baseline of a few rows
        self.baseline.add(ts, x)
        self._dispersion.add(anscombe_z(x, usual), usual)
        self._peaks.add(x)
        self._record.add(0.0 if warming else surprise)
        self._routine.add(ts, None if warming else surprise)
        if self._rate is not None:
            self._rate.add(ts, x)
        ratio = (observed + c) / (expected + c)
        return Reading(out, observed, expected, ratio, z, raw, guarded and not warming, in_refractory)

    def _tail(self, ts: datetime, x: float, blind: bool = True) -> tuple[float, float, float] | None:
        """(-log10 p, observed, usual) of the most surprising 1-4 hour window ending here, on a
        quiet series with enough whole days; None where the lane does not apply."""
        if self._rate is None:
            return None
        cfg = self.config
        usual = self._rate.expected(ts)
        counts, usuals = self._tail_counts, self._tail_usuals
        for i, k in enumerate(self._tail_scales):  # running window sums: O(scales) a bucket
            if len(counts) >= k:
                self._tail_sums[i] -= counts[-k]
                self._tail_means[i] -= usuals[-k]
            self._tail_sums[i] += x
            self._tail_means[i] += usual
        counts.append(x)
        usuals.append(usual)
        if self._rate.days < cfg.tail_min_days or not blind:
            return None
        if cfg.tail_max_rate is not None and self._rate.per_hour_rate() > cfg.tail_max_rate:
            return None
        best: tuple[float, float, float] | None = None
        floor_per_bucket = cfg.tail_floor_rate / self._rate.per_hour
        for i, k in enumerate(self._tail_scales):
            if len(counts) < k:
                continue
            observed = self._tail_sums[i]
            expected = max(self._tail_means[i], floor_per_bucket * k)
            if observed < cfg.tail_min_count or observed < cfg.tail_min_ratio * expected:
                continue
            alpha = self._rate.alpha(self._tail_hours[i])
            if cfg.tail_predictive:
                # the usual count is itself estimated, from the posts of about `days` such windows: a
                # gamma posterior for the rate makes the window's count negative-binomial with a
                # further 1 / posts of dispersion (the predictive distribution, not a plug-in)
                alpha += 1.0 / (1.0 + expected * self._rate.pooled_days)
            p = nb_sf(observed, expected, alpha)
            evidence = 350.0 if p <= 0.0 else -math.log10(p)
            if best is None or evidence > best[0]:
                best = (evidence, observed, expected)
        return best


def _median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def infer_bucket(timestamps: Sequence[datetime], default: timedelta = timedelta(minutes=5)) -> timedelta:
    """The most common spacing among the first rows (the series' bucket length)."""
    gaps: dict[timedelta, int] = {}
    for a, b in zip(timestamps[:200], timestamps[1:201]):
        if b > a:
            gaps[b - a] = gaps.get(b - a, 0) + 1
    return max(gaps, key=lambda g: (gaps[g], -g.total_seconds())) if gaps else default


def score_series(rows: Iterable[tuple[datetime, float]], config: DetectorConfig | None = None,
                 bucket: timedelta | None = None) -> list[float]:
    """Anomaly scores in [0, 1] for (timestamp, count) rows in time order, each from that row and
    the rows before it. `bucket` defaults to the rows' most common spacing."""
    rows = list(rows)
    if config is None:
        config = DetectorConfig()
    step = bucket or infer_bucket([t for t, _ in rows], config.bucket)
    if step != config.bucket:
        config = replace(config, baseline=replace(config.baseline, bucket=step))
    detector = Detector(config)
    return [detector.update(t, v) for t, v in rows]


def seasonal_score(series: Sequence[float], size: int, end: datetime,
                   bucket: timedelta = timedelta(minutes=5), usable: int | None = None,
                   config: BaselineConfig | None = None) -> Spike:
    """`score` with the seasonal baseline: the last `size` buckets (ending at `end`) against the
    usual count for those very hours, learned causally from the buckets before them.

    The series is the bucket counts ending at `end` (oldest first); only the last `usable`
    buckets hold real history. `usual` is the sum of the expected counts of the window's buckets,
    each predicted from the buckets before the window (the window itself is not learned from, so
    a spike cannot lift its own baseline). Before `season_min_days` of history the shape is 1 and
    this is the robust trailing level, like `score`.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    cfg = replace(config or BaselineConfig(), bucket=bucket)
    series = list(series)
    if usable is not None:
        series = series[max(0, len(series) - usable):]
    history, window = series[:-size], series[-size:]
    start = end - bucket * len(series)
    model = SeasonalBaseline(cfg)
    for i, value in enumerate(history):
        model.add(start + bucket * i, float(value))
    level_now = model.level()
    usual = 0.0
    for j in range(len(window)):
        usual += level_now * model.shape(start + bucket * (len(history) + j))
    observed = float(sum(window))
    ratio = observed / max(usual, 1.0)
    return Spike(observed, usual, ratio, anscombe_z(observed, usual), len(history) // size)
