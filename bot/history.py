"""The read side of mention history: what `harkbot search`, `stats`, `export` and `report` ask.

The questions are shaped here, for a person questioning a large history (a million mentions)
rather than for the rule engine's windows; the SQL is the store's (protocols Search and
Reports in bot/store/protocols.py, on SQLite and PostgreSQL alike). Nothing here writes.

* `search`: the query syntax of bot.query.parse_search (words, "phrases", OR, NOT, prefix*,
  #hashtag, @handle, title:/text:/author:) with filters, newest first or by reach, the
  matches marked with `MARK_OPEN`/`MARK_CLOSE`.
* `iter_rows`: the same filters, every row, oldest first, in chunks: an export of a million
  rows holds one chunk at a time.
* `stats`: per brand and period (hour, day, week), volume, sentiment mix and mean, and share
  of voice from the 5-minute buckets; per platform; top authors (an SQL aggregate), terms and
  hashtags (every stored mention's text read once), exact.
* `alerts` and `top_posts`: what the report quotes.
"""

from __future__ import annotations

import heapq
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Sequence

from bot.models import LABELS, floor_bucket, iso, parse_iso

MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # around each match in Hit.marked_text / marked_title
CHUNK = 2000  # rows per chunk when streaming
EVERY = ("hour", "day", "week")
COLUMNS = ("key", "created_at", "platform", "kind", "author", "author_reach", "engagement", "label", "polarity",
           "brands", "title", "text", "url", "language", "lang", "lang_confidence")


@dataclass(frozen=True)
class Filters:
    """What narrows a search or an export. Empty tuples and None mean "any"."""

    query: str | None = None  # bot.query.parse_search syntax
    brands: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # any case, with or without @
    since: datetime | None = None
    until: datetime | None = None
    min_reach: int | None = None
    langs: tuple[str, ...] = ()  # the `lang` column's codes (bot.lang.platform_code form: 'en', 'und')


@dataclass(frozen=True)
class Row:
    """One stored mention as search and export show it."""

    key: str
    created_at: str  # ISO-8601 UTC, as stored ('2026-03-02T10:05:00Z')
    platform: str
    kind: str
    author: str
    author_reach: int
    engagement: int
    label: str
    polarity: float
    brands: tuple[str, ...]
    title: str
    text: str
    url: str
    language: str | None  # the platform's tag, as it gave it
    lang: str | None = None  # harkbot's (bot.lang.resolve at ingest); None: stored before detection
    lang_confidence: float | None = None

    def as_dict(self) -> dict:
        return {c: list(self.brands) if c == "brands" else getattr(self, c) for c in COLUMNS}

    def flat(self) -> list:
        """The values in COLUMNS order, brands joined with commas (for CSV)."""
        return [",".join(self.brands) if c == "brands" else getattr(self, c) for c in COLUMNS]


@dataclass(frozen=True)
class Hit:
    """A search result: the row, and its title and text with the matches marked."""

    row: Row
    marked_title: str
    marked_text: str


def _row(values: Sequence) -> Row:
    (key, created, platform, kind, author, reach, engagement, label, polarity, brands, title, text, url,
     language, lang, lang_confidence) = values
    return Row(key, created, platform, kind or "post", author or "", reach or 0, engagement or 0, label or "",
               polarity if polarity is not None else 0.0, tuple(sorted(brands.split(","))) if brands else (),
               title or "", text or "", url or "", language, lang,
               None if lang_confidence is None else round(float(lang_confidence), 4))


# -- search ---------------------------------------------------------------------------------


def search(store: Any, filters: Filters, *, sort: str = "time", limit: int = 50) -> list[Hit]:
    """Mentions matching the filters, newest first (`sort="time"`) or by author reach. A query
    that cannot be searched raises StoreError with the syntax to use."""
    if sort not in ("time", "reach"):
        raise ValueError(f"sort must be 'time' or 'reach', not {sort!r}")
    hits = []
    for values, title, text in store.search_hits(filters, sort=sort, limit=limit, marks=(MARK_OPEN, MARK_CLOSE)):
        row = _row(values)
        if not (_well_marked(title) and _well_marked(text)) or _holds_marks(row):
            title, text = row.title, row.text  # posts are hostile input: a marker in one could forge a highlight
        hits.append(Hit(row, title, text))
    return hits


def _holds_marks(row: Row) -> bool:
    return any(mark in row.title or mark in row.text for mark in (MARK_OPEN, MARK_CLOSE))


def _well_marked(text: str) -> bool:
    """Markers alternate open, close: what FTS5 writes into a text that held none of its own."""
    depth = 0
    for ch in text:
        if ch == MARK_OPEN:
            depth += 1
        elif ch == MARK_CLOSE:
            depth -= 1
        if depth not in (0, 1):
            return False
    return depth == 0


def split_marks(marked: str) -> list[tuple[str, bool]]:
    """A marked text as (piece, is_match) pairs, in order."""
    out: list[tuple[str, bool]] = []
    inside, piece = False, []
    for ch in marked:
        if ch in (MARK_OPEN, MARK_CLOSE):
            if piece:
                out.append(("".join(piece), inside))
            piece, inside = [], ch == MARK_OPEN
        else:
            piece.append(ch)
    if piece:
        out.append(("".join(piece), inside))
    return out


def clip(marked: str, width: int) -> str:
    """At most about `width` characters of a marked text, starting a little before its first
    match so the match stays in view; an ellipsis where something was cut."""
    plain_len = len(marked.replace(MARK_OPEN, "").replace(MARK_CLOSE, ""))
    if plain_len <= width:
        return marked
    first = marked.find(MARK_OPEN)
    start = 0 if first < width // 3 else first - width // 4
    out, seen, i = [], 0, start
    while i < len(marked) and seen < width:
        ch = marked[i]
        out.append(ch)
        if ch not in (MARK_OPEN, MARK_CLOSE):
            seen += 1
        i += 1
    text = "".join(out)
    if text.count(MARK_OPEN) > text.count(MARK_CLOSE):
        text += MARK_CLOSE
    return ("…" if start else "") + text + ("…" if i < len(marked) else "")


# -- export ---------------------------------------------------------------------------------


def count_rows(store: Any, filters: Filters) -> int:
    """How many rows `iter_rows` will yield (for a progress bar)."""
    return store.count_hits(filters)


def iter_rows(store: Any, filters: Filters, *, chunk: int | None = None) -> Iterator[list[Row]]:
    """Every matching row, oldest first, `chunk` rows at a time; memory stays flat however
    many rows there are (the store reads a cursor chunk by chunk)."""
    for values in store.iter_hits(filters, chunk=chunk or CHUNK):
        yield [_row(v) for v in values]


# -- stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandInfo:
    key: str
    name: str
    kind: str  # brand, competitor, topic
    words: tuple[str, ...] = ()  # its query's words: left out of its top terms


@dataclass(frozen=True)
class Mix:
    """A count of mentions split by sentiment, with the sum of their polarities."""

    count: int = 0
    negative: int = 0
    positive: int = 0
    polarity_sum: float = 0.0

    @property
    def neutral(self) -> int:
        return self.count - self.negative - self.positive

    @property
    def mean(self) -> float | None:
        return self.polarity_sum / self.count if self.count else None

    def share(self, label: str) -> float | None:
        return getattr(self, label) / self.count if self.count else None

    def __add__(self, other: Mix) -> Mix:
        return Mix(self.count + other.count, self.negative + other.negative, self.positive + other.positive,
                   self.polarity_sum + other.polarity_sum)

    def as_dict(self) -> dict:
        return {"mentions": self.count, "negative": self.negative, "neutral": self.neutral,
                "positive": self.positive, "mean_polarity": _round(self.mean)}


@dataclass(frozen=True)
class Period:
    start: datetime
    mix: Mix
    share_of_voice: float | None  # None: a topic, or nobody in the comparison spoke


@dataclass(frozen=True)
class Author:
    platform: str
    author: str
    mentions: int
    reach: int


@dataclass(frozen=True)
class BrandStats:
    brand: BrandInfo
    total: Mix
    share_of_voice: float | None
    periods: tuple[Period, ...]
    platforms: tuple[tuple[str, Mix], ...]  # largest first
    top_authors: tuple[Author, ...]
    top_terms: tuple[tuple[str, int], ...]  # (term, mentions using it)
    top_hashtags: tuple[tuple[str, int], ...]
    sample: int  # mentions the top lists were counted from: every one still stored
    population: int  # mentions the buckets count (more than `sample` once some were purged)
    # Per language (the `lang` column; None: stored before detection), largest first: the
    # mentions still stored, as the language is read from them, not from the buckets.
    languages: tuple[tuple[str | None, Mix], ...] = ()

    @property
    def sampled(self) -> bool:
        return self.sample < self.population

    def language_share(self) -> list[tuple[str | None, Mix, float]]:
        """(lang, mix, share of the stored mentions) per language, largest first."""
        total = sum(mix.count for _lang, mix in self.languages)
        return [(lang, mix, mix.count / total) for lang, mix in self.languages if total]


@dataclass(frozen=True)
class Stats:
    start: datetime
    end: datetime
    every: str
    brands: tuple[BrandStats, ...]
    versus: tuple[str, ...] = field(default=())  # the brands share of voice is counted among

    def as_dict(self) -> dict:
        return {
            "start": iso(self.start), "end": iso(self.end), "every": self.every, "share_of_voice_among": list(self.versus),
            "brands": [{
                "brand": s.brand.key, "name": s.brand.name, "kind": s.brand.kind, **s.total.as_dict(),
                "share_of_voice": _round(s.share_of_voice),
                "periods": [{"start": iso(p.start), **p.mix.as_dict(), "share_of_voice": _round(p.share_of_voice)}
                            for p in s.periods],
                "platforms": [{"platform": name, **mix.as_dict()} for name, mix in s.platforms],
                "top_authors": [{"platform": a.platform, "author": a.author, "mentions": a.mentions,
                                 "reach": a.reach} for a in s.top_authors],
                "top_terms": [{"term": t, "mentions": n} for t, n in s.top_terms],
                "top_hashtags": [{"hashtag": t, "mentions": n} for t, n in s.top_hashtags],
                "sample": s.sample, "population": s.population,
                "languages": [{"lang": lang, **mix.as_dict(), "share": _round(share)}
                              for lang, mix, share in s.language_share()],
            } for s in self.brands],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4) + 0.0  # + 0.0: never "-0.0"


def _sum(value) -> float:
    """A bucket's polarity sum as SQL added it, rounded past the scores' own 4 decimals: the
    order rows are added in (it differs between backends and plans) never shows."""
    return round(float(value), 9) + 0.0


def period_start(at: datetime, every: str) -> datetime:
    """The start of the hour, day or ISO week (Monday) holding `at`."""
    at = floor_bucket(at).replace(minute=0)
    if every == "hour":
        return at
    at = at.replace(hour=0)
    if every == "day":
        return at
    if every == "week":
        return at - timedelta(days=at.weekday())
    raise ValueError(f"every must be one of {', '.join(EVERY)}, not {every!r}")


def period_starts(start: datetime, end: datetime, every: str) -> list[datetime]:
    """Every period start from the one holding `start` up to `end` (exclusive)."""
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[every]
    out, at = [], period_start(start, every)
    while at < end:
        out.append(at)
        at += step
    return out


def bucket_mix(store: Any, brands: Sequence[str], start: datetime, end: datetime, every: str,
               platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> dict[str, dict[datetime, Mix]]:
    """brand -> period start -> Mix, from the 5-minute buckets (summed by hour or day in SQL,
    so Python sees hundreds of rows, not tens of thousands); with `langs`, from the stored
    mentions in those languages."""
    by = "hour" if every == "hour" else "day"  # weeks are summed from days
    suffix = ":00:00Z" if by == "hour" else "T00:00:00Z"
    starts: dict[str, datetime] = {}
    out: dict[str, dict[datetime, Mix]] = {b: {} for b in brands}
    for brand, prefix, count, negative, positive, polarity in store.bucket_sums(brands, start, end, by, platforms,
                                                                                 langs):
        at = starts.get(prefix)
        if at is None:
            at = starts[prefix] = period_start(parse_iso(prefix + suffix), every)
        mine = out[brand]
        mine[at] = mine.get(at, Mix()) + Mix(int(count), int(negative), int(positive), _sum(polarity))
    return out


def platform_mix(store: Any, brand: str, start: datetime, end: datetime,
                 platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> dict[str, Mix]:
    sums = store.bucket_sums([brand], start, end, "platform", platforms, langs)
    return {platform: Mix(int(c), int(n), int(p), _sum(s)) for _b, platform, c, n, p, s in sums}


def lang_mix(store: Any, brands: Sequence[str], start: datetime, end: datetime, platforms: Sequence[str] = (),
             langs: Sequence[str] = ()) -> dict[str, tuple[tuple[str | None, Mix], ...]]:
    """brand -> ((lang, Mix), ...) largest first (ties alphabetical, never-detected last), over
    the mentions still stored."""
    out: dict[str, list] = {b: [] for b in brands}
    for brand, lang, c, n, p, s in store.lang_sums(brands, start, end, platforms=platforms, langs=langs):
        out[brand].append((lang, Mix(int(c), int(n), int(p), _sum(s))))
    return {b: tuple(sorted(rows, key=lambda r: (-r[1].count, r[0] is None, r[0] or ""))) for b, rows in out.items()}


def stats(store: Any, brands: Sequence[BrandInfo], start: datetime, end: datetime, *,
          every: str = "day", platforms: Sequence[str] = (), versus: Sequence[BrandInfo] | None = None,
          top: int = 10, langs: Sequence[str] = ()) -> Stats:
    """Stats for each of `brands` over [start, end) by period.

    Share of voice is a brand's mentions over those of every brand in `versus` (default:
    the `brand` and `competitor` kinds among `brands`); a topic has none. With `langs`, only
    mentions in those languages count, read from the stored mentions (the buckets have no
    language, so purged mentions are not counted: `population` is then what is stored).
    """
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    versus = list(versus) if versus is not None else [b for b in brands if b.kind != "topic"]
    compared = {b.key for b in versus}
    starts = period_starts(start, end, every)
    periods = bucket_mix(store, list({b.key: b for b in [*brands, *versus]}), start, end, every, platforms, langs)
    languages = lang_mix(store, [b.key for b in brands], start, end, platforms, langs)
    all_voices = {at: sum(periods[k].get(at, Mix()).count for k in compared) for at in starts}
    voice_total = sum(all_voices.values())
    out = []
    for b in brands:
        mine = periods[b.key]
        in_comparison = b.key in compared and b.kind != "topic"
        rows = tuple(Period(at, mine.get(at, Mix()),
                            mine.get(at, Mix()).count / all_voices[at] if in_comparison and all_voices[at] else None)
                     for at in starts)
        total = sum((p.mix for p in rows), Mix())
        per_platform = platform_mix(store, b.key, start, end, platforms, langs)
        tops = _tops(store, b, start, end, platforms, total.count, top, langs)
        out.append(BrandStats(
            b, total, total.count / voice_total if in_comparison and voice_total else None, rows,
            tuple(sorted(per_platform.items(), key=lambda kv: (-kv[1].count, kv[0]))), *tops,
            languages=languages[b.key]))
    return Stats(start, end, every, tuple(out), tuple(sorted(compared)))


def _tops(store: Any, brand: BrandInfo, start: datetime, end: datetime, platforms: Sequence[str],
          population: int, top: int, langs: Sequence[str] = ()) -> tuple:
    """Top authors (an SQL aggregate over every mention), terms and hashtags (every stored
    mention's text, each distinct text tokenized once: reposts and templates are common) of a
    brand in [start, end). Exact; `population` is what the buckets count, which stays when
    mentions are purged, so fewer read than counted means the rest is gone."""
    from bot.vocab import is_term, raw_terms

    texts: Counter = Counter()
    for chunk in store.brand_texts(brand.key, start, end, platforms=platforms, langs=langs):
        texts.update([f"{title}\n{text}" if title else text or "" for title, text in chunk])
    # The authors' aggregate runs in the database (SQLite's step and psycopg's wait release the
    # GIL) while this thread tokenizes: on two cores the two overlap. Started after the texts
    # are read, so a SQLite connection serves one statement at a time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harkbot-stats") as pool:
        authors = pool.submit(store.top_authors, brand.key, start, end, platforms=platforms, limit=top, langs=langs)
        raw: Counter = Counter()
        once = []
        for text, n in texts.items():
            if n == 1:
                once.append(text)
            else:
                for term in raw_terms(text):
                    raw[term] += n
        # One C-level pass over the texts seen once (most of them): no Python call per text.
        raw.update(chain.from_iterable(map(raw_terms, once)))
        top_authors = tuple(Author(p, a, int(n), int(reach or 0)) for p, a, n, reach in authors.result())
    seen = sum(texts.values())
    skip = {w.lower() for w in brand.words}
    # Filtering the distinct tokens once, not each text's: the vocabulary is far smaller.
    terms = Counter({t: n for t, n in raw.items() if is_term(t) and t.lstrip("#") not in skip})

    def best(items) -> list:
        return heapq.nsmallest(top, items, key=lambda kv: (-kv[1], kv[0]))  # ties: alphabetical

    words = tuple(best((t, n) for t, n in terms.items() if not t.startswith("#")))
    tags = tuple(best((t, n) for t, n in terms.items() if t.startswith("#")))
    return top_authors, words, tags, seen, max(population, seen)


# -- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertMark:
    fired_at: datetime
    rule: str
    brand: str | None
    severity: str
    state: str
    title: str


def alerts(store: Any, start: datetime, end: datetime, brands: Iterable[str] | None = None) -> list[AlertMark]:
    """Alerts fired in [start, end) (notices about harkbot itself left out), oldest first."""
    wanted = list(brands) if brands is not None else None
    return [AlertMark(parse_iso(at), rule, brand, severity or "", state, title or rule)
            for at, rule, brand, severity, state, title in store.alert_marks(start, end, wanted)]


def top_posts(store: Any, brand: str, start: datetime, end: datetime, *, limit: int = 5,
              sentiment: str | None = None) -> list[Row]:
    """A brand's most seen mentions in [start, end): by author reach plus engagement. A post
    flagged for self-harm (bot/safety.py) is never quoted as a top post."""
    if sentiment is not None and sentiment not in LABELS:
        raise ValueError(f"sentiment must be one of {', '.join(LABELS)}")
    return [_row(v) for v in store.top_post_rows(brand, start, end, limit=limit, sentiment=sentiment)]
