"""Reddit through praw, read-only (app credentials, no user login).

Submissions come from search (sort=new) over the configured subreddits, one listing per brand
query; with `comments: true`, comments come from the subreddits' comment listing, kept when
they match a brand. The pure parts (query translation, payload mapping, the walk over a
listing, error mapping) are module-level and tested without a network.

How a run walks a listing, and what the cursor holds
----------------------------------------------------
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

Reddit's limits
---------------
An OAuth client may make 100 requests a minute (averaged over a 10-minute window). Every
answer carries X-Ratelimit-Used, -Remaining and -Reset; a requests adapter of ours, mounted
on the session praw is given through its public `requestor_kwargs`, reads them (and sets the
request timeout, which praw 8 accepts as a setting but never passes on to prawcore). When
Remaining reaches 0 the walk stops before its next request and raises RateLimited until the
reset; a 429 does the same with its own headers (60 s when they are missing). prawcore's own
limiter still paces requests when the window runs low; it never has to sleep out a spent
window, because we stop first. prawcore's retries are off (see `_OneTry`): a 5xx or a
timeout fails the poll at once, and the pipeline's backoff, the same for every listener,
decides when to ask again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import praw
import prawcore
import requests
from praw.endpoints import API_PATH
from praw.models import Comment, Listing, Submission
from pydantic import Field, ValidationInfo, field_validator

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention
from bot.query import And, Or, Query, tokenize
from listeners.base import (MIN_RETRY_AFTER, ListenerOptions, QuotaPlan, SecretFilter, Syntax, Timeout, Transport,
                            credentials, cursor_part, guarded, http_error, number, options_of, to_int)
from listeners.base import RateBudget  # noqa: F401  # where the Reddit tests have always read it

log = logging.getLogger(__name__)

PLATFORM = "reddit"
SITE = "https://www.reddit.com"  # for the links people click; requests go to base_url when set
PAGE_SIZE = 100  # what one Reddit listing request returns at most
REQUESTS_PER_MINUTE = 100  # Reddit's free tier, per OAuth client id
MINUTES_PER_DAY = 1440
# Reddit's placeholders for text that is gone: treat them as no text at all.
GONE = frozenset({"[deleted]", "[removed]"})


class RedditListener:
    name: ClassVar[str] = "reddit"

    class Options(ListenerOptions):
        client_id: str = Field("${REDDIT_CLIENT_ID}", description="Script app id, as ${ENV_VAR}")
        client_secret: str = Field(
            "${REDDIT_CLIENT_SECRET}", description="Script app secret, as ${ENV_VAR}"
        )
        user_agent: str = Field(
            "harkbot/0.1 (social listening)",
            description="Sent with every request; Reddit asks for a unique, descriptive one",
        )
        every: Duration = Field(timedelta(minutes=5), description="How often to walk")
        subreddits: list[str] = Field(
            default_factory=lambda: ["all"],
            min_length=1,
            description="Subreddits to search (without r/); 'all' searches all of Reddit",
        )
        comments: bool = Field(
            False,
            description="Also read the comment listing of the subreddits (not 'all') and keep "
            "comments that match a brand; one more listing per walk",
        )
        limit: int = Field(
            100,
            ge=1,
            le=1000,
            description="Newest items to read per listing (a brand's search, the comments) and "
            "walk; a walk cut short resumes on the next run (pages of 100)",
        )
        requests_per_minute: int = Field(
            REQUESTS_PER_MINUTE,
            ge=1,
            description="The OAuth client's request budget (Reddit's free tier: 100 a minute, "
            "144,000 a day); `harkbot check` compares the planned use with it",
        )
        search_overlap: Duration = Field(
            timedelta(minutes=10),
            description="How far below the newest post already read each search reads again: "
            "Reddit's search index adds some posts minutes late; what was stored is not stored twice",
        )
        timeout: Timeout = Field(
            timedelta(seconds=15), description="How long to wait for each answer from Reddit (15s; a bare number is seconds)"
        )

        @field_validator("subreddits")
        @classmethod
        def _bare_names(cls, value: list[str]) -> list[str]:
            # People paste "r/python"; the API wants "python".
            names = [v.strip().removeprefix("/").removeprefix("r/").strip("/") for v in value]
            if not all(names):
                raise ValueError("subreddit names must not be empty")
            return names

        @field_validator("comments")
        @classmethod
        def _named_subreddits(cls, value: bool, info: ValidationInfo) -> bool:
            subreddits = info.data.get("subreddits") or []
            if value and any(name.lower() == "all" for name in subreddits):
                raise ValueError(
                    "comments need named subreddits: r/all's comment listing is every comment "
                    "on Reddit, far more than 100 requests a minute can read; list the "
                    "subreddits to follow, or set comments: false"
                )
            return value

    def __init__(self, options: RedditListener.Options, reddit: praw.Reddit, transport: Transport,
                 hint: str):
        self.options = options
        self.reddit = reddit
        self._transport = transport  # counts requests, holds the latest rate-limit headers
        self._hint = hint  # which settings to fix when Reddit refuses the credentials
        self._rest_until: datetime | None = None  # Reddit said the window is spent until then

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Worst case: every listing reads `limit` items in pages of 100 on every run.

        Reddit allows an OAuth client 100 requests a minute, so 144,000 a day. praw also asks
        for a token about once a day, which is left out of the count.
        """
        options = options_of(cls, options)
        runs = timedelta(days=1) / options.every
        pages = math.ceil(options.limit / PAGE_SIZE)
        searches = len({reddit_query(b) for b in brands})
        listings = searches + (1 if options.comments else 0)
        detail = f"{searches} brand searches" + (" + 1 comment listing" if options.comments else "")
        return QuotaPlan(
            listener=cls.name,
            used=listings * pages * runs,
            budget=options.requests_per_minute * MINUTES_PER_DAY,
            unit="requests",
            detail=f"{detail} x {pages} pages of 100 at most (limit {options.limit}) x {runs:,.0f} runs",
        )

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> RedditListener:
        options = options_of(cls, options)
        creds, hint = credentials(cls.name, env, _REDACT, ["client_secret"],
                                  client_id=options.client_id, client_secret=options.client_secret)
        # praw 8 reads a `timeout` setting but never passes it on (prawcore sends its own 16 s):
        # the transport sets ours, and keeps the X-Ratelimit-* headers.
        transport = Transport(options.timeout.total_seconds())
        session = _OneTry()
        session.mount("http://", transport)
        session.mount("https://", transport)
        reddit = praw.Reddit(  # no username/password: read-only, lazy, no I/O yet
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            user_agent=options.user_agent,
            check_for_async=False,
            check_for_updates=False,  # praw would otherwise ask PyPI on first use
            requestor_kwargs={"session": session},
            **endpoints(options.base_url),
        )
        return cls(options, reddit, transport, hint)

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        clock = _Clock(now)
        listings = self.listings(brands)
        before = load_cursor(cursor)
        # Listings no longer configured drop out of the cursor; new ones start without a floor.
        states = {item.key: before.get(item.key, ListingState()) for item in listings}
        started = dict(states)
        stats = WalkStats(listings=len(listings), sent_before=self._transport.sent)
        try:
            for listing in listings:
                yield from self._walk(listing, states, clock, stats)
        except ListenerError:
            if states != started:
                # Keep how far each walk got: the next run resumes there, nothing is skipped.
                yield Batch((), cursor=dump_cursor(states))
            log.info("reddit: %s; stopped early", stats.summary(states, self._transport))
            raise
        # Only now, with every page stored, may the floors move past what was read.
        yield Batch((), cursor=dump_cursor(states))
        log.info("reddit: %s", stats.summary(states, self._transport))

    def listings(self, brands: Sequence[Brand]) -> list[RedditListing]:
        """What one run walks: a search per distinct brand query, and the comments if asked."""
        where = "+".join(self.options.subreddits)
        everywhere = any(name.lower() == "all" for name in self.options.subreddits)
        out = [
            RedditListing(
                key=f"r/{where}/search?q={query}",
                path=API_PATH["search"].format(subreddit=where),
                params={"q": query, "sort": "new", "syntax": "lucene", "t": "all",
                        "restrict_sr": not everywhere},
                overlap=self.options.search_overlap,
            )
            for query in dict.fromkeys(reddit_query(b) for b in brands)
        ]
        if self.options.comments:
            # Comments cannot be searched: read the listing and keep what names a brand.
            out.append(RedditListing(key=f"r/{where}/comments", path=f"r/{where}/comments/",
                                     params={}, wants=brand_matcher(brands)))
        return out

    def _walk(self, listing: RedditListing, states: dict[str, ListingState], clock: _Clock,
              stats: WalkStats) -> Iterator[Batch]:
        """One listing, page by page; its state moves only once the page is stored."""

        def fetch_page(after: str | None, count: int) -> Page:
            return self._page(listing, after, count, clock)

        before = states[listing.key]
        overlap = listing.overlap.total_seconds()
        for payloads, state in walk(before, fetch_page, self.options.limit, listing.key, overlap):
            mentions = [m for m in map(_TO_MENTION, payloads) if m and listing.wanted(m)]
            stats.pages += 1
            again = sum(1 for p in payloads if not before.above(p))
            stats.read += len(payloads) - again
            stats.again += again
            stats.kept += len(mentions)
            if mentions:
                yield Batch(tuple(mentions))
            states[listing.key] = state

    def _page(self, listing: RedditListing, after: str | None, count: int, clock: _Clock) -> Page:
        self._check_budget(clock())
        params: dict[str, Any] = {**listing.params, "limit": count}
        if after:
            params["after"] = after
        try:
            answer = self.reddit.get(listing.path, params=params)
        except prawcore.exceptions.PrawcoreException as exc:
            # from None: prawcore's exceptions hold the request, and we never log those.
            raise reddit_error(exc, self._hint) from None
        except (praw.exceptions.PRAWException, ValueError, KeyError, TypeError) as exc:
            # praw's objector and prawcore's token and header parsing assume well-formed answers.
            raise ListenerError(f"reddit: an unreadable answer ({type(exc).__name__}); will retry") from None
        finally:
            self._note_budget(clock())
        return listing_page(answer)

    def _note_budget(self, now: datetime) -> None:
        budget = self._transport.budget()
        if budget.spent:
            self._rest_until = now + timedelta(seconds=budget.reset or MIN_RETRY_AFTER)

    def _check_budget(self, now: datetime) -> None:
        """Send nothing Reddit already said is over budget: stop the walk until the reset."""
        if self._rest_until is None or now >= self._rest_until:
            return
        wait = max(1.0, (self._rest_until - now).total_seconds())
        used = self._transport.budget().used
        raise RateLimited(
            f"reddit: the request budget for this window is spent ({used} used); "
            f"resuming after the reset in {wait:.0f}s",
            retry_after=wait,
        )

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        comment = "body" in payload and "title" not in payload
        fullname = _fullname(payload, "t1" if comment else "t3")
        title = "" if comment else _text(payload.get("title"))
        text = _text(payload.get("body" if comment else "selftext"))
        created_at = _created(payload.get("created_utc"))
        if not fullname or not (title or text) or created_at is None:
            return None
        author = payload.get("author")
        score, comments = to_int(payload.get("score")), to_int(payload.get("num_comments"))
        subscribers = to_int(payload.get("subreddit_subscribers"))
        metrics = {"score": score} | ({} if comment else {"num_comments": comments})
        if subscribers:
            metrics["subreddit_subscribers"] = subscribers
        permalink = str(payload.get("permalink") or "")
        return Mention(
            platform=PLATFORM,
            id=fullname,
            # praw asks for raw_json=1, so Reddit's text arrives unescaped: no html.unescape.
            text=text,
            author="" if author in (None, "", "[deleted]") else str(author),
            url=f"{SITE}{permalink}" if permalink.startswith("/") else permalink,
            created_at=created_at,
            # Reddit has no follower count for posters; the subreddit's audience is the reach.
            author_reach=subscribers,
            engagement=max(0, score + (0 if comment else comments)),
            title=title,
            kind="comment" if comment else "post",
            metrics=metrics,
            # subreddit, crosspost_parent (a crosspost's original) and link_id stay here.
            raw=dict(payload),
        )


_TO_MENTION = guarded("reddit", RedditListener.to_mention)


# ---- listings and the walk ---------------------------------------------------------------


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


def brand_matcher(brands: Sequence[Brand]) -> Callable[[Mention], bool]:
    def wants(mention: Mention) -> bool:
        tokens = tokenize(mention.full_text)  # once per mention, for every brand
        return any(b.matches_tokens(tokens) for b in brands)

    return wants


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


def listing_page(answer: Any) -> Page:
    """praw's parsed answer as a Page of payloads; anything but a listing is an error."""
    if not isinstance(answer, Listing):
        raise ListenerError("reddit: the answer was not a listing; will retry")
    things = [c for c in getattr(answer, "children", []) if isinstance(c, (Submission, Comment))]
    after = getattr(answer, "after", None)
    after = after if isinstance(after, str) and after else None
    return Page([thing_payload(t) for t in things], after)


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


class _Clock:
    """The pipeline's `now`, moved on by the time this walk has taken."""

    def __init__(self, now: datetime):
        self.start, self.started = now, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started)


# ---- transport: endpoints, one try per request ------------------------------------------


def endpoints(base_url: str | None) -> dict[str, str]:
    """praw's two hosts moved to base_url: API calls and the OAuth token endpoint."""
    if not base_url:
        return {}
    base = base_url.rstrip("/")
    # prawcore joins oauth_url with urljoin, which drops a path prefix's last segment unless
    # it ends in "/", and appends "/api/v1/access_token" to reddit_url as text.
    oauth = base + "/" if urlsplit(base).path else base
    return {"oauth_url": oauth, "reddit_url": base}


class Unretried(requests.RequestException):
    """A failure handed to prawcore as one it does not retry: a retryable status (`response`)
    or a network fault (`cause`)."""

    def __init__(self, cause: Exception | None = None, response: requests.Response | None = None):
        super().__init__(type(cause).__name__ if cause else f"HTTP {getattr(response, 'status_code', '?')}")
        self.cause, self.answer = cause, response


class _OneTry(requests.Session):
    """The session praw is given: each request is sent once.

    prawcore retries a 5xx, a timeout and a dropped connection twice, sleeping 0-2 s and 2-4 s,
    and the pipeline then rests a failed listener 1, 2, 4... minutes: two backoffs stacked, and
    three requests per poll to a Reddit that is already failing. The pipeline's is the one
    policy every listener shares (X and YouTube send each request once), so what prawcore would
    retry reaches it here as an exception of a kind it does not retry. A 401 still goes back to
    prawcore, which renews an expired token and sends the request again: that is not a backoff.
    """

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        try:
            response = super().request(*args, **kwargs)
        except prawcore.Session.RETRY_EXCEPTIONS as exc:
            raise Unretried(cause=exc) from None
        if response.status_code in prawcore.Session.RETRY_STATUSES:
            raise Unretried(response=response)
        return response


_REDACT = SecretFilter("prawcore", "praw", "urllib3.connectionpool")


# ---- query translation -------------------------------------------------------------------


def reddit_query(brand: Brand) -> str:
    """The brand's query in Reddit's (Lucene) search syntax, its exclude as AND NOT."""
    if brand.exclude is None:
        return reddit_syntax(brand.query)
    return f"{_group(brand.query)} AND NOT {_group(brand.exclude)}"


REDDIT_SYNTAX = Syntax(
    prefix=lambda node: f"{node.stem}*",
    # Reddit has no #tags or @handles: search the word, and harkbot's own match (which
    # re-checks every mention against the brand query) keeps only the tag or handle.
    hashtag=lambda node: node.tag,
    handle=lambda node: node.handle,
    negate=lambda syntax, child: f"NOT {syntax.group(child)}",
    both=" AND ",  # explicit: a Lucene parser may default to OR between bare words
    either=" OR ",
)


def reddit_syntax(node: Query) -> str:
    """One query node as Reddit search text: words, "phrases", prefix*, AND, OR, NOT, ( )."""
    return REDDIT_SYNTAX.render(node)


_group = REDDIT_SYNTAX.group


# ---- payloads ----------------------------------------------------------------------------

_FIELDS = (
    "name", "id", "title", "selftext", "body", "created_utc", "permalink", "score",
    "num_comments", "subreddit_subscribers", "over_18", "url", "crosspost_parent", "link_id",
)


def thing_payload(thing: Any) -> dict[str, Any]:
    """The plain attributes to_mention reads, taken from a praw Submission or Comment.

    Read from vars(): a missing attribute on a praw object triggers a network fetch. A
    crosspost keeps its parent's fullname (crosspost_parent), not the parent's copy.
    """
    data = vars(thing)
    payload = {key: data[key] for key in _FIELDS if key in data}
    author = data.get("author")  # a Redditor, or None when the account is deleted
    payload["author"] = str(author) if author is not None else None
    if data.get("subreddit") is not None:
        payload["subreddit"] = str(data["subreddit"])  # a Subreddit's str is its name
    return payload


def _fullname(payload: Mapping[str, Any], prefix: str) -> str:
    name = str(payload.get("name") or "")
    if name:
        return name
    bare = str(payload.get("id") or "")
    return f"{prefix}_{bare}" if bare else ""


def _text(value: Any) -> str:
    text = str(value or "").strip()
    return "" if text in GONE else text


def _created(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


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


# ---- errors ------------------------------------------------------------------------------


DEFAULT_HINT = "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"


def reddit_error(exc: Exception, hint: str = DEFAULT_HINT) -> ListenerError:
    """Our error for what prawcore raised; messages carry no request data or secrets."""
    errors = prawcore.exceptions
    if isinstance(exc, errors.TooManyRequests):
        wait = retry_after_seconds(exc.response.headers)
        return RateLimited(f"reddit: rate limited (429); retry in {wait:.0f}s", retry_after=wait)
    if isinstance(exc, errors.BadJSON):
        return ListenerError("reddit: the answer was not valid JSON; will retry")
    if isinstance(exc, errors.Redirect):
        # Reddit redirects a search in a subreddit that does not exist to its search page.
        return ListenerError(
            "reddit: a subreddit in listeners.reddit.subreddits does not exist", retryable=False
        )
    if isinstance(exc, errors.OAuthException):
        return ListenerError(
            f"reddit: the app credentials were refused ({exc.error}); check {hint}", retryable=False
        )
    if isinstance(exc, errors.RequestException):
        cause = exc.original_exception
        if isinstance(cause, Unretried):
            if cause.answer is not None:
                return reddit_status_error(cause.answer.status_code, hint)
            cause = cause.cause
        if isinstance(cause, requests.Timeout):
            return ListenerError(f"reddit: no answer in time ({type(cause).__name__}); will retry")
        return ListenerError(f"reddit: network error ({type(cause).__name__}); will retry")
    if isinstance(exc, errors.ResponseException):
        return reddit_status_error(exc.response.status_code, hint)
    return ListenerError(f"reddit: {type(exc).__name__}", retryable=False)


def reddit_status_error(status: int, hint: str = DEFAULT_HINT) -> ListenerError:
    if status == 429:
        return RateLimited("reddit: rate limited (429); retry in 60s", retry_after=MIN_RETRY_AFTER)
    if status < 400:  # a redirect or the like: odd, but not a request of ours to fix
        return ListenerError(f"reddit: unexpected HTTP {status}")
    return http_error(PLATFORM, status, {
        401: f"the app credentials were refused (401); check {hint}",
        403: "forbidden (403): a subreddit is private or banned, or the app is blocked",
        404: "not found (404): check listeners.reddit.subreddits",
    })


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    """How long a 429 asks us to wait: Retry-After, else X-Ratelimit-Reset, else 60 s."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after", "x-ratelimit-reset"):
        wait = number(lower.get(name), float)
        if wait is not None and wait > 0:
            return wait
    return MIN_RETRY_AFTER
