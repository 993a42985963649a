"""mention: posts matching a keyword query (crisis words, launch terms, a product name).

Matches within the window are batched into one digest alert rather than one per post; while
the alert is open, twice as many matches as it last reported make an update.
The query is the brand-query language (linear-time matching): no regular expressions.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator

from bot.durations import Duration
from bot.errors import QueryError
from bot.kinds.base import (MAX_COUNT, MAX_REACH, Context, KindOptions, MentionSpec, Trigger, buckets, describe,
                            platform_mix, sparkline_series, spec_of, terms_driving)
from bot.models import Finding, Post
from bot.query import Query, parse

name = "mention"


class Options(KindOptions):
    """Fire when at least `min_matches` of a brand's mentions in the window match `query`."""

    query: str = Field(description='Boolean query as in config.yaml: words, "phrases", #tags, OR, NOT')
    window: Duration = Field(timedelta(hours=1), description="How far back matches are counted")
    min_matches: int = Field(1, ge=1, le=MAX_COUNT, description="How many matching posts make an alert")
    min_reach: int = Field(0, ge=0, le=MAX_REACH,
                           description="Only count posts by authors with at least this many followers "
                           "or subscribers")
    sentiment: Literal["any", "negative", "neutral", "positive"] = "any"
    baseline: Duration = Field(timedelta(hours=24), description="How far back the usual match rate is taken")

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(f"query: {exc} (at character {exc.position + 1})") from None
        return value

    @cached_property
    def parsed(self) -> Query:
        return parse(self.query)


def spec(options: Options) -> MentionSpec:
    return MentionSpec(options.query, None if options.sentiment == "any" else options.sentiment,
                       options.min_reach or None)


def specs(options: Options) -> list[MentionSpec]:
    return [spec(options)]


def check(options: Options, ctx: Context) -> Trigger | None:
    matched = ctx.count_matching(spec_of(options, spec), ctx.end - options.window)
    if matched < options.min_matches:
        return None
    return Trigger(matched, 0.0)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    start = ctx.end - options.window
    matched = ctx.matching(spec(options), start)
    total = ctx.totals(start)[0]
    usual_total = ctx.count_matching(spec(options), start - options.baseline, start)
    usual = usual_total / max(1, buckets(options.baseline) // buckets(options.window))
    span = describe(options.window)
    platforms: dict[str, int] = {}
    for sm in matched:
        platforms[sm.mention.platform] = platforms.get(sm.mention.platform, 0) + 1
    authors = len({(sm.mention.platform, sm.mention.author) for sm in matched})
    return Finding(
        group=ctx.group_key,
        title=f"Keyword match: {ctx.label}, {len(matched)} posts in {span}",
        reason=(f"{len(matched)} of {total} mentions in the last {span} match {options.query} "
                f"(usual {usual:.1f} per {span}; rule: at least {options.min_matches})."),
        observed=len(matched),
        usual=round(usual, 2),
        window_start=start,
        window_end=ctx.end,
        facts=(
            (f"Matching posts ({span})", str(len(matched))),
            (f"Usual ({span})", f"{usual:.1f}"),
            ("Query", options.query),
            ("Unique authors", str(authors)),
            ("Platforms", platform_mix(platforms)),
        ),
        posts=tuple(Post.of(sm) for sm in matched[:5]),
        terms=terms_driving(ctx, start, options.baseline, extra=matched),
        series=sparkline_series(ctx),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest: the pre-matched mention times, two sorted searches
    per step (see bot/kinds/vectors.py)."""
    from bot.kinds.vectors import Vector

    matched = frame.matched(spec_of(options, spec), options.window)
    return Vector(matched >= options.min_matches, matched)
