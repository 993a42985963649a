"""A fake Bluesky PDS on 127.0.0.1, spoken to over real HTTP by the real atproto SDK (httpx).

    with FakeBluesky() as server:
        server.add_post("Mindful helps me sleep")
        options = BlueskyListener.Options(service_url=server.url)

It answers XRPC as a Bluesky PDS does (lexicons com.atproto.server.*, app.bsky.feed.searchPosts):
  POST /xrpc/com.atproto.server.createSession   {identifier, password}: a session with a DID
        document whose #atproto_pds is this server; a wrong pair is 401 AuthenticationRequired.
        Counted (`logins`), and limited as Bluesky limits it: 30 per 5 minutes per account,
        then 429 with ratelimit-policy 30;w=300.
  POST /xrpc/com.atproto.server.refreshSession  Bearer <refresh JWT>: a new pair (the old refresh
        token is spent); an expired one is 400 ExpiredToken "Token has expired", a revoked or
        spent one 400 ExpiredToken "Token has been revoked".
  GET  /xrpc/com.atproto.server.getSession      the session's handle and DID.
  GET  /xrpc/app.bsky.feed.searchPosts          q (words ANDed, "phrases"), sort (latest, top),
        since (inclusive), until (exclusive), both on sortAt = min(createdAt, indexedAt), limit
        (1-100, default 25), cursor (an offset, as Bluesky's search sends one), lang.
        Needs a live access JWT: none is 401 AuthenticationRequired, an expired one 400
        ExpiredToken, an unknown or revoked one 401 InvalidToken.

Tokens are real JWTs (base64url JSON, HS256 over a fake key) with `exp`, so the SDK reads the
expiry from them as it does from Bluesky's and refreshes on its own. `access_ttl` and
`refresh_ttl` (seconds, wall clock) set the lifetime of the tokens issued next
(`next_access_ttl` that of the next access token only); `revoke()`
refuses every token issued so far, `expire_refresh_tokens()` makes the live refresh tokens
expired.

Every searchPosts answer carries ratelimit-limit, -remaining, -reset (unix seconds) and -policy
(3000;w=300). `set_remaining(n, reset)` counts down from n and answers 429 at 0 until the reset.
Faults for the next searchPosts calls, in the order injected: `rate_limit_next` (429 with the
headers, or without), `fail_next` (500 by default, any status and XRPC error), `malformed_next`
(a 200 whose JSON is cut short), `delay_next` (a slow answer); `after=k` lets k calls answer
first. `fail_login_next` fails the next createSession calls. `requests` records every call (never a password).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FaultQueue, LocalServer, send_json

UTC = timezone.utc
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIMIT = 3000  # requests per 5 minutes per IP
LOGINS_PER_WINDOW = 30  # createSession per 5 minutes per account
_KEY = b"fake-pds-signing-key"
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))


@dataclass(frozen=True)
class Call:
    endpoint: str  # the NSID, or the path when it is not XRPC
    params: dict[str, str]
    status: int
    error: str | None = None  # the XRPC error name of a failed call


@dataclass(frozen=True)
class _Fault:
    status: int = 0
    error: str = "InternalServerError"
    message: str = "Internal Server Error"
    reset: float | None = None  # a 429's seconds to the reset; None: no rate-limit headers
    malformed: bool = False
    delay: float = 0.0


def jwt(payload: Mapping[str, Any], typ: str) -> str:
    """A JWT as a PDS issues one: header.payload.signature, each base64url without padding."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = part(json.dumps({"typ": typ, "alg": "HS256"}).encode()) + "." + part(json.dumps(dict(payload)).encode())
    return signing + "." + part(hmac.new(_KEY, signing.encode(), hashlib.sha256).digest())


class FakeBluesky(FaultQueue, LocalServer):
    fault = _Fault

    def __init__(self, *, handle: str = "harkbot.bsky.social", password: str = "abcd-efgh-ijkl-mnop",
                 did: str = "did:plc:harkbotlistener0000001", access_ttl: float = 7200,
                 refresh_ttl: float = 90 * 86400):
        self.handle, self.password, self.did = handle, password, did
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.next_access_ttl: float | None = None  # the next token issued only, then access_ttl
        self.requests: list[Call] = []
        self.posts: list[dict[str, Any]] = []
        self._clock = START
        self._seq = 0
        self._faults: deque[_Fault] = deque()
        self._login_faults: deque[_Fault] = deque()
        self._access: dict[str, float] = {}  # live access token -> its exp
        self._refresh: dict[str, float] = {}  # live refresh token -> its exp
        self._login_times: deque[float] = deque()
        self._remaining: int | None = None
        self._window_ends = 0.0
        self._lock = threading.RLock()

    thread_name = "fake-bluesky"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # -- posts ----------------------------------------------------------------------------

    def add_post(self, text: str, *, handle: str = "someone.bsky.social", did: str | None = None,
                 created_at: datetime | str | None = None, indexed_at: datetime | None = None,
                 langs: list[str] | None = None, counts: tuple[int, int, int, int] = (0, 0, 0, 0),
                 reply_to: str | None = None, labels: tuple[str, ...] = (), followers: int | None = None,
                 **fields: Any) -> str:
        """A post; returns its AT-URI. Each post is a minute after the last unless `created_at`
        says (a string is sent as given: a poison date); `indexed_at` defaults to two seconds
        after it was created. `counts`: likes, reposts, replies, quotes. `fields` are sent as
        given, whatever their type (a poison post)."""
        with self._lock:
            self._seq += 1
            if isinstance(created_at, datetime) or created_at is None:
                self._clock = created_at or self._clock + timedelta(minutes=1)
                created = _stamp(self._clock)
                indexed = indexed_at or self._clock + timedelta(seconds=2)
            else:
                created = created_at
                indexed = indexed_at or self._clock + timedelta(seconds=2)
            author_did = did or f"did:plc:{handle.split('.')[0][:16]:0<24}"
            uri = f"at://{author_did}/app.bsky.feed.post/3l{self._seq:011d}"
            record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created,
                                      "langs": ["en"] if langs is None else langs}
            if reply_to:
                parent = {"uri": reply_to, "cid": "bafyreiparent"}
                record["reply"] = {"root": parent, "parent": parent}
            author: dict[str, Any] = {"did": author_did, "handle": handle, "displayName": handle.split(".")[0].title(),
                                      "avatar": f"https://cdn.bsky.app/img/avatar/plain/{author_did}/x@jpeg",
                                      "labels": [{"src": author_did, "uri": f"at://{author_did}/app.bsky.actor.profile/self",
                                                  "cid": "bafyreilabel", "val": v, "cts": "2024-01-01T00:00:00.000Z"}
                                                 for v in labels],
                                      "createdAt": "2024-01-01T00:00:00.000Z"}
            if followers is not None:
                author["followersCount"] = followers
            post = {"uri": uri, "cid": f"bafyrei{self._seq:052d}", "author": author, "record": record,
                    "likeCount": counts[0], "repostCount": counts[1], "replyCount": counts[2],
                    "quoteCount": counts[3], "bookmarkCount": 0, "indexedAt": _stamp(indexed), "labels": []}
            post.update(fields)
            self.posts.append(post)
            return uri

    def override(self, target: str, /, **fields: Any) -> None:
        """Send these fields of the post at AT-URI `target` exactly as given (a poison post)."""
        with self._lock:
            next(p for p in self.posts if p["uri"] == target).update(fields)

    # -- sessions ---------------------------------------------------------------------------

    @property
    def logins(self) -> int:
        return len(self.calls("com.atproto.server.createSession"))

    def revoke(self) -> None:
        """Every session so far is revoked (the app password deleted and made again, say)."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def expire_access_tokens(self) -> None:
        """The live access tokens count as expired here, whatever their `exp` says (a server
        whose clock runs ahead, or one that shortened their lifetime)."""
        with self._lock:
            self._access = {token: time.time() - 1 for token in self._access}

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh = {token: time.time() - 1 for token in self._refresh}

    def _issue(self) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            ttl = self.access_ttl if self.next_access_ttl is None else self.next_access_ttl
            self.next_access_ttl = None
            access = jwt({"scope": "com.atproto.appPass", "sub": self.did, "aud": "did:web:fake.pds",
                          "iat": int(now), "exp": int(now + ttl)}, "at+jwt")
            refresh = jwt({"scope": "com.atproto.refresh", "sub": self.did, "aud": "did:web:fake.pds",
                           "jti": secrets.token_urlsafe(16), "iat": int(now), "exp": int(now + self.refresh_ttl)},
                          "refresh+jwt")
            self._access[access] = now + ttl
            self._refresh[refresh] = now + self.refresh_ttl
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did,
                "didDoc": {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did,
                           "alsoKnownAs": [f"at://{self.handle}"],
                           "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                        "serviceEndpoint": self.url}]},
                "email": "harkbot@example.com", "emailConfirmed": True, "active": True}

    # -- faults and limits ---------------------------------------------------------------

    def rate_limit_next(self, n: int = 1, reset: float | None = 60, after: int = 0) -> None:
        self._queue(after, _Fault())
        self._queue(n, _Fault(status=429, error="RateLimitExceeded", message="Rate Limit Exceeded", reset=reset))

    def fail_next(self, n: int = 1, status: int = 500, error: str = "InternalServerError",
                  message: str = "Internal Server Error", after: int = 0) -> None:
        self._queue(after, _Fault())
        self._queue(n, _Fault(status=status, error=error, message=message))

    def fail_login_next(self, n: int = 1, status: int = 500, error: str = "InternalServerError",
                        message: str = "Internal Server Error") -> None:
        """The next n createSession calls fail so (they still count as logins)."""
        with self._lock:
            self._login_faults.extend([_Fault(status=status, error=error, message=message)] * n)

    def set_remaining(self, n: int, reset: float = 60.0) -> None:
        with self._lock:
            self._remaining, self._window_ends = n, time.time() + reset

    def calls(self, endpoint: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.requests if endpoint is None or c.endpoint == endpoint]

    # -- internals ------------------------------------------------------------------------

    def _window(self) -> tuple[dict[str, str], bool]:
        with self._lock:
            now = time.time()
            if self._remaining is not None and now >= self._window_ends:
                self._remaining = None
            if self._remaining is None:
                return _limits(LIMIT - 1, now + 300), False
            if self._remaining <= 0:
                return _limits(0, self._window_ends), True
            self._remaining -= 1
            return _limits(self._remaining, self._window_ends), False

    def _login_allowed(self) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = time.time()
            while self._login_times and self._login_times[0] < now - 300:
                self._login_times.popleft()
            if len(self._login_times) >= LOGINS_PER_WINDOW:
                return False, {"ratelimit-limit": str(LOGINS_PER_WINDOW), "ratelimit-remaining": "0",
                               "ratelimit-reset": str(int(self._login_times[0] + 300)),
                               "ratelimit-policy": f"{LOGINS_PER_WINDOW};w=300"}
            self._login_times.append(now)
            return True, {}

    def _search(self, params: Mapping[str, str]) -> dict[str, Any]:
        terms = _terms(params.get("q", ""))
        since, until = _time(params.get("since")), _time(params.get("until"))
        lang = params.get("lang")
        with self._lock:
            hits = []
            for post in self.posts:
                text = _fold(post["record"].get("text") if isinstance(post["record"], dict) else "")
                at = _sort_at(post)
                if not all(t in text for t in terms) or at is None:
                    continue
                if (since and at < since) or (until and at >= until):
                    continue
                langs = post["record"].get("langs") if isinstance(post["record"], dict) else None
                if lang and not (isinstance(langs, list) and lang in langs):
                    continue
                hits.append((at, post["uri"], post))
        hits.sort(key=lambda h: (h[0], h[1]), reverse=True)
        offset = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 25)
        page = [h[2] for h in hits[offset:offset + limit]]
        out: dict[str, Any] = {"posts": page, "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            out["cursor"] = str(offset + limit)
        return out


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sort_at(post: Mapping[str, Any]) -> datetime | None:
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    times = [t for t in (_time(record.get("createdAt")), _time(post.get("indexedAt"))) if t is not None]
    return min(times) if times else None


def _terms(q: str) -> list[str]:
    """q's words and "phrases", folded; Bluesky ANDs them."""
    out, rest = [], q
    while '"' in rest:
        before, _, after = rest.partition('"')
        phrase, _, rest = after.partition('"')
        out += before.split() + ([phrase] if phrase.strip() else [])
    return [_fold(t) for t in out + rest.split() if t.strip()]


def _fold(text: Any) -> str:
    return str(text).translate(_INVISIBLE).casefold()


def _limits(remaining: int, reset_epoch: float) -> dict[str, str]:
    return {"ratelimit-limit": str(LIMIT), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(int(reset_epoch)), "ratelimit-policy": f"{LIMIT};w=300"}


def _error(name: str, message: str) -> dict[str, str]:
    return {"error": name, "message": message}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBluesky
    server_version = "FakePDS/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet test output
        pass

    def _bearer(self) -> str:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token if scheme.lower() == "bearer" else ""

    def do_POST(self) -> None:  # noqa: N802
        fake = self.fake
        nsid = urlsplit(self.path).path.removeprefix("/xrpc/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if nsid == "com.atproto.server.createSession":
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return self._answer(nsid, {}, 400, _error("InvalidRequest", "Request body is not JSON"))
            with fake._lock:
                fault = fake._login_faults.popleft() if fake._login_faults else None
            if fault is not None:
                return self._answer(nsid, {}, fault.status, _error(fault.error, fault.message))
            allowed, headers = fake._login_allowed()
            if not allowed:
                return self._answer(nsid, {}, 429, _error("RateLimitExceeded", "Rate Limit Exceeded"), headers)
            if data.get("identifier") not in (fake.handle, fake.did) or data.get("password") != fake.password:
                return self._answer(nsid, {}, 401, _error("AuthenticationRequired", "Invalid identifier or password"))
            return self._answer(nsid, {}, 200, fake._issue())
        if nsid == "com.atproto.server.refreshSession":
            token = self._bearer()
            with fake._lock:
                exp = fake._refresh.pop(token, None)
            if exp is None:
                return self._answer(nsid, {}, 400, _error("ExpiredToken", "Token has been revoked"))
            if exp < time.time():
                return self._answer(nsid, {}, 400, _error("ExpiredToken", "Token has expired"))
            return self._answer(nsid, {}, 200, {k: v for k, v in fake._issue().items() if not k.startswith("email")})
        self._answer(nsid, {}, 501, _error("MethodNotImplemented", "Method Not Implemented"))

    def do_GET(self) -> None:  # noqa: N802
        fake = self.fake
        parts = urlsplit(self.path)
        nsid = parts.path.removeprefix("/xrpc/")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if nsid not in ("app.bsky.feed.searchPosts", "com.atproto.server.getSession"):
            return self._answer(nsid, params, 501, _error("MethodNotImplemented", "Method Not Implemented"))
        token = self._bearer()
        if not token:
            return self._answer(nsid, params, 401, _error("AuthenticationRequired", "Authentication Required"))
        with fake._lock:
            exp = fake._access.get(token)
        if exp is None:
            return self._answer(nsid, params, 401, _error("InvalidToken", "Token could not be verified"))
        if exp < time.time():
            return self._answer(nsid, params, 400, _error("ExpiredToken", "Token has expired"))
        if nsid == "com.atproto.server.getSession":
            return self._answer(nsid, params, 200, {"handle": fake.handle, "did": fake.did, "active": True})
        problem = _invalid(params)
        if problem:
            return self._answer(nsid, params, 400, _error("InvalidRequest", problem))
        limits, spent = fake._window()
        if spent:
            return self._answer(nsid, params, 429, _error("RateLimitExceeded", "Rate Limit Exceeded"), limits)
        fault = fake._next_fault()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status == 429:
            headers = {} if fault.reset is None else _limits(0, time.time() + fault.reset)
            return self._answer(nsid, params, 429, _error(fault.error, fault.message), headers)
        if fault.status:
            return self._answer(nsid, params, fault.status, _error(fault.error, fault.message), limits)
        if fault.malformed:
            return self._answer(nsid, params, 200, b'{"posts": [{"uri": "at://did:plc:x/app.bsky.feed.po', limits)
        self._answer(nsid, params, 200, fake._search(params), limits)

    def _answer(self, nsid: str, params: dict[str, str], status: int, body: Any,
                headers: Mapping[str, str] | None = None) -> None:
        error = body.get("error") if isinstance(body, dict) and status >= 400 else None
        with self.fake._lock:
            self.fake.requests.append(Call(nsid, params, status, error))
        send_json(self, status, body, headers)


def _invalid(params: Mapping[str, str]) -> str | None:
    """What the searchPosts lexicon refuses, in the words the XRPC server uses."""
    if "q" not in params:
        return 'Params must have the property "q"'
    if params.get("sort", "latest") not in ("latest", "top"):
        return "sort must be one of top, latest"
    try:
        limit = int(params.get("limit", "25"))
    except ValueError:
        return "limit must be an integer"
    if not 1 <= limit <= 100:
        return "limit must be between 1 and 100"
    for name in ("since", "until"):
        if name in params and _time(params[name]) is None:
            return f"{name} must be a valid datetime"
    if params.get("cursor") and not params["cursor"].isdigit():
        return "malformed cursor"
    return None
