"""influencer: a mention by an author with a big audience, or by someone on a watch list.

One post from a health reporter or a celebrity can matter more than a hundred others. Posts
within the window are batched into one digest alert; more of them later update it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.durations import Duration
from bot.errors import QueryError
from bot.kinds.base import (MAX_COUNT, MAX_REACH, Context, KindOptions, MentionSpec, Trigger, authors_list, describe,
                            platform_mix, sentiment_of, sparkline_series, spec_of)
from bot.models import Finding, Post
from bot.privacy import display_handle
from bot.query import parse

name = "influencer"


class Options(KindOptions):
    """Fire when an author reaching at least `min_reach` people, or one of `authors`, mentions the brand."""

    min_reach: int | None = Field(100_000, ge=1, le=MAX_REACH,
                                  description="Followers or subscribers that make an author an "
                                  "influencer; null: only the watch list counts")
    authors: list[str] = Field(default_factory=list, description="Watch list: handles or channel names (no @, "
                               "any case) that count whatever their reach")
    window: Duration = Field(timedelta(hours=1), description="How far back posts are gathered into one digest")
    min_posts: int = Field(1, ge=1, le=MAX_COUNT, description="How many such posts make an alert")
    sentiment: Literal["any", "negative", "neutral", "positive"] = "any"
    query: str | None = Field(None, description="Optional: only posts that also match this query")

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(f"query: {exc} (at character {exc.position + 1})") from None
        return value

    @model_validator(mode="after")
    def _someone(self) -> Options:
        if self.min_reach is None and not self.authors:
            raise ValueError("set min_reach, or a watch list of authors, or both")
        return self


def spec(options: Options) -> MentionSpec:
    return MentionSpec(options.query, sentiment_of(options.sentiment), options.min_reach,
                       authors_list(options.authors))


def specs(options: Options) -> list[MentionSpec]:
    return [spec(options)]


def check(options: Options, ctx: Context) -> Trigger | None:
    found = ctx.count_matching(spec_of(options, spec), ctx.end - options.window)
    if found < options.min_posts:
        return None
    return Trigger(found, 0.0)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    start = ctx.end - options.window
    posts = ctx.matching(spec(options), start)
    span = describe(options.window)
    watched = set(authors_list(options.authors))
    authors: dict[str, int] = {}
    platforms: dict[str, int] = {}
    for sm in posts:
        m = sm.mention
        authors.setdefault(f"{display_handle(m.author, m.platform)} ({m.platform})", m.author_reach)
        platforms[m.platform] = platforms.get(m.platform, 0) + 1
    top = max(posts, key=lambda sm: sm.mention.author_reach) if posts else None
    who = (f"{display_handle(top.mention.author, top.mention.platform)}, {top.mention.author_reach:,} followers"
           if top is not None else "")
    listed = sum(1 for sm in posts if sm.mention.author.lower().lstrip("@") in watched)
    rule = " or ".join(part for part in (
        f"authors with at least {options.min_reach:,} followers" if options.min_reach else "",
        f"{len(watched)} watched authors" if watched else "") if part)
    return Finding(
        group=ctx.group_key,
        title=f"Influencer mention: {ctx.label}, {len(posts)} post{'s' if len(posts) != 1 else ''}"
              + (f" (top: {who})" if who else ""),
        reason=(f"{len(posts)} posts in the last {span} by {len(authors)} authors of note "
                f"({listed} on the watch list; rule: {rule})."),
        observed=len(posts),
        usual=0.0,
        window_start=start,
        window_end=ctx.end,
        facts=(
            (f"Posts ({span})", str(len(posts))),
            ("Authors", ", ".join(f"{a}: {r:,}" for a, r in sorted(authors.items(), key=lambda kv: -kv[1])[:5])),
            ("On the watch list", str(listed)),
            ("Platforms", platform_mix(platforms)),
        ),
        posts=tuple(Post.of(sm) for sm in posts[:5]),
        series=sparkline_series(ctx),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest: the pre-matched posts' times, two sorted searches
    per step (see bot/kinds/vectors.py)."""
    from bot.kinds.vectors import Vector

    found = frame.matched(spec_of(options, spec), options.window)
    return Vector(found >= options.min_posts, found)
