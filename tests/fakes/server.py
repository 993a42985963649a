"""What every fake platform shares: an HTTP server on a free port of 127.0.0.1, run from a
daemon thread, with `with Fake() as fake:` around a test. A fake subclasses LocalServer and
names its request handler class in `handler_class()` (a method, so the class may be defined
further down its module); the handler reaches the fake as `self.fake`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound="LocalServer")


class LocalServer:
    thread_name: ClassVar[str] = "fake"
    # A short poll interval: stop() waits for serve_forever to notice, 0.5 s by default.
    poll: ClassVar[float] = 0.05
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self: F) -> F:
        handler = type("Handler", (self.handler_class(),), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a delayed answer must not hold up stop()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(self.poll,),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: F) -> F:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class FaultQueue:
    """Scripted faults, one per coming request, in order. A fake names its own fault record
    (`fault`, a dataclass whose defaults answer normally, with `malformed` and `delay` fields)
    and keeps `_faults` (a deque) and `_lock`."""

    fault: ClassVar[type]

    def malformed_next(self, n: int = 1) -> None:
        self._queue(n, self.fault(malformed=True))

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        self._queue(n, self.fault(delay=seconds))

    def _queue(self, n: int, fault: Any) -> None:
        with self._lock:  # type: ignore[attr-defined]
            self._faults.extend([fault] * n)  # type: ignore[attr-defined]

    def _next_fault(self) -> Any:
        with self._lock:  # type: ignore[attr-defined]
            return self._faults.popleft() if self._faults else self.fault()  # type: ignore[attr-defined]


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any,
              headers: Mapping[str, str] | None = None) -> None:
    """One JSON answer (bytes are sent as they are: a malformed body); a client that already gave
    up (its timeout) is not an error of the fake's."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
