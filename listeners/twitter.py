"""X (Twitter) recent search through tweepy's v2 Client.

What is searched is listeners/x_query.py (a brand's query in X's syntax, split to fit 512
characters); how one run walks each query, and what the cursor keeps for the next (since_id,
the id ranges skipped), is listeners/x_walk.py. Here are the options, the client and its
transport, the search request, a post as a Mention, the quota plan and X's errors; all of it
but `_search` is pure, tested without a network.

Pages are yielded one by one without a cursor; the new cursor rides on the last page's Batch,
so the pipeline stores it in the same transaction as those mentions, after every earlier page
has committed. A crash or an error mid-walk leaves the old cursor: the next run reads again
and the store drops what it already has.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import requests
import tweepy
from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import ListenerError, RateLimited
from bot.models import Batch, Brand, Mention
from bot.secrets import redact
from listeners.base import (
    ListenerOptions,
    QuotaPlan,
    RateBudget,
    SecretFilter,
    Timeout,
    Transport,
    credentials,
    guarded,
    http_error,
    mapping,
    options_of,
    parse_time,
    text_or_none,
    to_int,
    to_ints,
)
from listeners.base import rebase as _rebase
from listeners.x_query import QUERY_LIMIT, brand_queries
from listeners.x_walk import Walk, checked_page, load_cursor, reset_wait

log = logging.getLogger(__name__)

PLATFORM = "x"
PAGE_SIZE = 100  # the most recent search returns per page
TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy 4's Client.request
RATE_HEADERS = "x-rate-limit-"  # X's spelling: -limit, -remaining, -reset (epoch seconds)
WINDOWS_PER_DAY = 96  # X's rate limits are per 15 minutes
DAY = timedelta(days=1)

TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "entities",  # the expanded links (the text holds only t.co): what site: reads
    "lang",
    "note_tweet",
    "public_metrics",
    "referenced_tweets",
]
USER_FIELDS = ["name", "public_metrics", "username"]

# What every search asks for; the walk adds the range (since_id, until_id) and next_token.
FIELDS: dict[str, Any] = {
    "max_results": PAGE_SIZE,
    "tweet_fields": TWEET_FIELDS,
    "expansions": ["author_id"],
    "user_fields": USER_FIELDS,
}


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
        walk = Walk(lambda q, p: self._search(q, p, now), load_cursor(cursor), self.options.max_pages, now,
                    _TO_MENTION)
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
            body = self.client.search_recent_tweets(query, **{**FIELDS, **params})
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
            links=expanded_links(payload),
        )


def expanded_links(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The post's links as X expanded them (entities.urls: expanded_url, and unwound_url after
    redirects when X has it), not the t.co short links of the text."""
    urls = mapping(payload.get("entities")).get("urls")
    out: list[str] = []
    for entry in urls if isinstance(urls, list) else ():
        entry = mapping(entry)
        out += [str(entry[k]) for k in ("expanded_url", "unwound_url") if isinstance(entry.get(k), str) and entry[k]]
    return tuple(dict.fromkeys(out))


_TO_MENTION = guarded("x", TwitterListener.to_mention)


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


# ---- payloads ----------------------------------------------------------------------------


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


# ---- transport ---------------------------------------------------------------------------


def rebase(url: str, base_url: str | None) -> str:
    """tweepy's URL with its fixed host swapped for base_url (a gateway or a local fake)."""
    return _rebase(url, TWEEPY_HOST, base_url)


_Gateway = Transport  # mounted on tweepy's session for TWEEPY_HOST (see from_config)
_REDACT = SecretFilter("tweepy.client")
