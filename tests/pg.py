"""A real PostgreSQL for the tests that need one, one fresh schema per test.

The server comes from HARKBOT_TEST_DATABASE_URL (`.ci/run` starts or finds one and sets it).
Without it the PostgreSQL tests skip with one line saying how to enable them, so the
README's test command still passes on a machine with no PostgreSQL.

Each test gets its own schema, named in the DSN's `options=-c search_path=...`, so every
connection a test opens (a pool, a procrastinate worker, a subprocess) lands in it, and
tests can run side by side on one server. The schema is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

ENV = "HARKBOT_TEST_DATABASE_URL"
HOW = (f"PostgreSQL tests skipped: set {ENV}=postgresql://USER@HOST:PORT/DB to run them"
       " (.ci/run starts a server and sets it)")


def server_dsn() -> str | None:
    return os.environ.get(ENV) or None


def with_schema(dsn: str, schema: str) -> str:
    """`dsn` with every connection's search_path set to `schema` (and nothing else changed)."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def skip_without_server() -> str:
    dsn = server_dsn()
    if dsn is None:
        pytest.skip(HOW)
    return dsn


@pytest.fixture
def pg_dsn():
    """A DSN whose connections see only a new, empty schema of their own."""
    import psycopg

    dsn = skip_without_server()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def pytest_report_header(config) -> str:  # noqa: ARG001 - pytest's hook signature
    return f"postgresql: {'on (' + ENV + ')' if server_dsn() else HOW}"
