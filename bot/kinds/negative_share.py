"""negative_share: the share of negative mentions over a window, absolute or against usual.

A ratio on few mentions is noise, so `min_mentions` always applies.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from bot.durations import Duration
from bot.kinds.base import (MAX_COUNT, Context, KindOptions, Trigger, describe, gained, platform_mix, sparkline_series,
                            terms_driving, top_posts)
from bot.models import Finding

name = "negative_share"


class Options(KindOptions):
    """Fire when negative mentions make up too large a share of the window."""

    window: Duration = Field(timedelta(hours=3), description="The window whose share is measured")
    above: float | None = Field(0.5, gt=0, lt=1, description="Fire when the share is at least this (0-1)")
    rise: float | None = Field(None, gt=0, lt=1, description="...and at least this many points above usual")
    baseline: Duration = Field(timedelta(days=7), description="How far back the usual share is taken from")
    min_mentions: int = Field(20, ge=1, le=MAX_COUNT,
                              description="Never fire on fewer mentions than this in the window")

    @model_validator(mode="after")
    def _something_to_compare(self) -> Options:
        if self.above is None and self.rise is None:
            raise ValueError("set 'above' (an absolute share) or 'rise' (points above usual), or both")
        return self


def check(options: Options, ctx: Context) -> Trigger | None:
    start = ctx.end - options.window
    count, negative, _positive = ctx.totals(start)
    if count < options.min_mentions:
        return None
    share = negative / count
    if options.above is not None and share < options.above:
        return None
    before_count, before_negative, _ = ctx.totals(start - options.baseline, start)
    usual = before_negative / before_count if before_count else 0.0
    if options.rise is not None and (before_count < options.min_mentions or share - usual < options.rise):
        return None
    return Trigger(share, usual)


WORSE_BY = "points"


def worse(options: Options, level: float | None, observed: float, by: float | None = None) -> bool:
    """Ten more points (or `by`) of negative share than the alert last reported."""
    return gained(level, observed, by)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    start = ctx.end - options.window
    stats = ctx.history.stats(ctx.brand.key, start, ctx.end, platforms=ctx.platforms)
    before = ctx.history.stats(ctx.brand.key, start - options.baseline, start, platforms=ctx.platforms)
    share, usual = stats.negative_share, before.negative_share
    span = describe(options.window)
    threshold = " and ".join(
        part for part in (
            f"at least {options.above:.0%}" if options.above is not None else "",
            f"{options.rise * 100:.0f} points above usual" if options.rise is not None else "",
        ) if part
    )
    return Finding(
        group=ctx.group_key,
        title=f"Negative share: {ctx.label}, {share:.0%} negative (usual {usual:.0%})",
        reason=(f"{stats.negative} of {stats.count} mentions in the last {span} are negative ({share:.0%}), "
                f"against a usual {usual:.0%} over the previous {describe(options.baseline)} "
                f"(rule: {threshold})."),
        observed=round(share, 4),
        usual=round(usual, 4),
        window_start=start,
        window_end=ctx.end,
        facts=(
            (f"Negative share ({span})", f"{share:.0%}"),
            ("Usual share", f"{usual:.0%}"),
            ("Negative mentions", f"{stats.negative} of {stats.count}"),
            ("Unique authors", str(stats.authors)),
            ("Platforms", platform_mix(stats.platforms)),
        ),
        posts=top_posts(ctx, start, "negative"),
        terms=terms_driving(ctx, start, options.baseline, "negative"),
        series=sparkline_series(ctx, "negative"),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest: four prefix-sum differences and the same divisions
    (see bot/kinds/vectors.py)."""
    import numpy as np

    from bot.kinds.vectors import Vector, near

    count = frame.totals("count", options.window)
    negative = frame.totals("negative", options.window)
    before_count = frame.totals("count", options.window + options.baseline, options.window)
    before_negative = frame.totals("negative", options.window + options.baseline, options.window)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(count > 0, negative / np.maximum(count, 1), 0.0)
        usual = np.where(before_count > 0, before_negative / np.maximum(before_count, 1), 0.0)
    holds = count >= options.min_mentions
    unsure = np.zeros(frame.K, dtype=bool)
    if options.above is not None:
        holds &= share >= options.above
        unsure |= near(share, options.above)
    if options.rise is not None:
        holds &= (before_count >= options.min_mentions) & (share - usual >= options.rise)
        unsure |= near(share - usual, options.rise)
    return Vector(holds, share, (count >= options.min_mentions) & unsure)
