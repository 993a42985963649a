"""The PostgreSQL backend's part of running work: shared API budgets and the outbox lanes; the
twin of sqlite_work.SQLiteWork. PostgresStore inherits this; methods here use self._tx() and
self._read() (see PostgresStore's docstring)."""

from __future__ import annotations


class PostgresWork:
    """Mixed into PostgresStore: methods here may use self._tx() and self._read()."""
