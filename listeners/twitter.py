"""X (Twitter) recent search through tweepy's v2 Client.

The pure parts (query translation, payload mapping, error mapping) are module-level so
they can be tested without a network; `TwitterListener.fetch` only walks pages.
"""

from __future__ import annotations

import html
import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import requests
import tweepy
from pydantic import Field
from requests.adapters import HTTPAdapter

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention, utc
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word
from bot.secrets import env_name, redact
from listeners.base import ListenerOptions, SecretFilter, cursor_part, parse_time, require, to_int, to_ints

log = logging.getLogger(__name__)

PLATFORM = "x"
QUERY_LIMIT = 512  # recent search on the Basic tier; longer queries are rejected with a 400
PAGE_SIZE = 100  # the most recent search returns per page
MIN_RETRY_AFTER = 60.0  # when X gives no usable reset time, do not hammer it
RECENT_WINDOW = timedelta(days=7)  # recent search (and since_id) reach back this far
TIMEOUT = 30.0  # seconds; tweepy passes no timeout, so a stalled socket would hang a run
TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy 4's Client.request
SNOWFLAKE_EPOCH_MS = 1288834974657

TWEET_FIELDS = ["author_id", "created_at", "lang", "public_metrics", "note_tweet"]
USER_FIELDS = ["username", "name", "public_metrics"]
ENGAGEMENT = ("like_count", "retweet_count", "reply_count", "quote_count")


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
            5, ge=1, le=100, description="Pages of 100 posts to read per brand query and run"
        )

    def __init__(self, options: TwitterListener.Options, client: tweepy.Client, hint: str):
        self.options = options
        self.client = client
        self._hint = hint  # which setting to fix when X refuses the credentials

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> TwitterListener:
        if not isinstance(options, cls.Options):
            options = cls.Options.model_validate(options or {})
        token = require(cls.name, env, bearer_token=options.bearer_token)["bearer_token"]
        _REDACT.add(token)
        # return_type=dict: fetch and to_mention then work on the documented wire format.
        client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        client.session.mount(TWEEPY_HOST, _Gateway(options.base_url, TIMEOUT))
        hint = env_name(options.bearer_token) or "listeners.twitter.bearer_token"
        return cls(options, client, hint)

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        since_ids = load_cursor(cursor)
        newest = dict(since_ids)
        for brand in brands:
            since_id = usable_since_id(since_ids.get(brand.key), now)
            seen: set[str] = set()  # one post can match several split queries
            for query in x_query(brand, self.options.lang, self.options.exclude_retweets):
                for page in self._pages(query, since_id, now):
                    mentions = [m for m in map(self.to_mention, with_authors(page)) if m]
                    mentions = [m for m in mentions if m.id not in seen]
                    seen.update(m.id for m in mentions)
                    for m in mentions:
                        if int(m.id) > int(newest.get(brand.key, "0")):
                            newest[brand.key] = m.id
                    if mentions:
                        yield Batch(tuple(mentions))
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=json.dumps({"since_id": newest}, sort_keys=True))

    def _pages(self, query: str, since_id: str | None, now: datetime) -> Iterator[dict]:
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE,
            "tweet_fields": TWEET_FIELDS,
            "expansions": ["author_id"],
            "user_fields": USER_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        for _ in range(self.options.max_pages):
            page = self._search(query, params, now)
            yield page
            next_token = (page.get("meta") or {}).get("next_token")
            if not next_token:
                return
            params["next_token"] = next_token

    def _search(self, query: str, params: dict[str, Any], now: datetime) -> dict:
        try:
            return self.client.search_recent_tweets(query, **params)
        except tweepy.HTTPException as exc:
            status = exc.response.status_code
            messages = [redact(str(m), [self.client.bearer_token]) for m in exc.api_messages]
            raise x_error(status, messages, exc.response.headers, now, self._hint) from None
        except requests.RequestException as exc:
            # The cause is dropped (from None): its repr carries the request it failed on.
            raise ListenerError(f"x: network error ({type(exc).__name__}); will retry") from None

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        tweet_id = str(payload.get("id") or "")
        # A long post's `text` is cut at 280 characters; note_tweet holds all of it.
        text = (payload.get("note_tweet") or {}).get("text") or payload.get("text") or ""
        created_at = parse_time(payload.get("created_at"))
        # X ids are decimal snowflakes; the cursor compares them as numbers.
        if not tweet_id.isdigit() or not text or created_at is None:
            return None
        author = payload.get("_author") or {}
        username = str(author.get("username") or "")
        metrics = to_ints(payload.get("public_metrics"))
        lang = payload.get("lang")
        return Mention(
            platform=PLATFORM,
            id=tweet_id,
            text=html.unescape(text),
            author=username,
            # x.com/i/status/<id> resolves to the post when the author is unknown.
            url=f"https://x.com/{username or 'i'}/status/{tweet_id}",
            created_at=created_at,
            author_reach=to_int((author.get("public_metrics") or {}).get("followers_count")),
            engagement=sum(metrics.get(k, 0) for k in ENGAGEMENT),
            language=lang if lang and lang not in ("und", "zxx", "qme", "qht") else None,
            kind="post",
            metrics=metrics,
            raw=dict(payload),
        )


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


def x_syntax(node: Query) -> str:
    """One query node in X's operators: words, "phrases", #tags, @handles, -, OR, ( )."""
    if isinstance(node, Word):
        return node.word
    if isinstance(node, Prefix):
        # X has no wildcard: search the stem as a word (a narrower search, the best X offers).
        return node.stem
    if isinstance(node, Hashtag):
        return f"#{node.tag}"
    if isinstance(node, Handle):
        return f"@{node.handle}"
    if isinstance(node, Phrase):
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, Not):
        return f"-{_group(node.child)}"
    if isinstance(node, And):
        return " ".join(_group(c) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_group(c) for c in node.children)
    raise TypeError(f"unknown query node {type(node).__name__}")


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


def _group(node: Query) -> str:
    return f"({x_syntax(node)})" if isinstance(node, (And, Or)) else x_syntax(node)


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


# ---- cursor ------------------------------------------------------------------------------


def load_cursor(cursor: str | None) -> dict[str, str]:
    """{brand key: since_id} from a stored cursor; an unreadable one starts afresh."""
    if not cursor:
        return {}
    value = cursor_part(cursor, "since_id", "twitter")
    return {str(k): str(v) for k, v in value.items() if str(v).isdigit()}


def snowflake_time(post_id: str) -> datetime:
    """When an X id was minted: its top bits are milliseconds since X's epoch."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def usable_since_id(since_id: str | None, now: datetime) -> str | None:
    """since_id, unless it is older than recent search reaches (X answers 400 for those)."""
    if not since_id:
        return None
    # A minute of margin: the request reaches X a little after `now`.
    if snowflake_time(since_id) < utc(now) - RECENT_WINDOW + timedelta(minutes=1):
        return None
    return since_id


# ---- payloads ----------------------------------------------------------------------------


def with_authors(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The page's posts, each with its includes.users entry under "_author"."""
    users = {u.get("id"): u for u in (page.get("includes") or {}).get("users") or ()}
    tweets = page.get("data") or ()
    return [{**tweet, "_author": users.get(tweet.get("author_id"), {})} for tweet in tweets]


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
    if status == 401:
        return ListenerError(
            f"x: the bearer token was refused (401){detail}; check {hint}", retryable=False
        )
    if status == 403:
        return ListenerError(
            f"x: forbidden (403){detail}; the app's access level may not include recent "
            "search (it needs Basic or higher), or the app is not in a Project",
            retryable=False,
        )
    if status == 400:
        return ListenerError(f"x: the search was rejected (400){detail}", retryable=False)
    if status >= 500:
        return ListenerError(f"x: server error ({status}){detail}; will retry")
    return ListenerError(f"x: unexpected HTTP {status}{detail}", retryable=False)


def retry_after_from_headers(headers: Mapping[str, str], now: datetime) -> float:
    """Seconds until X's x-rate-limit-reset (epoch seconds); 60 when missing or past."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        reset = float(lowered["x-rate-limit-reset"])
    except (KeyError, TypeError, ValueError):
        return MIN_RETRY_AFTER
    wait = reset - utc(now).timestamp()
    if wait <= 0:  # already past: our clock or X's is off, so back off a full minute
        return MIN_RETRY_AFTER
    return float(math.ceil(wait) + 1)  # +1: the window closes at the end of that second


# ---- transport ---------------------------------------------------------------------------


def rebase(url: str, base_url: str | None) -> str:
    """tweepy's URL with its fixed host swapped for base_url (a gateway or a local fake)."""
    if not base_url or not url.startswith(TWEEPY_HOST):
        return url
    return base_url.rstrip("/") + url[len(TWEEPY_HOST) :]


class _Gateway(HTTPAdapter):
    """Mounted on the client's session: honours base_url and adds a timeout.

    tweepy 4 has no base URL setting (the host is a literal in Client.request), but its
    requests Session is public, and an adapter sees every request before it is sent.
    """

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def send(  # type: ignore[override]  # requests' stubs spell out the keywords we pass on
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        request.url = rebase(request.url or "", self.base_url)
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


_REDACT = SecretFilter("tweepy.client")
