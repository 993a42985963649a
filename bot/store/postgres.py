"""The PostgreSQL backend (the scale-out mode): every method of SQLiteStore, with the same rows
in and out, on psycopg 3 and a small psycopg_pool connection pool.

What differs underneath, and why it does not show:
- one transaction per call, as SQLite; where SQLite's single writer made a read-then-write
  safe, here the write carries its own condition (ON CONFLICT ... WHERE, UPDATE ... WHERE
  status = ..., SELECT ... FOR UPDATE/SHARE), so several processes may call at once;
- times are timestamptz, always written whole seconds (SQLite keeps whole-second ISO text),
  handed out as aware UTC datetimes where SQLite hands out datetimes and as the same ISO text
  where SQLite's rows carry text (health rows, record tuples);
- JSON comes back as text, as from SQLite, and callers parse it where they did before;
- NUL characters, which PostgreSQL text and jsonb cannot hold, become U+FFFD at this edge;
- full-text search takes the query syntax people type (bot/store/pg_search.py), not FTS5's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

from bot.errors import LeaseLost, QueryError, StoreError
from bot.models import BUCKET, Alert, Mention, Score, ScoredMention, WindowStats, floor_bucket, iso, utc
from bot.store import pg_schema
from bot.store.deadletters import DATA_ERRORS, DeadLetter, IngestResult, letter, matches as _matches
from bot.store.pg_reads import PostgresReads
from bot.store.pg_search import search_error, to_tsquery_text
from bot.store.pg_work import PostgresWork
from bot.store.triage_pg import PostgresTriage
from bot.store.records import Delivery, Lease, Message, Report, RuleState, Silence

SCHEMA_VERSION = pg_schema.SCHEMA_VERSION
_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _iso_sql(column: str) -> str:
    """SQL for a timestamptz as SQLite's fixed-width ISO text ('2026-11-21T10:05:00Z')."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _epoch_sql(column: str) -> str:
    return f"extract(epoch FROM {column})::bigint"


# What windows read: everything but the raw platform payload, as SQLite's _LIGHT, with the
# time as ISO text and the JSON as text (mention_records hands out these exact columns).
_LIGHT_COLUMNS = ("key", "platform", "native_id", "kind", "text", "title", "author", "url", "created_at",
                  "language", "author_reach", "engagement", "metrics", "label", "polarity", "scorer", "terms")
_LIGHT = ", ".join(_iso_sql("m.created_at") + " AS created_at" if c == "created_at" else f"m.{c}"
                   for c in _LIGHT_COLUMNS)
_FULL = _LIGHT + ", m.raw, m.lang, m.lang_confidence"  # mentions as _scored builds them (search, recent, safety)


class PostgresStore(PostgresReads, PostgresWork, PostgresTriage):
    """A PostgreSQL database at `dsn`, migrated on open.

    For the mixins (pg_reads.PostgresReads, pg_work.PostgresWork) and anyone adding methods:

    - `with self._tx() as c:` yields a psycopg Connection inside ONE transaction, committed
      when the block ends, rolled back if it raises. Write there. `c.execute(sql, args)`
      returns a cursor (tuples; `c.cursor(row_factory=dict_row)` for dicts). Placeholders
      are `%s`; a Python list binds as an array (`= ANY(%s)`). Don't nest _tx blocks (each
      takes a pooled connection).
    - `with self._read() as c:` is the same for reads: one snapshot-per-statement connection,
      nothing written. `self._rows(sql, args)`, `self._row(...)` and `self._value(...)` are
      one-statement shortcuts over it; `dicts=True` gives dict rows.
    - json and jsonb columns come back as text (as SQLite's JSON text); bind JSON as text with
      an explicit `%s::jsonb` / `%s::json`. Times bind as aware datetimes (pass them through
      `_t()` to drop microseconds as SQLite's ISO text does) and come back as datetimes
      (`_dt()` makes them UTC); `_iso_sql(col)` selects one as SQLite's ISO text.
    - Strings that come from outside go through `_txt()` (no NUL in PostgreSQL text).
    """

    def __init__(self, dsn: str, *, pool_size: int = 4):
        from bot.store import display

        self.dsn = dsn
        self.path = display(dsn)  # what SQLite's `path` is for: naming the database, never its password
        self._migrated = self._migrate_now()
        self._pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, configure=_configure, open=True,
                                    name="harkbot", timeout=30)

    # -- connections ---------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn:  # commits on a clean exit, rolls back on an exception
            yield conn

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn:
            yield conn

    def _rows(self, sql: str, args: Sequence | dict = (), *, dicts: bool = False) -> list:
        with self._read() as c:
            cur = c.cursor(row_factory=dict_row) if dicts else c.cursor()
            return cur.execute(sql, args).fetchall()

    def _row(self, sql: str, args: Sequence | dict = (), *, dicts: bool = False):
        with self._read() as c:
            cur = c.cursor(row_factory=dict_row) if dicts else c.cursor()
            return cur.execute(sql, args).fetchone()

    def _value(self, sql: str, args: Sequence | dict = ()) -> Any:
        row = self._row(sql, args)
        return row[0] if row else None

    def close(self) -> None:
        self._pool.close()

    # -- schema ---------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to {self.path}: {str(exc).strip()}. Check that the server runs"
                             " and that `database:` (or HARKBOT_DATABASE_URL) names it") from None
        _configure(conn)
        return conn

    def _migrate_now(self) -> list[str]:
        with self._connect() as conn:
            return pg_schema.migrate(conn, self.path)

    def migrate(self) -> list[str]:
        """Run the migrations this database lacks; returns the steps run ([]: it was up to date).
        Opening the store already did this; the steps that open ran are in `self._migrated`."""
        with self._connect() as conn:
            return pg_schema.migrate(conn, self.path)

    @property
    def version(self) -> int:
        with self._read() as c:
            return pg_schema.version(c)

    def get_meta(self, key: str) -> str | None:
        return self._value("SELECT value FROM meta WHERE key = %s", (key,))

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      (key, _txt(value)))

    def instance(self) -> str:
        """A random id for this database, in every message key, so that two harkbots posting
        to one channel never take each other's messages for their own."""
        found = self.get_meta("instance")
        if found:
            return found
        with self._tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES ('instance', %s) ON CONFLICT (key) DO NOTHING",
                      (os.urandom(6).hex(),))
        return str(self.get_meta("instance"))

    def count(self, table: str) -> int:
        if table not in ("mentions", "alerts", "outbox", "mention_brands"):
            raise ValueError(table)
        return int(self._value(f"SELECT COUNT(*) FROM {table}"))

    # -- ingest ---------------------------------------------------------------------------

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        return {r[0] for r in self._rows("SELECT key FROM mentions WHERE key = ANY(%s)", (list(keys),))}

    def ingest(self, listener: str, scored: Sequence[ScoredMention], cursor: str | None, now: datetime,
               *, lease: Lease | None = None, rejected: Sequence[DeadLetter] = ()) -> int:
        """Store new mentions with their links and buckets, and the cursor: one transaction.

        Mentions already stored are skipped (the key is platform:id), so a re-fetched page
        changes nothing. Returns how many were new. The page goes in set-at-a-time: one
        INSERT ... ON CONFLICT DO NOTHING RETURNING for the mentions, one each for their flags,
        links and (summed here first) bucket increments. With `lease`, the page is refused
        (LeaseLost) unless that lease is still the current one; the lease row stays share-locked
        until the commit, so a takeover cannot slip in between the check and the write. A
        mention that cannot be stored is set aside as a dead letter (see `ingest_page`).
        """
        return self.ingest_page(listener, scored, cursor, now, lease=lease, rejected=rejected).new

    def ingest_page(self, listener: str, scored: Sequence[ScoredMention], cursor: str | None, now: datetime,
                    *, lease: Lease | None = None, rejected: Sequence[DeadLetter] = ()) -> IngestResult:
        """`ingest`, saying what it set aside: the page's mentions, its dead letters (`rejected`,
        refused before the store, and any mention whose rows fail with a data error) and the
        cursor in one transaction, as SQLite's. The page goes in set-at-a-time under a
        savepoint; only when that fails on the data is it done again row by row, each under a
        savepoint of its own, to find the rows at fault."""
        with self._tx() as c:
            if lease is not None:
                self._fence(c, lease)
            dead: list[DeadLetter] = []
            try:
                with c.transaction():
                    new = _put_mentions(c, listener, scored, _t(now), raw=True, safety=True)
            except _ROW_ERRORS:
                new = 0
                stored = self._stored_keys(c, [sm.mention.key for sm in scored])
                for sm in scored:
                    if sm.mention.key in stored:
                        continue  # a post stored before is no fault of this page (as on SQLite)
                    try:
                        with c.transaction():
                            new += _put_mentions(c, listener, [sm], _t(now), raw=True, safety=True)
                    except _ROW_ERRORS as exc:
                        dead.append(letter(listener, sm, "store", exc))
            dead = list(rejected) + dead
            for d in dead:
                c.execute(
                    "INSERT INTO dead_letters(key, listener, stage, reason, payload, first_at, last_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET listener = excluded.listener,"
                    " stage = excluded.stage, reason = excluded.reason, payload = excluded.payload,"
                    " last_at = excluded.last_at, attempts = dead_letters.attempts + 1, resolved_at = NULL,"
                    " resolution = NULL", (d.key, d.listener, d.stage, d.reason, d.payload, _t(now), _t(now)))
            if cursor is not None:
                c.execute("INSERT INTO cursors(listener, cursor, updated_at) VALUES (%s, %s, %s)"
                          " ON CONFLICT (listener) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                          (_txt(listener), _txt(cursor), _t(now)))
        return IngestResult(new, tuple(dead))

    @staticmethod
    def _stored_keys(c: Any, keys: list[str]) -> set[str]:
        fine = [k for k in keys if _encodable(k)]  # a key that cannot be sent cannot be stored either
        return {r[0] for r in c.execute("SELECT key FROM mentions WHERE key = ANY(%s)", (fine,))} if fine else set()

    # -- dead letters -------------------------------------------------------------------------

    def dead_letters(self, *, listener: str | None = None, everything: bool = False,
                     limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first: the open ones, or with `everything` the resolved too."""
        sql, args = f"SELECT {_DEAD} FROM dead_letters WHERE true", []
        if not everything:
            sql += " AND resolved_at IS NULL"
        if listener is not None:
            sql, args = sql + " AND listener = %s", [listener]
        return [_dead(r) for r in self._rows(sql + " ORDER BY id LIMIT %s", [*args, limit])]

    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        row = self._row(f"SELECT {_DEAD} FROM dead_letters WHERE id = %s", (letter_id,))
        return _dead(row) if row else None

    def dead_letter_count(self, listener: str | None = None) -> int:
        """Open dead letters (all listeners', or one's): what `status` shows."""
        sql, args = "SELECT COUNT(*) FROM dead_letters WHERE resolved_at IS NULL", []
        if listener is not None:
            sql, args = sql + " AND listener = %s", [listener]
        return int(self._value(sql, args))

    def resolve_dead_letter(self, letter_id: int, resolution: str, now: datetime) -> bool:
        """Close a dead letter (a retry stored it, or found nothing left to store)."""
        with self._tx() as c:
            return c.execute("UPDATE dead_letters SET resolved_at = %s, resolution = %s WHERE id = %s"
                             " AND resolved_at IS NULL", (_t(now), resolution, letter_id)).rowcount > 0

    def forget_dead_letters(self, match: Callable[[Mention], bool]) -> int:
        """Delete every dead letter (open or resolved) whose mention `match`es: a data-subject
        erasure reaches the posts set aside too. A scan, as forget's own; erasures are rare."""
        doomed = [int(r[0]) for r in self._rows("SELECT id, payload FROM dead_letters") if _matches(match, r[1])]
        if doomed:
            with self._tx() as c:
                c.execute("DELETE FROM dead_letters WHERE id = ANY(%s)", (doomed,))
        return len(doomed)

    def purge_dead_letters(self, before: datetime, listener: str | None = None) -> int:
        """Delete dead letters last seen before `before` (they hold post text: retention applies)."""
        sql, args = "DELETE FROM dead_letters WHERE last_at < %s", [_t(before)]
        if listener is not None:
            sql, args = sql + " AND listener = %s", [*args, listener]
        with self._tx() as c:
            return c.execute(sql, args).rowcount

    def bulk_ingest(self, listener: str, scored: Sequence[ScoredMention], now: datetime) -> int:
        """Many new mentions in one transaction (benchmarks, imports): the same rows as `ingest`,
        without raw payloads or safety flags, as SQLite's bulk_ingest. Returns how many were new."""
        with self._tx() as c:
            return _put_mentions(c, listener, scored, _t(now), raw=False, safety=False)

    # -- leases ---------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        """Take `name` for `holder` until now + ttl, unless someone else holds it unexpired.
        The same holder taking it again gets a new token (its earlier writes are fenced).

        One statement: the upsert's WHERE is checked on the row as locked, so of two callers
        racing for a free lease exactly one gets it."""
        until = _t(now + ttl)
        with self._tx() as c:
            row = c.execute(
                "INSERT INTO leases(name, holder, token, expires_at) VALUES (%s, %s, 1, %s) ON CONFLICT (name)"
                " DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at <= %s RETURNING token",
                (name, holder, until, _t(now))).fetchone()
        return Lease(name, holder, int(row[0]), until) if row else None

    def renew_lease(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend a lease still held; None if it was lost (expired and taken by another)."""
        until = _t(now + ttl)
        with self._tx() as c:
            cur = c.execute("UPDATE leases SET expires_at = %s WHERE name = %s AND holder = %s AND token = %s",
                            (until, lease.name, lease.holder, lease.token))
        return Lease(lease.name, lease.holder, lease.token, until) if cur.rowcount else None

    def release_lease(self, lease: Lease) -> None:
        """Let the next holder in at once. The row stays, so tokens keep rising."""
        with self._tx() as c:
            c.execute("UPDATE leases SET expires_at = %s WHERE name = %s AND holder = %s AND token = %s",
                      (_EPOCH_ZERO, lease.name, lease.holder, lease.token))

    def leases(self) -> list[Lease]:
        return [Lease(r[0], r[1], int(r[2]), _dt(r[3]))
                for r in self._rows("SELECT name, holder, token, expires_at FROM leases ORDER BY name COLLATE \"C\"")]

    @staticmethod
    def _fence(c: psycopg.Connection, lease: Lease) -> None:
        """Refuse the transaction's writes unless `lease` is current; FOR SHARE holds the lease
        row until commit, so an acquire_lease by another holder waits for this write to land."""
        row = c.execute("SELECT holder, token FROM leases WHERE name = %s FOR SHARE", (lease.name,)).fetchone()
        if row is None or (row[0], int(row[1])) != (lease.holder, lease.token):
            raise LeaseLost(f"lease {lease.name!r} (token {lease.token}) is no longer held by {lease.holder!r};"
                            " this write is refused so it cannot overwrite newer work")

    # -- cursors and listener health ---------------------------------------------------------

    def cursor(self, listener: str) -> str | None:
        return self._value("SELECT cursor FROM cursors WHERE listener = %s", (listener,))

    def record_success(self, listener: str, now: datetime, fetched: int, new: int) -> None:
        """A whole walk finished: the failure streak ends."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO listener_health(listener, last_poll, last_success, failures, fetched, new)"
                " VALUES (%s, %s, %s, 0, %s, %s) ON CONFLICT (listener) DO UPDATE SET last_poll = excluded.last_poll,"
                " last_success = excluded.last_success, failures = 0, retry_at = NULL,"
                " fetched = listener_health.fetched + excluded.fetched, new = listener_health.new + excluded.new",
                (_txt(listener), _t(now), _t(now), fetched, new))

    def record_failure(self, listener: str, error: str, now: datetime, retry_at: datetime | None = None) -> int:
        """Note a failed poll, and when to try again; returns the number of consecutive failures."""
        with self._tx() as c:
            row = c.execute(
                "INSERT INTO listener_health(listener, last_poll, last_error, last_error_at, failures, retry_at)"
                " VALUES (%s, %s, %s, %s, 1, %s) ON CONFLICT (listener) DO UPDATE SET last_poll = excluded.last_poll,"
                " last_error = excluded.last_error, last_error_at = excluded.last_error_at,"
                " failures = listener_health.failures + 1, retry_at = excluded.retry_at RETURNING failures",
                (_txt(listener), _t(now), _txt(error[:500]), _t(now), _t(retry_at))).fetchone()
        return int(row[0])

    def retry_at(self, listener: str) -> datetime | None:
        """When a failing listener may be polled again (None: now)."""
        return _dt(self._value("SELECT retry_at FROM listener_health WHERE listener = %s", (listener,)))

    def health_of(self, listener: str) -> dict | None:
        row = self._row(f"SELECT {_HEALTH} FROM listener_health WHERE listener = %s", (listener,), dicts=True)
        return _texts(row) if row else None

    def health(self) -> list[dict]:
        return [_texts(r) for r in
                self._rows(f"SELECT {_HEALTH} FROM listener_health ORDER BY listener COLLATE \"C\"", dicts=True)]

    def listener_activity(self, until: datetime | None = None) -> list[dict]:
        """Each listener's health row plus `last_data`: when it last stored a new mention."""
        sql = (f"SELECT {_HEALTH}, (SELECT {_iso_sql('MAX(m.ingested_at)')} FROM mentions m"
               " WHERE m.listener = h.listener" + (" AND m.ingested_at <= %(until)s" if until is not None else "") +
               ") AS last_data FROM listener_health h ORDER BY h.listener COLLATE \"C\"")
        return [_texts(r) for r in self._rows(sql, {"until": _t(until)}, dicts=True)]

    # -- history (what rule kinds read) -----------------------------------------------------

    def series(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
               platforms: Sequence[str] | None = None) -> list[int]:
        column = {"negative": "negative", "positive": "positive", None: "count"}.get(sentiment)
        if column is None:  # neutral has no bucket column of its own
            column = "count - negative - positive"
        start, end = floor_bucket(start), floor_bucket(end)
        sql = f"SELECT start, SUM({column}) FROM buckets WHERE brand = %s AND start >= %s AND start < %s"
        sql, args = _platform_filter(sql, [brand, start, end], platforms, "platform")
        out = [0] * int((end - start) / BUCKET)
        for bucket, count in self._rows(sql + " GROUP BY start", args):
            out[int((bucket - start) / BUCKET)] = int(count)
        return out

    def stats(self, brand: str, start: datetime, end: datetime, *,
              platforms: Sequence[str] | None = None) -> WindowStats:
        sql = ("SELECT COALESCE(SUM(count),0)::bigint, COALESCE(SUM(negative),0)::bigint,"
               " COALESCE(SUM(positive),0)::bigint, COALESCE(SUM(polarity_sum),0)::float8"
               " FROM buckets WHERE brand = %s AND start >= %s AND start < %s")
        sql, args = _platform_filter(sql, [brand, floor_bucket(start), floor_bucket(end)], platforms, "platform")
        count, negative, positive, polarity = self._row(sql, args)
        sql, args = _linked("m.platform, COUNT(*)", brand, start, end, platforms=platforms)
        per_platform = {p: int(n) for p, n in self._rows(sql + " GROUP BY m.platform", args)}
        authors = self.authors(brand, start, end, platforms=platforms)
        return WindowStats(start, end, int(count), int(negative), int(positive), polarity, authors, per_platform)

    def totals(self, brand: str, start: datetime, end: datetime, *,
               platforms: Sequence[str] | None = None) -> tuple[int, int, int]:
        """(count, negative, positive) over [start, end) from the buckets alone."""
        sql = ("SELECT COALESCE(SUM(count),0), COALESCE(SUM(negative),0), COALESCE(SUM(positive),0)"
               " FROM buckets WHERE brand = %s AND start >= %s AND start < %s")
        sql, args = _platform_filter(sql, [brand, floor_bucket(start), floor_bucket(end)], platforms, "platform")
        count, negative, positive = self._row(sql, args)
        return int(count), int(negative), int(positive)

    def authors(self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] | None = None,
                sentiment: str | None = None) -> int:
        """Distinct (platform, author) pairs among a brand's mentions in [start, end)."""
        sql, args = _linked("COUNT(DISTINCT m.platform || ':' || m.author)", brand, start, end, sentiment=sentiment,
                            platforms=platforms)
        return int(self._value(sql, args))

    def mentions(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
                 platforms: Sequence[str] | None = None, limit: int | None = None,
                 order: str = "reach") -> list[ScoredMention]:
        sql, args = _linked(_LIGHT, brand, start, end, sentiment=sentiment, platforms=platforms)
        sql += {"reach": " ORDER BY m.author_reach + m.engagement DESC NULLS LAST, m.created_at DESC",
                "time": " ORDER BY m.created_at DESC"}[order]
        if limit:
            sql += " LIMIT %s"
            args.append(limit)
        return self._with_brands(self._rows(sql, args, dicts=True))

    def mention_records(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
                        platforms: Sequence[str] | None = None, limit: int | None = None,
                        order: str = "reach", keys: Sequence[str] | None = None) -> list[tuple]:
        """The rows `mentions` builds its ScoredMentions from, as plain tuples (the light columns,
        time and JSON as text, then the mention's brands joined by \\x1f, sorted)."""
        brands = ("(SELECT string_agg(l.brand, chr(31) ORDER BY l.brand COLLATE \"C\") FROM mention_brands l"
                  " WHERE l.mention_key = m.key)")
        sql, args = _linked(f"{_LIGHT}, {brands}", brand, start, end, sentiment=sentiment, platforms=platforms)
        if keys is not None:
            sql += " AND b.mention_key = ANY(%s)"
            args.append(list(keys))
        sql += {"reach": " ORDER BY m.author_reach + m.engagement DESC NULLS LAST, m.created_at DESC",
                "time": " ORDER BY b.created_at DESC, b.mention_key COLLATE \"C\""}[order]
        if limit:
            sql += " LIMIT %s"
            args.append(limit)
        return self._rows(sql, args)

    def mention_rows(self, brand: str, start: datetime, end: datetime, *,
                     platforms: Sequence[str] | None = None) -> list[tuple]:
        """(key, platform, author, author_reach, label, text, title) of a brand's mentions in [start, end)."""
        sql, args = _linked("m.key, m.platform, m.author, m.author_reach, b.label, m.text, m.title", brand, start, end,
                            platforms=platforms)
        return self._rows(sql, args)

    def first_seen(self, brand: str) -> datetime | None:
        return _dt(self._value("SELECT MIN(start) FROM buckets WHERE brand = %s", (brand,)))

    def _with_brands(self, rows: list[dict]) -> list[ScoredMention]:
        if not rows:
            return []
        links: dict[str, list[str]] = {}
        for key, brand in self._rows("SELECT mention_key, brand FROM mention_brands WHERE mention_key = ANY(%s)"
                                     " ORDER BY brand COLLATE \"C\"", ([r["key"] for r in rows],)):
            links.setdefault(key, []).append(brand)
        return [_scored(r, tuple(links.get(r["key"], ()))) for r in rows]

    # -- search -----------------------------------------------------------------------------

    def search(self, query: str, *, brand: str | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 50) -> list[ScoredMention]:
        """Full-text search, newest first: words, "phrases", OR, NOT, prefix*, #tag, @handle."""
        tsquery = _tsquery(query)
        sql, args = _mention_filters(f"SELECT {_FULL} FROM mentions m WHERE m.fts @@ %s::tsquery", [tsquery],
                                     brand, since, until)
        rows = self._rows(sql + " ORDER BY m.created_at DESC LIMIT %s", args + [limit], dicts=True)
        return self._with_brands(rows)

    def recent(self, *, brand: str | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 50) -> list[ScoredMention]:
        """Stored mentions, newest first, without a text query."""
        sql, args = _mention_filters(f"SELECT {_FULL} FROM mentions m WHERE TRUE", [], brand, since, until)
        rows = self._rows(sql + " ORDER BY m.created_at DESC LIMIT %s", args + [limit], dicts=True)
        return self._with_brands(rows)

    def mention_span(self) -> tuple[datetime, datetime] | None:
        """The created_at of the first and the last stored mention."""
        first, last = self._row("SELECT MIN(created_at), MAX(created_at) FROM mentions")
        return (_dt(first), _dt(last)) if first else None

    def bucket_rows(self, start: datetime, end: datetime) -> list[tuple]:
        """(brand, epoch seconds, platform, count, negative, positive) for every bucket in [start, end)."""
        return self._rows(f"SELECT brand, {_epoch_sql('start')}, platform, count, negative, positive FROM buckets"
                          " WHERE start >= %s AND start < %s", (_t(start), _t(end)))

    def link_rows(self, start: datetime, end: datetime, *, min_reach: int | None = None,
                  authors: Sequence[str] = (), fts: str | None = None, odd: bool = False,
                  brands: Sequence[str] | None = None, text: bool = True,
                  containing: str | None = None, unusual: bool = False) -> list[tuple]:
        """Brand links of mentions in [start, end) as (key, brand, epoch, platform, label, reach, author, text, title).

        Filters (any of them, ORed): an author reach (a missing reach counts as 0), a list of
        authors (case-insensitive), texts holding characters the tokenizer may read
        differently from harkbot's own (`odd`), or a text, title or author with anything
        beyond ASCII, or a text or title with an underscore (`unusual`, as SQLite's). A text
        query (`fts`: the query syntax, or the FTS5 form bot.memhistory.to_fts writes) is
        ANDed to them. With no filter, every link.
        """
        what = "m.text, m.title" if text else "'', ''"
        sql = (f"SELECT m.key, b.brand, {_epoch_sql('b.created_at')}, b.platform, b.label, m.author_reach,"
               f" m.author, {what} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key")
        where, args = ["b.created_at >= %s", "b.created_at < %s"], [_t(start), _t(end)]
        ors: list[str] = []
        if fts is not None:
            where.append("m.fts @@ %s::tsquery")
            args.append(_tsquery(fts))
        if min_reach is not None:
            ors.append("coalesce(m.author_reach, 0) >= %s")
            args.append(min_reach)
        if authors:
            ors.append("ltrim(lower(coalesce(m.author, '')), '@') = ANY(%s)")
            args.append([a.lower().lstrip("@") for a in authors])
        if odd:
            for pattern in _ODD_PATTERNS:
                ors.append("m.text ~ %s OR m.title ~ %s")
                args += [pattern, pattern]
        if unusual:
            ors.append(_UNUSUAL)
        if ors:
            where.append("(" + " OR ".join(ors) + ")")
        if brands is not None:
            where.append("b.brand = ANY(%s)")
            args.append(list(brands))
        if containing is not None:  # texts (or titles) holding this string: strpos, no pattern
            where.append("(strpos(m.text, %s) > 0 OR strpos(m.title, %s) > 0)")
            args += [_txt(containing), _txt(containing)]
        return self._rows(sql + " WHERE " + " AND ".join(where), args)

    def brand_links(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        """(mention key, brand) of every brand link in [start, end)."""
        return self._rows("SELECT mention_key, brand FROM mention_brands WHERE created_at >= %s AND created_at < %s",
                          (_t(start), _t(end)))

    def iter_mentions(self, start: datetime, end: datetime, *, scan: bool = False) -> Iterator[tuple]:
        """(key, created_at, platform, label, reach, author, text, title) of every mention in [start, end),
        streamed through a server-side cursor. `scan` is SQLite's planner hint; PostgreSQL's
        planner chooses a sequential scan itself when the range is most of the table."""
        yield from self._stream(
            f"SELECT key, {_iso_sql('created_at')}, platform, label, author_reach, author, text, title FROM mentions"
            " WHERE created_at >= %s AND created_at < %s", (_t(start), _t(end)))

    def link_texts(self, brand: str, start: datetime, end: datetime, *,
                   containing: str | None = None) -> Iterator[tuple]:
        """(epoch seconds, platform, text, title) of a brand's mentions in [start, end), streamed
        in time order; with `containing`, only those whose text or title holds that string."""
        sql = (f"SELECT {_epoch_sql('b.created_at')}, b.platform, m.text, m.title FROM mention_brands b"
               " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = %s AND b.created_at >= %s"
               " AND b.created_at < %s")
        args: list = [brand, _t(start), _t(end)]
        if containing is not None:
            sql += " AND (strpos(m.text, %s) > 0 OR strpos(m.title, %s) > 0)"
            args += [_txt(containing), _txt(containing)]
        yield from self._stream(sql + " ORDER BY b.created_at", args)

    def link_counts(self, brand: str, start: datetime, end: datetime) -> list[tuple[int, str, int]]:
        """(5-minute bucket start in epoch seconds, platform, links) of a brand's mentions in
        [start, end), counted from the links themselves."""
        at = _epoch_sql("created_at")
        return self._rows(f"SELECT {at} - {at} %% 300, platform, COUNT(*) FROM mention_brands"
                          " WHERE brand = %s AND created_at >= %s AND created_at < %s GROUP BY 1, 2",
                          (brand, _t(start), _t(end)))

    def iter_links(self, brand: str, start: datetime, end: datetime) -> Iterator[tuple]:
        """(mention key, epoch seconds, platform, label, reach, author, text, title) of a brand's
        mentions in [start, end), streamed in time order."""
        yield from self._stream(
            f"SELECT m.key, {_epoch_sql('b.created_at')}, b.platform, b.label, m.author_reach, m.author, m.text,"
            " m.title FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
            " WHERE b.brand = %s AND b.created_at >= %s AND b.created_at < %s ORDER BY b.created_at",
            (brand, _t(start), _t(end)))

    def _stream(self, sql: str, args: Sequence) -> Iterator[tuple]:
        with self._read() as c:
            with c.cursor(name=f"harkbot_{os.urandom(4).hex()}") as cur:
                cur.itersize = 5000
                cur.execute(sql, args)
                yield from cur

    def ingest_times(self, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """(listener, epoch) of each distinct time a listener stored new mentions in [start, end), in order."""
        return self._rows(
            f"SELECT listener, {_epoch_sql('ingested_at')} FROM mentions WHERE ingested_at >= %s AND ingested_at < %s"
            " GROUP BY listener, ingested_at ORDER BY listener COLLATE \"C\", ingested_at", (_t(start), _t(end)))

    # -- alerts and rule state -----------------------------------------------------------------

    def rule_state(self, fingerprint: str) -> RuleState | None:
        row = self._row(f"SELECT {_STATE} FROM rule_state WHERE fingerprint = %s", (fingerprint,))
        return _state(row) if row else None

    def open_states(self) -> list[RuleState]:
        """Every rule state that is firing or pending."""
        return [_state(r) for r in self._rows(f"SELECT {_STATE} FROM rule_state WHERE state IN ('firing', 'pending')"
                                              " ORDER BY rule COLLATE \"C\", brand COLLATE \"C\"")]

    def save_state(self, state: RuleState, alert: Alert | None = None, notifiers: Sequence[str] = (),
                   now: datetime | None = None, resolved_alert: int | None = None) -> int | None:
        """Persist a rule state, with a new alert and its outbox rows, in one transaction.

        Returns the new alert's id (or None when there is no new alert).
        """
        alert_id = state.alert_id
        with self._tx() as c:
            if alert is not None:
                stamp = _t(alert.fired_at)
                alert_id = int(c.execute(
                    "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at,"
                    " updated_at, payload) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,'{}') RETURNING id",
                    (alert.fingerprint, alert.rule, alert.brand, alert.kind, alert.severity, alert.channel,
                     alert.state, stamp, stamp)).fetchone()[0])
                stored = _json(_with_id(alert, alert_id).to_json())
                c.execute("UPDATE alerts SET payload = %s::json WHERE id = %s", (stored, alert_id))
                if notifiers:
                    c.execute("INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at)"
                              " SELECT %s, n, %s, %s::json, %s, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i)"
                              " ORDER BY i", (alert_id, alert.channel, stored, stamp, stamp, list(notifiers)))
            if resolved_alert is not None and now is not None:
                c.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s, updated_at = %s WHERE id = %s",
                          (_t(now), _t(now), resolved_alert))
                _follow_up(c, resolved_alert, "resolve", None, now)
            c.execute(
                "INSERT INTO rule_state(fingerprint, rule, brand, state, since, false_since, alert_id, last_fired_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (fingerprint) DO UPDATE SET state = excluded.state,"
                " since = excluded.since, false_since = excluded.false_since, alert_id = excluded.alert_id,"
                " last_fired_at = excluded.last_fired_at",
                (state.fingerprint, state.rule, state.brand, state.state, _t(state.since), _t(state.false_since),
                 alert_id, _t(state.last_fired_at)))
        return alert_id if alert is not None else None

    def close_state(self, state: RuleState, reason: str, now: datetime) -> None:
        """Close the state of a rule that is gone, in one transaction: a firing alert resolves, its
        title saying why, with a follow-up queued for every notifier its message went to; a
        pending state goes inactive."""
        with self._tx() as c:
            if state.state == "firing" and state.alert_id is not None:
                row = c.execute("SELECT payload FROM alerts WHERE id = %s AND state != 'resolved' FOR UPDATE",
                                (state.alert_id,)).fetchone()
                if row is not None:
                    alert = Alert.from_json(row[0])
                    closed = replace(alert, finding=replace(alert.finding,
                                                            title=f"{alert.finding.title} (closed: {reason})"))
                    c.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s, updated_at = %s,"
                              " payload = %s::json WHERE id = %s",
                              (_t(now), _t(now), _json(closed.to_json()), state.alert_id))
                    _follow_up(c, state.alert_id, "resolve", None, now)
            c.execute("UPDATE rule_state SET state = %s, since = NULL, false_since = NULL WHERE fingerprint = %s",
                      ("resolved" if state.state == "firing" else "inactive", state.fingerprint))

    def alerts(self, limit: int = 100) -> list[Alert]:
        out = []
        for payload, state in self._rows("SELECT payload, state FROM alerts ORDER BY fired_at, id LIMIT %s", (limit,)):
            alert = Alert.from_json(payload)
            out.append(alert if alert.state == state else replace(alert, state=state))
        return out

    def alert(self, alert_id: int) -> Alert | None:
        """An alert as it is now (its state may have moved on since it fired)."""
        row = self._row("SELECT payload, state FROM alerts WHERE id = %s", (alert_id,))
        if row is None or row[0] == "{}":
            return None
        alert = Alert.from_json(row[0])
        return alert if alert.state == row[1] else replace(alert, state=row[1])

    def alert_times(self, alert_id: int) -> tuple[datetime, datetime | None] | None:
        row = self._row("SELECT fired_at, resolved_at FROM alerts WHERE id = %s", (alert_id,))
        return (_dt(row[0]), _dt(row[1])) if row else None

    def alert_rows(self, since: datetime, state: str | None = None) -> list[dict]:
        """Alerts fired since `since`, newest first, each with its delivery statuses counted."""
        sql = (f"SELECT id, {_iso_sql('fired_at')} AS fired_at, {_iso_sql('resolved_at')} AS resolved_at, state,"
               " severity, rule, brand, channel, payload->'finding'->>'title' AS title FROM alerts WHERE fired_at >= %s")
        args: list = [_t(since)]
        if state:
            sql, args = sql + " AND state = %s", args + [state]
        rows = self._rows(sql + " ORDER BY fired_at DESC, id DESC", args, dicts=True)
        if rows:
            counts: dict[int, dict[str, int]] = {}
            for alert_id, status, n in self._rows("SELECT alert_id, status, COUNT(*) FROM outbox"
                                                  " WHERE alert_id = ANY(%s) GROUP BY alert_id, status",
                                                  ([r["id"] for r in rows],)):
                counts.setdefault(alert_id, {})[status] = int(n)
            for row in rows:
                row["deliveries"] = counts.get(row["id"], {})
        return rows

    def alert_report(self, alert_id: int) -> Report:
        """What an open alert last reported, and when: its latest update, else its firing."""
        row = self._row("SELECT observed, at FROM alert_updates WHERE alert_id = %s ORDER BY id DESC LIMIT 1",
                        (alert_id,))
        if row is not None and row[0] is not None:
            return Report(float(row[0]), row[1])
        # json_extract in SQLite reads a JSON number as a number; a non-number here reads as None
        row = self._row("SELECT payload->'finding'->'observed', fired_at FROM alerts WHERE id = %s", (alert_id,))
        if row is None:
            return Report(None, None)
        value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return Report(float(value) if number else None, row[1])

    def record_update(self, state: RuleState, alert: Alert, reason: str, now: datetime) -> None:
        """A firing alert got worse: keep the update (for a thread reply) and the newest payload,
        with the rule state, in one transaction."""
        with self._tx() as c:
            if state.alert_id is not None:
                stored = _json(_with_id(alert, state.alert_id).to_json())
                update_id = c.execute(
                    "INSERT INTO alert_updates(alert_id, at, reason, observed, title, payload)"
                    " VALUES (%s,%s,%s,%s,%s,%s::json) RETURNING id",
                    (state.alert_id, _t(now), _txt(reason), alert.finding.observed, _txt(alert.finding.title),
                     stored)).fetchone()[0]
                _follow_up(c, state.alert_id, "update", int(update_id), now, stored)
                c.execute("UPDATE alerts SET payload = %s::json, updated_at = %s WHERE id = %s",
                          (stored, _t(now), state.alert_id))
            c.execute("UPDATE rule_state SET state = %s, since = %s, false_since = %s, last_fired_at = %s"
                      " WHERE fingerprint = %s", (state.state, _t(state.since), _t(state.false_since),
                                                  _t(state.last_fired_at), state.fingerprint))

    def alert_updates(self, alert_id: int) -> list[dict]:
        return [_texts(r) for r in self._rows(
            "SELECT id, alert_id, at, reason, observed, title FROM alert_updates WHERE alert_id = %s ORDER BY id",
            (alert_id,), dicts=True)]

    def update_of(self, update_id: int) -> dict | None:
        row = self._row("SELECT id, alert_id, at, reason, observed, title, payload FROM alert_updates WHERE id = %s",
                        (update_id,), dicts=True)
        return _texts(row) if row else None

    def record_notice(self, alert: Alert, notifiers: Sequence[str], now: datetime) -> int:
        """An admin message (not a rule's alert) through the same outbox: stored, retried, never lost."""
        with self._tx() as c:
            return _insert_notice(c, alert, notifiers, _t(now))

    # -- silences ------------------------------------------------------------------------------

    def add_silence(self, rule: str | None, brand: str | None, starts: datetime, ends: datetime, comment: str,
                    created_by: str | None, now: datetime) -> int:
        with self._tx() as c:
            return int(c.execute(
                "INSERT INTO silences(rule, brand, starts_at, ends_at, comment, created_by, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (rule, brand, _t(starts), _t(ends), _txt(comment), _txt(created_by), _t(now))).fetchone()[0])

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """All silences, newest first; only those active at `now` when given."""
        found = [Silence(r[0], r[1], r[2], _dt(r[3]), _dt(r[4]), r[5], r[6], _dt(r[7]), _dt(r[8]))
                 for r in self._rows("SELECT id, rule, brand, starts_at, ends_at, comment, created_by, created_at,"
                                     " expired_at FROM silences ORDER BY id DESC")]
        return [s for s in found if s.active(now)] if now is not None else found

    def expire_silence(self, silence_id: int, now: datetime) -> bool:
        with self._tx() as c:
            return c.execute("UPDATE silences SET expired_at = %s WHERE id = %s AND expired_at IS NULL",
                             (_t(now), silence_id)).rowcount == 1

    # -- outbox --------------------------------------------------------------------------------

    def open_deliveries(self, notifiers: Sequence[str] | None = None, limit: int = 500,
                        due_by: datetime | None = None) -> list[Delivery]:
        """Rows not yet settled (pending, held, sending), oldest first: the sender's queue.
        With `due_by`, held rows (quiet hours, digests) only once due."""
        sql = f"SELECT {_DELIVERY} FROM outbox WHERE status IN ('pending', 'held', 'sending')"
        args: list = []
        if due_by is not None:
            sql += " AND (status != 'held' OR next_attempt_at <= %s)"
            args.append(_t(due_by))
        if notifiers is not None:
            sql += " AND notifier = ANY(%s)"
            args.append(list(notifiers))
        return [_delivery(r) for r in self._rows(sql + " ORDER BY id LIMIT %s", args + [limit])]

    def deliveries_of(self, alert_id: int) -> list[Delivery]:
        return [_delivery(r) for r in self._rows(f"SELECT {_DELIVERY} FROM outbox WHERE alert_id = %s ORDER BY id",
                                                 (alert_id,))]

    def claim(self, ids: Sequence[int], batch: int | None = None) -> bool:
        """Mark rows as being sent, as one message: committed before the request goes out,
        so that after a crash the sender knows to look for the message before posting again.

        Fresh rows (`batch` None) are claimed all or none, and only if no other sender claimed
        any of them since they were read: the rows are locked in id order (two senders never
        deadlock), and the UPDATE's `batch IS NULL AND status IN ('pending', 'held')` is checked
        on each row as locked, so when several processes claim the same rows at once exactly
        one gets them and the others get False (leave them to it). A retry (`batch` given)
        takes back rows of that batch only."""
        ids = list(ids)
        with self._tx() as c:
            c.execute("SELECT id FROM outbox WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (ids,))
            if batch is None:
                got = c.execute("UPDATE outbox SET status = 'sending', batch = %s WHERE id = ANY(%s) AND batch IS NULL"
                                " AND status IN ('pending', 'held')", (min(ids), ids)).rowcount
                if got != len(set(ids)):
                    c.rollback()
                    return False
            else:
                c.execute("UPDATE outbox SET status = 'sending' WHERE id = ANY(%s) AND batch = %s", (ids, batch))
        return True

    def delivered(self, ids: Sequence[int], now: datetime, *, channel: str | None = None,
                  channel_id: str | None = None, ts: str | None = None, key: str = "",
                  digest: bool = False) -> None:
        """Rows sent (one message); an alert's first message is remembered for its follow-ups."""
        ids = list(ids)
        with self._tx() as c:
            c.execute("UPDATE outbox SET status = 'sent', sent_at = %s, remote_id = %s, attempts = attempts + 1,"
                      " last_error = NULL WHERE id = ANY(%s)", (_t(now), ts, ids))
            c.execute("INSERT INTO messages(alert_id, notifier, channel, channel_id, ts, key, digest, sent_at)"
                      " SELECT alert_id, notifier, %s, %s, %s, %s, %s, %s FROM outbox"
                      " WHERE id = ANY(%s) AND action IN ('alert', 'digest') ORDER BY id ON CONFLICT DO NOTHING",
                      (channel, channel_id, ts, key, int(digest), _t(now), ids))

    def retry_later(self, ids: Sequence[int], error: str, at: datetime) -> None:
        with self._tx() as c:
            c.execute("UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = %s,"
                      " next_attempt_at = %s WHERE id = ANY(%s)", (_txt(error[:500]), _t(at), list(ids)))

    def settle(self, ids: Sequence[int], status: str, note: str | None = None) -> None:
        """Close rows without sending: 'dead' (a refusal waiting cannot fix), 'silenced', 'skipped'."""
        with self._tx() as c:
            c.execute("UPDATE outbox SET status = %s, last_error = %s WHERE id = ANY(%s)",
                      (status, _txt((note or "")[:500]) or None, list(ids)))

    def hold(self, ids: Sequence[int], until: datetime, action: str | None = None) -> None:
        """Keep rows back until `until` (quiet hours; a digest, when `action` is 'digest')."""
        with self._tx() as c:
            c.execute("UPDATE outbox SET status = 'held', next_attempt_at = %s, action = COALESCE(%s, action)"
                      " WHERE id = ANY(%s)", (_t(until), action, list(ids)))

    def requeue(self, ids: Sequence[int] | None, now: datetime) -> int:
        """Dead rows back into the queue (all dead rows when `ids` is None): after fixing the cause."""
        with self._tx() as c:
            sql, args = "UPDATE outbox SET status = 'pending', next_attempt_at = %s WHERE status = 'dead'", [_t(now)]
            if ids is not None:
                sql += " AND id = ANY(%s)"
                args.append(list(ids))
            return c.execute(sql, args).rowcount

    def message_of(self, alert_id: int, notifier: str) -> Message | None:
        row = self._row("SELECT alert_id, notifier, channel, channel_id, ts, key, digest FROM messages"
                        " WHERE alert_id = %s AND notifier = %s", (alert_id, notifier))
        return Message(*row[:6], bool(row[6])) if row else None

    def alerts_in_message(self, message: Message) -> list[int]:
        """The alerts that went out together in one (grouped) message, in the order it shows them."""
        if message.ts is None:
            return [message.alert_id]
        return [r[0] for r in self._rows(
            "SELECT alert_id FROM messages WHERE notifier = %s AND channel_id IS NOT DISTINCT FROM %s AND ts = %s"
            " ORDER BY alert_id", (message.notifier, message.channel_id, message.ts))]

    def outbox_counts(self) -> dict[str, int]:
        return {s: int(n) for s, n in self._rows("SELECT status, COUNT(*) FROM outbox GROUP BY status")}

    # -- safety --------------------------------------------------------------------------------

    def open_safety_flags(self, levels: Sequence[str], since: datetime, limit: int = 200) -> list[tuple]:
        """(level, cues, reason, mention) for flags of `levels` since `since` that have no alert yet, oldest first."""
        if not levels:
            return []
        rows = self._rows(
            f"SELECT f.mention_key, f.level, f.cues, f.reason, {_FULL} FROM safety_flags f JOIN mentions m"
            " ON m.key = f.mention_key WHERE f.alert_id IS NULL AND f.level = ANY(%s) AND f.flagged_at >= %s"
            " ORDER BY f.flagged_at, f.mention_key COLLATE \"C\" LIMIT %s", (list(levels), _t(since), limit), dicts=True)
        if not rows:
            return []
        links: dict[str, list[str]] = {}
        for key, brand in self._rows("SELECT mention_key, brand FROM mention_brands WHERE mention_key = ANY(%s)"
                                     " ORDER BY brand COLLATE \"C\"", ([r["mention_key"] for r in rows],)):
            links.setdefault(key, []).append(brand)
        return [(r["level"], tuple(json.loads(r["cues"])), r["reason"],
                 _scored(r, tuple(links.get(r["mention_key"], ())))) for r in rows]

    def record_safety_alert(self, mention_key: str, alert: Alert, notifiers: Sequence[str], now: datetime) -> int | None:
        """A safety alert, its outbox rows and the flag's link to it: one transaction, so a flag
        is alerted exactly once (the flag row is locked: a second process waits, then finds it
        alerted and returns None)."""
        with self._tx() as c:
            if c.execute("SELECT 1 FROM safety_flags WHERE mention_key = %s AND alert_id IS NULL FOR UPDATE",
                         (mention_key,)).fetchone() is None:
                return None  # alerted meanwhile by another harkbot process
            alert_id = _insert_notice(c, alert, notifiers, _t(now))
            c.execute("UPDATE safety_flags SET alert_id = %s WHERE mention_key = %s", (alert_id, mention_key))
        return alert_id

    def safety_flagged(self, keys: Sequence[str]) -> set[str]:
        """Which of these mention keys carry a self-harm flag."""
        if not keys:
            return set()
        return {r[0] for r in self._rows("SELECT mention_key FROM safety_flags WHERE mention_key = ANY(%s)",
                                         (list(keys),))}


# -- helpers --------------------------------------------------------------------------------

def _configure(conn: psycopg.Connection) -> None:
    """Every connection: JSON as text (as SQLite returns it), times in UTC."""
    conn.adapters.register_loader("json", TextLoader)
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def _t(dt: datetime | None) -> datetime | None:
    """A time to store: aware UTC, whole seconds, as SQLite's ISO text keeps it."""
    return utc(dt).replace(microsecond=0) if dt is not None else None


def _dt(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _txt(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; it becomes U+FFFD (a separator to every tokenizer, as NUL was)."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def _scrub(value: Any) -> Any:
    """`value` (parsed JSON, or what will be dumped as JSON) without NUL in any string."""
    if isinstance(value, str):
        return _txt(value)
    if isinstance(value, dict):
        return {_txt(k) if isinstance(k, str) else k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _json(text: str) -> str:
    """JSON text fit for PostgreSQL: a \\u0000 escape (which json operators and jsonb refuse)
    is re-encoded as U+FFFD; any other text is kept byte for byte."""
    if "\\u0000" not in text and "\x00" not in text:
        return text
    return json.dumps(_scrub(json.loads(text)), ensure_ascii=False)


def _dumps(value: Any, **kwargs) -> str:
    return _json(json.dumps(value, **kwargs))


def _texts(row: dict) -> dict:
    """A dict row as SQLite's: times as its ISO text."""
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


_HEALTH = ("listener, last_poll, last_success, last_error, last_error_at, failures, retry_at, fetched, new")
_STATE = "fingerprint, rule, brand, state, since, false_since, alert_id, last_fired_at"
_DELIVERY = ("id, alert_id, notifier, channel, payload, attempts, action, status, next_attempt_at, created_at,"
             " batch, update_id, last_error")


def _state(r: tuple) -> RuleState:
    return RuleState(r[0], r[1], r[2], r[3], _dt(r[4]), _dt(r[5]), r[6], _dt(r[7]))


def _delivery(r: tuple) -> Delivery:
    return Delivery(*r[:8], _dt(r[8]), _dt(r[9]), *r[10:])


def _tsquery(query: str) -> str:
    try:
        tsquery = to_tsquery_text(query)
    except QueryError as exc:
        raise StoreError(search_error(query, exc)) from None
    if tsquery is None:
        raise StoreError(search_error(query, ValueError()))
    return tsquery


# A row's data, not the database: psycopg's DataError (22xxx: untranslatable character,
# numeric out of range, bad JSON) and IntegrityError, and the Python errors of adapting a
# value; OperationalError (connection lost, server gone) still fails the page.
_ROW_ERRORS = (*DATA_ERRORS, psycopg.DataError, psycopg.IntegrityError)
_DEAD = "id, key, listener, stage, reason, payload, first_at, last_at, attempts, resolved_at, resolution"


def _dead(r: tuple) -> DeadLetter:
    return DeadLetter(key=r[1], listener=r[2], stage=r[3], reason=r[4], payload=r[5], id=int(r[0]),
                      first_at=_dt(r[6]), last_at=_dt(r[7]), attempts=int(r[8]), resolved_at=_dt(r[9]),
                      resolution=r[10])


# One encoder, made once (json.dumps with options builds one per call). The payload is encoded
# once: a NUL in it comes out as \u0000, which `_json` alone finds and re-encodes.
_RAW_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _put_mentions(c: psycopg.Connection, listener: str, scored: Sequence[ScoredMention], stamp: datetime | None,
                  *, raw: bool, safety: bool) -> int:
    """A page of mentions, set-at-a-time: the new ones (first of each key), then their safety
    flags, brand links and the buckets' increments summed per (brand, bucket, platform)."""
    seen: set[str] = set()
    page: list[ScoredMention] = []
    for sm in scored:
        if sm.mention.key not in seen:
            seen.add(sm.mention.key)
            page.append(sm)
    if not page:
        return 0
    cols: list[list] = [[] for _ in range(20)]
    for sm in page:
        m, s = sm.mention, sm.score
        values = (m.key, m.platform, m.id, m.kind, _txt(m.text), _txt(m.title), _txt(m.author), _txt(m.url),
                  _t(m.created_at), m.language, m.author_reach, m.engagement, _dumps(m.metrics), s.label,
                  s.polarity, s.scorer, _dumps(list(s.terms)), _json(_RAW_JSON(m.raw)) if raw else "{}",
                  m.lang, m.lang_confidence)
        for col, value in zip(cols, values):
            col.append(value)
    new = {r[0] for r in c.execute(
        "INSERT INTO mentions(key, platform, native_id, listener, kind, text, title, author, url, created_at,"
        " ingested_at, language, author_reach, engagement, metrics, label, polarity, scorer, terms, raw, lang,"
        " lang_confidence)"
        " SELECT k, p, n, %s, kd, tx, ti, au, ur, ca, %s, la, ar, en, me::jsonb, lb, po, sc, te::jsonb, rw::jsonb, lg, lc"
        " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
        " %s::timestamptz[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::float8[], %s::text[],"
        " %s::text[], %s::text[], %s::text[], %s::float8[]) WITH ORDINALITY AS u(k, p, n, kd, tx, ti, au, ur, ca, la,"
        " ar, en, me, lb, po, sc, te, rw, lg, lc, i) ORDER BY i ON CONFLICT (key) DO NOTHING RETURNING key",
        [_txt(listener), stamp, *cols]).fetchall()}
    if not new:
        return 0
    flags: list[tuple] = []
    links: list[tuple] = []
    buckets: dict[tuple, list] = {}
    for sm in page:
        m, s = sm.mention, sm.score
        if m.key not in new:
            continue
        if safety and sm.safety is not None:
            flags.append((m.key, sm.safety.level, _dumps(list(sm.safety.cues)), _txt(sm.safety.reason)))
        created, bucket = _t(m.created_at), floor_bucket(m.created_at)
        for brand in sm.brands:
            links.append((brand, created, m.key, s.label, m.platform))
            b = buckets.setdefault((brand, bucket, m.platform), [0, 0, 0, 0.0])
            b[0] += 1
            b[1] += s.label == "negative"
            b[2] += s.label == "positive"
            b[3] += s.polarity
    if flags:
        c.execute("INSERT INTO safety_flags(mention_key, level, cues, reason, flagged_at)"
                  " SELECT k, l, cu::jsonb, r, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
                  " AS u(k, l, cu, r) ON CONFLICT DO NOTHING", [stamp, *map(list, zip(*flags))])
    if links:
        c.execute("INSERT INTO mention_brands(brand, created_at, mention_key, label, platform)"
                  " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[])"
                  " ON CONFLICT DO NOTHING", list(map(list, zip(*links))))
    if buckets:
        # Summed above, so no bucket appears twice in the statement (ON CONFLICT DO UPDATE forbids it).
        rows = [(*k, *v) for k, v in sorted(buckets.items())]
        c.execute("INSERT INTO buckets(brand, start, platform, count, negative, positive, polarity_sum)"
                  " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::bigint[], %s::bigint[],"
                  " %s::bigint[], %s::float8[]) ON CONFLICT (brand, start, platform) DO UPDATE SET"
                  " count = buckets.count + excluded.count, negative = buckets.negative + excluded.negative,"
                  " positive = buckets.positive + excluded.positive,"
                  " polarity_sum = buckets.polarity_sum + excluded.polarity_sum", list(map(list, zip(*rows))))
    return len(new)


def _insert_notice(c: psycopg.Connection, alert: Alert, notifiers: Sequence[str], stamp: datetime | None) -> int:
    alert_id = int(c.execute(
        "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, updated_at,"
        " resolved_at, payload) VALUES (%s,%s,%s,%s,%s,%s,'notice',%s,%s,%s,'{}') RETURNING id",
        (alert.fingerprint, alert.rule, alert.brand, alert.kind, alert.severity, alert.channel,
         stamp, stamp, stamp)).fetchone()[0])
    stored = _json(_with_id(alert, alert_id).to_json())
    c.execute("UPDATE alerts SET payload = %s::json WHERE id = %s", (stored, alert_id))
    if notifiers:
        c.execute("INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at, action)"
                  " SELECT %s, n, %s, %s::json, %s, %s, 'notice' FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i)"
                  " ORDER BY i", (alert_id, alert.channel, stored, stamp, stamp, list(notifiers)))
    return alert_id


def _follow_up(c: psycopg.Connection, alert_id: int, action: str, update_id: int | None, now: datetime,
               payload: str | None = None) -> None:
    """Queue an update or resolution for every notifier the alert itself went (or goes) to:
    follow-ups belong where the first message is. One row per notifier, in notifier order,
    as SQLite's GROUP BY notifier gives them."""
    stamp = _t(now)
    c.execute(
        "INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at, action, update_id)"
        " SELECT alert_id, notifier, channel, COALESCE(%s::json, payload), %s, %s, %s, %s FROM ("
        " SELECT DISTINCT ON (notifier COLLATE \"C\") alert_id, notifier, channel, payload FROM outbox"
        " WHERE alert_id = %s AND action IN ('alert', 'digest') AND status != 'dead'"
        " ORDER BY notifier COLLATE \"C\", id DESC) AS first ORDER BY notifier COLLATE \"C\"",
        (payload, stamp, stamp, action, update_id, alert_id))


def _linked(columns: str, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
            platforms: Sequence[str] | None = None) -> tuple[str, list]:
    """SELECT `columns` over a brand's links in [start, end) (`b`), joined to their mentions (`m`)."""
    sql = (f"SELECT {columns} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
           " WHERE b.brand = %s AND b.created_at >= %s AND b.created_at < %s")
    args: list = [brand, _t(start), _t(end)]
    if sentiment:
        sql += " AND b.label = %s"
        args.append(sentiment)
    return _platform_filter(sql, args, platforms, "b.platform")


def _platform_filter(sql: str, args: list, platforms: Sequence[str] | None, column: str) -> tuple[str, list]:
    if not platforms:
        return sql, args
    return sql + f" AND {column} = ANY(%s)", args + [list(platforms)]


def _mention_filters(sql: str, args: list, brand: str | None, since: datetime | None,
                     until: datetime | None) -> tuple[str, list]:
    if since:
        sql, args = sql + " AND m.created_at >= %s", args + [_t(since)]
    if until:
        sql, args = sql + " AND m.created_at < %s", args + [_t(until)]
    if brand:
        sql += " AND EXISTS (SELECT 1 FROM mention_brands b WHERE b.mention_key = m.key AND b.brand = %s)"
        args = args + [brand]
    return sql, args


def _odd_patterns() -> tuple[str, ...]:
    """SQLite's GLOB patterns for odd texts (sqlite._ODD_GLOBS: `*[class]*`) as the regular
    expressions PostgreSQL's `~` searches with: the same character classes, one source."""
    from bot.store.sqlite import _ODD_GLOBS

    return tuple(g.strip("*") for g in _ODD_GLOBS)


_ODD_PATTERNS = _odd_patterns()
# Beyond ASCII (any character past U+007F; PostgreSQL text holds no NUL) or an underscore
# in a text or title, or beyond ASCII in an author: see link_rows(unusual=True).
_UNUSUAL = " OR ".join(
    [f"m.{c} ~ '[^\\x01-\\x7f]' OR strpos(m.{c}, '_') > 0" for c in ("text", "title")]
    + ["m.author ~ '[^\\x01-\\x7f]'"])


def _scored(row: dict, brands: tuple[str, ...]) -> ScoredMention:
    mention = Mention(
        platform=row["platform"], id=row["native_id"], text=row["text"], author=row["author"] or "",
        url=row["url"] or "", created_at=_parse(row["created_at"]), author_reach=row["author_reach"] or 0,
        engagement=row["engagement"] or 0, language=row["language"], title=row["title"] or "",
        kind=row["kind"] or "post", metrics=json.loads(row["metrics"] or "{}"),
        raw=json.loads(row["raw"] or "{}") if "raw" in row else {},
        lang=row.get("lang"), lang_confidence=row.get("lang_confidence"),
    )
    score = Score(row["label"], row["polarity"], row["scorer"], tuple(json.loads(row["terms"] or "[]")))
    return ScoredMention(mention, brands, score)


def _parse(value: str | datetime) -> datetime:
    from bot.models import parse_iso

    return parse_iso(value) if isinstance(value, str) else _dt(value)


def _with_id(alert: Alert, alert_id: int) -> Alert:
    return replace(alert, id=alert_id)
