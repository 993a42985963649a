"""How a run walks a Reddit listing, and what the cursor keeps for the next run.

Listings are newest first and paged with `after` (the fullname of the last item read). The
cursor keeps, per listing, a `floor`: the newest item of the last complete walk (created_utc
and fullname); everything at or below it has been stored. A walk reads from the top of the
listing down to the floor, yields each page to be stored on its own, and moves the floor to
the walk's newest item only once the whole walk is stored.

A walk can stop before it reaches the floor: at `limit` items, when Reddit's request budget
for the window is spent, or on an error. Moving the floor then would skip the unread posts
between, so the floor stays and the cursor records the walk as unfinished: `top` (its newest
item) and `resume` (the fullname to continue after). The next run continues from `resume`
down to the floor, and only then moves the floor to `top`; posts that arrived above `top`
meanwhile are read by the run after that. So a burst larger than `limit` costs latency, not
posts. Two exceptions, both deliberate: a first walk (no floor yet) that hits `limit` takes
its newest item as the floor, because history from before harkbot listened is not
backfilled; and Reddit lists about 1,000 items at most (search fewer), so what lies deeper
than that can be read by no client.

Reddit's search index adds some posts minutes after they were written, below a floor a walk
has already passed. So a search walk reads on `search_overlap` (10 minutes) below its floor,
the posts it stored before among them, and the store drops those again; the floor itself
still moves only to the newest post read. A walk that reaches `limit` inside that window is
done. The comment listing is not search, and has no overlap.

A crash mid-walk stores no cursor at all: the next run walks again from the top and the
store drops what it already has. A walk that stops on a ListenerError stores the unfinished
state with the pages it read, then raises, so the pipeline rests the listener.

The walk is pure: `RedditListener` hands it one page at a time (`fetch_page`), so the same
walk serves a brand's search and the comment listing, and is tested without a network.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Mapping

from bot.models import UTC, Mention
from listeners.base import Transport, cursor_part

# The Reddit listener's logger: what the walk warns about is the listener's to say.
log = logging.getLogger("listeners.reddit")

PAGE_SIZE = 100  # what one Reddit listing request returns at most


@dataclass(frozen=True)
class RedditListing:
    """One newest-first listing a run walks, and the cursor key its state is kept under."""

    key: str  # the path and query: a changed query or subreddit list starts without a floor
    path: str
    params: Mapping[str, Any]
    wants: Callable[[Mention], bool] | None = None  # None: keep everything the listing holds
    overlap: timedelta = timedelta(0)  # read again below the floor: search indexes some posts late

    def wanted(self, mention: Mention) -> bool:
        return self.wants is None or self.wants(mention)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # payloads, newest first
    after: str | None  # where the next page starts; None at the end of the listing


@dataclass(frozen=True)
class Mark:
    """A position in a listing: an item's created_utc and fullname."""

    utc: float
    name: str

    @property
    def order(self) -> tuple[float, int]:
        # Reddit's base-36 ids grow with creation: they order items within one second.
        return (self.utc, _base36(self.name.partition("_")[2]))

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> Mark:
        return cls(_utc(payload), str(payload.get("name") or ""))


@dataclass(frozen=True)
class ListingState:
    """What the cursor keeps per listing (see the module docstring)."""

    floor: Mark | None = None  # everything at or below it is stored
    top: Mark | None = None  # an unfinished walk's newest item: the floor once it finishes
    resume: str | None = None  # an unfinished walk continues after this fullname

    def split(self, items: Iterable[Mapping[str, Any]],
              overlap: float = 0.0) -> tuple[list[dict[str, Any]], bool]:
        """The items above the floor, and whether the floor's second was passed.

        The walk stops only at an item from an earlier second than the floor, and skips the
        floor's own second by id: the order of items within one second is not guaranteed.
        With an `overlap` (seconds), the items of that window below the floor come too, stored
        or not (the store drops what it has), and the walk stops below the window instead.
        """
        if self.floor is None:
            return [dict(i) for i in items], False
        fresh = []
        for item in items:
            mark = Mark.of(item)
            if mark.utc < self.floor.utc - overlap:
                return fresh, True
            if overlap or mark.order > self.floor.order:
                fresh.append(dict(item))
        return fresh, False

    def above(self, item: Mapping[str, Any]) -> bool:
        return self.floor is None or Mark.of(item).order > self.floor.order


def walk(state: ListingState, fetch_page: Callable[[str | None, int], Page], limit: int,
         name: str = "a listing", overlap: float = 0.0) -> Iterator[tuple[list[dict[str, Any]], ListingState]]:
    """Walk a newest-first listing down to the floor (and `overlap` seconds below it), at most
    `limit` items.

    Yields each page's new items with the state to store once they are stored: the last
    state is the walk's result; an earlier one is what a walk stopped there leaves.
    """
    top, after, read, oldest = state.top, state.resume, 0, None
    while True:
        page = fetch_page(after, min(PAGE_SIZE, limit - read))
        read += len(page.items)
        fresh, reached = state.split(page.items, overlap)
        newer = [i for i in fresh if state.above(i)]
        if newer and top is None:
            top = Mark.of(newer[0])
        if page.items:
            oldest = Mark.of(page.items[-1])
        # Cut at the limit inside the overlap, the walk is done: the window is a second look.
        below = state.floor is not None and oldest is not None and oldest.order <= state.floor.order
        finished = reached or (below and read >= limit) or not page.items or not page.after or page.after == after
        cut = not finished and read >= limit
        if (finished and not reached and state.floor is not None and top is not None
                and (oldest is None or oldest.order > state.floor.order)):
            # The listing ran out above the floor: Reddit lists about 1,000 items (search
            # fewer), so a backlog that sank deeper can be read by no client. The floor moves
            # on regardless (or every later walk would stop here too); say what is skipped.
            _warn_unlisted(name, state.floor, oldest)
        if finished or (cut and state.floor is None):  # a first walk does not backfill
            yield fresh, ListingState(floor=top or state.floor)
            return
        yield fresh, ListingState(state.floor, top, resume=page.after)
        if cut:
            return
        after = page.after


def _warn_unlisted(name: str, floor: Mark, oldest: Mark | None) -> None:
    since = datetime.fromtimestamp(floor.utc, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    until = (datetime.fromtimestamp(oldest.utc, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
             if oldest else "the newest post read")
    log.warning(
        "reddit: %s ended before the last stored post: posts from %s to %s are no longer "
        "listed and are skipped (Reddit lists about 1,000 items, search fewer, or they were "
        "removed); raise listeners.reddit.limit or poll more often (every)",
        name, since, until,
    )


def load_cursor(cursor: str | None) -> dict[str, ListingState]:
    """{listing key: state}; an unreadable cursor or entry starts that listing afresh."""
    out: dict[str, ListingState] = {}
    for key, value in cursor_part(cursor, "listings", "reddit").items():
        try:
            out[str(key)] = ListingState(
                floor=_mark(value.get("floor")), top=_mark(value.get("top")),
                resume=str(value["resume"]) if value.get("resume") else None,
            )
        except (AttributeError, TypeError, ValueError, IndexError):
            log.warning("reddit: ignoring an unreadable cursor entry; reading %s afresh", key)
    return out


def dump_cursor(states: Mapping[str, ListingState]) -> str:
    listings = {}
    for key, state in states.items():
        entry: dict[str, Any] = {"floor": _unmark(state.floor)}
        if state.resume:
            entry |= {"top": _unmark(state.top), "resume": state.resume}
        listings[key] = entry
    return json.dumps({"listings": listings}, sort_keys=True, ensure_ascii=False)


def _mark(value: Any) -> Mark | None:
    if value is None:
        return None
    utc, name = value
    return Mark(float(utc), str(name))


def _unmark(mark: Mark | None) -> list[Any] | None:
    return [mark.utc, mark.name] if mark else None


@dataclass
class WalkStats:
    listings: int
    sent_before: int
    pages: int = 0
    read: int = 0
    again: int = 0  # read again in the search overlap (stored before, or indexed late)
    kept: int = 0

    def summary(self, states: Mapping[str, ListingState], transport: Transport) -> str:
        unfinished = sum(1 for s in states.values() if s.resume)
        text = (f"{self.listings} listings, {self.pages} pages, {transport.sent - self.sent_before} "
                f"requests, {self.read} new items, {self.kept} kept")
        if self.again:
            text += f", {self.again} read again in the search overlap"
        if unfinished:
            text += f", {unfinished} unfinished (resume next run)"
        if (remaining := transport.budget().remaining) is not None:
            text += f", {remaining:.0f} requests left in the window"
        return text


def _utc(payload: Mapping[str, Any]) -> float:
    try:
        return float(payload.get("created_utc") or 0)
    except (TypeError, ValueError):
        return 0.0


def _base36(text: str) -> int:
    try:
        return int(text, 36)
    except ValueError:
        return 0

