"""Reddit submission search through praw, read-only (app credentials, no user login).

The pure parts (query translation, payload mapping, error mapping) are module-level so
they can be tested without a network; `RedditListener.fetch` only walks the listing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import praw
import prawcore
from pydantic import Field, field_validator

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word
from bot.secrets import env_name
from listeners.base import ListenerOptions, cursor_part, require, to_int

log = logging.getLogger(__name__)

PLATFORM = "reddit"
SITE = "https://www.reddit.com"
PAGE_SIZE = 100  # what one Reddit listing request returns at most
MIN_RETRY_AFTER = 60.0
TIMEOUT = 30  # seconds, per request
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
        every: Duration = Field(timedelta(minutes=5), description="How often to search")
        subreddits: list[str] = Field(
            default_factory=lambda: ["all"],
            min_length=1,
            description="Subreddits to search (without r/); 'all' searches all of Reddit",
        )
        limit: int = Field(
            100, ge=1, le=1000, description="Newest submissions to read per brand and run"
        )

        @field_validator("subreddits")
        @classmethod
        def _bare_names(cls, value: list[str]) -> list[str]:
            # People paste "r/python"; the API wants "python".
            names = [v.strip().removeprefix("/").removeprefix("r/").strip("/") for v in value]
            if not all(names):
                raise ValueError("subreddit names must not be empty")
            return names

    def __init__(self, options: RedditListener.Options, reddit: praw.Reddit, hint: str):
        self.options = options
        self.reddit = reddit
        self._hint = hint  # which settings to fix when Reddit refuses the credentials

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> RedditListener:
        if not isinstance(options, cls.Options):
            options = cls.Options.model_validate(options or {})
        creds = require(
            cls.name, env, client_id=options.client_id, client_secret=options.client_secret
        )
        settings: dict[str, Any] = {
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "user_agent": options.user_agent,
            "check_for_async": False,
            "check_for_updates": False,  # praw would otherwise ask PyPI on first use
            "timeout": TIMEOUT,
        }
        if options.base_url:
            # Token requests go to reddit_url, API calls to oauth_url: both must move.
            base = options.base_url.rstrip("/")
            settings.update(oauth_url=base, reddit_url=base)
        reddit = praw.Reddit(**settings)  # no username/password: read-only, lazy, no I/O yet
        refs = {"client_id": options.client_id, "client_secret": options.client_secret}
        hint = " and ".join(env_name(ref) or f"listeners.reddit.{key}" for key, ref in refs.items())
        return cls(options, reddit, hint)

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        newest_seen = load_cursor(cursor)
        newest = dict(newest_seen)
        where = self.reddit.subreddit("+".join(self.options.subreddits))
        for brand in brands:
            listing = where.search(
                reddit_query(brand), sort="new", syntax="lucene", time_filter="all",
                limit=self.options.limit,
            )
            payloads = map(submission_payload, self._guard(listing))
            items = newer_than(payloads, newest_seen.get(brand.key))
            for page in chunks(items, PAGE_SIZE):
                mentions = [m for m in map(self.to_mention, page) if m]
                for payload in page:
                    created = float(payload.get("created_utc") or 0)
                    newest[brand.key] = max(newest.get(brand.key, 0.0), created)
                if mentions:
                    yield Batch(tuple(mentions))
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=json.dumps({"newest_utc": newest}, sort_keys=True))

    def _guard(self, items: Iterable[Any]) -> Iterator[Any]:
        """The listing, with prawcore's errors turned into ours as they surface mid-walk."""
        try:
            yield from items
        except prawcore.exceptions.PrawcoreException as exc:
            # from None: prawcore's exceptions hold the request, and we never log those.
            raise reddit_error(exc, self._hint) from None

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
            raw=dict(payload),
        )


# ---- query translation -------------------------------------------------------------------


def reddit_query(brand: Brand) -> str:
    """The brand's query in Reddit's (Lucene) search syntax, its exclude as AND NOT."""
    if brand.exclude is None:
        return reddit_syntax(brand.query)
    return f"{_group(brand.query)} AND NOT {_group(brand.exclude)}"


def reddit_syntax(node: Query) -> str:
    """One query node as Reddit search text: words, "phrases", prefix*, AND, OR, NOT, ( )."""
    if isinstance(node, Word):
        return node.word
    if isinstance(node, Prefix):
        return f"{node.stem}*"
    # Reddit has no #tags or @handles: search the word, and harkbot's own match (which
    # re-checks every mention against the brand query) keeps only the tag or handle.
    if isinstance(node, Hashtag):
        return node.tag
    if isinstance(node, Handle):
        return node.handle
    if isinstance(node, Phrase):
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, Not):
        return f"NOT {_group(node.child)}"
    if isinstance(node, And):
        # Explicit AND: a Lucene parser may default to OR between bare words.
        return " AND ".join(_group(c) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_group(c) for c in node.children)
    raise TypeError(f"unknown query node {type(node).__name__}")


def _group(node: Query) -> str:
    return f"({reddit_syntax(node)})" if isinstance(node, (And, Or)) else reddit_syntax(node)


# ---- cursor and walking ------------------------------------------------------------------


def load_cursor(cursor: str | None) -> dict[str, float]:
    """{brand key: newest created_utc seen}; an unreadable cursor starts afresh."""
    if not cursor:
        return {}
    value = cursor_part(cursor, "newest_utc", "reddit")
    try:
        return {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        return {}


def newer_than(
    payloads: Iterable[dict[str, Any]], newest_utc: float | None
) -> Iterator[dict[str, Any]]:
    """Payloads until the first one older than the cursor (the listing is newest first).

    Posts from the cursor's own second are kept: re-reading one is deduplicated later,
    while skipping one would lose it.
    """
    for payload in payloads:
        if newest_utc is not None and float(payload.get("created_utc") or 0) < newest_utc:
            return
        yield payload


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# ---- payloads ----------------------------------------------------------------------------

_FIELDS = (
    "name", "id", "title", "selftext", "body", "created_utc", "permalink", "score",
    "num_comments", "subreddit_subscribers", "over_18", "url",
)


def submission_payload(thing: Any) -> dict[str, Any]:
    """The plain attributes to_mention reads, taken from a praw Submission or Comment.

    Read from vars(): a missing attribute on a praw object triggers a network fetch.
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


# ---- errors ------------------------------------------------------------------------------


DEFAULT_HINT = "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"


def reddit_error(exc: Exception, hint: str = DEFAULT_HINT) -> ListenerError:
    """Our error for what prawcore raised; messages carry no request data or secrets."""
    errors = prawcore.exceptions
    if isinstance(exc, errors.TooManyRequests):
        wait = retry_after_seconds(exc.response.headers.get("retry-after"))
        return RateLimited(f"reddit: rate limited (429); retry in {wait:.0f}s", retry_after=wait)
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
        cause = type(exc.original_exception).__name__
        return ListenerError(f"reddit: network error ({cause}); will retry")
    if isinstance(exc, errors.ResponseException):
        return reddit_status_error(exc.response.status_code, hint)
    return ListenerError(f"reddit: {type(exc).__name__}", retryable=False)


def reddit_status_error(status: int, hint: str = DEFAULT_HINT) -> ListenerError:
    if status == 401:
        return ListenerError(
            f"reddit: the app credentials were refused (401); check {hint}", retryable=False
        )
    if status == 403:
        return ListenerError(
            "reddit: forbidden (403): a subreddit is private or banned, or the app is blocked",
            retryable=False,
        )
    if status == 404:
        return ListenerError(
            "reddit: not found (404): check listeners.reddit.subreddits", retryable=False
        )
    if status == 429:
        return RateLimited("reddit: rate limited (429); retry in 60s", retry_after=MIN_RETRY_AFTER)
    if status >= 500 or status < 400:  # a 5xx, or a 200 whose body was not JSON: transient
        return ListenerError(f"reddit: server error ({status}); will retry")
    return ListenerError(f"reddit: unexpected HTTP {status}", retryable=False)


def retry_after_seconds(value: str | None) -> float:
    """Reddit's retry-after header (seconds); 60 when missing, unreadable or not positive."""
    try:
        wait = float(value) if value is not None else 0.0
    except ValueError:
        return MIN_RETRY_AFTER
    return wait if wait > 0 else MIN_RETRY_AFTER
