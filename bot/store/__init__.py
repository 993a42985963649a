"""Storage: typed interfaces by concern (protocols.py) and two backends behind them.

- SQLite (sqlite.py), the embedded default: `database: harkbot.db`, or `Store(":memory:")`.
- PostgreSQL (postgres.py), the scale-out mode: `database: postgresql://...` with
  `pip install 'harkbot[postgres]'`.

`open_store(database)` picks the backend from the value; the rest of the house talks to the
protocols only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.store.records import Delivery, Lease, Message, Report, RuleState, Silence, window_bounds
from bot.store.sqlite import SCHEMA_VERSION, SQLiteStore, Store

__all__ = ["Delivery", "Lease", "Message", "Report", "RuleState", "Silence", "window_bounds", "SCHEMA_VERSION",
           "SQLiteStore", "Store", "open_store", "is_dsn", "exists", "display"]

_SCHEMES = ("postgresql://", "postgres://")


def is_dsn(database: str | Path) -> bool:
    """A PostgreSQL connection string rather than a SQLite path."""
    return isinstance(database, str) and database.startswith(_SCHEMES)


def exists(database: str | Path) -> bool:
    """Whether there is something to open: a SQLite file on disk; a DSN always (a server that
    is down or refuses says so when it is opened, in its own words)."""
    return is_dsn(database) or str(database) == ":memory:" or Path(database).exists()


def display(database: str | Path) -> str:
    """`database` fit for a log line or an error: a DSN's password is never shown."""
    if not is_dsn(database):
        return str(database)
    parts = urlsplit(str(database))
    if parts.password is None:
        return str(database)
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(database: str | Path):
    """The backend `database` names: a PostgreSQL DSN, or a SQLite file (":memory:" too)."""
    if is_dsn(database):
        from bot.store.postgres import PostgresStore  # psycopg is an extra: import only when asked

        return PostgresStore(str(database))
    return SQLiteStore(database)
