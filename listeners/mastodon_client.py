"""A request to one Mastodon server through Mastodon.py (`Client`): sent once, what came back
as plain payloads (`page_of`), and what its failure means (`mastodon_error`).

Mastodon.py runs in "throw" mode: it never sleeps on a 429, it raises MastodonRatelimitError,
after reading X-RateLimit-Remaining and -Reset (an ISO time, set against the server's Date)
into `ratelimit_remaining` and `ratelimit_reset` (an epoch). Those two become our RateLimited
and its retry_after; with Remaining at 0 the client sends nothing more to that server until
the reset. Every other failure is raised at once: the pipeline's backoff is the one policy.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import quote

import mastodon as mastodon_py

from bot.errors import ListenerError, RateLimited
from listeners.base import MIN_RETRY_AFTER, Transport, http_error, mapping
from listeners.mastodon_walk import Page


class Client:
    """One server's Mastodon.py client: each call sent once, its failure as our error."""

    def __init__(self, server: Any, api: Any, transport: Transport, token: bool, hint: str | None):
        self.server, self.api, self.transport, self.token, self.hint = server, api, transport, token, hint
        self.host = server.host
        self.rest_until: datetime | None = None  # the headers said the window is spent until then

    def timeline(self, tag: str, min_id: str | None, limit: int, local: bool, now: datetime) -> Page:
        # Mastodon.py puts the tag into the path as it is: quote it (a tag is word characters,
        # but they may be any script's).
        return self._page(lambda: self.api.timeline_hashtag(quote(tag, safe=""), min_id=min_id, limit=limit,
                                                            local=local), now)

    def search(self, text: str, min_id: str | None, max_id: str | None, limit: int, now: datetime) -> Page:
        def call() -> Any:
            # resolve=False: no WebFinger lookups of remote servers on our behalf.
            answer = self.api.search_v2(text, resolve=False, result_type="statuses", min_id=min_id,
                                        max_id=max_id, limit=limit)
            if not isinstance(answer, Mapping):
                raise _Unreadable
            return answer.get("statuses")

        return self._page(call, now)

    def _page(self, call: Any, now: datetime) -> Page:
        started = time.monotonic()
        if self.rest_until is not None and now < self.rest_until:
            wait = (self.rest_until - now).total_seconds()
            raise RateLimited(f"mastodon: {self.host}: the request window is spent; resuming after its reset "
                              f"in {wait:.0f}s", retry_after=wait)
        try:
            answer = call()
        except mastodon_py.MastodonError as exc:
            wait = self._wait()
            if isinstance(exc, mastodon_py.MastodonRatelimitError) and wait is None:
                wait = MIN_RETRY_AFTER
            error = mastodon_error(exc, self.host, self.token, self.hint, wait)
            if isinstance(error, RateLimited):
                self.rest_until = now + timedelta(seconds=error.retry_after)
            raise error from None  # its text and cause hold the request URL: never repeated
        except _Unreadable:
            raise ListenerError(f"mastodon: {self.host}: an unreadable answer; will retry") from None
        if self.api.ratelimit_remaining is not None and self.api.ratelimit_remaining < 1:
            # The next request would be refused: stop asking this server until the reset.
            wait = self._wait() or MIN_RETRY_AFTER
            self.rest_until = now + timedelta(seconds=wait + time.monotonic() - started)
        return page_of(answer, self.host)

    def _wait(self) -> float | None:
        """Seconds until the reset Mastodon.py read from X-RateLimit-Reset (set against the
        server's Date), or None when the server sent none."""
        reset = self.api.ratelimit_reset
        if reset is None:
            return None
        return max(1.0, math.ceil(float(reset) - time.time()))


class _Unreadable(Exception):
    pass


def page_of(answer: Any, host: str) -> Page:
    """Mastodon.py's list of Status (with the Link header's paging) as plain payloads."""
    if not isinstance(answer, list):
        raise ListenerError(f"mastodon: {host}: an unreadable answer (not a list of statuses); will retry")
    statuses = [status_payload(s, host) for s in answer if isinstance(s, Mapping)]
    prev = getattr(answer, "_pagination_prev", None)
    prev_min_id = prev.get("min_id") if isinstance(prev, Mapping) else None
    return Page([s for s in statuses if s["id"]], str(prev_min_id) if prev_min_id is not None else None)


_FIELDS = ("id", "uri", "url", "created_at", "content", "spoiler_text", "language", "in_reply_to_id",
           "replies_count", "reblogs_count", "favourites_count", "visibility", "sensitive", "tags")
_ACCOUNT = ("acct", "username", "display_name", "followers_count", "url", "noindex")


def status_payload(status: Mapping[str, Any], host: str | None = None) -> dict[str, Any]:
    """The fields to_mention reads, as plain JSON values (Mastodon.py makes times datetimes)."""
    out: dict[str, Any] = {k: _plain(status[k]) for k in _FIELDS if k in status}
    ident = status.get("id")
    out["id"] = str(ident) if isinstance(ident, (str, int)) and not isinstance(ident, bool) else ""
    account = mapping(status.get("account"))
    out["account"] = {k: _plain(account[k]) for k in _ACCOUNT if k in account}
    # The fediverse's way to say "no bots here" is #nobot in the bio; keep only whether it is.
    out["account"]["nobot"] = isinstance(account.get("note"), str) and "#nobot" in account["note"].casefold()
    if isinstance(status.get("reblog"), Mapping):
        out["reblog"] = status_payload(status["reblog"])
    if host is not None:
        out["instance"] = host
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---- errors ------------------------------------------------------------------------------


def mastodon_error(exc: Exception, host: str, token: bool, hint: str | None = None,
                   wait: float | None = None) -> ListenerError:
    """Our error for what Mastodon.py raised; no request data (the URL holds the search) or secrets."""
    where = f"mastodon: {host}"
    fix = f"check {hint}" if hint else f"check the access_token of {host}"
    if isinstance(exc, mastodon_py.MastodonRatelimitError):
        if str(exc).startswith("Hit rate limit"):
            seconds = wait if wait is not None else MIN_RETRY_AFTER
            return RateLimited(f"{where}: rate limited (429); retry in {seconds:.0f}s", retry_after=seconds)
        # Mastodon.py raises this too when an X-RateLimit-Reset header cannot be read.
        return ListenerError(f"{where}: an unreadable rate-limit header; will retry")
    if isinstance(exc, mastodon_py.MastodonNetworkError):
        timed_out = "timed out" in str(exc).lower() or "timeout" in str(exc).lower()
        return ListenerError(f"{where}: {'no answer in time' if timed_out else 'network error'}; will retry")
    if isinstance(exc, mastodon_py.MastodonVersionError):
        return ListenerError(f"{where}: could not read the server's version (search needs it); will retry")
    if isinstance(exc, mastodon_py.MastodonUnauthorizedError):
        if token:
            return ListenerError(f"{where}: the access token was refused (401); {fix}", retryable=False)
        return ListenerError(f"{where}: this server asks for a token to read hashtag timelines (401); "
                             f"give it access_token", retryable=False)
    if isinstance(exc, mastodon_py.MastodonAPIError):
        status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        if status is None:  # a 2xx whose body is not JSON
            return ListenerError(f"{where}: an unreadable answer (not JSON); will retry")
        return http_error(where, status, {
            403: "forbidden (403): the server refuses this (a token without the read scope, or a server "
                 f"closed to the public); {fix}",
            404: f"not found (404): is {host} a Mastodon server? check listeners.mastodon.instances",
            422: "request refused (422): the server cannot run this search",
        })
    return ListenerError(f"{where}: {type(exc).__name__}", retryable=False)


def combined(errors: list[ListenerError]) -> ListenerError:
    """Every server failed: one error saying so, and when to try again."""
    if len(errors) == 1:
        return errors[0]
    text = "; ".join(str(e).removeprefix("mastodon: ") for e in errors)
    if all(isinstance(e, RateLimited) for e in errors):
        return RateLimited(f"mastodon: {text}", retry_after=min(e.retry_after for e in errors))  # type: ignore[attr-defined]
    return ListenerError(f"mastodon: {text}", retryable=any(e.retryable for e in errors))
