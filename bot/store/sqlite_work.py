"""The SQLite backend's part of running work: shared API budgets and the outbox lanes.
SQLiteStore inherits this; postgres's twin is pg_work.PostgresWork."""

from __future__ import annotations


class SQLiteWork:
    """Mixed into SQLiteStore: methods here may use self.conn and self._tx()."""
