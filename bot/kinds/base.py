"""What every rule kind shares: its options base, the context a check reads, and the
evidence helpers (top posts, driving terms, platform mix) that make an alert say why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.models import BUCKET, Brand, History, Post, ScoredMention, floor_bucket
from bot.query import Query
from bot.terms import driving_terms

SPARKLINE_SPAN = timedelta(hours=24)


@dataclass(frozen=True)
class Trigger:
    """A check's cheap answer: the condition holds, with the numbers it saw.

    `explain` turns it into a full Finding (top posts, driving terms, sparkline) only when
    an alert is actually raised, so a rule that stays firing for hours costs little.
    """

    observed: float
    usual: float
    detail: Any = None


class KindOptions(BaseModel):
    """Base of each kind's options block: unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Context:
    """Everything a check may read. The history is passed in; a check does no I/O itself."""

    brand: Brand
    now: datetime
    history: History
    platforms: tuple[str, ...] | None = None

    @property
    def end(self) -> datetime:
        """Windows end at the last whole bucket, so a half-filled bucket never looks like a drop."""
        return floor_bucket(self.now)

    def series(self, span: timedelta, sentiment: str | None = None) -> list[int]:
        return self.history.series(self.brand.key, self.end - span, self.end, sentiment=sentiment,
                                   platforms=self.platforms)

    def usable_buckets(self) -> int:
        """How many buckets of real history lie before `end` (0 before any data)."""
        first = self.history.first_seen(self.brand.key)
        if first is None or first >= self.end:
            return 0
        return int((self.end - floor_bucket(first)) / BUCKET)


def buckets(span: timedelta) -> int:
    return max(1, int(span / BUCKET))


def top_posts(ctx: Context, start: datetime, sentiment: str | None = None, n: int = 5) -> tuple[Post, ...]:
    found = ctx.history.mentions(ctx.brand.key, start, ctx.end, sentiment=sentiment, platforms=ctx.platforms,
                                 limit=n, order="reach")
    return tuple(Post.of(sm) for sm in found)


def terms_driving(ctx: Context, start: datetime, baseline: timedelta, sentiment: str | None = None,
                  extra: list[ScoredMention] | None = None) -> tuple[str, ...]:
    """Terms frequent in the window and rare in the baseline before it."""
    window = extra if extra is not None else ctx.history.mentions(
        ctx.brand.key, start, ctx.end, sentiment=sentiment, platforms=ctx.platforms, limit=500, order="time")
    before = ctx.history.mentions(ctx.brand.key, start - baseline, start, platforms=ctx.platforms,
                                  limit=1000, order="time")
    brand_words = _query_words(ctx.brand.query)
    return driving_terms([sm.mention.full_text for sm in window], [sm.mention.full_text for sm in before],
                         exclude=brand_words)


def _query_words(query: Query) -> list[str]:
    words: list[str] = []
    for term in query.terms():
        text = str(term).strip('"#@*')
        words.extend(text.split())
    return words


def platform_mix(counts: dict[str, int]) -> str:
    return " · ".join(f"{p} {n}" for p, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def sparkline_series(ctx: Context, sentiment: str | None = None) -> tuple[int, ...]:
    return tuple(ctx.series(SPARKLINE_SPAN, sentiment))


def describe(span: timedelta) -> str:
    from bot.durations import format_duration

    return format_duration(span)
