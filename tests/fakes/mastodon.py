"""A fake Mastodon server on 127.0.0.1, spoken to over real HTTP by the real Mastodon.py.

    with FakeMastodon(token="good-token") as server:
        server.add_status("<p>Mindful helps me sleep</p>", tags=["mindful"])
        options = MastodonListener.Options(instances=[server.url])

It answers, in Mastodon's REST JSON (docs.joinmastodon.org/methods/):
  GET /api/v1/instance, /api/v2/instance   the version Mastodon.py asks for (4.3.0)
  GET /api/v1/timelines/tag/:tag            limit (default 20, at most 40), min_id, max_id,
                                            since_id, local; a Link header with rel="next"
                                            (max_id) and rel="prev" (min_id) on a page with statuses
  GET /api/v2/search                        q, type=statuses, resolve, min_id, max_id, offset,
                                            limit; needs a valid token (401 otherwise), as
                                            Mastodon's status search does
A token that is sent and not `token` gets a 401 {"error": "The access token is invalid"}
anywhere; `tags_need_token` makes the tag timeline ask for one, as a server that closes its
timelines to the public does.

Ids are snowflakes as Mastodon makes them (a millisecond time << 16, plus a sequence), starting
at the same time on every fake: two fakes' ids collide, as two real servers' local ids do.
Timelines page as Mastodon's do: min_id answers the `limit` statuses just above it (newest first
on the page), max_id and since_id the newest below or above. Search keeps a status when a plain
word of q occurs in its text (folded), newest first by id, between min_id and max_id: broader
than Mastodon, which is fine, as harkbot matches every status against the brand again.

Every answer carries X-RateLimit-Limit, -Remaining and -Reset (an ISO time, as Mastodon sends
it). By default the window is generous; `set_remaining(n, reset)` counts down from n and then
answers 429 until `reset` seconds pass. Faults for the next timeline or search calls (not the
instance calls), in the order injected: `rate_limit_next` (429 with X-RateLimit-Reset, or with
no rate-limit headers), `fail_next` (500 by default), `malformed_next` (a 200 that is not JSON),
`delay_next` (a slow answer). `fail_next(after=k)` lets k calls answer first. `requests` records every call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Mapping
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.server import FaultQueue, LocalServer, send_json

UTC = timezone.utc
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIMIT = 300  # requests per 5 minutes, Mastodon's default
VERSION = "4.3.0"
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))


@dataclass(frozen=True)
class Call:
    endpoint: str  # "instance", "tag", "search" or "other"
    path: str
    params: dict[str, str]
    token: str  # the bearer token sent, "" for none
    status: int


@dataclass(frozen=True)
class _Fault:
    status: int = 0
    reset: float | None = None  # a 429's seconds to the reset; None: no rate-limit headers
    malformed: bool = False
    delay: float = 0.0


class FakeMastodon(FaultQueue, LocalServer):
    fault = _Fault

    def __init__(self, *, token: str | None = "fake-token", domain: str | None = None,
                 tags_need_token: bool = False, boosts_in_timelines: bool = False):
        self.token = token
        self.domain = domain  # the server's name in uris and accts; None: its 127.0.0.1 address
        self.tags_need_token = tags_need_token
        # Mastodon leaves boosts out of tag timelines; this switch serves them there anyway,
        # to test how a boost is read.
        self.boosts_in_timelines = boosts_in_timelines
        self.requests: list[Call] = []
        self.statuses: list[dict[str, Any]] = []
        self._clock = START
        self._seq = 0
        self._faults: deque[_Fault] = deque()
        self._remaining: int | None = None
        self._window_ends = 0.0
        self._used = 0
        self._lock = threading.RLock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    thread_name = "fake-mastodon"

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    @property
    def name(self) -> str:
        return self.domain or self.host

    # -- the statuses ---------------------------------------------------------------------

    def add_status(self, content: str, *, tags: list[str] = (), acct: str = "someone",  # type: ignore[assignment]
                   domain: str | None = None, spoiler_text: str = "", language: str | None = "en",
                   in_reply_to_id: str | None = None, uri: str | None = None, followers: int = 10,
                   counts: tuple[int, int, int] = (0, 0, 0), reblog_of: str | None = None,
                   created_at: datetime | None = None, note: str = "", noindex: bool = False,
                   **fields: Any) -> str:
        """A status (content is its HTML, sent as given); returns its local id. `domain`: an
        account of another server, federated here; `uri`: its ActivityPub id (one post seen
        on two fakes shares it); `reblog_of`: a boost of that local status; `fields` are sent
        as given, whatever their type (a poison status)."""
        with self._lock:
            self._clock = created_at or self._clock + timedelta(minutes=1)
            self._seq += 1
            ident = str((int(self._clock.timestamp() * 1000) << 16) + self._seq)
            home = domain or self.name
            base = f"https://{home}" if domain else self.url
            status: dict[str, Any] = {
                "id": ident, "created_at": self._clock.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "in_reply_to_id": in_reply_to_id, "in_reply_to_account_id": None, "sensitive": False,
                "spoiler_text": spoiler_text, "visibility": "public", "language": language,
                "uri": uri or f"{base}/users/{acct}/statuses/{ident}",
                "url": f"{base}/@{acct}/{ident}", "replies_count": counts[0], "reblogs_count": counts[1],
                "favourites_count": counts[2], "edited_at": None, "favourited": False, "reblogged": False,
                "content": content, "reblog": None, "application": None,
                "account": {"id": str(100 + len(acct)), "username": acct,
                            "acct": f"{acct}@{domain}" if domain else acct, "display_name": acct.title(),
                            "locked": False, "bot": False, "created_at": "2024-01-01T00:00:00.000Z",
                            "note": note, "noindex": noindex, "url": f"{base}/@{acct}", "avatar": "", "followers_count": followers,
                            "following_count": 1, "statuses_count": 1, "emojis": [], "fields": []},
                "media_attachments": [], "mentions": [],
                "tags": [{"name": t.lower(), "url": f"{self.url}/tags/{t.lower()}"} for t in tags],
                "emojis": [], "card": None, "poll": None, "_local": domain is None,
            }
            if reblog_of is not None:
                original = self._status(reblog_of)
                status.update(content="", reblog=_public(original), tags=original["tags"], spoiler_text="",
                              uri=f"{base}/users/{acct}/statuses/{ident}/activity")
            status.update(fields)
            self.statuses.append(status)
            return ident

    def override(self, ident: str, **fields: Any) -> None:
        """Send these fields of a status exactly as given, whatever their type (a poison status;
        not id, which the fake pages by)."""
        with self._lock:
            self._status(ident).update(fields)

    # -- faults and limits ---------------------------------------------------------------

    def rate_limit_next(self, n: int = 1, reset: float | None = 60) -> None:
        self._queue(n, _Fault(status=429, reset=reset))

    def fail_next(self, n: int = 1, status: int = 500, after: int = 0) -> None:
        """The next n calls fail with `status`, after `after` calls answered normally."""
        self._queue(after, _Fault())
        self._queue(n, _Fault(status=status))

    def set_remaining(self, n: int, reset: float = 60.0) -> None:
        """X-RateLimit-Remaining counts down from n; at 0, a 429 until `reset` seconds pass."""
        with self._lock:
            self._remaining, self._window_ends = n, time.time() + reset

    def calls(self, endpoint: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.requests if endpoint is None or c.endpoint == endpoint]

    # -- internals ------------------------------------------------------------------------

    def _status(self, ident: str) -> dict[str, Any]:
        for status in self.statuses:
            if status["id"] == ident:
                return status
        raise KeyError(ident)

    def _window(self) -> tuple[dict[str, str], bool]:
        """This call's rate-limit headers, and whether the window was already spent."""
        with self._lock:
            now = time.time()
            if self._remaining is not None and now >= self._window_ends:
                self._remaining = None
            self._used += 1
            if self._remaining is None:
                return _limits(LIMIT - 1, now + 300), False  # a window far from spent
            if self._remaining <= 0:
                return _limits(0, self._window_ends), True
            self._remaining -= 1
            return _limits(self._remaining, self._window_ends), False

    def _timeline(self, tag: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            items = [s for s in self.statuses
                     if (s["reblog"] is None or self.boosts_in_timelines)
                     and tag.lower() in {t["name"] for t in (s["reblog"] or s)["tags"]}
                     and (s["_local"] or params.get("local") not in ("1", "true"))]
            return _paged(items, params, _limit(params))

    def _search(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        words = [w.strip('"') for w in _fold(params.get("q", "")).split() if w.strip('"#@')]
        with self._lock:
            items = [s for s in self.statuses if s["reblog"] is None
                     and any(w.strip("#@") in _fold(s["content"]) for w in words)]
            items = _between(items, params.get("min_id"), params.get("max_id"))
            items.sort(key=_order, reverse=True)
            offset = _int(params.get("offset"), 0)
            return [_public(s) for s in items[offset:offset + _limit(params)]]


def _paged(items: list[dict[str, Any]], params: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
    """Mastodon's paging: min_id answers the oldest `limit` above it, newest first."""
    min_id = params.get("min_id")
    items = _between(items, min_id or params.get("since_id"), params.get("max_id"))
    items.sort(key=_order)
    page = items[:limit] if min_id else items[-limit:]
    return [_public(s) for s in reversed(page)]


def _between(items: list[dict[str, Any]], above: str | None, below: str | None) -> list[dict[str, Any]]:
    return [s for s in items if (not above or _order(s) > _ident_order(above))
            and (not below or _order(s) < _ident_order(below))]


def _order(status: Mapping[str, Any]) -> tuple[int, str]:
    return _ident_order(str(status["id"]))


def _ident_order(ident: str) -> tuple[int, str]:
    return (len(ident), ident)


def _public(status: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if not k.startswith("_")}


def _limit(params: Mapping[str, str]) -> int:
    return max(1, min(_int(params.get("limit"), 20), 40))


def _limits(remaining: int, reset_epoch: float) -> dict[str, str]:
    reset = datetime.fromtimestamp(reset_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"X-RateLimit-Limit": str(LIMIT), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}


def _fold(text: str) -> str:
    return str(text).translate(_INVISIBLE).casefold()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMastodon
    server_version = "FakeMastodon/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        token = token if scheme.lower() == "bearer" else ""
        endpoint = ("instance" if path in ("/api/v1/instance", "/api/v2/instance")
                    else "tag" if path.startswith("/api/v1/timelines/tag/")
                    else "search" if path == "/api/v2/search" else "other")
        if token and token != fake.token:
            return self._answer(endpoint, path, params, token, 401, {"error": "The access token is invalid"})
        if endpoint == "instance":
            return self._answer(endpoint, path, params, token, 200, self._instance(path))
        if endpoint == "other":
            return self._answer(endpoint, path, params, token, 404, {"error": "Record not found"})
        if not token and (endpoint == "search" or fake.tags_need_token):
            return self._answer(endpoint, path, params, token, 401,
                                {"error": "This method requires an authenticated user"})
        limits, spent = fake._window()
        if spent:
            return self._answer(endpoint, path, params, token, 429, {"error": "Too many requests"}, limits)
        fault = fake._next_fault()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status == 429:
            headers = {} if fault.reset is None else _limits(0, time.time() + fault.reset)
            return self._answer(endpoint, path, params, token, 429, {"error": "Too many requests"}, headers)
        if fault.status:
            return self._answer(endpoint, path, params, token, fault.status,
                                {"error": "We're sorry, but something went wrong on our end."}, limits)
        if fault.malformed:
            return self._answer(endpoint, path, params, token, 200, b'[{"id": "1", "content": "<p>cut sh', limits)
        if endpoint == "search":
            body = {"accounts": [], "statuses": fake._search(params), "hashtags": []}
            return self._answer(endpoint, path, params, token, 200, body, limits)
        tag = unquote(path.removeprefix("/api/v1/timelines/tag/"))
        page = fake._timeline(tag, params)
        headers = dict(limits)
        if page:
            where = f"{fake.url}/api/v1/timelines/tag/{quote(tag)}"
            headers["Link"] = (f'<{where}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{where}?min_id={page[0]["id"]}>; rel="prev"')
        self._answer(endpoint, path, params, token, 200, page, headers)

    def _instance(self, path: str) -> dict[str, Any]:
        name = self.fake.name
        if path == "/api/v1/instance":
            return {"uri": name, "title": "Fake Mastodon", "version": VERSION, "languages": ["en"],
                    "registrations": False, "urls": {}, "stats": {}, "contact_account": None, "rules": []}
        public = {"local": "public", "remote": "public"}
        return {"domain": name, "title": "Fake Mastodon", "version": VERSION, "api_versions": {"mastodon": 2},
                "source_url": "", "description": "", "languages": ["en"], "rules": [],
                "configuration": {"timelines_access": {"live_feeds": public, "hashtag_feeds": public,
                                                       "trending_link_feeds": public}}}

    def _answer(self, endpoint: str, path: str, params: dict[str, str], token: str, status: int, body: Any,
                headers: Mapping[str, str] | None = None) -> None:
        with self.fake._lock:
            self.fake.requests.append(Call(endpoint, path, params, token, status))
        send_json(self, status, body, headers)
