"""A fake X API v2 recent search on 127.0.0.1, spoken to over real HTTP by the real tweepy Client.

    with FakeX(token="test-token") as x:
        x.add_post("Loving the @mindfulapp update", author="ana", followers=120)
        options = TwitterListener.Options(base_url=x.url)

It answers GET /2/tweets/search/recent in the documented wire format, newest first:
{data, includes.users, meta{newest_id, oldest_id, result_count, next_token}}, `data` and
`includes` left out when empty (as X does), and an `errors` entry for an author that is gone.
Responses follow the vendored spec subset in x_openapi.json (tests validate them against it).

It is not a search engine. A post is a result when it is newer than since_id and older than
until_id (both exclusive), it is not a repost if the query says -is:retweet, its language is
the query's lang:xx if there is one, and its text contains at least one of the query's positive
terms (bare words, "phrases", #tags, @handles; case-insensitive substring). OR, AND and other
negations are ignored: the fake is broader than X, which is safe because harkbot matches every
fetched post against the whole brand query again.

It refuses what X refuses: a wrong or expired bearer token (401), a query over 512 characters,
max_results outside 10..100, a field or expansion X does not know, a since_id/until_id older than
recent search's 7 days, an unknown next_token (all 400, in X's error format). Every answer carries
x-rate-limit-limit/-remaining/-reset for a window of `rate_limit` requests per 15 minutes, and a
request beyond it gets X's 429.

Field names: the spec version vendored here (XDK's 2.167) renames some recent-search fields
(public_metrics.repost_count, users' public_metrics.post_count, referenced_posts, note_post)
that docs.x.com, tweepy and the live API call retweet_count, tweet_count, referenced_tweets and
note_tweet. The fake sends the documented names, which are what the listener reads, and adds the
two counters the spec marks required (repost_count, post_count) with the same values, so every
answer satisfies both the spec and the documentation.

Failure injection for the next requests: `rate_limit_next`, `fail_next`, `malformed_next`,
`delay_next`; `expire_token()`; `pause_on_page(k)` holds the request for page k of a walk until
`release()`. Every request is recorded (`requests`) for assertions; `in_flight` counts those not
yet answered (bench/crash.py asks it where a kill landed).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

UTC = timezone.utc
SEARCH_PATH = "/2/tweets/search/recent"
SNOWFLAKE_EPOCH_MS = 1288834974657
QUERY_LIMIT = 512  # X's limit for recent search queries on the self-serve tiers
RECENT = timedelta(days=7)
WINDOW = 900  # seconds: X's rate limits are per 15-minute window
LONG_POST = 280  # longer posts come as a cut `text` plus note_tweet.text
PROBLEMS = "https://api.x.com/2/problems/"  # the spec's problem type URIs
SPEC = Path(__file__).with_name("x_openapi.json")


def _known_fields() -> dict[str, frozenset[str]]:
    fields = json.loads(SPEC.read_text())["x-request-fields"]
    return {name: frozenset(values) for name, values in fields.items()}


KNOWN_FIELDS = _known_fields()


def snowflake(at: datetime, sequence: int = 0) -> int:
    """An X-style id minted at `at`: milliseconds since X's epoch in the top bits."""
    return ((int(at.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | sequence


def id_time(post_id: int) -> datetime:
    return datetime.fromtimestamp(((post_id >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def x_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass
class User:
    id: str
    username: str
    name: str
    followers: int
    gone: bool = False  # suspended or deleted: X leaves it out of includes.users
    overrides: dict[str, Any] = field(default_factory=dict)  # includes.users fields sent as given


@dataclass
class Post:
    id: int
    text: str
    author: User
    created_at: datetime
    lang: str
    metrics: dict[str, int]
    referenced: list[dict[str, str]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # fields sent as given (odd types, poison)

    @property
    def is_retweet(self) -> bool:
        return any(r["type"] == "retweeted" for r in self.referenced)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Walk:
    """What a next_token stands for: the same search, continued below the last id sent."""

    query: str
    since_id: int | None
    until_id: int | None
    below: int
    page: int


class _Answer(Exception):
    """Raised inside the handler to send an error response at once."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None):
        self.status, self.body, self.headers, self.raw = status, body, headers or {}, raw


class FakeX:
    def __init__(self, token: str = "test-bearer-token", *, rate_limit: int = 450,
                 clock: Callable[[], float] = time.time):
        self.token = token
        self.rate_limit = rate_limit
        self.clock = clock  # epoch seconds; tests may swap it to move time
        self.requests: list[Request] = []
        self._posts: dict[int, Post] = {}
        self._users: dict[str, User] = {}
        self._walks: dict[str, _Walk] = {}
        self._injected: deque[tuple[str, Any]] = deque()
        self._expired = False
        self._window_reset: float | None = None
        self._remaining = rate_limit
        self._pause_page: int | None = None
        self._released = threading.Event()
        self.paused = threading.Event()  # set while a paused request waits for release()
        self._lock = threading.RLock()
        self.in_flight = 0  # requests received and not yet answered
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeX:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        server.block_on_close = False  # a request held by pause_on_page must not block stop()
        self._server = server
        # A short poll interval: stop() waits for the serving loop to notice, up to that long.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="fake-x", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeX:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- corpus -----------------------------------------------------------------------------

    def add_post(self, text: str, *, author: str = "someone", followers: int = 0,
                 created_at: datetime | None = None, lang: str = "en", retweet_of: str | None = None,
                 quote_of: str | None = None, metrics: dict[str, int] | None = None,
                 overrides: dict[str, Any] | None = None, author_overrides: dict[str, Any] | None = None) -> str:
        """Add a post and return its id; ids increase with every post, like X's snowflakes.

        `overrides` (and `author_overrides`, for its includes.users entry) are top-level fields
        sent exactly as given, whatever their type: how a test serves a poison post (#20)."""
        with self._lock:
            at = created_at or datetime.fromtimestamp(self.clock(), UTC)
            post_id = max(snowflake(at), max(self._posts, default=0) + 1)
            user = self._user(author, followers)
            referenced = []
            if retweet_of:
                original = self._posts[int(retweet_of)]
                text = f"RT @{original.author.username}: {original.text}"
                referenced.append({"type": "retweeted", "id": retweet_of})
            if quote_of:
                referenced.append({"type": "quoted", "id": quote_of})
            counts = {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                      "bookmark_count": 0, "impression_count": 0, **(metrics or {})}
            self._posts[post_id] = Post(post_id, text, user, at, lang, counts, referenced, dict(overrides or {}))
            user.overrides.update(author_overrides or {})
            return str(post_id)

    def suspend(self, author: str) -> None:
        """The author is suspended or deleted: posts stay searchable, the user is not expanded."""
        self._users[author].gone = True

    def _user(self, username: str, followers: int) -> User:
        user = self._users.get(username)
        if user is None:
            user = User(str(1000 + len(self._users)), username, username.title(), followers)
            self._users[username] = user
        user.followers = max(user.followers, followers)
        return user

    # -- failure injection ------------------------------------------------------------------

    # Each takes `after`: let that many requests through first (to fail page 2, say).

    def rate_limit_next(self, n: int = 1, reset_in: float | None = 60.0, *, after: int = 0) -> None:
        """429 for the next n requests; x-rate-limit-reset = now + reset_in (None: no header;
        negative: a time already past)."""
        self._inject(n, ("rate_limit", reset_in), after)

    def fail_next(self, n: int = 1, status: int = 503, *, after: int = 0) -> None:
        self._inject(n, ("fail", status), after)

    def malformed_next(self, n: int = 1, *, after: int = 0) -> None:
        """200 with a body that is not JSON (a proxy or a cut connection)."""
        self._inject(n, ("malformed", None), after)

    def delay_next(self, n: int = 1, seconds: float = 1.0, *, after: int = 0) -> None:
        """Hold the next n answers this long (for client timeouts); they are answered after."""
        self._inject(n, ("delay", seconds), after)

    def expire_token(self) -> None:
        self._expired = True

    def pause_on_page(self, k: int) -> None:
        """Hold the next request for page k of a walk (1 = the first, without next_token)."""
        self._pause_page = k
        self._released.clear()
        self.paused.clear()

    def release(self) -> None:
        self._released.set()

    def _inject(self, n: int, action: tuple[str, Any], after: int) -> None:
        with self._lock:
            self._injected.extend([("pass", None)] * after + [action] * n)

    # -- reading what happened --------------------------------------------------------------

    def searches(self) -> list[Request]:
        return [r for r in self.requests if r.path == SEARCH_PATH]

    # -- answering --------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.in_flight += 1
        try:
            return self._answer(method, target, headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(Request(method, split.path, params, headers))
        try:
            walk = self._walk_of(params) if split.path == SEARCH_PATH else None
            self._maybe_pause(walk.page if walk else 1)
            self._injected_failure()
            if method != "GET" or split.path != SEARCH_PATH:
                raise _Answer(404, _blank(404, "Not Found"))
            self._authorize(headers)
            limits = self._count_request()
            body = self._search(params, walk)
        except _Answer as answer:
            if answer.raw is not None:
                return answer.status, answer.headers, answer.raw
            kind = "application/json" if answer.status < 400 else "application/problem+json"
            return answer.status, {"Content-Type": kind, **answer.headers}, _json(answer.body)
        return 200, {"Content-Type": "application/json; charset=utf-8", **limits}, _json(body)

    def _maybe_pause(self, page: int) -> None:
        if self._pause_page != page:
            return
        self._pause_page = None  # once: the walk after a restart goes through
        self.paused.set()
        self._released.wait(timeout=30)

    def _injected_failure(self) -> None:
        with self._lock:
            action = self._injected.popleft() if self._injected else None
        if action is None:
            return
        kind, value = action
        if kind == "pass":
            return
        if kind == "delay":
            time.sleep(value)
        elif kind == "rate_limit":
            headers = {"x-rate-limit-limit": str(self.rate_limit), "x-rate-limit-remaining": "0"}
            if value is not None:
                headers["x-rate-limit-reset"] = str(int(self.clock() + value))
            raise _Answer(429, _blank(429, "Too Many Requests"), headers)
        elif kind == "fail":
            raise _Answer(value, _server_problem(value))
        elif kind == "malformed":
            raise _Answer(200, None, {"Content-Type": "application/json"}, raw=b'{"data": [{"id": "12')

    def _authorize(self, headers: dict[str, str]) -> None:
        given = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if self._expired or given != f"Bearer {self.token}":
            raise _Answer(401, _blank(401, "Unauthorized"))

    def _count_request(self) -> dict[str, str]:
        """Spend one request of the 15-minute window; 429 when none is left."""
        with self._lock:
            now = self.clock()
            if self._window_reset is None or now >= self._window_reset:
                self._window_reset, self._remaining = now + WINDOW, self.rate_limit
            headers = {"x-rate-limit-limit": str(self.rate_limit),
                       "x-rate-limit-reset": str(int(self._window_reset))}
            if self._remaining <= 0:
                raise _Answer(429, _blank(429, "Too Many Requests"), {**headers, "x-rate-limit-remaining": "0"})
            self._remaining -= 1
            return {**headers, "x-rate-limit-remaining": str(self._remaining)}

    # -- search -----------------------------------------------------------------------------

    def _walk_of(self, params: dict[str, str]) -> _Walk | None:
        token = params.get("next_token")
        if token is None:
            return None
        walk = self._walks.get(token)
        if walk is None:
            raise _Answer(400, _invalid("next_token", token, f"The `next_token` query parameter value [{token}] is not valid"))
        return walk

    def _search(self, params: dict[str, str], walk: _Walk | None) -> dict[str, Any]:
        query, size, since_id, until_id = self._validate(params)
        fields = {name: _csv(params.get(name)) for name in ("tweet.fields", "expansions", "user.fields")}
        below = walk.below if walk else None
        page_no = walk.page if walk else 1
        oldest = datetime.fromtimestamp(self.clock(), UTC) - RECENT  # recent search's reach
        with self._lock:
            found = [p for p in sorted(self._posts.values(), key=lambda p: p.id, reverse=True)
                     if p.created_at >= oldest and _in_range(p.id, since_id, until_id, below)
                     and _matches(p, query)]
        page, more = found[:size], len(found) > size
        body: dict[str, Any] = {}
        if page:
            body["data"] = [_tweet(p, fields["tweet.fields"]) for p in page]
            if "author_id" in fields["expansions"]:
                users, errors = _authors(page, fields["user.fields"])
                if users:
                    body["includes"] = {"users": users}
                if errors:
                    body["errors"] = errors
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta = {"newest_id": str(page[0].id), "oldest_id": str(page[-1].id), **meta}
        if more:
            token = secrets.token_hex(18)
            self._walks[token] = _Walk(query, since_id, until_id, page[-1].id, page_no + 1)
            meta["next_token"] = token
        body["meta"] = meta
        return body

    def _validate(self, params: dict[str, str]) -> tuple[str, int, int | None, int | None]:
        query = params.get("query", "")
        if not query:
            raise _Answer(400, _invalid("query", "", "The `query` query parameter can not be empty"))
        if len(query) > QUERY_LIMIT:
            raise _Answer(400, _invalid("query", query, f"The `query` query parameter value [{query}] "
                                        f"is not valid. Max length is {QUERY_LIMIT}"))
        raw_size = params.get("max_results", "10")
        if not raw_size.isdigit() or not 10 <= int(raw_size) <= 100:
            raise _Answer(400, _invalid("max_results", raw_size, f"The `max_results` query parameter value "
                                        f"[{raw_size}] is not between 10 and 100"))
        for name, known in KNOWN_FIELDS.items():
            for value in _csv(params.get(name)):
                if value not in known:
                    raise _Answer(400, _invalid(name, value, f"The `{name}` query parameter value [{value}] "
                                                f"is not one of [{','.join(sorted(known))}]"))
        return query, int(raw_size), self._recent_id(params, "since_id"), self._recent_id(params, "until_id")

    def _recent_id(self, params: dict[str, str], name: str) -> int | None:
        value = params.get(name)
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,19}", value):
            raise _Answer(400, _invalid(name, value, f"The `{name}` query parameter value [{value}] is not valid"))
        if id_time(int(value)) < datetime.fromtimestamp(self.clock(), UTC) - RECENT:
            raise _Answer(400, _invalid(name, value, f"Invalid '{name}':'{value}'. '{name}' must be a tweet id "
                                        "created after the start of the recent search window (7 days)"))
        return int(value)


# ---- the handler ------------------------------------------------------------------------------


def _handler(fake: FakeX) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._reply()

        def do_POST(self) -> None:  # noqa: N802
            self._reply()

        def _reply(self) -> None:
            status, headers, body = fake.answer(self.command, self.path, dict(self.headers.items()))
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test, or a killed process)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


# ---- wire format ------------------------------------------------------------------------------


def _json(body: Any) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate: valid JSON only as an escape (\ud800), as X would send it
        return json.dumps(body).encode()


def _csv(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _in_range(post_id: int, since_id: int | None, until_id: int | None, below: int | None) -> bool:
    return ((since_id is None or post_id > since_id) and (until_id is None or post_id < until_id)
            and (below is None or post_id < below))


_TERM = re.compile(r'-?"[^"]*"|\S+')


def _matches(post: Post, query: str) -> bool:
    words = [w.strip("()") for w in _TERM.findall(query)]
    if "-is:retweet" in words and post.is_retweet:
        return False
    lang = next((w[5:] for w in words if w.startswith("lang:")), None)
    if lang and post.lang != lang:
        return False
    terms = [w.strip('"').lower() for w in words if w and w != "OR" and not w.startswith("-") and ":" not in w]
    text = post.text.lower()
    return not terms or any(t in text for t in terms)


def _tweet(post: Post, fields: list[str]) -> dict[str, Any]:
    """One post with the fields asked for; id, text and edit_history_tweet_ids always come."""
    long = len(post.text) > LONG_POST
    tweet: dict[str, Any] = {
        "id": str(post.id),
        "text": _escape(post.text[:LONG_POST] if long else post.text),
        "edit_history_tweet_ids": [str(post.id)],
    }
    optional = {
        "author_id": post.author.id,
        "created_at": x_time(post.created_at),
        "lang": post.lang,
        "conversation_id": str(post.id),
        "public_metrics": {**post.metrics, "repost_count": post.metrics["retweet_count"]},
        "referenced_tweets": post.referenced or None,
        "note_tweet": {"text": _escape(post.text)} if long else None,
    }
    for name in fields:
        if optional.get(name) is not None:
            tweet[name] = optional[name]
    tweet.update(post.overrides)
    return tweet


def _escape(text: str) -> str:
    """X sends post text with &, < and > as HTML entities, and nothing else escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _authors(page: list[Post], fields: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    users: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    for post in page:
        user = post.author
        if user.id in users or any(e["resource_id"] == user.id for e in errors):
            continue
        if user.gone:
            errors.append({"value": user.id, "detail": f"Could not find user with id: [{user.id}].",
                           "title": "Not Found Error", "resource_type": "user", "parameter": "author_id",
                           "resource_id": user.id, "type": PROBLEMS + "resource-not-found"})
            continue
        entry: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "public_metrics" in fields:
            entry["public_metrics"] = {"followers_count": user.followers, "following_count": 10,
                                       "tweet_count": 100, "post_count": 100, "listed_count": 1}
        entry.update(user.overrides)
        users[user.id] = entry
    return list(users.values()), errors


def _blank(status: int, title: str) -> dict[str, Any]:
    """X's answer for 401, 429 and most 5xx: an RFC 7807 problem of type about:blank."""
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def _server_problem(status: int) -> dict[str, Any]:
    if status == 500:
        return {"title": "Internal Server Error", "detail": "Internal error; please retry.",
                "type": PROBLEMS + "internal-error", "status": 500}
    if status == 403:
        return {"title": "Client Forbidden", "detail": "When authenticating requests to the X API v2 endpoints, "
                "you must use keys and tokens from a developer App that is attached to a Project.",
                "reason": "client-not-enrolled", "type": PROBLEMS + "client-forbidden", "status": 403}
    titles = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return _blank(status, titles.get(status, "Error"))


def _invalid(parameter: str, value: str, message: str) -> dict[str, Any]:
    """X's 400: the offending parameters under errors[], an invalid-request problem around them."""
    return {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }
