"""The SQLite backend's part of running work: shared API budgets and the outbox lanes.
SQLiteStore inherits this; postgres's twin is pg_work.PostgresWork."""

from __future__ import annotations

from datetime import datetime

from bot.models import iso


class SQLiteWork:
    """Mixed into SQLiteStore: methods here may use self.conn and self._tx()."""

    def spend(self, name: str, period: str, cost: float, budget: float | None, now: datetime) -> bool:
        """Take `cost` from (name, period) if it still fits under `budget` (None: no limit, only
        counted). One statement under the write lock, so two processes never both take the last unit."""
        with self._tx() as c:
            c.execute("INSERT INTO budgets(name, period, used, budget, updated_at) VALUES (?, ?, 0, ?, ?)"
                      " ON CONFLICT(name, period) DO NOTHING", (name, period, budget, iso(now)))
            cur = c.execute("UPDATE budgets SET used = used + ?, budget = ?, updated_at = ?"
                            " WHERE name = ? AND period = ? AND (? IS NULL OR used + ? <= ?)",
                            (cost, budget, iso(now), name, period, budget, cost, budget))
            return cur.rowcount == 1

    def budget_rows(self) -> list[dict]:
        cur = self.conn.execute("SELECT name, period, used, budget, updated_at FROM budgets ORDER BY name, period")
        return [dict(zip(("name", "period", "used", "budget", "updated_at"), r)) for r in cur]
