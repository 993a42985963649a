"""A request to Reddit: where it goes (`endpoints`), that it is sent once (`OneTry`), and what
its failure means (`reddit_error`).

Reddit's limits
---------------
An OAuth client may make 100 requests a minute (averaged over a 10-minute window). Every answer
carries X-Ratelimit-Used, -Remaining and -Reset; a requests adapter of ours, mounted on the
session praw is given through its public `requestor_kwargs`, reads them (and sets the request
timeout, which praw 8 accepts as a setting but never passes on to prawcore). When Remaining
reaches 0 the walk stops before its next request (RedditListener._check_budget) and raises
RateLimited until the reset; a 429 does the same with its own headers (60 s when they are
missing). prawcore's own limiter still paces requests when the window runs low; it never has to
sleep out a spent window, because we stop first. prawcore's retries are off (see `OneTry`): a
5xx or a timeout fails the poll at once, and the pipeline's backoff, the same for every
listener, decides when to ask again.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

import prawcore
import requests

from bot.errors import ListenerError, RateLimited
from listeners.base import MIN_RETRY_AFTER, http_error, number


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


class OneTry(requests.Session):
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
    return http_error("reddit", status, {
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
