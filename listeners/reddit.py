"""Reddit through praw, read-only (app credentials, no user login).

Submissions come from search (sort=new) over the configured subreddits, one listing per brand
query; with `comments: true`, comments come from the subreddits' comment listing, kept when
they match a brand. How a run walks a listing, and what the cursor keeps, is
listeners/reddit_walk.py; where a request goes, that it is sent once, and what a failure means
(Reddit's limits) is listeners/reddit_requests.py. The pure parts here (query translation,
payload mapping) are module-level and tested without a network.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import praw
import prawcore
from praw.endpoints import API_PATH
from praw.models import Comment, Listing, Submission
from pydantic import Field, ValidationInfo, field_validator

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention
from bot.query import Query, Target
from listeners.base import (MIN_RETRY_AFTER, ListenerOptions, QuotaPlan, SecretFilter, Syntax, Timeout, Transport,
                            credentials, guarded, options_of, to_int)
from listeners.reddit_requests import OneTry, endpoints, reddit_error
from listeners.reddit_walk import (PAGE_SIZE, ListingState, Page, RedditListing, WalkStats, dump_cursor, load_cursor,
                                   walk)

log = logging.getLogger(__name__)

PLATFORM = "reddit"
SITE = "https://www.reddit.com"  # for the links people click; requests go to base_url when set
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
        searches = len({q for b in brands if (q := reddit_query(b))})
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
        session = OneTry()
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
        # a brand with nothing Reddit can search (site: alone) is found by the comments listing only
        queries = [q for q in map(reddit_query, brands) if q]
        out = [
            RedditListing(
                key=f"r/{where}/search?q={query}",
                path=API_PATH["search"].format(subreddit=where),
                params={"q": query, "sort": "new", "syntax": "lucene", "t": "all",
                        "restrict_sr": not everywhere},
                overlap=self.options.search_overlap,
            )
            for query in dict.fromkeys(queries)
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
            # a link post's target (a self post's url is its own page): what site: reads
            links=(str(payload["url"]),) if not comment and isinstance(payload.get("url"), str) and payload["url"] else (),
        )


_TO_MENTION = guarded("reddit", RedditListener.to_mention)


def brand_matcher(brands: Sequence[Brand]) -> Callable[[Mention], bool]:
    def wants(mention: Mention) -> bool:
        target = Target.of(mention)  # once per mention, for every brand: its words, author and links
        return any(b.matches_target(target) for b in brands)

    return wants


class _Clock:
    """The pipeline's `now`, moved on by the time this walk has taken."""

    def __init__(self, now: datetime):
        self.start, self.started = now, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started)


_REDACT = SecretFilter("prawcore", "praw", "urllib3.connectionpool")


# ---- query translation -------------------------------------------------------------------


def reddit_query(brand: Brand) -> str:
    """The brand's query in Reddit's (Lucene) search syntax, its exclude as AND NOT. author: is
    Reddit's author:; site: (Reddit's is the link's domain only, where harkbot's also reads the
    links in a post's text) is left to harkbot's match, as is what cannot be said without it.
    "" when nothing of the query can be searched (author:x:bob, site:... alone)."""
    query = REDDIT_SYNTAX.searchable(brand.query)
    if query is None:
        return ""
    exclude = REDDIT_SYNTAX.excludable(brand.exclude) if brand.exclude is not None else None
    if exclude is None:
        return reddit_syntax(query)
    return f"{_group(query)} AND NOT {_group(exclude)}"


REDDIT_SYNTAX = Syntax(
    prefix=lambda node: f"{node.stem}*",
    # Reddit has no #tags or @handles: search the word, and harkbot's own match (which
    # re-checks every mention against the brand query) keeps only the tag or handle.
    hashtag=lambda node: node.tag,
    handle=lambda node: node.handle,
    negate=lambda syntax, child: f"NOT {syntax.group(child)}",
    both=" AND ",  # explicit: a Lucene parser may default to OR between bare words
    either=" OR ",
    platform="reddit",
    # Reddit usernames are letters, digits, _ and -: any other author: is never a Redditor
    author=lambda node: f"author:{node.handle}" if _REDDITOR.fullmatch(node.handle) else None,
)
_REDDITOR = re.compile(r"[a-z0-9_-]{1,20}")  # folded


def reddit_syntax(node: Query) -> str:
    """One query node as Reddit search text: words, "phrases", prefix*, AND, OR, NOT, ( )."""
    return REDDIT_SYNTAX.render(node)


_group = REDDIT_SYNTAX.group


# ---- payloads ----------------------------------------------------------------------------

_FIELDS = (
    "name", "id", "title", "selftext", "body", "created_utc", "permalink", "score",
    "num_comments", "subreddit_subscribers", "over_18", "url", "crosspost_parent", "link_id",
)


def listing_page(answer: Any) -> Page:
    """praw's parsed answer as a Page of payloads; anything but a listing is an error."""
    if not isinstance(answer, Listing):
        raise ListenerError("reddit: the answer was not a listing; will retry")
    things = [c for c in getattr(answer, "children", []) if isinstance(c, (Submission, Comment))]
    after = getattr(answer, "after", None)
    after = after if isinstance(after, str) and after else None
    return Page([thing_payload(t) for t in things], after)


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
