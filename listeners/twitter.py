"""X (Twitter) recent search through tweepy's v2 Client.

The pure parts (query translation, payload mapping, cursor, error mapping, the quota plan) are
module-level so they can be tested without a network; `TwitterListener.fetch` walks pages.

The walk and its cursor
-----------------------
Each distinct X query (one brand may need several, see `x_query`) keeps its own state in the
cursor, keyed by the query text: `since_id`, below which everything was read, and `gaps`,
ranges of posts known to exist but not read yet. X pages go newest first, so a run reads,
within `max_pages` requests per query, (1) the posts newer than since_id, then (2) the gaps,
oldest first.

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

Pages are yielded one by one without a cursor; the new cursor rides on the last page's Batch,
so the pipeline stores it in the same transaction as those mentions, after every earlier page
has committed. A crash or an error mid-walk leaves the old cursor: the next run reads again
and the store drops what it already has.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Generator, Iterable, Iterator, Mapping, Sequence

import requests
import tweepy
from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention, utc
from bot.query import And, Or, Query
from bot.secrets import redact
from listeners.base import (
    MIN_RETRY_AFTER,
    Budget,
    ListenerOptions,
    QuotaPlan,
    RateBudget,
    SecretFilter,
    Seen,
    Syntax,
    Timeout,
    Transport,
    credentials,
    cursor_part,
    follow_pages,
    guarded,
    header,
    http_error,
    mapping,
    options_of,
    parse_time,
    text_or_none,
    to_int,
    to_ints,
)
from listeners.base import rebase as _rebase

log = logging.getLogger(__name__)

PLATFORM = "x"
QUERY_LIMIT = 512  # recent search on the self-serve tiers; longer queries are rejected with a 400
PAGE_SIZE = 100  # the most recent search returns per page
RECENT_WINDOW = timedelta(days=7)  # recent search (and since_id/until_id) reach back this far
TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy 4's Client.request
RATE_HEADERS = "x-rate-limit-"  # X's spelling: -limit, -remaining, -reset (epoch seconds)
SNOWFLAKE_EPOCH_MS = 1288834974657
INDEX_LAG = timedelta(minutes=10)  # a quiet query's since_id moves no closer to now than this,
# so a post that reaches X's search index late is still found
MAX_GAPS = 20  # beyond this, the oldest gaps merge: a wider gap re-reads posts, never skips one
WINDOWS_PER_DAY = 96  # X's rate limits are per 15 minutes
DAY = timedelta(days=1)

TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "lang",
    "note_tweet",
    "public_metrics",
    "referenced_tweets",
]
USER_FIELDS = ["name", "public_metrics", "username"]


class TwitterListener:
    name: ClassVar[str] = "twitter"

    class Options(ListenerOptions):
        bearer_token: str = Field(
            "${X_BEARER_TOKEN}", description="App-only bearer token, as ${ENV_VAR}"
        )
        every: Duration = Field(timedelta(minutes=5), description="How often to search")
        lang: str | None = Field(
            None, description="Only posts in this language (X's lang: operator, e.g. en)"
        )
        exclude_retweets: bool = Field(
            True, description="Leave out reposts (-is:retweet): they repeat the original text"
        )
        max_pages: int = Field(
            5,
            ge=1,
            le=100,
            description="Requests (pages of 100 posts) per X query and run; what a busy run "
            "leaves unread is read by the next runs",
        )
        timeout: Timeout = Field(
            timedelta(seconds=30),
            description="How long to wait for X to answer one request (30s; a bare number is seconds)",
        )
        requests_per_15min: int = Field(
            450,
            ge=1,
            description="The app's recent-search rate limit with app-only auth: 450 on Pro, "
            "60 on Basic; `harkbot check` plans against it",
        )
        monthly_post_cap: int | None = Field(
            None,
            ge=1,
            description="Posts the app may read a month (Basic and Pro cap it; see your plan); "
            "when set, `harkbot check` also plans against it",
        )

    def __init__(self, options: TwitterListener.Options, client: tweepy.Client, gateway: Transport, hint: str):
        self.options = options
        self.client = client
        self._gateway = gateway  # sees every response: the rate-limit headers come from it
        self._hint = hint  # which setting to fix when X refuses the credentials
        self.quota: dict[str, Any] | None = None  # the last walk's x-rate-limit-remaining

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> TwitterListener:
        options = options_of(cls, options)
        values, hint = credentials(cls.name, env, _REDACT, ["bearer_token"], bearer_token=options.bearer_token)
        # return_type=dict: fetch and to_mention then work on the documented wire format.
        client = tweepy.Client(bearer_token=values["bearer_token"], return_type=dict, wait_on_rate_limit=False)
        # tweepy 4 has no base URL setting (the host is a literal in Client.request), and with
        # return_type=dict it drops the response headers: the transport mends both.
        gateway = Transport(options.timeout.total_seconds(), options.base_url, TWEEPY_HOST)
        client.session.mount(TWEEPY_HOST, gateway)
        return cls(options, client, gateway, hint)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        return quota_plan(options_of(cls, options), brands)

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        queries, unfit = brand_queries(brands, self.options.lang, self.options.exclude_retweets)
        for error in unfit:
            log.warning("%s (skipped; the other brands are searched)", error)
        walk = _Walk(lambda q, p: self._search(q, p, now), load_cursor(cursor), self.options.max_pages, now)
        last: tuple[Mention, ...] | None = None
        try:
            # One page behind, so that the last page can carry the cursor.
            for mentions in walk.pages(queries):
                if last is not None:
                    yield Batch(last)
                last = mentions
        except ListenerError:
            if last:
                yield Batch(last)  # stored without the cursor: the next run reads on from the old one
            raise
        log.info("%s", walk.summary())
        if walk.remaining is not None:
            # What `harkbot status` shows as quota left (the daemon saves it after each poll).
            self.quota = {"left": int(walk.remaining), "unit": "requests", "window": "15m"}
        yield Batch(last or (), cursor=walk.cursor())
        if walk.stopped is not None:
            raise walk.stopped  # after the cursor is stored: rest until the window resets

    def _search(self, query: str, params: dict[str, Any], now: datetime) -> tuple[dict[str, Any], RateBudget]:
        """One page of recent search, with the response's headers; every failure a ListenerError."""
        try:
            body = self.client.search_recent_tweets(query, **params)
        except tweepy.HTTPException as exc:
            response = exc.response
            messages = [redact(str(m), [self.client.bearer_token]) for m in exc.api_messages]
            raise x_error(response.status_code, messages, response.headers, now, self._hint) from None
        except requests.Timeout:
            raise ListenerError(f"x: no answer within {format_duration(self.options.timeout)} (timeout); will retry") from None
        except requests.JSONDecodeError:
            raise ListenerError("x: the answer was not JSON; will retry") from None
        except requests.RequestException as exc:
            # The cause is dropped (from None): its repr carries the request it failed on.
            raise ListenerError(f"x: network error ({type(exc).__name__}); will retry") from None
        return checked_page(body), self._gateway.budget(RATE_HEADERS)

    # -- payloads ------------------------------------------------------------------------

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        tweet_id = str(payload.get("id") or "")
        text = full_text(payload)
        created_at = parse_time(payload.get("created_at"))
        # X ids are decimal snowflakes; the cursor compares them as numbers (ASCII digits only:
        # "²".isdigit() is true, and int() refuses it).
        if not (tweet_id.isascii() and tweet_id.isdigit()) or not text or created_at is None:
            return None
        author = mapping(payload.get("_author"))
        username = str(author.get("username") or "")
        metrics = to_ints(payload.get("public_metrics"))
        lang = text_or_none(payload.get("lang"))
        return Mention(
            platform=PLATFORM,
            id=tweet_id,
            text=unescape(text),
            author=username,
            # x.com/i/status/<id> resolves to the post when the author is unknown.
            url=f"https://x.com/{username or 'i'}/status/{tweet_id}",
            created_at=created_at,
            author_reach=to_int(mapping(author.get("public_metrics")).get("followers_count")),
            engagement=engagement(metrics),
            language=lang if lang and lang not in ("und", "zxx", "qme", "qht") else None,
            kind="post",
            metrics=metrics,
            raw=dict(payload),
        )


# ---- the walk --------------------------------------------------------------------------------


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


class _Walk:
    """One run over every query: yields each page's new mentions, then knows the next cursor."""

    def __init__(self, search: Search, states: Mapping[str, QueryState], max_pages: int, now: datetime):
        self.search = search
        self.states = states
        self.max_pages = max_pages
        self.now = utc(now)
        self.next_states: dict[str, QueryState] = {}
        self.seen = Seen(_TO_MENTION)
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
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE,
            "tweet_fields": TWEET_FIELDS,
            "expansions": ["author_id"],
            "user_fields": USER_FIELDS,
        }
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


_TO_MENTION = guarded("x", TwitterListener.to_mention)


def merge_gaps(gaps: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Gaps oldest first, at most MAX_GAPS: the oldest two merge (re-reading what lay between)."""
    ordered = sorted(gaps, key=lambda g: int(g[1]))
    while len(ordered) > MAX_GAPS:
        first, second = ordered[0], ordered[1]
        ordered[:2] = [(first[0], second[1])]
    return tuple(ordered)


# ---- query translation -------------------------------------------------------------------


def x_query(brand: Brand, lang: str | None = None, exclude_retweets: bool = True) -> list[str]:
    """The brand's query in X search syntax: one string, or several if it is over 512 chars.

    A long query is split at its top-level ORs (each part searched separately). If even one
    alternative is too long with the brand's exclude, the exclude is left off the platform
    query: harkbot matches every fetched mention against the whole brand query again, so the
    platform query may be broader, never narrower.
    """
    operators = (["-is:retweet"] if exclude_retweets else []) + ([f"lang:{lang}"] if lang else [])
    exclude = [f"-{_group(brand.exclude)}"] if brand.exclude else []
    for clauses in (exclude + operators, operators):
        suffix = "".join(f" {c}" for c in clauses)
        whole = _clause(brand.query, bool(suffix)) + suffix
        if len(whole) <= QUERY_LIMIT:
            return [whole]
        parts = _pack([_group(a) for a in alternatives(brand.query)], suffix)
        if parts:
            return parts
    raise ListenerError(
        f"x: brand '{brand.key}': its query is longer than X's {QUERY_LIMIT} characters even "
        "split at OR; shorten it or split it into several brands",
        retryable=False,
    )


X_SYNTAX = Syntax(
    # X has no wildcard: search the stem as a word (a narrower search, the best X offers).
    prefix=lambda node: node.stem,
    hashtag=lambda node: f"#{node.tag}",
    handle=lambda node: f"@{node.handle}",
    negate=lambda syntax, child: f"-{syntax.group(child)}",
    both=" ",
    either=" OR ",
)


def x_syntax(node: Query) -> str:
    """One query node in X's operators: words, "phrases", #tags, @handles, -, OR, ( )."""
    return X_SYNTAX.render(node)


def alternatives(node: Query) -> list[Query]:
    """The node as an OR of smaller queries, so a long query can be searched in parts.

    a OR b -> [a, b]; x (a OR b) -> [x a, x b]; anything else -> [itself].
    """
    if isinstance(node, Or):
        return list(node.children)
    if isinstance(node, And):
        for i, child in enumerate(node.children):
            if isinstance(child, Or):
                rest = node.children[:i], node.children[i + 1 :]
                return [And((*rest[0], c, *rest[1])) for c in child.children]
    return [node]


_group = X_SYNTAX.group


def _clause(node: Query, followed: bool) -> str:
    # An OR followed by other clauses needs parentheses: AND binds tighter than OR in X.
    return _group(node) if followed and isinstance(node, Or) else x_syntax(node)


def _pack(parts: list[str], suffix: str) -> list[str] | None:
    """Greedily join alternatives with OR into queries within the limit; None if one can't fit."""

    def render(group: list[str]) -> str:
        body = " OR ".join(group)
        return (f"({body})" if len(group) > 1 and suffix else body) + suffix

    queries: list[str] = []
    group: list[str] = []
    for part in parts:
        if len(render([part])) > QUERY_LIMIT:
            return None
        if group and len(render(group + [part])) > QUERY_LIMIT:
            queries.append(render(group))
            group = []
        group.append(part)
    queries.append(render(group))
    return queries


def brand_queries(
    brands: Sequence[Brand], lang: str | None, exclude_retweets: bool
) -> tuple[list[str], list[ListenerError]]:
    """Each distinct X query once (brands that translate alike share a search), and an error for
    each brand that cannot be translated: it is skipped, the others are still searched."""
    queries: list[str] = []
    unfit: list[ListenerError] = []
    for brand in brands:
        try:
            queries += [q for q in x_query(brand, lang, exclude_retweets) if q not in queries]
        except ListenerError as exc:
            unfit.append(exc)
    return queries, unfit


# ---- quota plan ----------------------------------------------------------------------------


def quota_plan(options: TwitterListener.Options, brands: Sequence[Brand]) -> QuotaPlan:
    """Worst-case daily use: every query spends max_pages requests on every run.

    Requests are planned against requests_per_15min x 96 windows a day; with monthly_post_cap
    set, posts (100 a request) also against the cap / 30. The tighter of the two is returned.
    """
    queries, unfit = brand_queries(brands, options.lang, options.exclude_retweets)
    runs = DAY / options.every
    requests_a_day = len(queries) * runs * options.max_pages
    budget = options.requests_per_15min * WINDOWS_PER_DAY
    how = (f"{len(queries)} X quer{'y' if len(queries) == 1 else 'ies'} x {runs:,.0f} runs x "
           f"{options.max_pages} pages (max_pages, the worst case)")
    skipped = f"; {len(unfit)} brand(s) skipped, query over {QUERY_LIMIT} characters" if unfit else ""
    by_requests = QuotaPlan(TwitterListener.name, requests_a_day, budget, "requests",
                            f"{how}, against requests_per_15min {options.requests_per_15min} x 96{skipped}")
    if options.monthly_post_cap is None:
        return by_requests
    by_posts = QuotaPlan(
        TwitterListener.name, requests_a_day * PAGE_SIZE, options.monthly_post_cap / 30, "posts",
        f"{how} x {PAGE_SIZE} posts, against monthly_post_cap {options.monthly_post_cap:,} / 30 days; "
        f"requests: {requests_a_day:,.0f} of {budget:,.0f} a day{skipped}",
    )
    return max(by_requests, by_posts, key=lambda p: p.used / p.budget if p.budget else 0.0)


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


# ---- payloads ----------------------------------------------------------------------------


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


def full_text(payload: Mapping[str, Any]) -> str:
    """A long post's `text` is cut at 280 characters; note_tweet holds all of it. (note_post is
    the name in X's newer OpenAPI spec.)"""
    for key in ("note_tweet", "note_post"):
        note = payload.get(key)
        if isinstance(note, Mapping) and note.get("text"):
            return str(note["text"])
    return str(payload.get("text") or "")


def unescape(text: str) -> str:
    """X escapes exactly &, < and > in post text; undo those, and only those, once."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def engagement(metrics: Mapping[str, int]) -> int:
    """Likes + reposts + replies + quotes. Reposts are retweet_count on the wire (repost_count in
    X's newer spec)."""
    reposts = metrics.get("retweet_count", metrics.get("repost_count", 0))
    return metrics.get("like_count", 0) + reposts + metrics.get("reply_count", 0) + metrics.get("quote_count", 0)


# ---- errors ------------------------------------------------------------------------------


def x_error(
    status: int,
    messages: Sequence[str],
    headers: Mapping[str, str],
    now: datetime,
    hint: str = "X_BEARER_TOKEN",
) -> ListenerError:
    """Our error for an X API error response (the caller has removed secrets from messages)."""
    detail = f": {'; '.join(messages)}" if messages else ""
    if status == 429:
        wait = retry_after_from_headers(headers, now)
        return RateLimited(f"x: rate limited (429); retry in {wait:.0f}s", retry_after=wait)
    return http_error(PLATFORM, status, {
        401: f"the bearer token was refused (401){{detail}}; check {hint}",
        403: f"forbidden (403){{detail}}; the app behind {hint} may lack recent search (its access "
             "level needs Basic or higher), or the app is not in a Project",
        400: "the search was rejected (400){detail}",
    }, detail)


def retry_after_from_headers(headers: Mapping[str, str], now: datetime) -> float:
    """Seconds until X's x-rate-limit-reset (epoch seconds); 60 when missing or past."""
    return reset_wait(RateBudget.of(headers, RATE_HEADERS).reset, now)


def reset_wait(reset: float | None, now: datetime) -> float:
    if reset is None or not math.isfinite(reset):
        return MIN_RETRY_AFTER
    wait = reset - utc(now).timestamp()
    if wait <= 0:  # already past: our clock or X's is off, so back off a full minute
        return MIN_RETRY_AFTER
    return float(math.ceil(wait) + 1)  # +1: the window closes at the end of that second


# ---- transport ---------------------------------------------------------------------------


def rebase(url: str, base_url: str | None) -> str:
    """tweepy's URL with its fixed host swapped for base_url (a gateway or a local fake)."""
    return _rebase(url, TWEEPY_HOST, base_url)


_Gateway = Transport  # mounted on tweepy's session for TWEEPY_HOST (see from_config)
_REDACT = SecretFilter("tweepy.client")
