"""Copy a SQLite history into PostgreSQL (`harkbot copy --to postgresql://...`): every table
harkbot keeps, resumable, with the counts checked at the end.

- Each table is read in primary-key order, a page at a time (keyset paging: `WHERE (pk) > (last)`,
  never OFFSET), and each page goes in with `INSERT ... ON CONFLICT DO NOTHING` in ONE target
  transaction together with the table's progress row in `copy_state`. A copy that is killed
  resumes after its last committed page; a page it had half-sent is rolled back and sent again.
- Values are converted on the way: ISO text to timestamptz, JSON text to json/jsonb (a
  payload that is not JSON is kept as a JSON string rather than refused), NUL to U+FFFD.
  Ids are kept, and the identity sequences are moved past them, so the copied outbox rows
  still point at their alerts and new rows never collide.
- Leases and budgets are not copied: they describe running processes, not history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from bot.errors import StoreError
from bot.models import parse_iso

# (table, its primary key) in an order where every row's references are copied before it.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meta", ("key",)),
    ("mentions", ("key",)),
    ("mention_brands", ("brand", "created_at", "mention_key")),
    ("buckets", ("brand", "start", "platform")),
    ("cursors", ("listener",)),
    ("listener_health", ("listener",)),
    ("alerts", ("id",)),
    ("alert_updates", ("id",)),
    ("rule_state", ("fingerprint",)),
    ("outbox", ("id",)),
    ("messages", ("alert_id", "notifier")),
    ("silences", ("id",)),
    ("audit", ("id",)),
    ("safety_flags", ("mention_key",)),
    ("triage_events", ("id",)),
    ("labels", ("id",)),
)
IDENTITY = ("alerts", "alert_updates", "outbox", "silences", "audit", "triage_events", "labels")

_STATE = ("CREATE TABLE IF NOT EXISTS copy_state (source text NOT NULL, table_name text NOT NULL,"
          " last_key jsonb, copied bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false,"
          " PRIMARY KEY (source, table_name))")


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int
    copied: int  # rows this run sent (a resumed run sends only what was missing)

    @property
    def ok(self) -> bool:
        return self.source == self.target


Progress = Callable[[str, int, int], None]  # (table, rows done, rows in the source table)


def copy_history(source, target, *, source_name: str, page: int = 2000,
                 on_progress: Progress | None = None, stop_after: int | None = None) -> list[TableCount]:
    """Copy every table of `source` (a SQLiteStore) into `target` (a PostgresStore); returns
    the counts, source beside target, per table. `source_name` identifies the source in
    `copy_state` (a rerun with the same name resumes). `stop_after` stops after that many
    pages in all (for tests of an interrupted copy)."""
    with target._tx() as c:
        c.execute(_STATE)
        started = c.execute("SELECT count(*) FROM copy_state WHERE source = %s", (source_name,)).fetchone()[0]
        if not started:
            busy = [t for t in ("mentions", "alerts", "outbox")
                    if c.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
            if busy:
                raise StoreError(f"{target.path} already holds {', '.join(busy)} that no copy from {source_name}"
                                 " wrote; copy into an empty database (or schema), so that ids and counts match")
    types = {table: _target_types(target, table) for table, _pk in TABLES}
    pages = 0
    counts: list[TableCount] = []
    for table, pk in TABLES:
        columns = [col for col in _source_columns(source, table) if col in types[table]]
        total = int(source.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        last, done_before, finished = _state(target, source_name, table)
        copied = 0
        while not finished:
            if stop_after is not None and pages >= stop_after:
                raise _Interrupted(table)
            rows = _page(source, table, columns, pk, last, page)
            finished = len(rows) < page
            if rows:
                last = [rows[-1][columns.index(k)] for k in pk]
            converted = [_convert(row, columns, types[table]) for row in rows]
            with target._tx() as c:
                if converted:
                    marks = ", ".join(f"%s::{types[table][col]}" for col in columns)
                    with c.cursor() as cur:
                        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                                        " ON CONFLICT DO NOTHING", converted)
                c.execute("INSERT INTO copy_state(source, table_name, last_key, copied, done)"
                          " VALUES (%s, %s, %s::jsonb, %s, %s) ON CONFLICT (source, table_name) DO UPDATE SET"
                          " last_key = excluded.last_key, copied = copy_state.copied + %s, done = excluded.done",
                          (source_name, table, json.dumps(last), len(rows), finished, len(rows)))
            copied += len(rows)
            pages += 1
            if on_progress:
                on_progress(table, min(total, done_before + copied), total)
        if table in IDENTITY:
            with target._tx() as c:
                c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                          f" GREATEST((SELECT MAX(id) FROM {table}), 1), (SELECT MAX(id) FROM {table}) IS NOT NULL)")
        if on_progress:
            on_progress(table, total, total)
        counts.append(TableCount(table, total, target._value(f"SELECT COUNT(*) FROM {table}"), copied))
    return counts


class _Interrupted(Exception):
    """Raised by copy_history(stop_after=...) in the middle of a table (tests only)."""


def _state(target, source_name: str, table: str) -> tuple[list | None, int, bool]:
    row = target._row("SELECT last_key, copied, done FROM copy_state WHERE source = %s AND table_name = %s",
                      (source_name, table))
    if row is None:
        return None, 0, False
    return (json.loads(row[0]) if row[0] else None), int(row[1]), bool(row[2])


def _page(source, table: str, columns: list[str], pk: tuple[str, ...], last: list | None, size: int) -> list:
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    args: list = []
    if last is not None:
        sql += f" WHERE ({', '.join(pk)}) > ({', '.join('?' * len(pk))})"
        args = list(last)
    cur = source.conn.execute(sql + f" ORDER BY {', '.join(pk)} LIMIT ?", args + [size])
    return [tuple(r) for r in cur.fetchall()]


def _source_columns(source, table: str) -> list[str]:
    return [r[1] for r in source.conn.execute(f"PRAGMA table_info({table})")]


def _target_types(target, table: str) -> dict[str, str]:
    """column -> PostgreSQL type for the columns a copy may write (not generated ones)."""
    rows = target._rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema ="
                        " current_schema() AND table_name = %s AND is_generated = 'NEVER'", (table,))
    names = {"timestamp with time zone": "timestamptz", "double precision": "float8", "character varying": "text"}
    return {name: names.get(kind, kind) for name, kind in rows}


def _convert(row: tuple, columns: list[str], types: dict[str, str]) -> tuple:
    from bot.store.postgres import _json, _txt

    out = []
    for col, value in zip(columns, row):
        kind = types[col]
        if value is None:
            out.append(None)
        elif kind == "timestamptz":
            out.append(parse_iso(value))
        elif kind in ("json", "jsonb"):
            text = str(value).replace("\x00", "\ufffd")
            try:
                json.loads(text)
            except ValueError:  # a poisoned row stays a row (its text as a JSON string), not a failed copy
                text = json.dumps(text, ensure_ascii=False)
            out.append(_json(text))
        elif isinstance(value, str):
            out.append(_txt(value))
        else:
            out.append(value)
    return tuple(out)
