"""How far a search-by-time listener has read each of its queries: the cursor of the Hacker
News listener (Algolia, whole seconds) and the Bluesky one (searchPosts, milliseconds).

Both searches send hits newest first and filter on a time, so each query keeps a `Mark`
(below in Hacker News' terms: `created_at_i` is the time, `objectID` the id):

    after    the newest created_at_i read
    seen     {objectID: created_at_i} of what was read at or after `after - overlap`: the next
             read starts there (created_at_i>=after-overlap: Algolia indexes some items late,
             and a second can hold several items, some not yet indexed when it was read) and
             skips these, so ties at the boundary second are neither lost nor sent twice
    backlog  a `Span` a run cut short left unread (more new hits than `max_pages` pages):
             hits in [lo, hi] not in its `seen`. Later runs read it, newest first, with the
             pages the new hits leave over; a run cut short again moves its `hi` down.

The cursor is JSON stored with a walk's last Batch only, so a walk that dies half way stores
what it read and reads the rest again next time (the store drops what it has).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from listeners.base import cursor_part, mapping

SEEN_MAX = 500  # ids kept per query; beyond it the oldest may come again (and be deduped by the store)


@dataclass(frozen=True)
class Span:
    """A range of created_at_i to read (lo, hi inclusive; None: unbounded) and what in it was read."""

    lo: int | None = None
    hi: int | None = None
    seen: Mapping[str, int] = field(default_factory=dict)

    def filters(self) -> str:
        """Algolia's numericFilters for the range ('' when unbounded); a comma is AND."""
        parts = ([f"created_at_i>={self.lo}"] if self.lo is not None else []) + (
            [f"created_at_i<={self.hi}"] if self.hi is not None else [])
        return ",".join(parts)

    def holds(self, at: int) -> bool:
        return (self.lo is None or at >= self.lo) and (self.hi is None or at <= self.hi)

    def is_new(self, object_id: str, at: int) -> bool:
        return object_id not in self.seen and self.holds(at)


@dataclass(frozen=True)
class Mark:
    after: int | None = None
    seen: Mapping[str, int] = field(default_factory=dict)
    backlog: Span | None = None

    def fresh(self, overlap: int, room: int) -> Span:
        """What a run reads first: everything from the newest read, less the overlap, on. The
        overlap re-reads at most `room` hits already read (the newest), so that however many
        it holds, a run has pages left for new hits."""
        if self.after is None:
            return Span(None, None, self.seen)
        lo = self.after - overlap
        times = sorted((t for t in self.seen.values() if t >= lo), reverse=True)
        if len(times) > room:
            lo = times[max(0, room - 1)]
        return Span(lo, None, self.seen)

    def read_fresh(self, span: Span, read: Reading, complete: bool, overlap: int) -> Mark:
        """The mark once `span` (from `fresh`) was read: `read` is what it sent, `complete`
        whether it was read to its end."""
        if read.reached is None:
            return self
        new = read.ids
        after = max([*([] if self.after is None else [self.after]), *new.values()], default=None)
        seen = _newest({**self.seen, **new}, after - overlap) if after is not None else {}
        backlog = self.backlog
        if not complete and span.lo is not None:
            # The hits between the span's floor and the oldest reached are not read: a backlog.
            # One left by an earlier run joins it (what lies between is read again, and deduped).
            lo = span.lo if backlog is None or backlog.lo is None else min(backlog.lo, span.lo)
            known = {**(backlog.seen if backlog else {}), **self.seen, **new}
            backlog = Span(lo, read.reached, _within(known, lo, read.reached))
        return Mark(after, seen, backlog)

    def read_backlog(self, read: Reading, complete: bool) -> Mark:
        """The mark once (some of) the backlog was read, newest first."""
        backlog = self.backlog
        if backlog is None or complete:
            return Mark(self.after, self.seen, None)
        if read.reached is None:
            return self
        lo = backlog.lo if backlog.lo is not None else read.reached
        known = {**backlog.seen, **read.ids}
        return Mark(self.after, self.seen, Span(backlog.lo, read.reached, _within(known, lo, read.reached)))


@dataclass
class Reading:
    """What reading one span sent: the new hits' ids and times, and how far down it reached
    (the oldest created_at_i on the pages read, new or not: where a backlog's top moves to,
    so that even a page of hits all read before moves it on)."""

    ids: dict[str, int] = field(default_factory=dict)
    reached: int | None = None

    def add(self, object_id: str, at: int, new: bool) -> None:
        self.reached = at if self.reached is None else min(self.reached, at)
        if new:
            self.ids[object_id] = at


def _within(seen: Mapping[str, int], lo: int, hi: int) -> dict[str, int]:
    return _newest({i: t for i, t in seen.items() if t <= hi}, lo)


def _newest(seen: Mapping[str, int], since: int) -> dict[str, int]:
    kept = sorted(((t, i) for i, t in seen.items() if t >= since), reverse=True)[:SEEN_MAX]
    return {i: t for t, i in kept}


def load_cursor(cursor: str | None, field: str = "queries", listener: str = "hackernews") -> dict[str, Mark]:
    """{query key: Mark} from the cursor's `field`; an unreadable cursor (or part of one) starts
    afresh, loudly."""
    marks = {}
    for key, raw in cursor_part(cursor, field, listener).items():
        raw = mapping(raw)
        backlog = mapping(raw.get("backlog"))
        marks[str(key)] = Mark(
            _int(raw.get("after")), _seen(raw.get("seen")),
            Span(_int(backlog.get("lo")), _int(backlog.get("hi")), _seen(backlog.get("seen")))
            if backlog and _int(backlog.get("hi")) is not None else None,
        )
    return marks


def dump_cursor(marks: Mapping[str, Mark], field: str = "queries") -> str:
    out: dict[str, Any] = {}
    for key, mark in marks.items():
        entry: dict[str, Any] = {"after": mark.after, "seen": dict(mark.seen)}
        if mark.backlog is not None:
            entry["backlog"] = {"lo": mark.backlog.lo, "hi": mark.backlog.hi, "seen": dict(mark.backlog.seen)}
        out[key] = entry
    return json.dumps({field: out}, sort_keys=True, ensure_ascii=False)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seen(value: Any) -> dict[str, int]:
    return {str(i): t for i, t in mapping(value).items() if _int(t) is not None}
