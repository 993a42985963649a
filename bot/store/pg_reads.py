"""The PostgreSQL backend's reads for the history commands, reports, status and retention: the
twin of sqlite_reads.SQLiteReads. PostgresStore inherits this; methods here use self._tx() and
self._read() (see PostgresStore's docstring)."""

from __future__ import annotations


class PostgresReads:
    """Mixed into PostgresStore: methods here may use self._tx() and self._read()."""
