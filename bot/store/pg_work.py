"""The PostgreSQL backend's part of running work: shared API budgets and the outbox lanes; the
twin of sqlite_work.SQLiteWork. PostgresStore inherits this; methods here use self._tx() and
self._read() (see PostgresStore's docstring)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping


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

    def claim_due(self, every: Mapping[str, timedelta], now: datetime) -> list[str]:
        """Of the periodic jobs in `every` (name -> period), those due at `now`, each claimed
        until now + its period in one transaction. Rows another scheduler is claiming right now
        are skipped (FOR UPDATE SKIP LOCKED), never waited for: a tick never queues behind a
        tick. Kept as 'due:NAME' rows of the leases table; a new name is due at once."""
        if not every:
            return []
        names = ["due:" + n for n in every]
        with self._tx() as c:
            c.execute("INSERT INTO leases(name, holder, token, expires_at)"
                      " SELECT n, 'schedule', 0, 'epoch'::timestamptz FROM unnest(%s::text[]) n"
                      " ON CONFLICT (name) DO NOTHING", (names,))
            due = [r[0] for r in c.execute(
                "SELECT name FROM leases WHERE name = ANY(%s) AND expires_at <= %s ORDER BY name"
                " FOR UPDATE SKIP LOCKED", (names, now)).fetchall()]
            for name in due:
                c.execute("UPDATE leases SET token = token + 1, expires_at = %s WHERE name = %s",
                          (now + every[name[4:]], name))
        return [n[4:] for n in due]

    def due_now(self, name: str, now: datetime) -> None:
        """Make `name` due at once (an evaluation that raised alerts wants its sends now)."""
        with self._tx() as c:
            c.execute("UPDATE leases SET expires_at = %s WHERE name = %s", (now, "due:" + name))
