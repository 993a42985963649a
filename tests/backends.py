"""Both storage backends for one test: SQLite (":memory:") always, PostgreSQL when
HARKBOT_TEST_DATABASE_URL is set (else that half skips with tests/pg.py's one line).

In a test module: `from tests.backends import backend, make_store, store  # noqa: F401` and
take `store` (a fresh store) or `make_store` (call it for each further fresh store). Where a
test must look under the methods, `sql(store, "SELECT ... WHERE x = ?", args)` runs one
statement on either backend ('?' placeholders, rows as tuples).
"""

from __future__ import annotations

import uuid

import pytest

from bot.store import Store
from tests.pg import server_dsn, skip_without_server, with_schema

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql":
        skip_without_server()
    return request.param


@pytest.fixture
def make_store(backend):
    """A factory of fresh, empty stores of this test's backend (each PostgreSQL one in a schema of its own)."""
    made: list = []
    schemas: list[str] = []

    def make(path=":memory:"):
        if backend == "sqlite":
            s = Store(path)
        else:
            import psycopg

            from bot.store.postgres import PostgresStore

            schema = f"t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(server_dsn(), autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            schemas.append(schema)
            s = PostgresStore(with_schema(server_dsn(), schema))
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            s.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass
    if schemas:
        import psycopg

        with psycopg.connect(server_dsn(), autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def store(make_store):
    return make_store()


def is_pg(store) -> bool:
    return not hasattr(store, "conn")


def dsn_of(store) -> str:
    """The DSN of a PostgreSQL store, or the path of a SQLite one: what `open_store` takes."""
    return store.dsn if is_pg(store) else store.path


def sql(store, statement: str, args=()) -> list[tuple]:
    """Run one statement ('?' placeholders) on either backend; its rows as tuples ([] if none)."""
    if not is_pg(store):
        return [tuple(r) for r in store.conn.execute(statement, args).fetchall()]
    with store._tx() as c:
        cur = c.execute(statement.replace("?", "%s"), args)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def dump(store) -> str:
    """Everything the database holds, as text: SQLite's iterdump, or every row of every table
    of a PostgreSQL store's schema (what a "nothing of it is stored" check reads)."""
    if not is_pg(store):
        return "\n".join(store.conn.iterdump())
    with store._read() as c:
        tables = [r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                                          " ORDER BY tablename")]
        return "\n".join(str(row[0]) for table in tables for row in c.execute(f'SELECT t::text FROM "{table}" t'))
