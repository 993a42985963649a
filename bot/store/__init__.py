"""Storage: typed interfaces by concern (protocols.py) and two backends behind them.

- SQLite (sqlite.py), the embedded default: `database: harkbot.db`, or `Store(":memory:")`.
- PostgreSQL (postgres.py), the scale-out mode: `database: postgresql://...` with
  `pip install 'harkbot[postgres]'`.

`open_store(database)` picks the backend from the value; the rest of the house talks to the
protocols only.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.records import Delivery, Lease, Message, RuleState, Silence, window_bounds
from bot.store.sqlite import SCHEMA_VERSION, SQLiteStore, Store

__all__ = ["Delivery", "Lease", "Message", "RuleState", "Silence", "window_bounds", "SCHEMA_VERSION",
           "SQLiteStore", "Store", "open_store", "is_dsn"]

_SCHEMES = ("postgresql://", "postgres://")


def is_dsn(database: str | Path) -> bool:
    """A PostgreSQL connection string rather than a SQLite path."""
    return isinstance(database, str) and database.startswith(_SCHEMES)


def open_store(database: str | Path):
    """The backend `database` names: a PostgreSQL DSN, or a SQLite file (":memory:" too)."""
    if is_dsn(database):
        from bot.store.postgres import PostgresStore  # psycopg is an extra: import only when asked

        return PostgresStore(str(database))
    return SQLiteStore(database)
