"""What a failed feed read means: the error a person reads, how long the feed rests, and the
one error a walk ends with. Pure; listeners/rss.py does the reading."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import urllib3

from bot.errors import ListenerError, RateLimited
from bot.models import utc
from listeners.base import MIN_RETRY_AFTER, header, http_error

MAX_REST = timedelta(hours=1)  # the longest a failing feed rests, as the pipeline's backoff
# Query parameters whose values are secrets in some paid or private feeds: never logged.
_SECRET_PARAMS = frozenset({"key", "apikey", "api_key", "token", "access_token", "auth", "secret",
                            "signature", "sig", "password", "pass"})


def status_error(url: str, response: requests.Response, now: datetime) -> ListenerError:
    status = response.status_code
    where = f" at {shown(url)}"
    wait = retry_after(header(response.headers, "retry-after"), now)
    if status == 429 or (status == 503 and wait is not None):
        wait = wait if wait is not None else MIN_RETRY_AFTER
        return RateLimited(f"rss: {shown(url)} asks us to slow down ({status}); retry in {wait:.0f}s",
                           retry_after=wait)
    return http_error("rss", status, {
        401: "the feed wants a login (401){detail}; harkbot reads public feeds only",
        403: "forbidden (403){detail}; the publisher refuses us: check the URL, or set "
             "listeners.rss.user_agent if it blocks unknown readers",
        404: "no feed (404){detail}; check the URL in listeners.rss.feeds",
        410: "the feed is gone for good (410){detail}; remove it from listeners.rss.feeds",
    }, where, otherwise="unexpected HTTP {status}{detail}")


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date (as seconds from `now`)."""
    if not value:
        return None
    try:
        return max(1.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(1.0, (utc(when) - utc(now)).total_seconds())


def timed_out(url: str, timeout: timedelta) -> ListenerError:
    return ListenerError(f"rss: {shown(url)} did not answer within {timeout.total_seconds():g}s; will retry")


def is_timeout(exc: BaseException) -> bool:
    return any(isinstance(a, (urllib3.exceptions.ReadTimeoutError, TimeoutError)) for a in exc.args)


def feed_rest(error: ListenerError, failures: int) -> timedelta:
    """How long one failing feed rests: the publisher's word, else doubling from a minute; a
    feed that is wrong (404, 410, too large) waits the hour."""
    if isinstance(error, RateLimited):
        return timedelta(seconds=error.retry_after)
    if not error.retryable:
        return MAX_REST
    return min(MAX_REST, timedelta(minutes=2 ** min(failures - 1, 10)))


def walk_error(failed: list[ListenerError], delivered: bool) -> ListenerError:
    """One error for the walk. Alone and with nothing delivered, a feed's own error stands
    (its Retry-After, its retryable). Otherwise the feeds rest on their own and the listener
    need not: a plain retryable error, or, when every feed rate-limited us, the shortest wait."""
    if len(failed) == 1 and not delivered:
        return failed[0]
    text = "; ".join(str(e).removeprefix("rss: ") for e in failed)
    message = f"rss: {len(failed)} feed{'s' if len(failed) > 1 else ''} failed (each rests on its own"
    message += ", the others were read): " if delivered else "): "
    if not delivered and all(isinstance(e, RateLimited) for e in failed):
        return RateLimited(message + text, retry_after=min(e.retry_after for e in failed))  # type: ignore[attr-defined]
    return ListenerError(message + text, retryable=delivered or any(e.retryable for e in failed))


def shown(url: str) -> str:
    """A feed URL fit for a log line: no user:password, no value of a secret-looking parameter."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v)
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*:/")
        return urlunsplit((parts.scheme, host, parts.path, query, ""))
    except ValueError:
        return "(an unreadable URL)"
