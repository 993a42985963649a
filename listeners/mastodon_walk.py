"""How a Mastodon walk reads one source (a hashtag timeline or a search on one instance), and
what the cursor keeps for it. Pure: the listener hands in one request at a time (`fetch`).

Status ids are instance-local and grow with time (Mastodon's are snowflakes: a millisecond
timestamp above 16 bits of sequence; GoToSocial's ULIDs and Pleroma's flake ids have a fixed
length), so (length, text) orders them without reading them as numbers.

A hashtag timeline is read **upwards**: `min_id=<floor>` answers the statuses just above the
floor, oldest-first within the limit (newest-first on the page), and the page's Link rel="prev"
names the next min_id. Each page moves the floor to its newest status, so a walk cut short by
`max_pages` or an error loses nothing: the next walk goes on from there.

A search is read **downwards**: Mastodon orders search results by id, newest first, so
`min_id=<floor>` answers the newest statuses above the floor, and older ones come with
`max_id=<the oldest read>`. The floor may move only once the walk reaches it (an empty page:
Mastodon filters search results after applying the limit, so a short page is not the end), so
an unfinished walk keeps where it stopped (`max_id`) and the newest status it read (`top`).

A first walk (no floor) reads the newest page and starts there: no backfill.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from listeners.base import cursor_part

log = logging.getLogger("listeners.mastodon")


def order(ident: str) -> tuple[int, str]:
    return (len(ident), ident)


def newest(idents: Sequence[str]) -> str | None:
    return max(idents, key=order) if idents else None


def oldest(idents: Sequence[str]) -> str | None:
    return min(idents, key=order) if idents else None


@dataclass(frozen=True)
class Source:
    """One thing a walk reads on one instance; `key` is its cursor entry."""

    instance: str  # the host, as in the mention key and the log
    kind: str  # "tag" or "search"
    term: str  # the tag (no '#') or the search text

    @property
    def key(self) -> str:
        return f"{self.instance} {'#' + self.term if self.kind == 'tag' else 'search ' + self.term}"


@dataclass(frozen=True)
class Page:
    statuses: list[dict[str, Any]]  # payloads, each with a str "id"
    prev_min_id: str | None = None  # the Link rel="prev" min_id: where the next newer page starts


@dataclass(frozen=True)
class SourceState:
    min_id: str | None = None  # the floor: every status at or below it is stored
    top: str | None = None  # an unfinished search walk's newest status: the floor once it ends
    max_id: str | None = None  # an unfinished search walk goes on below this


def upward(state: SourceState, fetch: Callable[[str | None], Page], limit: int,
           max_pages: int) -> Iterator[tuple[list[dict[str, Any]], SourceState]]:
    """A hashtag timeline from the floor up; yields each page's new statuses and the state to
    keep once they are stored."""
    floor = state.min_id
    for _ in range(max_pages):
        page = fetch(floor)
        fresh = [s for s in page.statuses if floor is None or order(s["id"]) > order(floor)]
        ids = [s["id"] for s in fresh]
        # The server's own word on where the newer page starts, if it is not below what we read.
        top = newest([*ids, *([page.prev_min_id] if page.prev_min_id else [])])
        moved = newest([i for i in (floor, top) if i])
        yield fresh, SourceState(min_id=moved)
        if floor is None or not fresh or len(page.statuses) < limit or moved == floor:
            return  # a first walk reads one page; an empty or short page is the top
        floor = moved


def downward(state: SourceState, fetch: Callable[[str | None, str | None], Page],
             max_pages: int) -> Iterator[tuple[list[dict[str, Any]], SourceState]]:
    """A search from the newest down to the floor; `fetch(min_id, max_id)`."""
    floor, top, below = state.min_id, state.top, state.max_id
    for _ in range(max_pages):
        page = fetch(floor, below)
        fresh = [s for s in page.statuses
                 if (floor is None or order(s["id"]) > order(floor))
                 and (below is None or order(s["id"]) < order(below))]
        ids = [s["id"] for s in fresh]
        top = top or newest(ids)
        if floor is None or not fresh:
            # A first walk starts at its newest page; a page with nothing between the floor and
            # where the walk stands (empty, or a server that ignores max_id) is the floor.
            yield fresh, SourceState(min_id=top or floor)
            return
        below = oldest(ids)
        yield fresh, SourceState(min_id=floor, top=top, max_id=below)  # unfinished until the floor


def load_cursor(cursor: str | None) -> dict[str, SourceState]:
    out: dict[str, SourceState] = {}
    for key, value in cursor_part(cursor, "sources", "mastodon").items():
        if not isinstance(value, Mapping):
            log.warning("mastodon: ignoring an unreadable cursor entry; reading %s afresh", key)
            continue
        out[str(key)] = SourceState(*(_ident(value.get(f)) for f in ("min_id", "top", "max_id")))
    return out


def dump_cursor(states: Mapping[str, SourceState]) -> str:
    sources = {key: {k: v for k, v in (("min_id", s.min_id), ("top", s.top), ("max_id", s.max_id)) if v}
               for key, s in states.items()}
    return json.dumps({"sources": sources}, sort_keys=True, ensure_ascii=False)


def _ident(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None
