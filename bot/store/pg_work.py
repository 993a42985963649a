"""The PostgreSQL backend's part of running work: shared API budgets and the outbox lanes; the
twin of sqlite_work.SQLiteWork. PostgresStore inherits this; methods here use self._tx() and
self._read() (see PostgresStore's docstring)."""

from __future__ import annotations

from datetime import datetime


class PostgresWork:
    """Mixed into PostgresStore: methods here may use self._tx() and self._read()."""

    def spend(self, name: str, period: str, cost: float, budget: float | None, now: datetime) -> bool:
        """Take `cost` from (name, period) if it still fits under `budget` (None: only counted).
        The conditional UPDATE takes the row lock, so N workers racing for the last unit get one."""
        with self._tx() as c:
            c.execute("INSERT INTO budgets(name, period, used, budget, updated_at) VALUES (%s, %s, 0, %s, %s)"
                      " ON CONFLICT (name, period) DO NOTHING", (name, period, budget, now))
            cur = c.execute("UPDATE budgets SET used = used + %s, budget = %s, updated_at = %s"
                            " WHERE name = %s AND period = %s AND (%s::float8 IS NULL OR used + %s <= %s::float8)",
                            (cost, budget, now, name, period, budget, cost, budget))
            return cur.rowcount == 1

    def budget_rows(self) -> list[dict]:
        with self._read() as c:
            rows = c.execute("SELECT name, period, used, budget, updated_at FROM budgets ORDER BY name, period").fetchall()
        return [dict(zip(("name", "period", "used", "budget", "updated_at"), r)) for r in rows]
