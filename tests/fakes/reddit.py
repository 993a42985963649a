"""A fake Reddit API on 127.0.0.1, spoken to over real HTTP by the real praw and prawcore.

    with FakeReddit(client_id="app-id", client_secret="app-secret") as reddit:
        reddit.add_submission("Mindful helps me sleep", subreddit="Meditation")
        options = RedditListener.Options(base_url=reddit.url)

It answers, in Reddit's wire format:
  POST /api/v1/access_token   HTTP basic auth with the app's id and secret and
                              grant_type=client_credentials; wrong credentials get a 401
  GET  /r/{subs}/search       q, sort, restrict_sr, syntax, t, limit, after (and raw_json)
  GET  /r/{subs}/comments     limit, after
API calls need a live bearer token (a 401 with Reddit's www-authenticate header otherwise),
and every answer carries X-Ratelimit-Used, -Remaining and -Reset.

It is not a search engine. Search returns the corpus newest first, keeping an item when any
plain word of `q` (operators, quotes, parentheses and * dropped, negations not honoured)
occurs in its title or body, case-folded and with zero-width characters removed. That is
broader than Reddit, which is fine: harkbot matches every mention against the brand again.
`subs` is one or more names joined by "+"; "all" (or restrict_sr false) means everywhere.

Paging works by anchor, as Reddit's does: `after` names a fullname and the page holds the
items older than it. `page_size` caps a page below the requested `limit` (so a small corpus
spans several pages), and `page_overlap` starts each later page that many items early, as a
listing that shifted between two requests does (so the same post arrives twice).

The rate window: by default Used counts the API calls so far, Remaining is 1000 minus that,
and Reset says 60 s; a reset that near keeps prawcore from pacing the tests. `set_remaining`
starts a countdown instead: when it reaches 0, further calls get a 429 until `reset` seconds
have passed. Faults for the next API calls, in the order injected: `rate_limit_next`,
`fail_next`, `malformed_next`, `delay_next`. `expire_token` invalidates every issued token,
`revoke_credentials` makes the token endpoint refuse the app, `pause_on_page(k)` holds the
k-th listing call until `release()`. `requests` records every call, faults included;
`in_flight` counts the calls not yet answered (bench/crash.py asks it where a kill landed).
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import LocalServer

WINDOW = 1000  # requests Reddit grants per 10-minute window (100 a minute)
DEFAULT_RESET = 60
FIRST_LINK_ID = int("1gq000", 36)  # base-36 ids, increasing, like Reddit's
FIRST_COMMENT_ID = int("lwx000", 36)
START_UTC = 1_772_409_600.0  # 2026-03-02T00:00:00Z
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))
_OPERATORS = {"and", "or", "not"}


@dataclass(frozen=True)
class Call:
    """One request as received: "token", "search", "comments" or "other"."""

    endpoint: str
    method: str
    path: str
    params: dict[str, str]
    authorization: str  # "basic", "bearer" or ""
    status: int
    host: str  # the Host header the client sent


@dataclass
class Thing:
    kind: str  # t3 or t1
    data: dict[str, Any]

    @property
    def fullname(self) -> str:
        return self.data["name"]

    @property
    def order(self) -> tuple[float, int]:
        return (self.data["created_utc"], int(self.data["id"], 36))

    @property
    def text(self) -> str:
        return f"{self.data.get('title', '')}\n{self.data.get('selftext') or self.data.get('body', '')}"


@dataclass(frozen=True)
class _Fault:
    status: int = 0  # 0: answer normally (after the delay)
    reset: float | None = None  # a 429's X-Ratelimit-Reset; None: no rate-limit headers
    malformed: bool = False
    delay: float = 0.0


@dataclass
class _Countdown:
    remaining: int
    ends: float  # time.monotonic() when the window resets


@dataclass
class _Pause:
    at: int  # the listing call to hold, 1-based from when the pause was set
    seen: int = 0
    paused: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class FakeReddit(LocalServer):
    def __init__(self, *, client_id: str = "fake-app-id", client_secret: str = "fake-app-secret",
                 page_size: int = 100, page_overlap: int = 0, token_ttl: int = 3600,
                 search_filter: bool = True):
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.page_overlap = page_overlap
        self.token_ttl = token_ttl
        self.search_filter = search_filter
        self.requests: list[Call] = []
        self.tokens: list[str] = []  # every token issued, in order
        self._live: set[str] = set()
        self._revoked = False
        self._things: list[Thing] = []
        self._next_link = FIRST_LINK_ID
        self._next_comment = FIRST_COMMENT_ID
        self._clock = START_UTC
        self._faults: deque[_Fault] = deque()
        self._used = 0
        self._countdown: _Countdown | None = None
        self._pause: _Pause | None = None
        self._lock = threading.RLock()
        self.in_flight = 0  # calls received and not yet answered

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    thread_name = "fake-reddit"

    def stop(self) -> None:
        self.release()
        super().stop()

    # -- the corpus -----------------------------------------------------------------------

    def add_submission(self, title: str, selftext: str = "", author: str | None = "someone",
                       subreddit: str = "Meditation", created_utc: float | None = None, score: int = 1,
                       num_comments: int = 0, crosspost_of: str | None = None) -> str:
        """A t3; returns its fullname. author None: a deleted account ("[deleted]")."""
        with self._lock:
            id36 = _base36(self._next_link)
            self._next_link += 1
            permalink = f"/r/{subreddit}/comments/{id36}/{_slug(title)}/"
            data: dict[str, Any] = {
                "id": id36, "name": f"t3_{id36}", "title": title, "selftext": selftext,
                "author": author if author is not None else "[deleted]",
                "subreddit": subreddit, "subreddit_name_prefixed": f"r/{subreddit}",
                "subreddit_subscribers": 1000, "created_utc": self._created(created_utc),
                "score": score, "ups": score, "num_comments": num_comments, "permalink": permalink,
                "url": f"https://www.reddit.com{permalink}", "is_self": bool(selftext),
                "over_18": False, "num_crossposts": 0,
            }
            if crosspost_of is not None:
                parent = self._thing(crosspost_of)
                parent.data["num_crossposts"] += 1
                data["crosspost_parent"] = crosspost_of
                data["crosspost_parent_list"] = [dict(parent.data)]
            self._things.append(Thing("t3", data))
            return data["name"]

    def add_comment(self, body: str, author: str | None = "someone", subreddit: str = "Meditation",
                    link_id: str | None = None, created_utc: float | None = None, score: int = 1) -> str:
        """A t1 on `link_id` (a t3 fullname; one is made up when None); returns its fullname."""
        with self._lock:
            id36 = _base36(self._next_comment)
            self._next_comment += 1
            link = link_id or f"t3_{_base36(FIRST_LINK_ID - 1)}"
            post = link.partition("_")[2]
            data = {
                "id": id36, "name": f"t1_{id36}", "body": body,
                "author": author if author is not None else "[deleted]",
                "subreddit": subreddit, "subreddit_name_prefixed": f"r/{subreddit}",
                "link_id": link, "parent_id": link, "created_utc": self._created(created_utc),
                "score": score, "permalink": f"/r/{subreddit}/comments/{post}/comment/{id36}/",
            }
            self._things.append(Thing("t1", data))
            return data["name"]

    def override(self, fullname: str, **fields: Any) -> None:
        """Send these fields of a thing exactly as given, whatever their type: how a test serves
        a poison post (#20). (Not created_utc or id: the fake's own paging orders by them.)"""
        with self._lock:
            self._thing(fullname).data.update(fields)

    def fullnames(self, kind: str | None = None) -> list[str]:
        with self._lock:
            return [t.fullname for t in self._things if kind is None or t.kind == kind]

    def newest(self, kind: str = "t3") -> Thing:
        with self._lock:
            return max((t for t in self._things if t.kind == kind), key=lambda t: t.order)

    # -- faults and limits ---------------------------------------------------------------

    def rate_limit_next(self, n: int = 1, reset: float | None = 60) -> None:
        """The next n API calls get a 429; with reset None, without rate-limit headers."""
        self._queue(n, _Fault(status=429, reset=reset))

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        self._queue(n, _Fault(status=status))

    def malformed_next(self, n: int = 1) -> None:
        self._queue(n, _Fault(malformed=True))

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        self._queue(n, _Fault(delay=seconds))

    def set_remaining(self, n: int, reset: float = 1.0) -> None:
        """Count X-Ratelimit-Remaining down from n; at 0, a 429 until `reset` seconds pass."""
        with self._lock:
            self._countdown = _Countdown(n, time.monotonic() + reset)

    def expire_token(self) -> None:
        with self._lock:
            self._live.clear()

    def revoke_credentials(self) -> None:
        with self._lock:
            self._revoked = True

    def pause_on_page(self, k: int) -> None:
        """Hold the k-th listing call from now until release()."""
        with self._lock:
            self._pause = _Pause(at=k)

    def wait_paused(self, timeout: float = 10.0) -> bool:
        pause = self._pause
        return pause is not None and pause.paused.wait(timeout)

    def release(self) -> None:
        pause = self._pause
        if pause is not None:
            pause.released.set()

    def calls(self, endpoint: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.requests if endpoint is None or c.endpoint == endpoint]

    # -- internals ------------------------------------------------------------------------

    def _queue(self, n: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    def _created(self, created_utc: float | None) -> float:
        if created_utc is None:
            self._clock += 60
            return self._clock
        return float(created_utc)

    def _thing(self, fullname: str) -> Thing:
        for thing in self._things:
            if thing.fullname == fullname:
                return thing
        raise KeyError(fullname)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.requests.append(call)

    def _window(self) -> tuple[dict[str, str], bool]:
        """This API call's rate-limit headers, and whether the window is already spent."""
        with self._lock:
            countdown = self._countdown
            if countdown is not None and time.monotonic() >= countdown.ends:
                countdown = self._countdown = None
            if countdown is not None and countdown.remaining <= 0:
                reset = max(1, math.ceil(countdown.ends - time.monotonic()))
                return _limits(self._used, 0, reset), True
            self._used += 1
            if countdown is not None:
                countdown.remaining -= 1
                reset = max(1, math.ceil(countdown.ends - time.monotonic()))
                return _limits(self._used, countdown.remaining, reset), False
            return _limits(self._used, max(0, WINDOW - self._used), DEFAULT_RESET), False

    def _current_limits(self) -> dict[str, str]:
        """For answers that do not count against the window (token requests)."""
        with self._lock:
            if self._countdown is not None:
                reset = max(1, math.ceil(self._countdown.ends - time.monotonic()))
                return _limits(self._used, max(0, self._countdown.remaining), reset)
            return _limits(self._used, max(0, WINDOW - self._used), DEFAULT_RESET)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _hold(self) -> None:
        """Block here if this listing call is the one pause_on_page named."""
        with self._lock:
            pause = self._pause
            if pause is None:
                return
            pause.seen += 1
            if pause.seen != pause.at:
                return
        pause.paused.set()
        pause.released.wait(timeout=30)

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.append(token)
            self._live.add(token)
        return token

    def _token_ok(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            return scheme.lower() == "bearer" and token in self._live

    def _credentials_ok(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        with self._lock:
            return not self._revoked and (user, password) == (self.client_id, self.client_secret)

    def _listing(self, kind: str, subs: list[str], params: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            things = [t for t in self._things if t.kind == kind and _in(t, subs)]
            if kind == "t3" and self.search_filter:
                words = _plain_words(params.get("q", ""))
                things = [t for t in things if any(w in _fold(t.text) for w in words)]
            things.sort(key=lambda t: t.order, reverse=True)
            start = 0
            after = params.get("after")
            if after:
                try:
                    anchor = self._thing(after).order
                except KeyError:
                    return _listing_body([], None)
                start = next((i for i, t in enumerate(things) if t.order < anchor), len(things))
                start = max(0, start - self.page_overlap)
            size = max(1, min(_int(params.get("limit"), 25), 100, self.page_size))
            page = things[start : start + size]
            more = start + size < len(things)
            return _listing_body([{"kind": t.kind, "data": dict(t.data)} for t in page],
                                 page[-1].fullname if page and more else None)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeReddit
    server_version = "FakeReddit/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet test output
        pass

    def do_POST(self) -> None:  # noqa: N802
        self._counted(self._post)

    def do_GET(self) -> None:  # noqa: N802
        self._counted(self._get)

    def _counted(self, serve: Any) -> None:
        with self.fake._lock:
            self.fake.in_flight += 1
        try:
            serve()
        finally:
            with self.fake._lock:
                self.fake.in_flight -= 1

    def _post(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        authorization = self.headers.get("Authorization") or ""
        if parts.path.rstrip("/") != "/api/v1/access_token":
            return self._answer("other", "POST", parts.path, form, 404, {"message": "Not Found", "error": 404})
        if not self.fake._credentials_ok(authorization):
            return self._answer("token", "POST", parts.path, form, 401, {"message": "Unauthorized", "error": 401})
        if form.get("grant_type") != "client_credentials":
            return self._answer("token", "POST", parts.path, form, 200, {"error": "unsupported_grant_type"})
        body = {"access_token": self.fake._issue_token(), "token_type": "bearer",
                "expires_in": self.fake.token_ttl, "scope": "*"}
        self._answer("token", "POST", parts.path, form, 200, body)

    def _get(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        match = re.fullmatch(r"/r/([^/]+)/(search|comments)/?", parts.path)
        if match is None:
            return self._answer("other", "GET", parts.path, params, 404, {"message": "Not Found", "error": 404})
        subs, endpoint = match.group(1).lower().split("+"), match.group(2)
        if endpoint == "search" and params.get("restrict_sr", "").lower() in ("false", "0", ""):
            subs = ["all"]
        authorization = self.headers.get("Authorization") or ""
        if not self.fake._token_ok(authorization):
            headers = {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}
            return self._answer(endpoint, "GET", parts.path, params, 401,
                                {"message": "Unauthorized", "error": 401}, headers)
        self.fake._hold()
        limits, spent = self.fake._window()
        if spent:
            return self._answer(endpoint, "GET", parts.path, params, 429,
                                {"message": "Too Many Requests", "error": 429}, limits)
        fault = self.fake._next_fault() or _Fault()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status == 429:
            headers = {} if fault.reset is None else _limits(self.fake._used, 0, math.ceil(fault.reset))
            return self._answer(endpoint, "GET", parts.path, params, 429,
                                {"message": "Too Many Requests", "error": 429}, headers, limits=False)
        if fault.status:
            return self._answer(endpoint, "GET", parts.path, params, fault.status,
                                {"message": "Server Error", "error": fault.status}, limits)
        if fault.malformed:
            return self._answer(endpoint, "GET", parts.path, params, 200,
                                b'{"kind": "Listing", "data": {"children": [{"kind": "t3", "da', limits)
        body = self.fake._listing("t3" if endpoint == "search" else "t1", subs, params)
        self._answer(endpoint, "GET", parts.path, params, 200, body, limits)

    def _answer(self, endpoint: str, method: str, path: str, params: dict[str, str], status: int,
                body: Any, headers: Mapping[str, str] | None = None, *, limits: bool = True) -> None:
        scheme = (self.headers.get("Authorization") or "").partition(" ")[0].lower()
        self.fake._record(Call(endpoint, method, path, params, scheme, status, self.headers.get("Host") or ""))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = dict(self.fake._current_limits()) if limits else {}
        all_headers.update(headers or {})
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in all_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, or a killed process)


def _limits(used: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-Ratelimit-Used": str(used), "X-Ratelimit-Remaining": f"{remaining}.0",
            "X-Ratelimit-Reset": str(reset)}


def _listing_body(children: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children),
                                        "modhash": "", "geo_filter": "", "children": children}}


def _in(thing: Thing, subs: list[str]) -> bool:
    return "all" in subs or thing.data["subreddit"].lower() in subs


def _plain_words(query: str) -> list[str]:
    words = re.findall(r"\w+", _fold(query))
    return [w for w in words if w not in _OPERATORS] if words else []


def _fold(text: str) -> str:
    return text.translate(_INVISIBLE).casefold()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def _slug(title: str) -> str:
    return re.sub(r"\W+", "_", title.lower()).strip("_")[:50] or "post"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
