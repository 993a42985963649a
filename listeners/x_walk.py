"""How one run walks X's recent search, and what the cursor keeps for the next run.

Each distinct X query (one brand may need several, see listeners/x_query.py) keeps its own
state in the cursor, keyed by the query text: `since_id`, below which everything was read, and
`gaps`, ranges of posts known to exist but not read yet. X pages go newest first, so a run
reads, within `max_pages` requests per query, (1) the posts newer than since_id, then (2) the
gaps, oldest first.

A walk cut short with a next_token left (max_pages reached, or x-rate-limit-remaining at 0)
still moves since_id to the newest post read, and records what it skipped as a gap
(old since_id, oldest id read), exclusive at both ends; later runs read it with since_id and
until_id. That keeps new posts flowing during a spike while the backlog drains. A gap is an
id range rather than a stored next_token (which X says does not expire): ranges merge, and
they age out by id, since X ids are timestamps. A walk that ends moves since_id at least to
the id minted INDEX_LAG ago (X takes any id as a bound; its docs poll with since_id=12000),
so a quiet query never ages out and always has a since_id for a later burst's gap to start at.

Nothing is lost silently: a gap, or a since_id, that ages out of recent search's 7 days is
warned about with its time span. Only a query's first walk starts at the newest posts without
backfilling the 7 days.

Each page is read by `checked_page` and `with_authors` (a post with its author beside it, as
`TwitterListener.to_mention` reads it). The walk sends nothing itself: `TwitterListener`
hands it the search, one page per call, with the answer's rate-limit headers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Generator, Iterable, Iterator, Mapping, Sequence

from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Mention, utc
from listeners.base import MIN_RETRY_AFTER, Budget, RateBudget, Seen, cursor_part, follow_pages, mapping

# The X listener's logger: what the walk warns about is the listener's to say.
log = logging.getLogger("listeners.twitter")

RECENT_WINDOW = timedelta(days=7)  # recent search (and since_id/until_id) reach back this far
SNOWFLAKE_EPOCH_MS = 1288834974657
INDEX_LAG = timedelta(minutes=10)  # a quiet query's since_id moves no closer to now than this,
# so a post that reaches X's search index late is still found
MAX_GAPS = 20  # beyond this, the oldest gaps merge: a wider gap re-reads posts, never skips one


@dataclass(frozen=True)
class QueryState:
    """What the cursor knows about one X query."""

    since_id: str | None = None  # the newest post read
    gaps: tuple[tuple[str, str], ...] = ()  # (after, before): unread posts with after < id < before

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.since_id:
            out["since_id"] = self.since_id
        if self.gaps:
            out["gaps"] = [list(g) for g in self.gaps]
        return out


@dataclass
class _Range:
    """What reading one id range found: its newest and oldest ids, and whether it ended."""

    newest: int | None = None
    oldest: int | None = None
    complete: bool = False

    def add(self, ids: Iterable[int]) -> None:
        for i in ids:
            self.newest = i if self.newest is None else max(self.newest, i)
            self.oldest = i if self.oldest is None else min(self.oldest, i)


Search = Callable[[str, dict[str, Any]], tuple[dict[str, Any], RateBudget]]  # one page
Pages = Generator[tuple[Mention, ...], None, Any]


class Walk:
    """One run over every query: yields each page's new mentions, then knows the next cursor."""

    def __init__(self, search: Search, states: Mapping[str, QueryState], max_pages: int, now: datetime,
                 to_mention: Callable[[Any], Mention | None]):
        self.search = search
        self.states = states
        self.max_pages = max_pages
        self.now = utc(now)
        self.next_states: dict[str, QueryState] = {}
        self.seen = Seen(to_mention)
        self.requests = 0
        self.remaining: float | None = None
        self.stopped: RateLimited | None = None

    def pages(self, queries: Sequence[str]) -> Iterator[tuple[Mention, ...]]:
        for query in queries:
            state = self.states.get(query, QueryState())
            if self.stopped is not None:
                self.next_states[query] = state  # not reached this run: as it was
                continue
            self.next_states[query] = yield from self._query(query, state)

    def _query(self, query: str, state: QueryState) -> Pages:
        budget = Budget(self.max_pages)
        since_id = self._floor(state.since_id) if state.since_id else None
        fresh: _Range = yield from self._range(query, since_id, None, budget)
        gaps = list(state.gaps)
        if not fresh.complete and since_id and fresh.oldest is not None:
            gaps.append((since_id, str(fresh.oldest)))
        left: list[tuple[str, str]] = []
        for after, before in sorted(gaps, key=lambda g: int(g[1])):  # oldest first: nearest to ageing out
            if not self._reachable(after, before):
                continue
            after = self._floor(after)
            if budget.left <= 0 or self.stopped is not None:
                left.append((after, before))
                continue
            read: _Range = yield from self._range(query, after, before, budget)
            if not read.complete:
                left.append((after, str(read.oldest) if read.oldest is not None else before))
        newest = _newest(since_id, fresh.newest)
        if fresh.complete:
            # Everything up to now is read, so a quiet query moves on too: it never ages out of
            # recent search, and a later burst leaves a gap rather than a silent hole.
            newest = _newest(newest, int(snowflake_id(self.now - INDEX_LAG)))
        return QueryState(newest, merge_gaps(left))

    def _range(self, query: str, since_id: str | None, until_id: str | None, budget: Budget) -> Pages:
        """Read ids in (since_id, until_id), newest first, while budget and rate limit last."""
        params: dict[str, Any] = {}  # the listener's search adds the fields it asks for
        if since_id:
            params["since_id"] = since_id
        if until_id:
            params["until_id"] = until_id
        read = _Range()
        for page in follow_pages(lambda p: self._page(query, p), params, "next_token", _next_token,
                                 lambda: self.stopped is None and budget.take()):
            read.add(page_ids(page))
            yield tuple(self.seen.mentions(with_authors(page)))
            read.complete = not _next_token(page)
        return read

    def _page(self, query: str, params: dict[str, Any]) -> dict[str, Any]:
        page, rate = self.search(query, params)
        self.requests += 1
        self.remaining = rate.remaining
        if rate.spent:
            wait = reset_wait(rate.reset, self.now)
            self.stopped = RateLimited(
                f"x: this 15-minute window's requests are used up; what was read is stored, "
                f"the rest follows in {wait:.0f}s",
                retry_after=wait,
            )
        return page

    def _floor(self, since_id: str) -> str:
        """since_id if recent search still reaches it (X answers 400 to older ones). If not,
        warn about what can no longer be read, and start from the oldest id it reaches."""
        if usable_since_id(since_id, self.now):
            return since_id
        edge = self.now - RECENT_WINDOW + timedelta(minutes=2)
        log.warning(
            "x: posts from %s to %s are older than recent search's 7 days and cannot be read "
            "(harkbot was stopped, or the rate limit held it back)",
            _day(snowflake_time(since_id)), _day(edge),
        )
        return snowflake_id(edge)

    def _reachable(self, after: str, before: str) -> bool:
        if usable_since_id(before, self.now) is not None:
            return True
        log.warning(
            "x: unread posts from %s to %s aged out of recent search (7 days) and are lost; "
            "raise max_pages or requests_per_15min, or track fewer brands",
            _day(snowflake_time(after)), _day(snowflake_time(before)),
        )
        return False

    def cursor(self) -> str:
        states = {q: s.to_json() for q, s in self.next_states.items()}
        return json.dumps({"queries": states}, sort_keys=True)

    def summary(self) -> str:
        gaps = sum(len(s.gaps) for s in self.next_states.values())
        remaining = f", {self.remaining:.0f} requests left in the window" if self.remaining is not None else ""
        stopped = ", stopped early: rate limit used up" if self.stopped else ""
        return (f"x: {len(self.next_states)} queries, {self.requests} requests, {self.seen.payloads} posts, "
                f"{len(self.seen.ids)} distinct, {gaps} gaps to read later{remaining}{stopped}")


def _next_token(page: Mapping[str, Any]) -> Any:
    return mapping(page.get("meta")).get("next_token")


def _newest(since_id: str | None, newest: int | None) -> str | None:
    if newest is None:
        return since_id
    return str(max(int(since_id or 0), newest))


def merge_gaps(gaps: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Gaps oldest first, at most MAX_GAPS: the oldest two merge (re-reading what lay between)."""
    ordered = sorted(gaps, key=lambda g: int(g[1]))
    while len(ordered) > MAX_GAPS:
        first, second = ordered[0], ordered[1]
        ordered[:2] = [(first[0], second[1])]
    return tuple(ordered)


# ---- cursor ------------------------------------------------------------------------------


def load_cursor(cursor: str | None) -> dict[str, QueryState]:
    """{X query: its state} from a stored cursor; an unreadable entry starts that query afresh."""
    states: dict[str, QueryState] = {}
    for query, entry in cursor_part(cursor, "queries", "twitter").items():
        state = _state(entry)
        if state is None:
            log.warning("x: ignoring an unreadable cursor entry; reading the newest posts again")
            continue
        states[str(query)] = state
    return states


def _state(entry: Any) -> QueryState | None:
    if not isinstance(entry, Mapping):
        return None
    since_id, gaps = entry.get("since_id"), entry.get("gaps") or []
    if since_id is not None and not _is_id(since_id):
        return None
    if not isinstance(gaps, list) or not all(
        isinstance(g, list) and len(g) == 2 and all(_is_id(i) for i in g) for g in gaps
    ):
        return None
    return QueryState(since_id, merge_gaps([(g[0], g[1]) for g in gaps]))


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit()


def snowflake_time(post_id: str) -> datetime:
    """When an X id was minted: its top bits are milliseconds since X's epoch."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def snowflake_id(at: datetime) -> str:
    """The smallest X id minted at `at` (a bound for since_id, not a post)."""
    return str((int(utc(at).timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22)


def usable_since_id(since_id: str | None, now: datetime) -> str | None:
    """since_id, unless it is older than recent search reaches (X answers 400 for those)."""
    if not since_id:
        return None
    # A minute of margin: the request reaches X a little after `now`.
    if snowflake_time(since_id) < utc(now) - RECENT_WINDOW + timedelta(minutes=1):
        return None
    return since_id


def _day(at: datetime) -> str:
    return utc(at).strftime("%Y-%m-%d %H:%M UTC")


# ---- pages -------------------------------------------------------------------------------


def checked_page(body: Any) -> dict[str, Any]:
    """The page if it has the documented shape; a retryable error if not (a proxy's answer)."""
    if (
        isinstance(body, dict)
        and isinstance(body.get("data", []), list)
        and isinstance(body.get("meta", {}), dict)
        and isinstance(body.get("includes", {}), dict)
    ):
        return body
    raise ListenerError("x: the answer was not a search result page; will retry")


def page_ids(page: Mapping[str, Any]) -> list[int]:
    return [int(t["id"]) for t in page.get("data") or () if isinstance(t, Mapping) and _is_id(t.get("id"))]


def with_authors(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The page's posts, each with its includes.users entry under "_author" ({} when X has none:
    a suspended or deleted author)."""
    users = {u.get("id"): u for u in (page.get("includes") or {}).get("users") or () if isinstance(u, Mapping)}
    tweets = [t for t in page.get("data") or () if isinstance(t, Mapping)]
    return [{**tweet, "_author": users.get(tweet.get("author_id"), {})} for tweet in tweets]


# ---- rate limit ----------------------------------------------------------------------------


def reset_wait(reset: float | None, now: datetime) -> float:
    if reset is None or not math.isfinite(reset):
        return MIN_RETRY_AFTER
    wait = reset - utc(now).timestamp()
    if wait <= 0:  # already past: our clock or X's is off, so back off a full minute
        return MIN_RETRY_AFTER
    return float(math.ceil(wait) + 1)  # +1: the window closes at the end of that second


