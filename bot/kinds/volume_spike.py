"""volume_spike: a window's mention count far above (or below) its usual level.

With `sentiment: negative` this is the reputation-crisis rule: a negative-volume spike.
Guards keep it quiet when nothing is wrong: a minimum count, a minimum number of distinct
authors (one spam account is not a crisis), a significance test that respects small counts,
and enough history before it may fire at all.

Quiet brands (#18): on a brand mentioned a few times a day, `min_mentions: 10` in an hour asks for
a 20-fold burst. So a window below `min_mentions` (but with at least `QUIET_MIN` mentions) may
still fire when its count is improbable beyond `quiet_significance` (-log10 of the exact
negative-binomial tail probability against the last `QUIET_HISTORY` of windows, `spikes.tail_score`;
6 is one in a million, stricter than the streaming detector's 4, since this test knows no daily
cycle) and at least `factor` times that usual count, once `QUIET_MIN_HISTORY` of history exists.
The distinct-authors guard still applies. `quiet_significance: null` makes `min_mentions` a hard
floor again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot import spikes
from bot.durations import Duration
from bot.kinds.base import (MAX_COUNT, Context, KindOptions, Trigger, buckets, describe, doubled, platform_mix,
                            sparkline_series, terms_driving, top_posts)
from bot.models import BUCKET, Finding

name = "volume_spike"
SEASONAL_AFTER = timedelta(days=3)  # a baseline this long compares each hour with its own usual
QUIET_HISTORY = timedelta(days=7)  # the quiet path's usual count is learned over this (or the baseline)
QUIET_MIN_HISTORY = timedelta(days=3)  # ... once this much history exists
QUIET_MIN = 4  # never fire on fewer mentions than this, however quiet the brand

# sensitivity -> (factor, significance): a preset for people who would rather not pick numbers
SENSITIVITY = {"low": (5.0, 4.0), "medium": (3.0, 3.0), "high": (2.0, 2.0)}


class Options(KindOptions):
    """Fire when the last `window` holds `factor` times the usual count for such a window."""

    window: Duration = Field(timedelta(hours=1), description="The window whose count is compared")
    baseline: Duration = Field(timedelta(hours=24), description="How far back the usual level is taken from")
    factor: float = Field(3.0, gt=0, description="How many times the usual count (up) or below it (down); "
                          "above 1")
    sensitivity: Literal["low", "medium", "high"] | None = Field(
        None, description="Instead of factor and significance: low (5x, z 4), medium (3x, z 3), high (2x, z 2)")
    min_mentions: int = Field(10, ge=1, le=MAX_COUNT,
                              description="Never fire on fewer mentions than this in the window")
    min_authors: int = Field(5, ge=1, le=MAX_COUNT, description="Never fire with fewer distinct authors of the counted "
                             "mentions than this")
    sentiment: Literal["any", "negative", "neutral", "positive"] = "any"
    direction: Literal["up", "down"] = "up"
    significance: float = Field(3.0, ge=0, description="Minimum z-score of the change (Poisson-aware)")
    quiet_significance: float | None = Field(
        6.0, ge=0, description="A window with fewer than min_mentions (but at least 4) mentions still fires when "
        "its count is this improbable against the last 7 days: -log10 of the exact tail probability (6: one in a "
        "million); null: min_mentions is a hard floor")
    min_history: Duration | None = Field(None, description="History needed before the rule may fire; "
                                         "default: the baseline, at most 24h")

    @field_validator("factor")
    @classmethod
    def _above_one(cls, factor: float) -> float:
        if factor <= 1:
            raise ValueError(f"factor must be above 1 (got {factor:g}): it is how many times usual, "
                             "for up or for down")
        return factor

    @model_validator(mode="after")
    def _sane(self) -> Options:
        if self.baseline < self.window:
            raise ValueError("baseline must be at least as long as window")
        if self.sensitivity is not None and {"factor", "significance"} & self.model_fields_set:
            raise ValueError("set sensitivity, or factor and significance, not both")
        return self

    @property
    def thresholds(self) -> tuple[float, float]:
        """(factor, significance) in force."""
        if self.sensitivity is not None:
            return SENSITIVITY[self.sensitivity]
        return self.factor, self.significance


def _learning_time(options: Options) -> timedelta:
    if options.min_history is not None:
        return options.min_history
    return min(options.baseline, timedelta(hours=24))


def _quiet_floor(options: Options) -> int:
    """The fewest mentions a window may fire on: min_mentions, or QUIET_MIN through the quiet path."""
    if options.direction == "up" and options.quiet_significance is not None:
        return min(options.min_mentions, QUIET_MIN)
    return options.min_mentions


def check(options: Options, ctx: Context) -> Trigger | None:
    sentiment = None if options.sentiment == "any" else options.sentiment
    factor, significance = options.thresholds
    if options.direction == "up":  # the cheapest test first: most evaluations stop here
        count, negative, positive = ctx.totals(ctx.end - options.window)
        observed = {"negative": negative, "positive": positive, "neutral": count - negative - positive}.get(
            sentiment, count)
        if observed < options.min_mentions:
            return _quiet(options, ctx, sentiment) if observed >= _quiet_floor(options) else None
    size = buckets(options.window)
    series = ctx.series(options.baseline + options.window, sentiment)
    observed, earlier = spikes.windows(series, size, usable=ctx.usable_buckets())
    if len(earlier) * options.window < _learning_time(options):
        return None  # still learning what usual looks like
    if options.baseline >= SEASONAL_AFTER:  # long enough to learn the hour-of-day shape
        spike = spikes.seasonal_score(series, size, end=ctx.end, bucket=BUCKET, usable=ctx.usable_buckets())
    else:
        spike = spikes.score(observed, earlier)
    if options.direction == "up":
        fires = spike.ratio >= factor and spike.z >= significance
    else:
        fires = (spike.usual >= options.min_mentions and observed * factor <= spike.usual
                 and -spike.z >= significance)
    if not fires:
        return None
    start = ctx.end - options.window
    if options.direction == "up" and ctx.authors(start, sentiment=sentiment) < options.min_authors:
        return None
    return Trigger(spike.observed, spike.usual, spike)


def _quiet(options: Options, ctx: Context, sentiment: str | None) -> Trigger | None:
    """A window under min_mentions: fires only on an exact tail beyond quiet_significance."""
    size = buckets(options.window)
    span = max(QUIET_HISTORY, options.baseline)
    series = ctx.series(span + options.window, sentiment)
    observed, earlier = spikes.windows(series, size, usable=ctx.usable_buckets())
    if len(earlier) * options.window < max(QUIET_MIN_HISTORY, _learning_time(options)):
        return None  # a quiet brand's rate needs days, not hours
    spike = spikes.tail_score(observed, earlier)
    assert spike.tail is not None and options.quiet_significance is not None
    if spike.ratio < options.thresholds[0] or spike.tail < options.quiet_significance:
        return None
    if ctx.authors(ctx.end - options.window, sentiment=sentiment) < options.min_authors:
        return None
    return Trigger(spike.observed, spike.usual, spike)


def worse(options: Options, level: float | None, observed: float, by: float | None = None) -> bool:
    """Up: the window's count doubled (or grew `by` times) since the last report; down: it halved again."""
    if options.direction == "down":
        return level is not None and observed * (by or 2.0) <= level
    return doubled(level, observed, by)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    spike = trigger.detail
    sentiment = None if options.sentiment == "any" else options.sentiment
    start = ctx.end - options.window
    stats = ctx.history.stats(ctx.brand.key, start, ctx.end, platforms=ctx.platforms)
    before = ctx.history.stats(ctx.brand.key, start - options.baseline, start, platforms=ctx.platforms)
    what = f"{sentiment} mentions" if sentiment else "mentions"
    label = {"negative": "Negative spike", "positive": "Positive surge", "neutral": "Volume surge",
             None: "Volume surge"}[sentiment]
    ratio = spike.observed / spike.usual if spike.usual else float(spike.observed)
    if options.direction == "down":
        label = "Volume drop"
        change = f"{spike.usual / max(spike.observed, 1):.1f}x below usual"
    else:
        change = f"{ratio:.1f}x usual"
    span = describe(options.window)
    if spike.tail is not None:  # the quiet path: fewer than min_mentions, but improbable
        rule = (f"rule: at least {options.thresholds[0]:g}x; under {options.min_mentions} mentions, a count this "
                f"high by chance at most 1 in 10^{options.quiet_significance:g}, here 1 in 10^{spike.tail:.1f}")
        over = describe(max(QUIET_HISTORY, options.baseline))
    else:
        rule = f"rule: at least {options.thresholds[0]:g}x and {options.min_mentions} mentions"
        over = describe(options.baseline)
    return Finding(
        group=ctx.group_key,
        title=f"{label}: {ctx.label}, {change}",
        reason=(f"{int(spike.observed)} {what} in the last {span}, against a usual {spike.usual:.1f} "
                f"per {span} over the previous {over} ({rule})."),
        observed=spike.observed,
        usual=round(spike.usual, 2),
        window_start=start,
        window_end=ctx.end,
        facts=(
            (f"Observed ({span})", f"{int(spike.observed)} {what}"),
            (f"Usual ({span})", f"{spike.usual:.1f}"),
            ("Change", change),
            ("Negative share", f"{stats.negative_share:.0%} (usual {before.negative_share:.0%})"),
            ("Mentions", str(stats.count)),
            ("Unique authors", str(stats.authors)),
            ("Platforms", platform_mix(stats.platforms)),
        ),
        posts=top_posts(ctx, start, sentiment),
        terms=terms_driving(ctx, start, options.baseline, sentiment),
        series=sparkline_series(ctx, sentiment),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest (see bot/kinds/vectors.py). The window and the
    earlier windows are prefix-sum differences, the robust level a sort per step; the distinct
    authors guard (up) is left to the real check at the steps where everything else holds. A
    seasonal baseline (>= 3 days) is learned per check: only the count and learning guards are
    vectorised, the real check decides the rest."""
    import numpy as np

    from bot.kinds.vectors import Vector, micros, near

    column = "count" if options.sentiment == "any" else options.sentiment
    factor, significance = options.thresholds
    gate = np.ones(frame.K, dtype=bool)
    quiet = np.zeros(frame.K, dtype=bool)  # under min_mentions: only the real check's quiet path decides
    if options.direction == "up":
        totals = frame.totals(column, options.window)
        gate &= totals >= options.min_mentions
        quiet = (totals >= _quiet_floor(options)) & ~gate
    size = buckets(options.window)
    prefix = frame.prefix(column)
    hi = frame.index(timedelta(0))
    lo = frame.index(options.baseline + options.window)
    earlier_len = np.maximum(0, hi - lo - size)
    usable_earlier = np.maximum(0, frame.usable() - size)
    m = np.minimum(usable_earlier, earlier_len) // size  # how many earlier windows the level uses
    gate &= m * micros(options.window) >= micros(_learning_time(options))
    if options.baseline >= SEASONAL_AFTER:
        return Vector(np.zeros(frame.K, dtype=bool), None, gate | quiet, "prefiltered (seasonal baseline)")
    observed = frame.between(prefix, hi - size, hi)
    widest = int(earlier_len.max()) // size if frame.K else 0
    usual = np.zeros(frame.K)
    if widest:
        j = np.arange(1, widest + 1)
        top = (hi - size)[:, None] - (j - 1)[None, :] * size
        sums = frame.between(prefix, top - size, top)
        sums = np.where(j[None, :] <= m[:, None], sums, np.int64(1) << 40)  # unused windows sort last
        sums.sort(axis=1)
        keep = np.maximum(1, np.ceil(m * 0.9)).astype(np.int64)
        kept = np.cumsum(sums, axis=1)[np.arange(frame.K), np.minimum(keep, widest) - 1]
        usual = np.where(m > 0, kept / keep, 0.0)
    ratio = observed / np.maximum(usual, 1.0)
    z = 2.0 * (np.sqrt(observed + 0.375) - np.sqrt(np.maximum(usual, 0.0) + 0.375))
    unsure = near(ratio, factor) | near(z, significance) | near(-z, significance)
    if options.direction == "up":
        fires = (ratio >= factor) & (z >= significance)
        return Vector(np.zeros(frame.K, dtype=bool), None, (gate & (fires | unsure)) | quiet,
                      "vectorised (authors guard and quiet path checked where the rest holds)")
    low = observed * factor
    unsure |= near(low - usual, 0.0) | near(usual, options.min_mentions)
    fires = (usual >= options.min_mentions) & (low <= usual) & (-z >= significance)
    return Vector(gate & fires, observed, gate & unsure)
