"""Which terms a brand's mentions use, bucket by bucket: what `new_term` reads.

`terms_of(text)` is the one tokenizer (words of three letters or more and #hashtags, minus
stopwords). A `TermIndex` keeps, for one brand (and platform filter), the term counts of each
5-minute bucket and, per term, the buckets it occurs in, so "how often is it used in this
window" and "was it seen in the lookback before" are cheap. `index_for` keeps one up to date
over any History (the Store in the daemon): buckets whose mention count changed since the
last look (late arrivals) are read again. A backtest's MemHistory builds its own in one pass.
"""

from __future__ import annotations

import re
import sys
import weakref
from array import array
from bisect import bisect_left, insort
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable

from bot.models import BUCKET, floor_bucket
from bot.query import fold
from bot.terms import STOPWORDS

_WORD = re.compile(r"#?\w+(?:['’](?!s\b)\w+)*")  # a possessive 's is left out
_TAG = re.compile(r"#\w+(?:['’](?!s\b)\w+)*")
STEP = int(BUCKET.total_seconds())


def terms_of(text: str, hashtags_only: bool = False) -> set[str]:
    """The distinct terms of a text: lower-case words (3+ characters, not only digits, not
    stopwords; a possessive 's left out) and #hashtags."""
    return {t for t in raw_terms(text, hashtags_only) if is_term(t)}


def raw_terms(text: str, hashtags_only: bool = False) -> set[str]:
    """The distinct candidate tokens of a text, before `is_term` filters them."""
    if hashtags_only and "#" not in text:
        return set()
    folded = text.lower() if text.isascii() else fold(text)
    return set((_TAG if hashtags_only else _WORD).findall(folded))


def term_tuple(text: str, hashtags_only: bool = False) -> tuple[str, ...]:
    """`terms_of` as a tuple (what a bulk count feeds Counter with, once per distinct text)."""
    return tuple(t for t in raw_terms(text, hashtags_only) if is_term(t))


_IS_TERM: dict[str, bool] = {}


def is_term(raw: str) -> bool:
    known = _IS_TERM.get(raw)
    if known is None:
        tag = raw[:1] == "#"
        word = raw[1:] if tag else raw
        known = not (len(word) < 3 or word.isdigit() or word in STOPWORDS)
        if len(_IS_TERM) < 1_000_000:
            _IS_TERM[sys.intern(raw)] = known
    return known


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


class TermIndex:
    """Term counts per bucket, and the buckets each term occurs in."""

    def __init__(self, hashtags_only: bool = False) -> None:
        self.hashtags_only = hashtags_only
        self.buckets: dict[int, Counter] = {}  # bucket start (epoch s) -> term -> mentions holding it
        self.sizes: dict[int, int] = {}  # bucket start -> mentions read into it
        self.occurs: dict[str, array] = {}  # term -> sorted bucket starts where it occurs
        self._window: tuple[int, int, Counter] | None = None

    def put(self, bucket: int, texts: Iterable[str]) -> None:
        """(Re)place one bucket's mentions."""
        if bucket in self.buckets:
            self._drop(bucket)
        raw: Counter = Counter()
        n = 0
        for text in texts:
            n += 1
            raw.update(raw_terms(text, self.hashtags_only))
        self.put_counts(bucket, n, raw)

    def put_counts(self, bucket: int, size: int, raw: Counter) -> None:
        """(Re)place one bucket from raw token counts (see `raw_terms`), as `put` would build them."""
        self.put_terms(bucket, size, Counter({t: c for t, c in raw.items() if is_term(t)}))

    def put_terms(self, bucket: int, size: int, counts: Counter) -> None:
        """(Re)place one bucket from term counts already filtered by `is_term` (`term_tuple`'s)."""
        if bucket in self.buckets:
            self._drop(bucket)
        self.buckets[bucket], self.sizes[bucket] = counts, size
        for term in counts:
            where = self.occurs.get(term)
            if where is None:
                self.occurs[term] = array("q", [bucket])
            elif where[-1] < bucket:
                where.append(bucket)
            else:
                insort(where, bucket)
        if self._window is not None and self._window[0] <= bucket < self._window[1]:
            self._window = None

    def _drop(self, bucket: int) -> None:
        for term in self.buckets.pop(bucket):
            where = self.occurs[term]
            i = bisect_left(where, bucket)
            if i < len(where) and where[i] == bucket:
                where.pop(i)
        self.sizes.pop(bucket, None)
        if self._window is not None and self._window[0] <= bucket < self._window[1]:
            self._window = None

    def forget_before(self, bucket: int) -> None:
        """Free the per-bucket counts before `bucket` (the occurrences stay)."""
        for old in [b for b in self.buckets if b < bucket]:
            del self.buckets[old]

    def window(self, start: int, end: int) -> Counter:
        """Term counts over the buckets in [start, end); slides from the last answer when it can."""
        cached = self._window
        if cached is not None and cached[0] <= start < cached[1] <= end:
            counts = Counter(cached[2])  # copy: callers may keep the last one
            for b in range(cached[0], start, STEP):
                counts.subtract(self.buckets.get(b, ()))
            for b in range(cached[1], end, STEP):
                counts.update(self.buckets.get(b, {}))
            counts = +counts  # drops zeros
        else:
            counts = Counter()
            for b in range(start, end, STEP):
                counts.update(self.buckets.get(b, {}))
        self._window = (start, end, counts)
        return counts

    def seen(self, term: str, start: int, end: int) -> bool:
        """Whether `term` occurs in any bucket in [start, end)."""
        where = self.occurs.get(term)
        if not where:
            return False
        i = bisect_left(where, start)
        return i < len(where) and where[i] < end


_INDEXES: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
RECHECK = timedelta(hours=2)  # buckets younger than this are compared one by one for late arrivals


def index_for(history: Any, brand: str, platforms: tuple[str, ...] | None, start: datetime,
              end: datetime, hashtags_only: bool = False) -> TermIndex:
    """A TermIndex covering [start, end) for this history, brand and platforms, brought up to date."""
    own = getattr(history, "term_index", None)
    if own is not None:
        return own(brand, platforms, hashtags_only)
    try:
        per_history = _INDEXES.setdefault(history, {})
    except TypeError:  # not weak-referenceable: no cache
        per_history = {}
    index = per_history.setdefault((brand, platforms, hashtags_only), TermIndex(hashtags_only))
    start, end = floor_bucket(start), floor_bucket(end)
    recent = max(start, end - RECHECK)
    counts = history.series(brand, recent, end, platforms=platforms)
    stale = [epoch(recent) + i * STEP for i, n in enumerate(counts) if index.sizes.get(epoch(recent) + i * STEP, 0) != n]
    if start < recent:
        totals = getattr(history, "totals", None)
        older = (totals(brand, start, recent, platforms=platforms)[0] if totals is not None
                 else sum(history.series(brand, start, recent, platforms=platforms)))
        known = sum(n for b, n in index.sizes.items() if epoch(start) <= b < epoch(recent))
        if older != known:
            series = history.series(brand, start, recent, platforms=platforms)
            stale += [epoch(start) + i * STEP for i, n in enumerate(series)
                      if index.sizes.get(epoch(start) + i * STEP, 0) != n]
    if stale:
        lo = datetime.fromtimestamp(min(stale), tz=end.tzinfo)
        hi = datetime.fromtimestamp(max(stale) + STEP, tz=end.tzinfo)
        wanted = set(stale)
        texts: dict[int, list[str]] = {b: [] for b in wanted}
        for sm in history.mentions(brand, lo, hi, platforms=platforms, order="time"):
            b = epoch(floor_bucket(sm.mention.created_at))
            if b in wanted:
                texts[b].append(sm.mention.full_text)
        for b in sorted(wanted):
            index.put(b, texts[b])
    index.forget_before(epoch(start) - STEP * 288 * 31)  # keep memory bounded on a long-running daemon
    return index
