"""One logged-in atproto session for the Bluesky listener, and what its failures mean.

Bluesky counts logins: com.atproto.server.createSession allows 30 per 5 minutes and 300 a day
per account (docs.bsky.app, "Rate Limits"; the bsky.social entryway has been seen to refuse
after 100 a day), and a refused login locks the account out for the rest of the window. So a
`Session` logs in once, on its first call, and the atproto Client keeps it alive from there:
before each request it reads `exp` from the access JWT and, 15 minutes before it runs out,
swaps the refresh JWT for a new pair (com.atproto.server.refreshSession). A log-in again
happens only when the server refuses the session itself: a refresh token that has run out or
was revoked, a revoked access token (ExpiredToken, InvalidToken, or a 401), and then once; a
session refused straight after a fresh login is a credentials problem, said as one, not a
reason to log in over and over.

Every call goes out once: the pipeline's backoff is the one retry policy. A 429 becomes
RateLimited until `ratelimit-reset` (unix seconds); an answer whose `ratelimit-remaining` is 0
stops further requests until that reset, before the server has to refuse them.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from typing import Any, Mapping

import httpx
from atproto_client import Client
from atproto_client.client.session import Session as AtSession, SessionEvent
from atproto_client.exceptions import (InvokeTimeoutError, LoginRequiredError, ModelError, NetworkError,
                                       RateLimitExceededError, RequestErrorBase, UnauthorizedError)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request

from bot.errors import ListenerError, RateLimited
from listeners.base import MIN_RETRY_AFTER, RateBudget, http_error
from listeners.bluesky import REDACT, SessionError

log = logging.getLogger("listeners.bluesky")

# The errors with which a server refuses a session (as opposed to a request).
SESSION_REFUSED = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})
LOGIN_GAP = timedelta(minutes=5)  # at most one log-in per this, whatever happens (30 / 5 min allowed)


class Session:
    """The listener's atproto Client, logged in on first use and kept for the process's life."""

    def __init__(self, service_url: str, handle: str, password: str, timeout: float, hint: str):
        self.hint = hint  # "BSKY_HANDLE and BSKY_APP_PASSWORD": what to check when refused
        self._handle, self._password = handle, password
        REDACT.add(password)
        self.sent = 0
        self.logins = 0
        self.last_headers: Mapping[str, str] = {}
        self.rest_until: datetime | None = None  # the headers said the window is spent until then
        self._last_login: datetime | None = None  # when the latest createSession went out
        self._logged_in = False  # the latest createSession answered with a session
        # One httpx client for every call: its timeout, and hooks that count what is sent and
        # keep the latest answer's headers (the SDK hands back models, not headers).
        self.client = Client(base_url=service_url, request=Request(timeout=timeout, event_hooks={
            "request": [self._sent], "response": [self._answered]}))
        self.client.on_session_change(self._changed)

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    # -- calls ----------------------------------------------------------------------------

    def query(self, nsid: str, params: Any, now: datetime) -> Any:
        """One XRPC query's JSON body, logged in first if need be; a refused session logs in
        again once and asks again."""
        if self.rest_until is not None and now < self.rest_until:
            wait = (self.rest_until - now).total_seconds()
            raise RateLimited(f"bluesky: the request window is spent; resuming after its reset in {wait:.0f}s",
                              retry_after=wait)
        started = time.monotonic()
        if not self.logged_in:
            self.login(now)
        try:
            answer = self._send(nsid, params, now)
        except _Refused as refused:
            if not self._may_login_again(now):
                raise self._credentials_refused(refused.code) from None
            log.info("bluesky: the server refused the session (%s); logging in again", refused.code)
            self.login(now)
            try:
                answer = self._send(nsid, params, now)
            except _Refused as again:
                raise self._credentials_refused(again.code) from None
        budget = RateBudget.of(self.last_headers, "ratelimit-")
        if budget.spent:
            # The next request would be refused: send nothing more until the reset.
            wait = _until(budget.reset) or MIN_RETRY_AFTER
            self.rest_until = now + timedelta(seconds=wait + time.monotonic() - started)
        return answer

    def login(self, now: datetime) -> None:
        """createSession with the app password; its failure as our error (never the password)."""
        self._last_login = now
        self._logged_in = False
        self.logins += 1
        try:
            # No profile lookup: one request fewer, and a PDS without app.bsky still logs in.
            self.client.login(self._handle, self._password, fetch_bsky_profile=False)
        except RequestErrorBase as exc:
            code = _code(exc)
            if isinstance(exc, UnauthorizedError) or code in SESSION_REFUSED or code == "AuthFactorTokenRequired":
                raise self._login_refused(code) from None
            raise self._error(exc, "logging in", now) from None
        except (ModelError, ValueError):  # not JSON, or not a session
            raise ListenerError("bluesky: an unreadable answer to the login; will retry") from None
        self._logged_in = True
        log.info("bluesky: logged in (login %d of this process)", self.logins)

    def _send(self, nsid: str, params: Any, now: datetime) -> Any:
        try:
            response = self.client.invoke_query(nsid, params=params)
        except RequestErrorBase as exc:
            code = _code(exc)
            status = exc.response.status_code if exc.response is not None else None
            if code in SESSION_REFUSED or status == 401:
                raise _Refused(code or str(status)) from None
            raise self._error(exc, "searching", now) from None
        except LoginRequiredError:
            raise _Refused("no usable session") from None
        except ValueError:  # a JSON content type whose body is not JSON (pydantic_core's from_json)
            raise ListenerError("bluesky: an unreadable answer (not JSON); will retry") from None
        return response.content

    # -- errors ---------------------------------------------------------------------------

    def _may_login_again(self, now: datetime) -> bool:
        return self._last_login is None or now - self._last_login >= LOGIN_GAP

    def _login_refused(self, code: str | None) -> ListenerError:
        if code == "AuthFactorTokenRequired":
            return SessionError("bluesky: the account asks for an email sign-in code; use an app password "
                                 f"(Settings > Privacy and security > App passwords) in {self.hint}",
                                 retryable=False)
        if code == "AccountTakedown":
            return SessionError("bluesky: the account was taken down; log in with another in " + self.hint,
                                 retryable=False)
        return SessionError(f"bluesky: the login was refused ({code or 'unauthorized'}); check {self.hint}",
                             retryable=False)

    def _credentials_refused(self, code: str | None) -> ListenerError:
        return SessionError(f"bluesky: the server refused the session right after logging in ({code}); "
                             f"check {self.hint}", retryable=False)

    def _error(self, exc: RequestErrorBase, doing: str, now: datetime) -> ListenerError:
        if isinstance(exc, RateLimitExceededError):
            wait = _until(exc.reset_at.timestamp() if exc.reset_at else None) or exc.retry_after or MIN_RETRY_AFTER
            wait = max(1.0, math.ceil(wait))
            policy = f", policy {exc.policy}" if exc.policy else ""
            self.rest_until = now + timedelta(seconds=wait)
            return RateLimited(f"bluesky: rate limited while {doing} (429{policy}); retry in {wait:.0f}s",
                               retry_after=wait)
        if isinstance(exc, InvokeTimeoutError):
            return ListenerError(f"bluesky: no answer in time while {doing}; will retry")
        if exc.response is None:  # NetworkError from a transport failure
            return ListenerError(f"bluesky: network error while {doing}; will retry")
        status = exc.response.status_code
        detail = _detail(exc)
        if status >= 500 or isinstance(exc, NetworkError):  # 409, 413 too: the SDK's "retry the same way"
            kind = "server error" if status >= 500 else "HTTP"
            return ListenerError(f"bluesky: {kind} ({status}{detail}) while {doing}; will retry")
        return http_error("bluesky", status, {
            400: f"Bluesky refused the request while {doing} (400{{detail}}); check the brand queries and "
                 "listeners.bluesky options",
            403: "forbidden (403{detail}); the server refuses this account or this request",
            404: "not found (404{detail}); is listeners.bluesky.service_url an atproto server (a PDS, or "
                 "https://bsky.social)?",
        }, detail)

    # -- hooks ----------------------------------------------------------------------------

    def _sent(self, request: httpx.Request) -> None:
        self.sent += 1

    def _answered(self, response: httpx.Response) -> None:
        self.last_headers = dict(response.headers)

    def _changed(self, event: SessionEvent, session: AtSession) -> None:
        # New tokens come with each login and refresh: keep them out of every client log too.
        REDACT.add(session.access_jwt)
        REDACT.add(session.refresh_jwt)
        if event is SessionEvent.REFRESH:
            log.info("bluesky: session refreshed")


class _Refused(Exception):
    def __init__(self, code: str):
        self.code = code


def _code(exc: RequestErrorBase) -> str | None:
    content = exc.response.content if exc.response is not None else None
    return content.error if isinstance(content, XrpcError) and isinstance(content.error, str) else None


def _detail(exc: RequestErrorBase) -> str:
    """': InvalidRequest: the message' from an XRPC error body, at most 200 characters of it."""
    content = exc.response.content if exc.response is not None else None
    if not isinstance(content, XrpcError):
        return ""
    text = f"{content.error}: {content.message}" if content.message else str(content.error or "")
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""


def _until(epoch: float | None) -> float | None:
    """Seconds from now (the wall clock, as the header is) to a unix time; None when unusable."""
    if epoch is None or not math.isfinite(epoch):
        return None
    return max(1.0, math.ceil(epoch - time.time()))

