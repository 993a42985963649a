"""Slack's Socket Mode, faked beside FakeSlack: `apps.connections.open` and the websocket.

    with FakeSlack(token=TOKEN) as slack, FakeSocketMode(slack, app_token=APP) as socket:
        client = SocketModeClient(app_token=APP, web_client=WebClient(base_url=slack.url))
        client.connect()
        socket.wait_connections(1)
        envelope_id = socket.push(block_actions_payload)
        ack = socket.wait_ack(envelope_id)          # ack.seconds: how long the client took

It speaks the documented wire format (docs.slack.dev/apis/events-api/using-socket-mode):
`apps.connections.open` takes only the app-level token (a bot token is `not_allowed_token_type`)
and answers `{"ok": true, "url": "ws://127.0.0.1:PORT/link/?ticket=..."}`; each ticket opens
one connection (a reused one is refused at the handshake, so a client that reconnects must
ask for a new URL, as with Slack). On connect the server sends `{"type": "hello", ...}`; then
envelopes `{"envelope_id", "type", "payload", "accepts_response_payload"}`; the client answers
each with `{"envelope_id": ...}`, recorded with how long it took. `disconnect()` sends
`{"type": "disconnect", "reason": "refresh_requested"}` and closes the socket a moment later,
as Slack does; `drop()` closes it without a word.

The server runs in a thread of its own with its own asyncio loop (the `websockets` package).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Mapping

from websockets.asyncio.server import ServerConnection, serve

from tests.fakes.slack import TEAM_ID, FakeSlack, Message

APP_ID = "A0HARKBOT"
_action_clock = [1_790_000_000.0]


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    seconds: float  # from the envelope being sent to its ack being received
    body: dict[str, Any]
    connection: int  # which connection (0 is the first) it came on


@dataclass
class Connection:
    number: int
    ticket: str
    socket: ServerConnection
    opened: float = field(default_factory=time.monotonic)
    closed: bool = False


class FakeSocketMode:
    def __init__(self, slack: FakeSlack, *, app_token: str = "xapp-1-A0HARKBOT-1-fake", close_after: float = 0.2):
        """`close_after`: seconds between a `disconnect` message and the server closing the socket."""
        self.slack, self.app_token, self.close_after = slack, app_token, close_after
        self.tickets: dict[str, bool] = {}  # ticket -> used
        self.connections: list[Connection] = []
        self.acks: list[Ack] = []
        self.received: list[str] = []  # every text frame the clients sent, as sent
        self.sent: dict[str, float] = {}  # envelope id -> when it was sent
        self.refused_handshakes = 0
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._port = 0

    # -- lifecycle

    def start(self) -> FakeSocketMode:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-socket-mode")
        self._thread.start()
        self._call(self._serve())
        self.slack.add_method("apps.connections.open", self._open, token=self.app_token)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._call(self._close_server())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests steer and look at

    def open_connections(self) -> list[Connection]:
        with self._cond:
            return [c for c in self.connections if not c.closed]

    def wait_connections(self, n: int, timeout: float = 10) -> Connection:
        """Wait until `n` connections were ever made and the newest is open; returns it."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.connections) >= n and not self.connections[-1].closed,
                                       timeout):
                raise AssertionError(f"{len(self.connections)} connections made, wanted {n} (the newest open)")
            return self.connections[-1]

    def push(self, payload: Mapping[str, Any], kind: str = "interactive", *, envelope_id: str | None = None,
             **extra: Any) -> str:
        """Send an envelope on the newest open connection; its envelope id (give the same one to replay)."""
        envelope_id = envelope_id or str(uuid.uuid4())
        body = {"envelope_id": envelope_id, "type": kind, "payload": dict(payload),
                "accepts_response_payload": False, **extra}
        connection = self._newest()
        with self._cond:
            self.sent[envelope_id] = time.monotonic()
        self._call(connection.socket.send(json.dumps(body)))
        return envelope_id

    def click(self, message: Message, action_id: str, **options: Any) -> str:
        """A person clicks `action_id` on `message`: its block_actions envelope (see `block_actions`)."""
        return self.push(block_actions(message, action_id, **options))

    def wait_ack(self, envelope_id: str, timeout: float = 5, after: int = 0) -> Ack:
        """The ack of `envelope_id` (the `after`-th one, for a replayed envelope)."""
        def found() -> list[Ack]:
            return [a for a in self.acks if a.envelope_id == envelope_id]

        with self._cond:
            if not self._cond.wait_for(lambda: len(found()) > after, timeout):
                raise AssertionError(f"envelope {envelope_id} was not acked within {timeout}s")
            return found()[after]

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's notice that this connection ends: `disconnect`, then the socket closes."""
        connection = self._newest()
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        self._call(connection.socket.send(json.dumps(message)))
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._close_later(connection)))

    def drop(self) -> None:
        """Close the newest connection without a word (a network drop, a Slack restart)."""
        connection = self._newest()
        self._call(connection.socket.close(1011, "going away"))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/"

    # -- apps.connections.open, called on FakeSlack's HTTP threads

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        with self._cond:
            self.tickets[ticket] = False
        return {"url": f"{self.url}?ticket={ticket}&app_id={APP_ID}"}

    # -- the websocket side, on the loop's thread

    async def _serve(self) -> None:
        self._server = await serve(self._session, "127.0.0.1", 0, process_request=self._check_ticket,
                                   compression=None, ping_interval=None)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _close_server(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _check_ticket(self, connection: ServerConnection, request: Any) -> Any:
        ticket = _ticket(request.path)
        with self._cond:
            known = ticket in self.tickets and not self.tickets[ticket]
            if known:
                self.tickets[ticket] = True
            else:
                self.refused_handshakes += 1
        if not known:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        return None

    async def _session(self, socket: ServerConnection) -> None:
        with self._cond:
            connection = Connection(len(self.connections), _ticket(socket.request.path), socket)
            self.connections.append(connection)
        await socket.send(json.dumps({
            "type": "hello", "num_connections": len(self.open_connections()),
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 3600},
            "connection_info": {"app_id": APP_ID},
        }))
        with self._cond:
            self._cond.notify_all()
        try:
            async for frame in socket:
                self._received(connection, frame)
        except Exception:  # noqa: BLE001 - a client that vanishes ends its session, nothing more
            pass
        finally:
            with self._cond:
                connection.closed = True
                self._cond.notify_all()

    def _received(self, connection: Connection, frame: str | bytes) -> None:
        text = frame.decode() if isinstance(frame, bytes) else frame
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        with self._cond:
            self.received.append(text)
            envelope_id = body.get("envelope_id") if isinstance(body, dict) else None
            if envelope_id in self.sent:
                self.acks.append(Ack(envelope_id, time.monotonic() - self.sent[envelope_id], body, connection.number))
            self._cond.notify_all()

    async def _close_later(self, connection: Connection) -> None:
        await asyncio.sleep(self.close_after)
        await connection.socket.close(1000, "refresh")

    def _newest(self) -> Connection:
        open_ = self.open_connections()
        if not open_:
            raise AssertionError("no open Socket Mode connection")
        return open_[-1]

    def _call(self, coro: Any, timeout: float = 5) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


def _ticket(path: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(path).query).get("ticket") or [""])[0]



def block_actions(message: Message, action_id: str, *, user: str = "U0ANN", name: str = "ann",
                  reason: str | None = None, action_ts: str | None = None,
                  value: str | None = None) -> dict[str, Any]:
    """The block_actions payload Slack sends when `user` clicks the element `action_id` of
    `message` (a button; a static_select with `reason`, the option whose value ends with it).
    `value` replaces what the element carries (a forged click); an `action_id` the message does
    not have is clicked as a button of that id."""
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value or ""}
    block_id = "forged"
    for block in message.blocks:
        for candidate in block.get("elements", []) if block.get("type") == "actions" else ():
            if candidate.get("action_id") == action_id:
                element, block_id = candidate, block.get("block_id", "")
    if action_ts is None:
        _action_clock[0] += 1.25
        action_ts = f"{_action_clock[0]:.6f}"
    action: dict[str, Any] = {"type": element["type"], "action_id": action_id, "block_id": block_id,
                              "action_ts": action_ts}
    if element["type"] == "static_select":
        options = element.get("options", [])
        chosen = next((o for o in options if reason and o["value"].endswith("|" + reason)), None)
        chosen = chosen or {"text": {"type": "plain_text", "text": "?"}, "value": value or f"|{reason}"}
        if value is not None:
            chosen = {**chosen, "value": value}
        action.update(selected_option=chosen, placeholder=element.get("placeholder"))
    else:
        action.update(value=element.get("value", "") if value is None else value, text=element.get("text"))
    return {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                      "is_ephemeral": False},
        "trigger_id": f"{secrets.randbelow(10**10)}.{secrets.token_hex(6)}",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "alerts"},
        "message": message.as_api(metadata=False),
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{TEAM_ID}/1/{secrets.token_hex(8)}",
        "actions": [action],
    }
