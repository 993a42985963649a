"""For every listener test: nothing may leave 127.0.0.1, where the fake platforms run."""

from __future__ import annotations

import socket

import pytest

LOCAL = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch):
    """A name lookup for any other host fails as an offline machine's would (so the client
    library takes its own error path), and fails the test afterwards. The value is the list
    of hosts stopped: a test that means to be stopped checks it and clears it."""
    blocked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOCAL:
            blocked.append(name)
            raise socket.gaierror(f"test guard: {name} is not 127.0.0.1")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield blocked
    assert not blocked, f"a request left 127.0.0.1 for {blocked}"
