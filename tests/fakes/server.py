"""What every fake platform shares: an HTTP server on a free port of 127.0.0.1, run from a
daemon thread, with `with Fake() as fake:` around a test. A fake subclasses LocalServer and
names its request handler class in `handler_class()` (a method, so the class may be defined
further down its module); the handler reaches the fake as `self.fake`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, TypeVar

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
