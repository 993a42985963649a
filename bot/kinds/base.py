"""What every rule kind shares: its options base, the group and context a check reads, the
mention filters some kinds count with, and the evidence helpers (top posts, driving terms,
platform mix) that make an alert say why.

A kind module has:

    name                         the YAML key of its block
    Options                      a KindOptions model: the block's options, documented
    check(options, ctx)          cheap: a Trigger (the condition holds, with numbers) or None
    explain(options, ctx, trig)  the Finding an alert shows; run only when an alert is raised
                                 or updated

and optionally:

    GROUPS, DEFAULT_GROUP        what `group_by` may name (default: brand, platform / brand)
    worse(options, level, now, by)  whether a firing alert got worse enough to tell (default: doubled;
                                 `by` is the rule's worse_by, None for the kind's own)
    WORSE_BY                     what worse_by means: "factor" (default: 2 is doubled) or "points"
                                 (a share's: 0.1 is ten points)
    specs(options)               the MentionSpecs it counts with (a backtest pre-matches them)
    references(options, config)  checks that need config.yaml: (key, message, hint, severity)

A check never does I/O itself: it reads `ctx.history`, which the Store implements for the
daemon and `bot.memhistory.MemHistory` for backtests, and the helpers below pick the fast
path a history offers.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict

from bot.models import BUCKET, Brand, History, Post, ScoredMention, floor_bucket
from bot.query import Author, Query, Site, Target, Tokens, author_key, parse, tokenize, uses
from bot.terms import driving_terms

SPARKLINE_SPAN = timedelta(hours=24)
GROUPS = ("brand", "platform")
DEFAULT_GROUP = ("brand",)
# Upper bounds of the kinds' count options, named in their errors (#20): past these a
# threshold can never be met, so it is a typo (1e38), not a setting.
MAX_COUNT = 10_000_000  # posts, authors or failures in one window
MAX_REACH = 10_000_000_000  # followers or subscribers: more people than there are


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
class Group:
    """What one alert is about: a brand, a brand on one platform, or a listener."""

    brand: str | None = None
    platform: str | None = None
    listener: str | None = None

    @property
    def key(self) -> str:
        """The group's part of the fingerprint; a brand alone is just its key."""
        if self.listener is not None:
            return f"listener:{self.listener}"
        return self.brand if self.platform is None else f"{self.brand}/{self.platform}"


@dataclass(frozen=True)
class MentionSpec:
    """Which mentions a kind counts: a query, a sentiment, and who wrote them.

    Who: when `min_reach` or `authors` is set, the author must reach at least `min_reach`
    people OR be one of `authors` (handles, any case, without @); otherwise anyone.
    """

    query: str | None = None
    sentiment: str | None = None
    min_reach: int | None = None
    authors: tuple[str, ...] = ()

    @property
    def parsed(self) -> Query | None:
        return _parsed(self.query) if self.query else None

    def accepts(self, sm: ScoredMention) -> bool:
        m = sm.mention
        if self.sentiment and sm.score.label != self.sentiment:
            return False
        if not self.who(m.author_reach, m.author):
            return False
        return self.parsed is None or self.parsed.match_target(Target.of(m))

    def who(self, reach: int, author: str | None) -> bool:
        if self.min_reach is None and not self.authors:
            return True
        if self.min_reach is not None and (reach or 0) >= self.min_reach:
            return True
        return bool(self.authors) and (author or "").lower().lstrip("@") in self.authors


_PARSED: dict[str, Query] = {}
_TOKENS: "weakref.WeakKeyDictionary[Any, dict[str, Tokens]]" = weakref.WeakKeyDictionary()


def _token_cache(history: Any) -> dict:
    """Tokenized mentions by key, per history: each text is tokenized once, whatever the rules."""
    try:
        return _TOKENS.setdefault(history, {})
    except TypeError:
        return {}


_SPECS: dict[int, tuple[Any, MentionSpec]] = {}


def spec_of(options: Any, build: Any) -> MentionSpec:
    """`build(options)`, made once per options block: a backtest runs a check hundreds of
    thousands of times, and a fresh spec each time costs its construction and its hash."""
    hit = _SPECS.get(id(options))
    if hit is None or hit[0] is not options:
        if len(_SPECS) > 10_000:
            _SPECS.clear()
        hit = _SPECS[id(options)] = (options, build(options))
    return hit[1]


def _parsed(text: str) -> Query:
    query = _PARSED.get(text)
    if query is None:
        query = _PARSED[text] = parse(text)
    return query


@dataclass(frozen=True)
class Context:
    """Everything a check may read. The history is passed in; a check does no I/O itself."""

    brand: Brand | None
    now: datetime
    history: History
    platforms: tuple[str, ...] | None = None
    group: Group | None = None
    end: datetime = None  # type: ignore[assignment]  # set from `now` unless given (an engine computes it once)

    def __post_init__(self) -> None:
        # Windows end at the last whole bucket, so a half-filled bucket never looks like a drop.
        if self.end is None:
            object.__setattr__(self, "end", floor_bucket(self.now))

    @property
    def label(self) -> str:
        """How an alert names its group: "Mindful Health", "Mindful Health on reddit"."""
        group = self.group or Group(self.brand.key if self.brand else None)
        if group.listener is not None:
            return f"listener {group.listener}"
        name = self.brand.name if self.brand else str(group.brand)
        return name if group.platform is None else f"{name} on {group.platform}"

    @property
    def group_key(self) -> str:
        return (self.group or Group(self.brand.key if self.brand else None)).key

    def series(self, span: timedelta, sentiment: str | None = None) -> list[int]:
        return self.history.series(self.brand.key, self.end - span, self.end, sentiment=sentiment,
                                   platforms=self.platforms)

    def usable_buckets(self) -> int:
        """How many buckets of real history lie before `end` (0 before any data)."""
        first = self.history.first_seen(self.brand.key)
        if first is None or first >= self.end:
            return 0
        return int((self.end - floor_bucket(first)) / BUCKET)

    def totals(self, start: datetime, end: datetime | None = None, brand: str | None = None) -> tuple[int, int, int]:
        """(count, negative, positive) of a brand's mentions in [start, end): bucket sums only."""
        key, end = brand or self.brand.key, end or self.end
        fast = getattr(self.history, "totals", None)
        if fast is not None:
            return fast(key, start, end, platforms=self.platforms)
        stats = self.history.stats(key, start, end, platforms=self.platforms)
        return stats.count, stats.negative, stats.positive

    def authors(self, start: datetime, end: datetime | None = None, sentiment: str | None = None) -> int:
        """Distinct authors of the brand's mentions (of one sentiment, or all) in [start, end)."""
        fast = getattr(self.history, "authors", None)
        if fast is not None:
            return fast(self.brand.key, start, end or self.end, platforms=self.platforms, sentiment=sentiment)
        found = self.history.mentions(self.brand.key, start, end or self.end, sentiment=sentiment,
                                      platforms=self.platforms)
        return len({(sm.mention.platform, sm.mention.author) for sm in found})

    def count_matching(self, spec: MentionSpec, start: datetime, end: datetime | None = None) -> int:
        """How many of the brand's mentions in [start, end) `spec` accepts."""
        fast = getattr(self.history, "count_matching", None)
        if fast is not None:
            return fast(self.brand.key, start, end or self.end, spec, platforms=self.platforms)
        rows = getattr(self.history, "mention_rows", None)
        if rows is None:
            return len(self.matching(spec, start, end))
        query, n = spec.parsed, 0
        if query is not None and uses(query, Site):
            return len(self.matching(spec, start, end))  # site: needs the URL, which these rows lack
        cache = _token_cache(self.history)
        for key, _platform, author, reach, label, text, title in rows(self.brand.key, start, end or self.end,
                                                                       platforms=self.platforms):
            if (spec.sentiment and label != spec.sentiment) or not spec.who(reach, author):
                continue
            if query is not None:
                tokens = cache.get(key)
                if tokens is None:
                    if len(cache) > 100_000:
                        cache.clear()
                    tokens = cache[key] = tokenize(f"{title}\n{text}" if title else text)
                if not query.match_target(Target(tokens, author_key(author), _platform)):
                    continue
            n += 1
        return n

    def matching(self, spec: MentionSpec, start: datetime, end: datetime | None = None,
                 limit: int | None = None) -> list[ScoredMention]:
        """The brand's mentions in [start, end) that `spec` accepts, most reached first."""
        fast = getattr(self.history, "matching", None)  # a backtest's history knows them by key
        if fast is not None:
            return fast(self.brand.key, start, end or self.end, spec, platforms=self.platforms, limit=limit)
        found = self.history.mentions(self.brand.key, start, end or self.end, sentiment=spec.sentiment,
                                      platforms=self.platforms, order="reach")
        out = [sm for sm in found if spec.accepts(sm)]
        return out[:limit] if limit else out


def buckets(span: timedelta) -> int:
    return max(1, int(span / BUCKET))


def doubled(level: float | None, observed: float, by: float | None = None) -> bool:
    """The default 'worse': at least `by` times (twice) what the alert last reported."""
    return level is not None and level > 0 and observed >= (by or 2.0) * level


def gained(level: float | None, observed: float, by: float | None = None) -> bool:
    """A share's 'worse': at least `by` (ten) points more than the alert last reported."""
    return level is not None and observed - level >= (0.10 if by is None else by) - 1e-12


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
    brand_words = query_words(ctx.brand.query)
    return driving_terms([sm.mention.full_text for sm in window], [sm.mention.full_text for sm in before],
                         exclude=brand_words)


def query_words(query: Query) -> list[str]:
    words: list[str] = []
    for term in query.terms():
        if isinstance(term, (Author, Site)):
            continue  # who and where, not words of the post
        text = str(term).strip('"#@*')
        words.extend(text.split())
    return words


_query_words = query_words  # the old name


def platform_mix(counts: dict[str, int]) -> str:
    return " · ".join(f"{p} {n}" for p, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def sparkline_series(ctx: Context, sentiment: str | None = None) -> tuple[int, ...]:
    return tuple(ctx.series(SPARKLINE_SPAN, sentiment))


def describe(span: timedelta) -> str:
    from bot.durations import format_duration

    return format_duration(span)


def sentiment_of(value: str) -> str | None:
    return None if value == "any" else value


def authors_list(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({v.strip().lstrip("@").lower() for v in values if v.strip()}))
