"""A local HTTP sink: records every request and answers as scripted, over real HTTP.

    with Sink(default=Reply(202)) as sink:
        sink.script(Reply(500), Reply(429, headers={"Retry-After": "30"}))
        requests.post(sink.url("/hook?sig=s3cret"), json={...})
        assert sink.requests[0].json() == {...}

What the webhook and Teams notifiers talk to in tests. Each request is answered by the next
scripted Reply, else by `default`. A Reply with `delay` is recorded at once and answered after
the delay (a client that times out meanwhile never hears that its message arrived, as with a
real receiver). `validate` makes it refuse what the real receiver refuses. Stock replies for Teams: `WORKFLOWS_OK` (202 Accepted, empty) and
`CONNECTOR_OK` (200, body "1"), and `connector_error(429)`: the 200 whose text says the
delivery failed, as Office 365 connectors answer.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to hold the answer after recording the request
    content_type: str = "text/plain; charset=utf-8"


WORKFLOWS_OK = Reply(202)
CONNECTOR_OK = Reply(200, b"1")


def connector_error(status: int) -> Reply:
    """A legacy connector's failure: HTTP 200 and a sentence naming the real status."""
    text = (f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status} "
            "with ContextId tcid=0,server=msgapi-production-fake,cv=AbCd.0..")
    return Reply(200, text.encode())


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with its query string
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    status: int  # what the sink answered
    accepted: bool  # a 2xx that is no connector's failure text: the message arrived

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Sink:
    def __init__(self, default: Reply = WORKFLOWS_OK, validate: Callable[[bytes], Reply | None] | None = None):
        """`validate(body)`, when given, checks each request as the real receiver would: a Reply
        it returns (a refusal) answers the request instead of the script."""
        self.default = default
        self.validate = validate
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Sink:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests held by a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "start() the sink first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    # -- steering and looking

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then `default` again."""
        with self._lock:
            self._script.extend(replies)

    def accepted(self) -> list[Request]:
        """The requests whose messages arrived: answered 2xx, and not with a connector's failure text."""
        return [r for r in self.requests if r.accepted]

    # -- the HTTP side

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        refusal = self.validate(body) if self.validate is not None else None
        with self._lock:
            reply = refusal or (self._script.popleft() if self._script else self.default)
            accepted = 200 <= reply.status < 300 and b"delivery failed" not in reply.body
            self.requests.append(Request(method, path, dict(headers), body, reply.status, accepted))
        if reply.delay:
            self._stopping.wait(reply.delay)
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: Sink):
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.sink.handle(self.command, self.path, headers, body)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): it never hears the answer

    do_POST = do_GET = do_PUT = _any
