"""new_term: a word or #hashtag never seen with the brand in the lookback, now frequent.

A competitor's launch brings a product name nobody used before ("TheraNow Teen"); a crisis
brings its own vocabulary ("leak", "#deletemindful"). Terms are words of three letters or
more and hashtags (see `bot.vocab.terms_of`), minus stopwords and the brand's own query words.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator

from bot import vocab
from bot.durations import Duration
from bot.kinds.base import (MAX_COUNT, Context, KindOptions, Trigger, describe, doubled, platform_mix, query_words,
                            sparkline_series)
from bot.models import Finding, Post

name = "new_term"


class Options(KindOptions):
    """Fire when a term absent from the brand's mentions over `lookback` appears in `min_mentions` of them."""

    window: Duration = Field(timedelta(hours=1), description="The window in which the term must be frequent")
    lookback: Duration = Field(timedelta(days=7), description="The term must not occur in the brand's mentions "
                               "over this period before the window")
    min_mentions: int = Field(10, ge=2, le=MAX_COUNT, description="Mentions in the window that hold the term")
    min_authors: int = Field(5, ge=1, le=MAX_COUNT, description="Distinct authors of those mentions")
    hashtags_only: bool = Field(False, description="Only #hashtags count as terms")
    ignore: list[str] = Field(default_factory=list, description="Terms never to report (lower case; #tags with #)")
    min_history: Duration | None = Field(None, description="History the brand needs before the rule may fire; "
                                         "default: the lookback, at most 24h")

    @model_validator(mode="after")
    def _sane(self) -> Options:
        if self.lookback < self.window:
            raise ValueError("lookback must be at least as long as window")
        return self


def _learning(options: Options) -> timedelta:
    return options.min_history if options.min_history is not None else min(options.lookback, timedelta(hours=24))


_SKIP: dict[tuple[int, int], tuple[Options, Any, frozenset[str]]] = {}


def _skip(options: Options, brand: Any) -> frozenset[str]:
    """The terms never reported for this rule and brand (its ignore list, the brand's own query
    words), worked out once per rule and brand rather than on every check."""
    hit = _SKIP.get((id(options), id(brand)))
    if hit is None or hit[0] is not options or hit[1] is not brand:
        if len(_SKIP) > 10_000:
            _SKIP.clear()
        words = frozenset(options.ignore) | {w.lower() for w in query_words(brand.query)}
        hit = _SKIP[(id(options), id(brand))] = (options, brand, words)
    return hit[2]


def check(options: Options, ctx: Context) -> Trigger | None:
    history_buckets = ctx.usable_buckets()
    if history_buckets * vocab.BUCKET < _learning(options) + options.window:
        return None
    start = ctx.end - options.window
    if ctx.totals(start)[0] < options.min_mentions:
        return None  # too few mentions for any term to be frequent
    index = vocab.index_for(ctx.history, ctx.brand.key, ctx.platforms, start - options.lookback, ctx.end,
                            options.hashtags_only)
    lo, s, e = vocab.epoch(start - options.lookback), vocab.epoch(start), vocab.epoch(ctx.end)
    novel = getattr(ctx.history, "novel_terms", None)  # a backtest's history knows where terms start
    if novel is not None and not novel(ctx.brand.key, ctx.platforms, options.hashtags_only, s - lo, s, e):
        return None  # no term of the window is new over the lookback: none can be fresh
    counts = index.window(s, e)
    skip = _skip(options, ctx.brand)
    candidates = [(n, t) for t, n in counts.items() if n >= options.min_mentions and t not in skip
                  and t.lstrip("#") not in skip and (t.startswith("#") or not options.hashtags_only)]
    fresh = sorted(((n, t) for n, t in candidates if not index.seen(t, lo, s)), reverse=True)
    if not fresh:
        return None
    authors = _authors(ctx, start, [t for _n, t in fresh])
    found = [(n, t) for n, t in fresh if authors.get(t, 0) >= options.min_authors]
    if not found:
        return None
    return Trigger(found[0][0], 0.0, tuple((t, n, authors[t]) for n, t in found))


def _authors(ctx: Context, start, terms: list[str]) -> dict[str, int]:
    wanted = set(terms)
    who: dict[str, set] = {t: set() for t in terms}
    for sm in ctx.history.mentions(ctx.brand.key, start, ctx.end, platforms=ctx.platforms, order="time"):
        for t in vocab.raw_terms(sm.mention.full_text) & wanted:
            who[t].add((sm.mention.platform, sm.mention.author))
    return {t: len(a) for t, a in who.items()}


def worse(options: Options, level: float | None, observed: float, by: float | None = None) -> bool:
    return doubled(level, observed, by)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    start = ctx.end - options.window
    found = trigger.detail
    term, count, authors = found[0]
    span = describe(options.window)
    posts = [sm for sm in ctx.history.mentions(ctx.brand.key, start, ctx.end, platforms=ctx.platforms, order="reach")
             if term in vocab.raw_terms(sm.mention.full_text)]
    platforms: dict[str, int] = {}
    for sm in posts:
        platforms[sm.mention.platform] = platforms.get(sm.mention.platform, 0) + 1
    others = ", ".join(f"{t} ({n})" for t, n, _a in found[1:6])
    return Finding(
        group=ctx.group_key,
        title=f"New term: {ctx.label}, '{term}' in {count} posts",
        reason=(f"'{term}' appears in {count} mentions by {authors} authors in the last {span}, and in none of "
                f"{ctx.label}'s mentions over the {describe(options.lookback)} before (rule: at least "
                f"{options.min_mentions} mentions, {options.min_authors} authors)."),
        observed=count,
        usual=0.0,
        window_start=start,
        window_end=ctx.end,
        facts=(
            ("New term", term),
            (f"Mentions with it ({span})", str(count)),
            ("Unique authors", str(authors)),
            ("Other new terms", others or "none"),
            ("Platforms", platform_mix(platforms)),
        ),
        posts=tuple(Post.of(sm) for sm in posts[:5]),
        terms=tuple(t for t, _n, _a in found[:5]),
        series=sparkline_series(ctx),
    )


def vector(options: Options, frame):
    """Which steps of a backtest `check` could fire at (see bot/kinds/vectors.py); the real
    check decides those. Besides its history and count guards, a fresh term at a step must
    have its first occurrence in the window start anew over the lookback (a `novel` event),
    and every occurrence in the window lies within one window of that event: so events whose
    term occurs fewer than `min_mentions` times in the window after them are dropped first."""
    import numpy as np

    from bot.kinds.vectors import Vector, micros, seconds_back

    steps = frame.steps
    gate = frame.usable() * micros(vocab.BUCKET) >= micros(_learning(options) + options.window)
    gate &= frame.totals("count", options.window) >= options.min_mentions
    platforms = tuple(frame.platforms) if frame.platforms else None
    index = frame.history.term_index(frame.brand.key, platforms, options.hashtags_only)
    lookback = -seconds_back(options.lookback)
    width = -seconds_back(options.window)
    events = []
    for term, where in index.occurs.items():
        arr = np.frombuffer(where, dtype=np.int64) if len(where) else np.zeros(0, dtype=np.int64)
        if not len(arr):
            continue
        starts = np.flatnonzero(np.concatenate(([True], np.diff(arr) > lookback)))
        for j in starts.tolist():
            b = int(arr[j])
            stop = int(np.searchsorted(arr, b + width, "left"))
            total = 0
            for bucket in arr[j:stop].tolist():
                total += index.buckets.get(bucket, {}).get(term, 0)
                if total >= options.min_mentions:
                    events.append(b)
                    break
    ev = np.unique(np.asarray(events, dtype=np.int64))
    end = steps.end_s
    start = end + seconds_back(options.window)
    strong = np.searchsorted(ev, end, "left") > np.searchsorted(ev, start, "left")
    return Vector(np.zeros(frame.K, dtype=bool), None, gate & strong, "prefiltered (new terms checked where one appears)")
