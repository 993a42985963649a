"""The PostgreSQL backend's reads for the history commands, reports, status and retention: the
twin of sqlite_reads.SQLiteReads, method for method, with the same rows out (times as the
same ISO text, JSON as text, tuples in the same column order). PostgresStore inherits this;
methods here use self._tx() and self._read() (see PostgresStore's docstring).

What differs underneath:
- search is the `fts` tsvector column (GIN index) matched with pg_search's tsquery, one plan:
  PostgreSQL's planner chooses between the time index and the GIN index itself; matches are
  marked by ts_headline (the whole text, HighlightAll) for the rows shown only;
- streams (export, stats' texts) read a server-side cursor, so memory stays flat;
- text ordering is COLLATE "C", SQLite's binary order, so ties come out the same;
- purge and forget delete in the same bounded batches, each its own transaction, so a
  worker's other jobs wait one batch at most.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from bot.errors import QueryError, StoreError
from bot.models import floor_bucket, utc
from bot.store.pg_search import highlight_tsquery, search_condition, search_error


def _iso(column: str) -> str:
    """A timestamptz as SQLite's fixed-width ISO text ('2026-11-21T10:05:00Z')."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _t(dt: datetime) -> datetime:
    return utc(dt).replace(microsecond=0)


SELECT_ROW = (f"m.key, {_iso('m.created_at')}, m.platform, m.kind, m.author, m.author_reach, m.engagement, m.label,"
              " m.polarity, (SELECT string_agg(b.brand, ',') FROM mention_brands b WHERE b.mention_key = m.key),"
              " m.title, m.text, m.url, m.language, m.lang, m.lang_confidence")

_OLD_ALERTS = (
    "SELECT id FROM alerts a WHERE a.fired_at < %s AND a.state != 'firing'"
    " AND NOT EXISTS (SELECT 1 FROM rule_state r WHERE r.alert_id = a.id AND r.state = 'firing')"
    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = a.id AND o.status IN ('pending', 'held', 'sending'))"
    " AND NOT EXISTS (SELECT 1 FROM safety_flags f WHERE f.alert_id = a.id)"
)
PAYLOAD_TABLES = ("alerts", "alert_updates", "outbox")
_SHOWN = ", ".join(f"m.{c}" for c in ("key", "created_at", "platform", "kind", "author", "author_reach", "engagement",
                                      "label", "polarity", "title", "text", "url", "language", "lang",
                                      "lang_confidence"))
_HEADLINE = 'StartSel="{0}", StopSel="{1}", HighlightAll=true'


class PostgresReads:
    """Mixed into PostgresStore: methods here may use self._tx() and self._read()."""

    path: str

    # -- search (protocol Search) -------------------------------------------------------

    def _match(self, query: str, alias: str = "m") -> tuple[str, list]:
        try:
            found = search_condition(query, alias)
        except QueryError as exc:
            raise StoreError(search_error(query, exc)) from None
        if found is None:
            raise StoreError(search_error(query, ValueError()))
        return found

    def match_count(self, query: str) -> int:
        """How many mentions a query matches."""
        condition, args = self._match(query)
        return int(self._value(f"SELECT count(*) FROM mentions m WHERE {condition}", args))

    def search_hits(self, filters: Any, *, sort: str = "time", limit: int = 50,
                    marks: tuple[str, str] = ("\x02", "\x03")) -> list[tuple[tuple, str, str]]:
        """(row in SELECT_ROW order, title, text with the matches between `marks`) of the mentions
        matching `filters`, newest first or by author reach (see SQLiteReads.search_hits)."""
        where, args = _where(filters)
        if filters.query:
            condition, match_args = self._match(filters.query)
            where.append(condition)
            args += match_args
        order = "m.created_at DESC, m.key COLLATE \"C\" DESC" if sort == "time" else \
            "m.author_reach DESC NULLS LAST, m.created_at DESC, m.key COLLATE \"C\" DESC"
        inner = f"SELECT {_SHOWN} FROM mentions m WHERE {_and(where)} ORDER BY {order} LIMIT %s"
        light = highlight_tsquery(filters.query) if filters.query else None
        if light is None:
            sql = f"SELECT {SELECT_ROW}, NULL, NULL FROM ({inner}) m ORDER BY {order}"
            params = args + [limit]
        else:
            # ts_headline on the shown rows only: the subquery's LIMIT comes first.
            options = _HEADLINE.format(*marks)
            sql = (f"SELECT {SELECT_ROW}, ts_headline('simple', coalesce(m.title, ''), %s::tsquery, %s),"
                   f" ts_headline('simple', m.text, %s::tsquery, %s) FROM ({inner}) m ORDER BY {order}")
            params = [light, options, light, options] + args + [limit]
        out = []
        for r in self._rows(sql, params):
            row, title, text = tuple(r[:16]), r[16], r[17]
            plain_title, plain_text = row[10] or "", row[11] or ""
            if title is None or any(mark in plain_title + plain_text for mark in marks):
                title, text = plain_title, plain_text  # a post holding a marker could forge a highlight
            out.append((row, title or "", text or ""))
        return out

    def count_hits(self, filters: Any) -> int:
        where, args = _where(filters)
        if filters.query:
            condition, match_args = self._match(filters.query)
            where.append(condition)
            args += match_args
        return int(self._value(f"SELECT count(*) FROM mentions m WHERE {_and(where)}", args))

    def iter_hits(self, filters: Any, *, chunk: int = 2000) -> Iterator[list[tuple]]:
        """Every matching row, oldest first, `chunk` rows at a time, from a server-side cursor."""
        where, args = _where(filters)
        if filters.query:
            condition, match_args = self._match(filters.query)
            where.append(condition)
            args += match_args
        yield from self._chunks(f"SELECT {SELECT_ROW} FROM mentions m WHERE {_and(where)}"
                                " ORDER BY m.created_at, m.key COLLATE \"C\"", args, chunk)

    def _chunks(self, sql: str, args: Sequence, size: int) -> Iterator[list[tuple]]:
        with self._read() as c:
            with c.cursor(name=f"harkbot_{os.urandom(4).hex()}") as cur:  # server-side: rows come as read
                cur.itersize = size
                cur.execute(sql, args)
                while True:
                    rows = cur.fetchmany(size)
                    if not rows:
                        return
                    yield [tuple(r) for r in rows]

    # -- stats and reports (protocol Reports) --------------------------------------------

    def bucket_sums(self, brands: Sequence[str], start: datetime, end: datetime, by: str,
                    platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> list[tuple]:
        if langs:  # the buckets know no language: the stored mentions' links (see SQLiteReads.bucket_sums)
            group = {"hour": "to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')",
                     "day": "to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "platform": "b.platform"}[by]
            sql, args = _links(f"b.brand, {group}, {_MIX}", brands, start, end, platforms, langs)
            return [tuple(r) for r in self._rows(sql + " GROUP BY 1, 2", args)]
        group = {"hour": "to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')",
                 "day": "to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "platform": "platform"}[by]
        sql = (f"SELECT brand, {group}, SUM(count), SUM(negative), SUM(positive), SUM(polarity_sum) FROM buckets"
               " WHERE brand = ANY(%s) AND start >= %s AND start < %s")
        args: list = [list(brands), _t(floor_bucket(start)), _t(floor_bucket(end))]
        if platforms:
            sql += " AND platform = ANY(%s)"
            args.append(list(platforms))
        return [tuple(r) for r in self._rows(sql + " GROUP BY 1, 2", args)]

    def lang_sums(self, brands: Sequence[str], start: datetime, end: datetime, *, platforms: Sequence[str] = (),
                  langs: Sequence[str] = ()) -> list[tuple]:
        sql, args = _links(f"b.brand, m.lang, {_MIX}", brands, start, end, platforms, langs)
        return [tuple(r) for r in self._rows(sql + " GROUP BY 1, 2", args)]

    def top_authors(self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] = (),
                    limit: int = 10, langs: Sequence[str] = ()) -> list[tuple[str, str, int, int]]:
        sql = ("SELECT m.platform, m.author, count(*), max(coalesce(m.author_reach, 0)) FROM mention_brands b"
               " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = %s AND b.created_at >= %s"
               " AND b.created_at < %s AND m.author != ''")
        args: list = [brand, _t(start), _t(end)]
        if platforms:
            sql += " AND b.platform = ANY(%s)"
            args.append(list(platforms))
        if langs:
            sql += " AND m.lang = ANY(%s)"
            args.append(list(langs))
        sql += " GROUP BY m.platform, m.author ORDER BY 3 DESC, m.platform COLLATE \"C\", m.author COLLATE \"C\" LIMIT %s"
        return [(p, a, int(n), int(reach)) for p, a, n, reach in self._rows(sql, args + [limit])]

    def brand_texts(self, brand: str, start: datetime, end: datetime, *,
                    platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> Iterator[list[tuple[str, str]]]:
        sql = ("SELECT m.title, m.text FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
               " WHERE b.brand = %s AND b.created_at >= %s AND b.created_at < %s")
        args: list = [brand, _t(start), _t(end)]
        if platforms:
            sql += " AND b.platform = ANY(%s)"
            args.append(list(platforms))
        if langs:
            sql += " AND m.lang = ANY(%s)"
            args.append(list(langs))
        yield from self._chunks(sql, args, 5000)

    def alert_marks(self, start: datetime, end: datetime, brands: Sequence[str] | None = None) -> list[tuple]:
        sql = (f"SELECT {_iso('fired_at')}, rule, brand, severity, state, payload -> 'finding' ->> 'title' FROM alerts"
               " WHERE fired_at >= %s AND fired_at < %s AND state != 'notice'")
        args: list = [_t(start), _t(end)]
        if brands is not None:
            sql += " AND brand = ANY(%s)"
            args.append(list(brands))
        return [tuple(r) for r in self._rows(sql + " ORDER BY fired_at, id", args)]

    def top_post_rows(self, brand: str, start: datetime, end: datetime, *, limit: int = 5,
                      sentiment: str | None = None) -> list[tuple]:
        sql = (f"SELECT {SELECT_ROW} FROM mention_brands l JOIN mentions m ON m.key = l.mention_key"
               " WHERE l.brand = %s AND l.created_at >= %s AND l.created_at < %s"
               " AND NOT EXISTS (SELECT 1 FROM safety_flags f WHERE f.mention_key = m.key)")
        args: list = [brand, _t(start), _t(end)]
        if sentiment:
            sql += " AND l.label = %s"
            args.append(sentiment)
        sql += " ORDER BY m.author_reach + m.engagement DESC NULLS LAST, m.created_at DESC LIMIT %s"
        return [tuple(r) for r in self._rows(sql, args + [limit])]

    def stored_brands(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT brand COLLATE \"C\" FROM buckets ORDER BY 1")]

    # -- status (protocol Operations) ----------------------------------------------------

    def newest_mention(self, listener: str) -> str | None:
        return self._value(f"SELECT {_iso('MAX(created_at)')} FROM mentions WHERE listener = %s", (listener,))

    def retrying(self) -> int:
        return int(self._value("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts > 0"))

    def forget_requests(self) -> tuple[int, str | None]:
        n, last = self._row(f"SELECT COUNT(*), {_iso('MAX(at)')} FROM audit WHERE action LIKE 'forget-%%'")
        return int(n), last

    def storage_bytes(self) -> dict[str, int]:
        """The size of harkbot's tables in its schema (indexes and TOAST included); the server's
        write-ahead log is shared by every database on it, so it is not counted here."""
        total = self._value("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'")
        return {"file_bytes": int(total), "wal_bytes": 0, "shm_bytes": 0}

    # -- retention and erasure (protocol Retention) --------------------------------------

    def expired_count(self, listener: str, cutoff: datetime) -> int:
        return int(self._value("SELECT COUNT(*) FROM mentions WHERE listener = %s AND created_at < %s",
                               (listener, _t(cutoff))))

    def expired_keys(self, listener: str, cutoff: datetime, limit: int) -> list[str]:
        return [r[0] for r in self._rows("SELECT key FROM mentions WHERE listener = %s AND created_at < %s LIMIT %s",
                                         (listener, _t(cutoff), limit))]

    def delete_mentions(self, keys: Sequence[str]) -> None:
        """Delete mentions with their brand links, self-harm flags and corrected labels, in one
        transaction (the tsvector goes with the row; the 5-minute buckets stay)."""
        keys = list(keys)
        with self._tx() as c:
            c.execute("DELETE FROM mention_brands WHERE mention_key = ANY(%s)", (keys,))
            c.execute("DELETE FROM safety_flags WHERE mention_key = ANY(%s)", (keys,))
            c.execute("DELETE FROM labels WHERE mention_key = ANY(%s)", (keys,))  # a label names its post
            c.execute("DELETE FROM mentions WHERE key = ANY(%s)", (keys,))

    def old_alert_count(self, cutoff: datetime) -> int:
        return int(self._value(f"SELECT COUNT(*) FROM ({_OLD_ALERTS}) old", (_t(cutoff),)))

    def old_alert_ids(self, cutoff: datetime, limit: int) -> list[int]:
        return [int(r[0]) for r in self._rows(_OLD_ALERTS + " ORDER BY id LIMIT %s", (_t(cutoff), limit))]

    def delete_alerts(self, ids: Sequence[int]) -> None:
        """Delete alerts with their outbox rows, message references, updates and triage events
        (foreign keys hold here: children first), in one transaction."""
        ids = list(ids)
        with self._tx() as c:
            c.execute("DELETE FROM outbox WHERE alert_id = ANY(%s)", (ids,))
            c.execute("DELETE FROM messages WHERE alert_id = ANY(%s)", (ids,))
            c.execute("DELETE FROM alert_updates WHERE alert_id = ANY(%s)", (ids,))
            c.execute("DELETE FROM triage_events WHERE alert_id = ANY(%s)", (ids,))
            c.execute("DELETE FROM alerts WHERE id = ANY(%s)", (ids,))

    def author_mention_keys(self, wanted: str, fold: Callable[[str], str], platform: str | None = None) -> list[str]:
        """Keys of the mentions whose author, compared as `fold` compares handles, is `wanted`.
        The distinct authors are folded in Python (SQL's lower() is not Python's casefold), then
        their mentions read by the author index."""
        sql, args = "SELECT DISTINCT author FROM mentions WHERE author IS NOT NULL", []
        if platform:
            sql, args = sql + " AND platform = %s", [platform]
        authors = [a for (a,) in self._rows(sql, args) if fold(a) == wanted]
        if not authors:
            return []
        sql, args = "SELECT key FROM mentions WHERE author = ANY(%s)", [authors]
        if platform:
            sql, args = sql + " AND platform = %s", args + [platform]
        return [r[0] for r in self._rows(sql + " ORDER BY key COLLATE \"C\"", args)]

    def stored_mention(self, key: str | None = None, *, platform: str | None = None,
                       native_id: str | None = None) -> dict | None:
        columns = "SELECT key, platform, native_id, url, text, title, author FROM mentions"
        if key is not None:
            return self._row(columns + " WHERE key = %s", (key,), dicts=True)
        return self._row(columns + " WHERE platform = %s AND native_id = %s", (platform, native_id), dicts=True)

    def count_links(self, keys: Sequence[str]) -> int:
        return int(self._value("SELECT COUNT(*) FROM mention_brands WHERE mention_key = ANY(%s)", (list(keys),)))

    def payloads(self, table: str) -> Iterator[tuple[int, str]]:
        if table not in PAYLOAD_TABLES:
            raise ValueError(table)
        for rows in self._chunks(f"SELECT id, payload FROM {table} ORDER BY id", (), 2000):
            yield from ((int(i), p) for i, p in rows)

    def redact(self, alerts: Sequence[tuple[int, str]], updates: Sequence[tuple[int, str]],
               outbox: Sequence[tuple[int, str]], audit: Mapping[str, Any]) -> None:
        from bot.store.postgres import _json

        with self._tx() as c:
            with c.cursor() as cur:
                cur.executemany("UPDATE alerts SET payload = %s::json WHERE id = %s", [(_json(p), i) for i, p in alerts])
                cur.executemany("UPDATE alert_updates SET payload = %s::json, title = NULL WHERE id = %s",
                                [(_json(p), i) for i, p in updates])
                cur.executemany("UPDATE outbox SET payload = %s::json WHERE id = %s", [(_json(p), i) for i, p in outbox])
            _insert_audit(c, audit)

    def add_audit(self, audit: Mapping[str, Any]) -> None:
        with self._tx() as c:
            _insert_audit(c, audit)

    def audit_salt(self) -> str:
        import secrets

        with self._tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES ('audit_salt', %s) ON CONFLICT (key) DO NOTHING",
                      (secrets.token_hex(16),))
            return c.execute("SELECT value FROM meta WHERE key = 'audit_salt'").fetchone()[0]

    def audit_rows(self, limit: int = 100) -> list[dict]:
        rows = self._rows(f"SELECT id, {_iso('at')} AS at, action, subject, rows, counts::text AS counts, actor, note"
                          " FROM audit ORDER BY id DESC LIMIT %s", (limit,), dicts=True)
        return [dict(r) for r in rows]

    def audited(self, subject_hash: str) -> bool:
        return self._row("SELECT 1 FROM audit WHERE subject = %s", (subject_hash,)) is not None


def _insert_audit(c: Any, a: Mapping[str, Any]) -> None:
    c.execute("INSERT INTO audit(at, action, subject, rows, counts, actor, note) VALUES (%s,%s,%s,%s,%s::jsonb,%s,%s)",
              (_t(a["at"]), a["action"], a["subject"], a["rows"], a["counts"], a["actor"], a["note"]))


def _where(f: Any) -> tuple[list[str], list]:
    """SQL conditions on `mentions m` for every filter of a bot.history.Filters but the text query."""
    where, args = [], []
    if f.since is not None:
        where.append("m.created_at >= %s")
        args.append(_t(f.since))
    if f.until is not None:
        where.append("m.created_at < %s")
        args.append(_t(f.until))
    if f.platforms:
        where.append("m.platform = ANY(%s)")
        args.append(list(f.platforms))
    if f.sentiments:
        where.append("m.label = ANY(%s)")
        args.append(list(f.sentiments))
    if f.min_reach is not None:
        where.append("m.author_reach >= %s")
        args.append(f.min_reach)
    if f.authors:
        where.append("ltrim(lower(m.author), '@') = ANY(%s)")
        args.append([a.lstrip("@").lower() for a in f.authors])
    if f.langs:
        where.append("m.lang = ANY(%s)")
        args.append(list(f.langs))
    if f.brands:
        where.append("EXISTS (SELECT 1 FROM mention_brands b WHERE b.mention_key = m.key AND b.brand = ANY(%s))")
        args.append(list(f.brands))
    return where, args


# A language's or a period's mix from brand links, as the buckets hold it (count, negative, positive, polarity).
_MIX = ("COUNT(*), SUM((b.label = 'negative')::int), SUM((b.label = 'positive')::int),"
        " SUM(coalesce(m.polarity, 0))")


def _links(columns: str, brands: Sequence[str], start: datetime, end: datetime, platforms: Sequence[str],
           langs: Sequence[str]) -> tuple[str, list]:
    """sqlite_reads._links: the brand links of `brands` in the buckets' window, joined to their mentions."""
    sql = (f"SELECT {columns} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
           " WHERE b.brand = ANY(%s) AND b.created_at >= %s AND b.created_at < %s")
    args: list = [list(brands), _t(floor_bucket(start)), _t(floor_bucket(end))]
    if platforms:
        sql += " AND b.platform = ANY(%s)"
        args.append(list(platforms))
    if langs:
        sql += " AND m.lang = ANY(%s)"
        args.append(list(langs))
    return sql, args


def _and(where: list[str]) -> str:
    return " AND ".join(where) if where else "TRUE"

