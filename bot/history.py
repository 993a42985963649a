"""The read side of mention history: what `harkbot search`, `stats`, `export` and `report` ask.

This module holds SQL, the one place besides bot/store.py allowed to: these queries only read,
and they are shaped for a person questioning a large history (a million mentions) rather than
for the rule engine's windows, which Store serves. Nothing here writes.

* `search`: FTS5 syntax ("phrase", OR, NOT, prefix*) with filters, newest first or by reach,
  the matches marked with `MARK_OPEN`/`MARK_CLOSE` by FTS5's highlight(). Two plans: for a
  query matching many mentions, walk the time index newest first and keep the rows whose
  rowid is in the FTS5 match set (stops after `limit`); for a rare query, read the few
  matches and sort them. Either way the full rows are read only for the rows shown.
* `iter_rows`: the same filters, every row, oldest first, through a cursor read in chunks:
  an export of a million rows holds one chunk at a time.
* `stats`: per brand and period (hour, day, week), volume, sentiment mix and mean, and share
  of voice from the 5-minute buckets; per platform; top authors, terms and hashtags from the
  mentions themselves (all of them up to `SAMPLE`, else a sample spread evenly over time).
* `alerts` and `top_posts`: what the report quotes.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Iterator, Sequence

from bot.errors import StoreError
from bot.models import LABELS, floor_bucket, iso, parse_iso

MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # around each match in Hit.marked_text / marked_title
CHUNK = 2000  # rows per fetchmany when streaming
DENSE = 2000  # FTS matches above which a time-sorted search walks the time index instead
SAMPLE = 5000  # mentions read for top authors and terms; a larger window is sampled
EVERY = ("hour", "day", "week")
COLUMNS = ("key", "created_at", "platform", "kind", "author", "author_reach", "engagement", "label", "polarity",
           "brands", "title", "text", "url", "language")

_SELECT = ("m.key, m.created_at, m.platform, m.kind, m.author, m.author_reach, m.engagement, m.label, m.polarity,"
           " (SELECT group_concat(b.brand, ',') FROM mention_brands b WHERE b.mention_key = m.key),"
           " m.title, m.text, m.url, m.language")


@dataclass(frozen=True)
class Filters:
    """What narrows a search or an export. Empty tuples and None mean "any"."""

    query: str | None = None  # FTS5 syntax
    brands: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # any case, with or without @
    since: datetime | None = None
    until: datetime | None = None
    min_reach: int | None = None


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
    language: str | None

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
     language) = values
    return Row(key, created, platform, kind or "post", author or "", reach or 0, engagement or 0, label or "",
               polarity if polarity is not None else 0.0, tuple(sorted(brands.split(","))) if brands else (),
               title or "", text or "", url or "", language)


# -- filters --------------------------------------------------------------------------------


def _where(f: Filters, *, time_column: str = "m.created_at") -> tuple[list[str], list]:
    """SQL conditions on `mentions m` for every filter but the text query."""
    where, args = [], []
    if f.since is not None:
        where.append(f"{time_column} >= ?")
        args.append(iso(f.since))
    if f.until is not None:
        where.append(f"{time_column} < ?")
        args.append(iso(f.until))
    if f.platforms:
        where.append(f"m.platform IN ({_marks(f.platforms)})")
        args += list(f.platforms)
    if f.sentiments:
        where.append(f"m.label IN ({_marks(f.sentiments)})")
        args += list(f.sentiments)
    if f.min_reach is not None:
        where.append("m.author_reach >= ?")
        args.append(f.min_reach)
    if f.authors:
        where.append(f"ltrim(lower(m.author), '@') IN ({_marks(f.authors)})")
        args += [a.lstrip("@").lower() for a in f.authors]
    if f.brands:
        where.append(f"EXISTS (SELECT 1 FROM mention_brands b WHERE b.mention_key = m.key"
                     f" AND b.brand IN ({_marks(f.brands)}))")
        args += list(f.brands)
    return where, args


def _marks(values: Sequence) -> str:
    return ",".join("?" * len(values))


def _and(where: list[str]) -> str:
    return " AND ".join(where) if where else "1"


def _fts_error(query: str, exc: sqlite3.OperationalError) -> StoreError:
    return StoreError(f"cannot search for {query!r}: {exc}. Use words, \"exact phrases\", OR, NOT and prefix*"
                      " (quote a word holding punctuation: \"#selfcare\", \"covid-19\")")


# -- search ---------------------------------------------------------------------------------


def search(conn: sqlite3.Connection, filters: Filters, *, sort: str = "time", limit: int = 50) -> list[Hit]:
    """Mentions matching the filters, newest first (`sort="time"`) or by author reach."""
    if sort not in ("time", "reach"):
        raise ValueError(f"sort must be 'time' or 'reach', not {sort!r}")
    where, args = _where(filters)
    order = "m.created_at DESC, m.rowid DESC" if sort == "time" else \
        "m.author_reach DESC, m.created_at DESC, m.rowid DESC"
    query = filters.query
    matches = _match_count(conn, query) if query else 0  # also checks the query's syntax
    if not query:
        sql = f"SELECT m.rowid FROM mentions m WHERE {_and(where)} ORDER BY {order} LIMIT ?"
        rowids = [r[0] for r in conn.execute(sql, args + [limit])]
    elif sort == "time" and matches > DENSE:
        # Many matches: walk the time index newest first; the `+` keeps SQLite from driving
        # the query by the match set, which would read and sort every match.
        sql = (f"SELECT m.rowid FROM mentions m WHERE {_and(where)} AND +m.rowid IN"
               f" (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?) ORDER BY m.created_at DESC LIMIT ?")
        rowids = [r[0] for r in conn.execute(sql, args + [query, limit])]
    else:
        sql = (f"SELECT m.rowid FROM mentions_fts f CROSS JOIN mentions m ON m.rowid = f.rowid"
               f" WHERE mentions_fts MATCH ? AND {_and(where)} ORDER BY {order} LIMIT ?")
        rowids = [r[0] for r in conn.execute(sql, [query] + args + [limit])]
    rows = _rows_by_rowid(conn, rowids)
    marks = _highlights(conn, query, rowids) if query and rowids else {}
    hits = []
    for rowid in rowids:
        row = rows[rowid]
        title, text = marks.get(rowid, (row.title, row.text))
        hits.append(Hit(row, title, text))
    return hits


def _match_count(conn: sqlite3.Connection, query: str) -> int:
    """How many mentions an FTS5 query matches: a doclist walk, a few ms for 50,000 matches.
    A query FTS5 cannot read raises StoreError with the syntax to use."""
    try:
        return conn.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH ?", (query,)).fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise _fts_error(query, exc) from None


def _rows_by_rowid(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, Row]:
    out: dict[int, Row] = {}
    for i in range(0, len(rowids), 500):
        chunk = list(rowids[i : i + 500])
        for values in conn.execute(f"SELECT m.rowid, {_SELECT} FROM mentions m WHERE m.rowid IN ({_marks(chunk)})",
                                   chunk):
            out[values[0]] = _row(values[1:])
    return out


def _highlights(conn: sqlite3.Connection, query: str, rowids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(title, text) of each row with FTS5's matches marked. A text that already holds a
    marker character keeps no marks (posts are hostile input: it could forge a highlight)."""
    out = {}
    for i in range(0, len(rowids), 500):
        chunk = sorted(rowids[i : i + 500])
        # FTS5 takes the range and SQLite the list (the `+`): given the list itself, FTS5
        # would redo the whole match once per rowid, 100 ms for a prefix query.
        sql = ("SELECT rowid, highlight(mentions_fts, 1, ?, ?), highlight(mentions_fts, 0, ?, ?) FROM mentions_fts"
               f" WHERE mentions_fts MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN ({_marks(chunk)})")
        marks = [MARK_OPEN, MARK_CLOSE] * 2
        for rowid, title, text in conn.execute(sql, marks + [query, chunk[0], chunk[-1]] + chunk):
            out[rowid] = (title or "", text or "")
    return {r: v for r, v in out.items() if _well_marked(v[0]) and _well_marked(v[1])}


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


def count_rows(conn: sqlite3.Connection, filters: Filters) -> int:
    """How many rows `iter_rows` will yield (for a progress bar)."""
    where, args = _where(filters)
    if filters.query:
        _match_count(conn, filters.query)
        sql = (f"SELECT count(*) FROM mentions_fts f CROSS JOIN mentions m ON m.rowid = f.rowid"
               f" WHERE mentions_fts MATCH ? AND {_and(where)}")
        return conn.execute(sql, [filters.query] + args).fetchone()[0]
    return conn.execute(f"SELECT count(*) FROM mentions m WHERE {_and(where)}", args).fetchone()[0]


def iter_rows(conn: sqlite3.Connection, filters: Filters, *, chunk: int | None = None) -> Iterator[list[Row]]:
    """Every matching row, oldest first, `chunk` rows at a time. The cursor is read with
    fetchmany and walks the time index, so memory stays flat however many rows there are."""
    where, args = _where(filters)
    sql = f"SELECT {_SELECT} FROM mentions m WHERE {_and(where)}"
    if filters.query:
        _match_count(conn, filters.query)
        sql += " AND +m.rowid IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?)"
        args.append(filters.query)
    cursor = conn.execute(sql + " ORDER BY m.created_at, m.key", args)
    while True:
        values = cursor.fetchmany(chunk or CHUNK)
        if not values:
            return
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
    mentions: int  # in the sample when the stats were sampled
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
    sample: int  # mentions the top lists were counted from
    population: int  # mentions they stand for

    @property
    def sampled(self) -> bool:
        return self.sample < self.population


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
            } for s in self.brands],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


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


def _bucket_sums(conn: sqlite3.Connection, brands: Sequence[str], start: datetime, end: datetime, group: str,
                 platforms: Sequence[str]) -> list[tuple]:
    """(brand, group value, count, negative, positive, polarity sum) from the 5-minute buckets."""
    sql = (f"SELECT brand, {group}, SUM(count), SUM(negative), SUM(positive), SUM(polarity_sum) FROM buckets"
           f" WHERE brand IN ({_marks(brands)}) AND start >= ? AND start < ?")
    args: list = [*brands, iso(floor_bucket(start)), iso(floor_bucket(end))]
    if platforms:
        sql += f" AND platform IN ({_marks(platforms)})"
        args += list(platforms)
    return conn.execute(sql + " GROUP BY 1, 2", args).fetchall()


def bucket_mix(conn: sqlite3.Connection, brands: Sequence[str], start: datetime, end: datetime, every: str,
               platforms: Sequence[str] = ()) -> dict[str, dict[datetime, Mix]]:
    """brand -> period start -> Mix, from the 5-minute buckets (summed by hour or day in SQL,
    so Python sees hundreds of rows, not tens of thousands)."""
    width = 13 if every == "hour" else 10  # weeks are summed from days
    suffix = ":00:00Z" if width == 13 else "T00:00:00Z"
    starts: dict[str, datetime] = {}
    out: dict[str, dict[datetime, Mix]] = {b: {} for b in brands}
    for brand, prefix, count, negative, positive, polarity in _bucket_sums(
            conn, brands, start, end, f"substr(start, 1, {width})", platforms):
        at = starts.get(prefix)
        if at is None:
            at = starts[prefix] = period_start(parse_iso(prefix + suffix), every)
        mine = out[brand]
        mine[at] = mine.get(at, Mix()) + Mix(int(count), int(negative), int(positive), float(polarity))
    return out


def platform_mix(conn: sqlite3.Connection, brand: str, start: datetime, end: datetime,
                 platforms: Sequence[str] = ()) -> dict[str, Mix]:
    return {platform: Mix(int(c), int(n), int(p), float(s))
            for _b, platform, c, n, p, s in _bucket_sums(conn, [brand], start, end, "platform", platforms)}


def stats(conn: sqlite3.Connection, brands: Sequence[BrandInfo], start: datetime, end: datetime, *,
          every: str = "day", platforms: Sequence[str] = (), versus: Sequence[BrandInfo] | None = None,
          top: int = 10, sample: int = SAMPLE) -> Stats:
    """Stats for each of `brands` over [start, end) by period.

    Share of voice is a brand's mentions over those of every brand in `versus` (default:
    the `brand` and `competitor` kinds among `brands`); a topic has none.
    """
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    versus = list(versus) if versus is not None else [b for b in brands if b.kind != "topic"]
    compared = {b.key for b in versus}
    starts = period_starts(start, end, every)
    periods = bucket_mix(conn, list({b.key: b for b in [*brands, *versus]}), start, end, every, platforms)
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
        per_platform = platform_mix(conn, b.key, start, end, platforms)
        tops = _tops(conn, b, start, end, platforms, total.count, top, sample)
        out.append(BrandStats(
            b, total, total.count / voice_total if in_comparison and voice_total else None, rows,
            tuple(sorted(per_platform.items(), key=lambda kv: (-kv[1].count, kv[0]))), *tops))
    return Stats(start, end, every, tuple(out), tuple(sorted(compared)))


def _tops(conn: sqlite3.Connection, brand: BrandInfo, start: datetime, end: datetime, platforms: Sequence[str],
          population: int, top: int, size: int) -> tuple:
    """Top authors, terms and hashtags of a brand's mentions, from all of them up to `size`,
    else from `size` of them taken in equal slices spread over the window (a window of
    500,000 mentions is then read in milliseconds, and its top lists are estimates)."""
    from bot.vocab import is_term, raw_terms

    authors: Counter = Counter()
    reach: dict[tuple[str, str], int] = {}
    raw: Counter = Counter()
    skip = {w.lower() for w in brand.words}
    seen = 0
    for platform, author, author_reach, title, text in _sample(conn, brand.key, start, end, platforms, population,
                                                                size):
        seen += 1
        if author:
            who = (platform, author)
            authors[who] += 1
            reach[who] = max(reach.get(who, 0), author_reach or 0)
        raw.update(raw_terms(f"{title}\n{text}" if title else text))
    # Filtering the distinct tokens once, not each text's: the vocabulary is far smaller.
    terms = Counter({t: n for t, n in raw.items() if is_term(t) and t.lstrip("#") not in skip})
    def best(items) -> list:
        return heapq.nsmallest(top, items, key=lambda kv: (-kv[1], kv[0]))  # ties: alphabetical

    top_authors = tuple(Author(p, a, n, reach[(p, a)]) for (p, a), n in best(authors.items()))
    words = tuple(best((t, n) for t, n in terms.items() if not t.startswith("#")))
    tags = tuple(best((t, n) for t, n in terms.items() if t.startswith("#")))
    return top_authors, words, tags, seen, max(population, seen)


def _sample(conn: sqlite3.Connection, brand: str, start: datetime, end: datetime, platforms: Sequence[str],
            population: int, size: int) -> Iterator[tuple]:
    sql = ("SELECT m.platform, m.author, m.author_reach, m.title, m.text FROM mention_brands b"
           " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?")
    extra: list = []
    if platforms:
        sql += f" AND b.platform IN ({_marks(platforms)})"
        extra = list(platforms)
    if population <= size:
        yield from conn.execute(sql, [brand, iso(start), iso(end), *extra])
        return
    slices = 50
    step = (end - start) / slices
    for i in range(slices):
        lo, hi = start + step * i, start + step * (i + 1)
        yield from conn.execute(sql + " LIMIT ?", [brand, iso(lo), iso(hi), *extra, max(1, size // slices)])


# -- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertMark:
    fired_at: datetime
    rule: str
    brand: str | None
    severity: str
    state: str
    title: str


def alerts(conn: sqlite3.Connection, start: datetime, end: datetime,
           brands: Iterable[str] | None = None) -> list[AlertMark]:
    """Alerts fired in [start, end) (notices about harkbot itself left out), oldest first."""
    sql = ("SELECT fired_at, rule, brand, severity, state, json_extract(payload, '$.finding.title') FROM alerts"
           " WHERE fired_at >= ? AND fired_at < ? AND state != 'notice'")
    args: list = [iso(start), iso(end)]
    wanted = list(brands) if brands is not None else None
    if wanted is not None:
        sql += f" AND brand IN ({_marks(wanted)})"
        args += wanted
    return [AlertMark(parse_iso(at), rule, brand, severity or "", state, title or rule)
            for at, rule, brand, severity, state, title in conn.execute(sql + " ORDER BY fired_at, id", args)]


def top_posts(conn: sqlite3.Connection, brand: str, start: datetime, end: datetime, *, limit: int = 5,
              sentiment: str | None = None) -> list[Row]:
    """A brand's most seen mentions in [start, end): by author reach plus engagement. A post
    flagged for self-harm (bot/safety.py) is never quoted as a top post."""
    if sentiment is not None and sentiment not in LABELS:
        raise ValueError(f"sentiment must be one of {', '.join(LABELS)}")
    sql = (f"SELECT {_SELECT} FROM mention_brands l JOIN mentions m ON m.key = l.mention_key"
           " WHERE l.brand = ? AND l.created_at >= ? AND l.created_at < ?"
           " AND NOT EXISTS (SELECT 1 FROM safety_flags f WHERE f.mention_key = m.key)")
    args: list = [brand, iso(start), iso(end)]
    if sentiment:
        sql += " AND l.label = ?"
        args.append(sentiment)
    sql += " ORDER BY m.author_reach + m.engagement DESC, m.created_at DESC LIMIT ?"
    return [_row(v) for v in conn.execute(sql, args + [limit])]
