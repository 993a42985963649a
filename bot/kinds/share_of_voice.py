"""share_of_voice: a brand's share of the conversation against others jumps.

For a competitor rule, the share is the competitor's mentions over the competitor's and our
brand's together: a launch or a campaign shows as a jump against its usual share.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from bot.durations import Duration
from bot.kinds.base import (MAX_COUNT, Context, KindOptions, Trigger, describe, gained, sparkline_series,
                            terms_driving, top_posts)
from bot.models import Finding

name = "share_of_voice"


class Options(KindOptions):
    """Fire when the brand's share of (its mentions + the `versus` brands' mentions) jumps."""

    versus: list[str] | None = Field(None, description="Brand keys to compare against; default: every kind: brand "
                                     "brand the rule does not name")
    window: Duration = Field(timedelta(hours=1), description="The window whose share is measured")
    baseline: Duration = Field(timedelta(days=7), description="How far back the usual share is taken from")
    above: float | None = Field(None, gt=0, lt=1, description="Fire when the share is at least this (0-1)")
    rise: float | None = Field(0.2, gt=0, lt=1, description="...and at least this many points above usual (0-1)")
    min_total: int = Field(30, ge=1, le=MAX_COUNT,
                           description="Never fire on fewer mentions of all the brands together")
    min_mentions: int = Field(10, ge=1, le=MAX_COUNT, description="Never fire on fewer mentions of the brand itself")

    @model_validator(mode="after")
    def _something_to_compare(self) -> Options:
        if self.above is None and self.rise is None:
            raise ValueError("set 'above' (an absolute share) or 'rise' (points above usual), or both")
        if self.baseline < self.window:
            raise ValueError("baseline must be at least as long as window")
        return self


def _share(ctx: Context, options: Options, start, end) -> tuple[int, int]:
    own = ctx.totals(start, end)[0]
    others = sum(ctx.totals(start, end, brand=key)[0] for key in options.versus or ())
    return own, own + others


def check(options: Options, ctx: Context) -> Trigger | None:
    if not options.versus:
        return None
    start = ctx.end - options.window
    own, total = _share(ctx, options, start, ctx.end)
    if own < options.min_mentions or total < options.min_total:
        return None
    share = own / total
    if options.above is not None and share < options.above:
        return None
    usual_own, usual_total = _share(ctx, options, start - options.baseline, start)
    usual = usual_own / usual_total if usual_total else 0.0
    if options.rise is not None and (usual_total < options.min_total or share - usual < options.rise):
        return None
    return Trigger(round(share, 4), round(usual, 4), (own, total, usual_own, usual_total))


WORSE_BY = "points"


def worse(options: Options, level: float | None, observed: float, by: float | None = None) -> bool:
    """Ten more points (or `by`) of share than the alert last reported."""
    return gained(level, observed, by)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    own, total, usual_own, usual_total = trigger.detail
    start = ctx.end - options.window
    span = describe(options.window)
    versus = ", ".join(options.versus or ())
    return Finding(
        group=ctx.group_key,
        title=f"Share of voice: {ctx.label} at {trigger.observed:.0%} against {versus} (usual {trigger.usual:.0%})",
        reason=(f"{own} of {total} mentions in the last {span} ({ctx.brand.key} and {versus}) are of "
                f"{ctx.label}: {trigger.observed:.0%}, against a usual {trigger.usual:.0%} over the previous "
                f"{describe(options.baseline)}."),
        observed=trigger.observed,
        usual=trigger.usual,
        window_start=start,
        window_end=ctx.end,
        facts=(
            (f"Share ({span})", f"{trigger.observed:.0%} ({own} of {total})"),
            ("Usual share", f"{trigger.usual:.0%} ({usual_own} of {usual_total})"),
            ("Compared with", versus),
        ),
        posts=top_posts(ctx, start),
        terms=terms_driving(ctx, start, options.baseline),
        series=sparkline_series(ctx),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest: the brands' window and baseline counts as prefix-sum
    differences (see bot/kinds/vectors.py); the reported share is rounded as `check` rounds it."""
    import numpy as np

    from bot.kinds.vectors import Vector, near

    if not options.versus:
        return Vector(np.zeros(frame.K, dtype=bool), None)

    def share(start, end):
        own = frame.totals("count", start, end)
        others = sum((frame.totals("count", start, end, brand=key) for key in options.versus),
                     np.zeros(frame.K, dtype=np.int64))
        return own, own + others

    own, total = share(options.window, timedelta(0))
    usual_own, usual_total = share(options.window + options.baseline, options.window)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, own / np.maximum(total, 1), 0.0)
        usual = np.where(usual_total > 0, usual_own / np.maximum(usual_total, 1), 0.0)
    gate = (own >= options.min_mentions) & (total >= options.min_total)
    holds = gate.copy()
    unsure = np.zeros(frame.K, dtype=bool)
    if options.above is not None:
        holds &= ratio >= options.above
        unsure |= near(ratio, options.above)
    if options.rise is not None:
        holds &= (usual_total >= options.min_total) & (ratio - usual >= options.rise)
        unsure |= near(ratio - usual, options.rise)
    observed = np.zeros(frame.K, dtype=object)
    for k in np.flatnonzero(holds).tolist():  # Python's round, as check reports it
        observed[k] = round(float(ratio[k]), 4)
    return Vector(holds, observed, gate & unsure)
