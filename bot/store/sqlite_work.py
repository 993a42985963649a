"""The SQLite backend's part of running work: shared API budgets and the outbox lanes.
SQLiteStore inherits this; postgres's twin is pg_work.PostgresWork."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping

from bot.models import iso, parse_iso


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

    def claim_due(self, every: Mapping[str, timedelta], now: datetime) -> list[str]:
        """Of the periodic jobs in `every` (name -> period), those due at `now`, each claimed
        until now + its period in the same transaction, so two schedulers never both run one.
        Kept as 'due:NAME' rows of the leases table; a new name is due at once."""
        claimed = []
        with self._tx() as c:
            for name, period in every.items():
                row = c.execute("SELECT expires_at FROM leases WHERE name = ?", ("due:" + name,)).fetchone()
                if row is not None and parse_iso(row[0]) > now:
                    continue
                c.execute("INSERT INTO leases(name, holder, token, expires_at) VALUES (?, 'schedule', 1, ?)"
                          " ON CONFLICT(name) DO UPDATE SET token = token + 1, expires_at = excluded.expires_at",
                          ("due:" + name, iso(now + period)))
                claimed.append(name)
        return claimed

    def due_now(self, name: str, now: datetime) -> None:
        """Make `name` due at once (an evaluation that raised alerts wants its sends now)."""
        with self._tx() as c:
            c.execute("UPDATE leases SET expires_at = ? WHERE name = ?", (iso(now), "due:" + name))
