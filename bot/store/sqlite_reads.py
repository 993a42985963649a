"""The SQLite backend's reads for the history commands, reports, status and retention: the
SQL that bot/history.py, report.py, status.py and retention.py used to run on `store.conn`.
SQLiteStore inherits this; postgres's twin is pg_reads.PostgresReads."""

from __future__ import annotations


class SQLiteReads:
    """Mixed into SQLiteStore: methods here may use self.conn and self._tx()."""
