"""A fake Slack on 127.0.0.1, spoken to over real HTTP by the real slack_sdk clients.

    with FakeSlack(token="xoxb-test", channels={"C0ALERTS": "alerts"}) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        client.chat_postMessage(channel="#alerts", text="hi")
        assert slack.messages("C0ALERTS")[0].text == "hi"

It answers the Web API methods harkbot uses (chat.postMessage with threads, chat.update,
conversations.history and conversations.replies with metadata, `oldest` and cursors,
reactions.get (`react()` adds one), auth.test) and one incoming webhook, and refuses what Slack refuses: a bad token, an
unknown channel, a reply to no message, and blocks beyond Slack's limits (so tests prove a
payload fits). Failures can be injected for the next requests: `fail_next`,
`rate_limit_next`, `delay_next`; `enforce_pace()` answers 429 with Retry-After to a channel
posted to faster than Slack allows. `hold_reply_next` does the work at once and holds the
answer (a client killed meanwhile posted without knowing it), and `in_flight()` lists the
requests not yet answered (bench/crash.py uses both to tell where a kill landed).
"""

from __future__ import annotations

import email.message
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

# Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0HARKBOT"
BOT_ID = "B0HARKBOT"


@dataclass
class Message:
    """A message as the fake stored it; chat.update changes it in place."""

    channel: str  # the channel id
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None  # a reply: the ts of the message it replies to
    edits: int = 0  # how many times chat.update changed it
    reactions: dict[str, list[str]] = field(default_factory=dict)  # name -> user ids, in the order they reacted

    def as_api(self, *, metadata: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if metadata and self.metadata is not None:
            body["metadata"] = self.metadata
        if self.thread_ts is not None:
            body["thread_ts"] = self.thread_ts
        if self.reactions:
            body["reactions"] = [{"name": name, "users": list(users), "count": len(users)}
                                 for name, users in self.reactions.items() if users]
        return body


@dataclass(frozen=True)
class Call:
    """One request as received, faults included: "chat.postMessage", ... or "webhook"."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    status: int = 0  # 0: answer normally (after the delay)
    error: str = ""
    retry_after: float | None = None
    delay: float = 0.0


class _Refused(Exception):
    """Slack's `{"ok": false, "error": ...}`, with its explanations when it gives some."""

    def __init__(self, error: str, messages: list[str] | None = None):
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class _RateLimited(Exception):
    def __init__(self, retry_after: float):
        super().__init__("ratelimited")
        self.retry_after = retry_after


class FakeSlack:
    def __init__(
        self,
        *,
        token: str = "xoxb-fake-token",
        channels: Mapping[str, str] | None = None,
        webhook_channel: str | None = None,
    ):
        """`channels` maps channel ids to names; the webhook posts to `webhook_channel` (an id)."""
        self.token = token
        self.channels = dict(channels or {"C0ALERTS": "alerts"})
        self.webhook_channel = webhook_channel or next(iter(self.channels))
        self.webhook_path = f"/services/{TEAM_ID}/B0WEBHOOK/{secrets.token_hex(12)}"
        self.calls: list[Call] = []
        self._messages: list[Message] = []
        self._faults: deque[_Fault] = deque()
        self._holds: deque[tuple[str | None, float]] = deque()  # (method or None for any, seconds)
        self._in_flight: dict[int, str] = {}  # request number -> method, until answered
        self._requests = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._epoch = int(time.time())
        self._seq = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "reactions.get": self._reactions_get,
        }
        self._method_tokens: dict[str, str] = {}  # a method that takes another token (an app-level one)
        # Slack's chat.postMessage limit: about one message per second per channel, with
        # short bursts allowed. `enforce_pace(True)` makes the fake refuse faster posting
        # with 429 and Retry-After, as Slack does.
        self._pace = False
        self._last_post: dict[str, list[float]] = {}

    # -- lifecycle

    def start(self) -> FakeSlack:
        self._server = _Server(self)
        # A short poll interval, as stop() waits up to one interval for the serving loop.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in delay_next
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Web API base URL, for WebClient(base_url=...)."""
        return f"http://127.0.0.1:{self._port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.webhook_path}"

    @property
    def _port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    # -- what tests look at and steer

    def messages(self, channel: str | None = None) -> list[Message]:
        """Stored messages, oldest first; only `channel`'s (an id) when given."""
        with self._lock:
            return [m for m in self._messages if channel is None or m.channel == channel]

    def fail_next(self, n: int = 1, status: int = 500, error: str = "internal_error") -> None:
        """The next `n` requests get `status` and `{"ok": false, "error": error}`.

        status=200 is how Slack refuses most requests, e.g. error="not_in_channel".
        """
        self._inject(n, _Fault(status=status, error=error))

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """The next `n` requests get HTTP 429 with a Retry-After header."""
        self._inject(n, _Fault(status=429, error="ratelimited", retry_after=retry_after))

    def delay_next(self, n: int, seconds: float) -> None:
        """The next `n` requests are answered after `seconds`, and then handled as usual.

        As with the real Slack, a client that timed out may still have posted its message.
        """
        self._inject(n, _Fault(delay=seconds))

    def hold_reply_next(self, n: int = 1, seconds: float = 1.0, method: str | None = "chat.postMessage") -> None:
        """Handle the next `n` requests of `method` (None: any) at once, then hold each reply
        for `seconds`. A client killed meanwhile posted its message without ever hearing so:
        the moment between Slack's OK and the sender marking its outbox row sent."""
        with self._lock:
            self._holds.extend([(method, seconds)] * n)

    def in_flight(self) -> list[str]:
        """The methods of the requests received and not yet answered, oldest first
        ("...:held" for a reply `hold_reply_next` is holding)."""
        with self._lock:
            return list(self._in_flight.values())

    def enforce_pace(self, on: bool = True, burst: int = 3) -> None:
        """Refuse a channel's post with 429 when it already had `burst` posts in the last second."""
        self._pace, self._burst = on, burst

    def react(self, channel: str, ts: str, user: str, name: str, *, remove: bool = False) -> None:
        """`user` adds (or removes) the reaction `name` ("+1", "eyes", "+1::skin-tone-3") on a message."""
        with self._lock:
            [message] = [m for m in self._messages if m.channel == channel and m.ts == ts]
            users = message.reactions.setdefault(name, [])
            if remove and user in users:
                users.remove(user)
            elif not remove and user not in users:
                users.append(user)

    def top_level(self, channel: str | None = None) -> list[Message]:
        """Messages that are not thread replies."""
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages() if m.thread_ts == ts]

    def add_method(self, method: str, handler: Callable[[dict[str, Any]], dict[str, Any]], *,
                   token: str | None = None) -> None:
        """Answer `method` too (another surface's fake: tests/fakes/slack_socket.py); `token`:
        the one token it takes when not the bot token. As Slack does, a method given the other
        kind of token says `not_allowed_token_type`."""
        with self._lock:
            self._methods[method] = handler
            if token is not None:
                self._method_tokens[method] = token

    def _inject(self, n: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    # -- the HTTP side, called by the request handler's threads

    def handle(self, path: str, headers: email.message.Message, body: bytes) -> Reply:
        with self._lock:
            self._requests += 1
            number = self._requests
            self._in_flight[number] = urlsplit(path).path.removeprefix("/api/")
        try:
            reply = self._handle(path, headers, body)
            with self._lock:
                method = self._in_flight[number]
                hold = next((h for h in self._holds if h[0] in (None, method)), None)
                if hold is not None:
                    self._holds.remove(hold)
                    self._in_flight[number] = f"{method}:held"
            if hold is not None:
                self._stopping.wait(hold[1])
            return reply
        finally:
            with self._lock:
                del self._in_flight[number]

    def _handle(self, path: str, headers: email.message.Message, body: bytes) -> Reply:
        url = urlsplit(path)
        webhook = url.path == self.webhook_path
        if not webhook and not url.path.startswith("/api/"):
            return Reply(404, b"no_service", "text/plain")
        method = "webhook" if webhook else url.path.removeprefix("/api/")
        try:
            params = _params(headers.get("Content-Type", ""), body, url.query)
        except ValueError:
            params = None
        with self._lock:
            self.calls.append(Call(method, dict(params or {})))
            fault = self._faults.popleft() if self._faults else None
        if fault and fault.delay:
            self._stopping.wait(fault.delay)
        if fault and fault.status:
            return _fault_reply(fault, webhook)
        if webhook:
            return self._webhook(params)
        if params is None:
            return _api_reply({"ok": False, "error": "invalid_json"})
        return self._api(method, headers, params)

    def _api(self, method: str, headers: email.message.Message, params: dict[str, Any]) -> Reply:
        token = params.pop("token", None) or _bearer(headers.get("Authorization", ""))
        handler = self._methods.get(method)
        try:
            expected = self._method_tokens.get(method, self.token)
            if not token:
                raise _Refused("not_authed")
            if token != expected:
                known = {self.token, *self._method_tokens.values()}
                raise _Refused("not_allowed_token_type" if token in known else "invalid_auth")
            if handler is None:
                raise _Refused("unknown_method")
            return _api_reply({"ok": True, **handler(params)})
        except _RateLimited as limited:
            return _fault_reply(_Fault(429, "ratelimited", limited.retry_after), webhook=False)
        except _Refused as refused:
            body: dict[str, Any] = {"ok": False, "error": refused.error}
            if refused.messages:
                body["response_metadata"] = {"messages": refused.messages}
            return _api_reply(body)

    def _webhook(self, params: dict[str, Any] | None) -> Reply:
        if params is None:
            return Reply(400, b"invalid_payload", "text/plain")
        try:
            self._store(self.webhook_channel, params, metadata=None)
        except _Refused as refused:
            return Reply(400, refused.error.encode(), "text/plain")
        return Reply(200, b"ok", "text/plain")

    # -- Web API methods: params in, the response's fields (besides "ok") out

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": "harkbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(params.get("channel"))
        metadata = params.get("metadata")
        if isinstance(metadata, str):  # form-encoded requests carry it as JSON text
            try:
                metadata = json.loads(metadata)
            except ValueError:
                raise _Refused("invalid_metadata_format") from None
        if metadata is not None and not _valid_metadata(metadata):
            raise _Refused("invalid_metadata_format")
        thread = params.get("thread_ts") or None
        if thread is not None and not any(m.channel == channel and m.ts == thread for m in self.messages()):
            raise _Refused("thread_not_found")
        if self._pace:
            now = time.monotonic()
            with self._lock:
                recent = [t for t in self._last_post.get(channel, []) if now - t < 1.0]
                if len(recent) >= self._burst:
                    raise _RateLimited(1)
                self._last_post[channel] = recent + [now]
        message = self._store(channel, params, metadata, thread)
        return {"channel": channel, "ts": message.ts, "message": message.as_api(metadata=True)}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(params.get("channel"))
        text, blocks = _content(params)
        with self._lock:
            found = [m for m in self._messages if m.channel == channel and m.ts == params.get("ts")]
            if not found:
                raise _Refused("message_not_found")
            found[0].text, found[0].blocks = text, blocks
            found[0].edits += 1
            message = found[0].as_api(metadata=True)
        return {"channel": channel, "ts": message["ts"], "text": text, "message": message}

    def _reactions_get(self, params: dict[str, Any]) -> dict[str, Any]:
        """A message's reactions (`full`: every user, else Slack may cut the list)."""
        channel = self._channel_id(params.get("channel"))
        found = [m for m in self.messages(channel) if m.ts == params.get("timestamp")]
        if not found:
            raise _Refused("message_not_found")
        return {"type": "message", "channel": channel, "message": found[0].as_api(metadata=False)}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, `oldest` < ts, paged with cursors as Slack does."""
        channel = self._channel_id(params.get("channel"))
        found = [m for m in self.messages(channel) if m.thread_ts is None]
        return self._page(found, params, newest_first=True)

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parent message and its replies, oldest first."""
        channel = self._channel_id(params.get("channel"))
        ts = params.get("ts")
        found = [m for m in self.messages(channel) if m.ts == ts or m.thread_ts == ts]
        if not any(m.ts == ts for m in found):
            raise _Refused("thread_not_found")
        return self._page(found, params, newest_first=False)

    def _page(self, found: list[Message], params: dict[str, Any], *, newest_first: bool) -> dict[str, Any]:
        limit = int(params.get("limit") or 100)
        oldest = params.get("oldest")
        if oldest:
            found = [m for m in found if float(m.ts) > float(oldest)]
        found.sort(key=lambda m: m.ts, reverse=newest_first)
        start = int(params.get("cursor") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        page = found[start : start + limit]
        more = start + limit < len(found)
        body: dict[str, Any] = {
            "messages": [m.as_api(metadata=with_metadata) for m in page],
            "has_more": more,
        }
        if more:
            body["response_metadata"] = {"next_cursor": str(start + limit)}
        return body

    def _store(
        self,
        channel: str,
        params: dict[str, Any],
        metadata: dict[str, Any] | None,
        thread_ts: str | None = None,
    ) -> Message:
        text, blocks = _content(params)
        with self._lock:
            self._seq += 1
            # The seconds are the posting time, as Slack's are, so `oldest` keeps working for a
            # fake that lives for minutes (bench/crash.py); they never go back, and fixed-width
            # sequence numbers keep ts text order equal to posting order.
            self._epoch = max(self._epoch, int(time.time()))
            message = Message(
                channel, f"{self._epoch}.{self._seq:06d}", text, blocks, metadata, thread_ts
            )
            self._messages.append(message)
        return message

    def _channel_id(self, value: Any) -> str:
        """An id, "#name" or "name" -> the channel id, as Slack accepts all three."""
        name = str(value or "").removeprefix("#")
        for channel_id, channel_name in self.channels.items():
            if name in (channel_id, channel_name):
                return channel_id
        raise _Refused("channel_not_found")


def block_problems(blocks: Any) -> list[str]:
    """What Slack would say is wrong with `blocks`, in its words; [] when it would accept them."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            problems.append(f"[ERROR] unsupported type [json-pointer:{where}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > MAX_BLOCK_ID or block_id in seen_ids:
                problems.append(f"[ERROR] invalid or duplicate block_id [json-pointer:{where}]")
            seen_ids.add(block_id)
        problems += _CHECKS.get(block["type"], _no_check)(block, where)
    return problems


def _check_header(block: dict[str, Any], where: str) -> list[str]:
    return _text_problems(block.get("text"), f"{where}/text", MAX_HEADER, plain_only=True)


def _check_section(block: dict[str, Any], where: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [f"[ERROR] must provide text or fields [json-pointer:{where}]"]
    problems = []
    if "text" in block:
        problems += _text_problems(block["text"], f"{where}/text", MAX_SECTION)
    fields = block.get("fields", [])
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        too_many = f"[ERROR] no more than {MAX_FIELDS} items allowed [json-pointer:{where}/fields]"
        return [*problems, too_many]
    for j, item in enumerate(fields):
        problems += _text_problems(item, f"{where}/fields/{j}", MAX_FIELD)
    return problems


def _check_context(block: dict[str, Any], where: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
        count = f"must have 1 to {MAX_CONTEXT_ELEMENTS} items"
        return [f"[ERROR] {count} [json-pointer:{where}/elements]"]
    problems = []
    for j, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        problems += _text_problems(element, f"{where}/elements/{j}", MAX_SECTION)
    return problems


def _check_actions(block: dict[str, Any], where: str) -> list[str]:
    """Buttons and static selects (the two interactive elements harkbot sends), as Slack limits them."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTION_ELEMENTS:
        return [f"[ERROR] must have 1 to {MAX_ACTION_ELEMENTS} items [json-pointer:{where}/elements]"]
    problems: list[str] = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        at = f"{where}/elements/{j}"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ("button", "static_select"):
            problems.append(f"[ERROR] unsupported type [json-pointer:{at}/type]")
            continue
        action_id = element.get("action_id")
        if not isinstance(action_id, str) or not 0 < len(action_id) <= MAX_ACTION_ID or action_id in action_ids:
            problems.append(f"[ERROR] invalid or duplicate action_id [json-pointer:{at}/action_id]")
        action_ids.add(str(action_id))
        if kind == "button":
            problems += _text_problems(element.get("text"), f"{at}/text", MAX_BUTTON_TEXT, plain_only=True)
            if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
                limit = f"must be less than {MAX_BUTTON_VALUE + 1} characters"
                problems.append(f"[ERROR] {limit} [json-pointer:{at}/value]")
            if element.get("style") not in (None, "primary", "danger"):
                problems.append(f"[ERROR] must be primary or danger [json-pointer:{at}/style]")
            continue
        problems += _text_problems(element.get("placeholder"), f"{at}/placeholder", MAX_PLACEHOLDER, plain_only=True)
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
            problems.append(f"[ERROR] must have 1 to {MAX_OPTIONS} items [json-pointer:{at}/options]")
            continue
        for k, option in enumerate(options):
            problems += _text_problems(option.get("text"), f"{at}/options/{k}/text", MAX_OPTION_TEXT, plain_only=True)
            value = option.get("value")
            if not isinstance(value, str) or not 0 < len(value) <= MAX_OPTION_VALUE:
                limit = f"must be 1 to {MAX_OPTION_VALUE} characters"
                problems.append(f"[ERROR] {limit} [json-pointer:{at}/options/{k}/value]")
    return problems


def _no_check(block: dict[str, Any], where: str) -> list[str]:
    return []


_CHECKS = {"header": _check_header, "section": _check_section, "context": _check_context,
           "actions": _check_actions}


def _text_problems(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        return [f"[ERROR] must be a {' or '.join(allowed)} text object [json-pointer:{where}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _content(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A message's text and blocks, refused as Slack would refuse them."""
    text = str(params.get("text") or "")
    blocks = params.get("blocks") or []
    if not text and not blocks:
        raise _Refused("no_text")
    if len(text) > MAX_MESSAGE_TEXT:
        raise _Refused("msg_too_long")
    problems = block_problems(blocks)
    if problems:
        raise _Refused("invalid_blocks", problems)
    return text, blocks


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and bool(metadata["event_type"])
        and isinstance(metadata.get("event_payload"), dict)
    )


def _params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Arguments from the query string and a JSON or form body, as slack_sdk sends them.

    Raises ValueError for a body that is not what its Content-Type says.
    """
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
    if body and content_type.startswith("application/json"):
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("a JSON body must be an object")
        params.update(decoded)
    elif body:
        params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    # A form body carries structured arguments as JSON text.
    for key in ("blocks", "metadata"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def _bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _api_reply(
    body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers=dict(headers or {}))


def _fault_reply(fault: _Fault, webhook: bool) -> Reply:
    headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    if webhook:
        return Reply(fault.status, fault.error.encode(), "text/plain", headers)
    return _api_reply({"ok": False, "error": fault.error}, fault.status, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack):
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the OS picks a free one
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.fake.handle(self.path, self.headers, body)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test); Slack would not care either

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
