"""The SQLite backend's reads for the history commands, reports, status and retention: the
SQL that bot/history.py, report.py, status.py and retention.py used to run on `store.conn`,
moved here behind the protocols Search, Reports, Operations and Retention
(bot/store/protocols.py). SQLiteStore inherits this; postgres's twin is pg_reads.PostgresReads.

Rows cross the protocol as plain tuples and dicts, times as SQLite's ISO text; the callers
build their own types (bot/history.py's Row, Hit, Stats).

Search takes the query syntax people type (bot/store/sqlite_search.py turns it into FTS5),
never raw FTS5, so a '#selfcare' or a stray ':' is a sentence, not an FTS5 error.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from bot.errors import QueryError, StoreError
from bot.models import floor_bucket, iso
from bot.store.pg_search import search_error
from bot.store.sqlite_search import compile_query, matches

DENSE = 2000  # FTS matches above which a time-sorted search walks the time index instead

# The columns of a search or export row, in bot.history.COLUMNS order.
SELECT_ROW = ("m.key, m.created_at, m.platform, m.kind, m.author, m.author_reach, m.engagement, m.label, m.polarity,"
              " (SELECT group_concat(b.brand, ',') FROM mention_brands b WHERE b.mention_key = m.key),"
              " m.title, m.text, m.url, m.language, m.lang, m.lang_confidence")

_OLD_ALERTS = (
    "SELECT id FROM alerts a WHERE a.fired_at < ? AND a.state != 'firing'"
    " AND NOT EXISTS (SELECT 1 FROM rule_state r WHERE r.alert_id = a.id AND r.state = 'firing')"
    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = a.id AND o.status IN ('pending', 'held', 'sending'))"
    # A self-harm flag points at its alert: the alert stays while its mention (and flag) do.
    " AND NOT EXISTS (SELECT 1 FROM safety_flags f WHERE f.alert_id = a.id)"
)
PAYLOAD_TABLES = ("alerts", "alert_updates", "outbox")


class SQLiteReads:
    """Mixed into SQLiteStore: methods here may use self.conn and self._tx()."""

    conn: sqlite3.Connection
    path: str

    # -- search (protocol Search) -------------------------------------------------------

    def _match(self, query: str) -> tuple[str, bool]:
        """(FTS5 expression, exact) for a query people typed; StoreError with the syntax to use."""
        try:
            compiled = compile_query(query)
        except QueryError as exc:
            raise StoreError(search_error(query, exc)) from None
        if compiled.fts is None:
            raise StoreError(search_error(query, ValueError()))
        if not compiled.exact and not getattr(self, "_match_registered", False):
            self.conn.create_function("harkbot_match", 4, matches, deterministic=True)
            self._match_registered = True
        return compiled.fts, compiled.exact

    def _fts_call(self, query: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except sqlite3.OperationalError as exc:  # what the translation could not foresee: still a sentence
            if "fts5" not in str(exc) and "no such column" not in str(exc):
                raise
            raise StoreError(search_error(query, QueryError(str(exc)))) from None

    def match_count(self, query: str) -> int:
        """How many mentions the FTS5 part of a query matches: a doclist walk, a few ms for
        50,000 matches (the plan chooser; an estimate when the query has #tags or @handles)."""
        fts, _exact = self._match(query)
        return self._fts_call(query, lambda: self.conn.execute(
            "SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH ?", (fts,)).fetchone()[0])

    def search_hits(self, filters: Any, *, sort: str = "time", limit: int = 50,
                    marks: tuple[str, str] = ("\x02", "\x03")) -> list[tuple[tuple, str, str]]:
        """(row in SELECT_ROW order, title, text with the matches between `marks`) of the mentions
        matching `filters` (bot.history.Filters), newest first or by author reach.

        Two plans: for a query matching many mentions, walk the time index newest first and
        keep the rows whose rowid is in the FTS5 match set (stops after `limit`); for a rare
        query, read the few matches and sort them. Either way the full rows are read only for
        the rows shown."""
        where, args = _where(filters)
        order = "m.created_at DESC, m.rowid DESC" if sort == "time" else \
            "m.author_reach DESC, m.created_at DESC, m.rowid DESC"
        query = filters.query
        if not query:
            sql = f"SELECT m.rowid FROM mentions m WHERE {_and(where)} ORDER BY {order} LIMIT ?"
            rowids = [r[0] for r in self.conn.execute(sql, args + [limit])]
            fts = None
        else:
            fts, exact = self._match(query)
            check, check_args = ("", []) if exact else (" AND harkbot_match(?, m.title, m.text, m.author)", [query])
            if sort == "time" and self.match_count(query) > DENSE:
                # Many matches: walk the time index newest first; the `+` keeps SQLite from driving
                # the query by the match set, which would read and sort every match.
                sql = (f"SELECT m.rowid FROM mentions m WHERE {_and(where)} AND +m.rowid IN"
                       f" (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?){check}"
                       " ORDER BY m.created_at DESC LIMIT ?")
                params = args + [fts] + check_args + [limit]
            else:
                sql = (f"SELECT m.rowid FROM mentions_fts f CROSS JOIN mentions m ON m.rowid = f.rowid"
                       f" WHERE mentions_fts MATCH ? AND {_and(where)}{check} ORDER BY {order} LIMIT ?")
                params = [fts] + args + check_args + [limit]
            rowids = self._fts_call(query, lambda: [r[0] for r in self.conn.execute(sql, params)])
        rows = self._rows_by_rowid(rowids)
        marked = self._highlights(fts, rowids, marks) if fts and rowids else {}
        out = []
        for rowid in rowids:
            row = rows[rowid]
            title, text = marked.get(rowid, (row[10] or "", row[11] or ""))
            out.append((row, title, text))
        return out

    def _rows_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple]:
        out: dict[int, tuple] = {}
        for i in range(0, len(rowids), 500):
            chunk = list(rowids[i : i + 500])
            for values in self.conn.execute(f"SELECT m.rowid, {SELECT_ROW} FROM mentions m"
                                            f" WHERE m.rowid IN ({_marks(chunk)})", chunk):
                out[values[0]] = tuple(values[1:])
        return out

    def _highlights(self, fts: str, rowids: Sequence[int], marks: tuple[str, str]) -> dict[int, tuple[str, str]]:
        """(title, text) of each row with FTS5's matches marked."""
        out = {}
        for i in range(0, len(rowids), 500):
            chunk = sorted(rowids[i : i + 500])
            # FTS5 takes the range and SQLite the list (the `+`): given the list itself, FTS5
            # would redo the whole match once per rowid, 100 ms for a prefix query.
            sql = ("SELECT rowid, highlight(mentions_fts, 1, ?, ?), highlight(mentions_fts, 0, ?, ?) FROM mentions_fts"
                   f" WHERE mentions_fts MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN ({_marks(chunk)})")
            for rowid, title, text in self.conn.execute(sql, list(marks) * 2 + [fts, chunk[0], chunk[-1]] + chunk):
                out[rowid] = (title or "", text or "")
        return out

    def count_hits(self, filters: Any) -> int:
        """How many rows `iter_hits` will yield (for a progress bar)."""
        where, args = _where(filters)
        if filters.query:
            fts, exact = self._match(filters.query)
            check, check_args = ("", []) if exact else (" AND harkbot_match(?, m.title, m.text, m.author)",
                                                        [filters.query])
            sql = (f"SELECT count(*) FROM mentions_fts f CROSS JOIN mentions m ON m.rowid = f.rowid"
                   f" WHERE mentions_fts MATCH ? AND {_and(where)}{check}")
            return self._fts_call(filters.query, lambda: self.conn.execute(
                sql, [fts] + args + check_args).fetchone()[0])
        return self.conn.execute(f"SELECT count(*) FROM mentions m WHERE {_and(where)}", args).fetchone()[0]

    def iter_hits(self, filters: Any, *, chunk: int = 2000) -> Iterator[list[tuple]]:
        """Every matching row (SELECT_ROW order), oldest first, `chunk` rows at a time. The
        cursor is read with fetchmany and walks the time index, so memory stays flat."""
        where, args = _where(filters)
        sql = f"SELECT {SELECT_ROW} FROM mentions m WHERE {_and(where)}"
        if filters.query:
            fts, exact = self._match(filters.query)
            sql += " AND +m.rowid IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?)"
            args.append(fts)
            if not exact:
                sql += " AND harkbot_match(?, m.title, m.text, m.author)"
                args.append(filters.query)
        cursor = self._fts_call(filters.query or "", lambda: self.conn.execute(
            sql + " ORDER BY m.created_at, m.key", args))
        while True:
            values = cursor.fetchmany(chunk)
            if not values:
                return
            yield [tuple(v) for v in values]

    # -- stats and reports (protocol Reports) --------------------------------------------

    def bucket_sums(self, brands: Sequence[str], start: datetime, end: datetime, by: str,
                    platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> list[tuple]:
        """(brand, group, count, negative, positive, polarity sum) from the 5-minute buckets in
        [start, end), summed in SQL by `by`: "hour" and "day" (group: the ISO prefix of the
        period, '2026-03-02T10' or '2026-03-02') or "platform". With `langs` the buckets, which
        know no language, cannot answer: the brand links of the mentions still stored in those
        languages are summed instead, over the same 5-minute-aligned window."""
        if langs:
            group = {"hour": "substr(b.created_at, 1, 13)", "day": "substr(b.created_at, 1, 10)",
                     "platform": "b.platform"}[by]
            sql, args = _links(f"b.brand, {group}, COUNT(*), SUM(b.label = 'negative'), SUM(b.label = 'positive'),"
                               " SUM(coalesce(m.polarity, 0))", brands, start, end, platforms, langs)
            return [tuple(r) for r in self.conn.execute(sql + " GROUP BY 1, 2", args)]
        group = {"hour": "substr(start, 1, 13)", "day": "substr(start, 1, 10)", "platform": "platform"}[by]
        sql = (f"SELECT brand, {group}, SUM(count), SUM(negative), SUM(positive), SUM(polarity_sum) FROM buckets"
               f" WHERE brand IN ({_marks(brands)}) AND start >= ? AND start < ?")
        args: list = [*brands, iso(floor_bucket(start)), iso(floor_bucket(end))]
        if platforms:
            sql += f" AND platform IN ({_marks(platforms)})"
            args += list(platforms)
        return [tuple(r) for r in self.conn.execute(sql + " GROUP BY 1, 2", args)]

    def lang_sums(self, brands: Sequence[str], start: datetime, end: datetime, *, platforms: Sequence[str] = (),
                  langs: Sequence[str] = ()) -> list[tuple]:
        """(brand, lang, count, negative, positive, polarity sum) of the stored mentions of `brands`
        in [start, end) (5-minute-aligned, as the buckets), per language; lang None: not detected."""
        sql, args = _links("b.brand, m.lang, COUNT(*), SUM(b.label = 'negative'), SUM(b.label = 'positive'),"
                           " SUM(coalesce(m.polarity, 0))", brands, start, end, platforms, langs)
        return [tuple(r) for r in self.conn.execute(sql + " GROUP BY 1, 2", args)]

    def top_authors(self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] = (),
                    limit: int = 10, langs: Sequence[str] = ()) -> list[tuple[str, str, int, int]]:
        """(platform, author, mentions, largest reach) of a brand's most frequent authors in
        [start, end), every mention counted; ties alphabetical."""
        sql = ("SELECT m.platform, m.author, count(*), max(coalesce(m.author_reach, 0)) FROM mention_brands b"
               " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?"
               " AND m.author != ''")
        args: list = [brand, iso(start), iso(end)]
        if platforms:
            sql += f" AND b.platform IN ({_marks(platforms)})"
            args += list(platforms)
        if langs:
            sql += f" AND m.lang IN ({_marks(langs)})"
            args += list(langs)
        sql += " GROUP BY m.platform, m.author ORDER BY 3 DESC, 1, 2 LIMIT ?"
        return [tuple(r) for r in self.conn.execute(sql, args + [limit])]

    def brand_texts(self, brand: str, start: datetime, end: datetime, *,
                    platforms: Sequence[str] = (), langs: Sequence[str] = ()) -> Iterator[list[tuple[str, str]]]:
        """(title, text) of every mention of a brand in [start, end), in chunks."""
        sql = ("SELECT m.title, m.text FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
               " WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?")
        args: list = [brand, iso(start), iso(end)]
        if platforms:
            sql += f" AND b.platform IN ({_marks(platforms)})"
            args += list(platforms)
        if langs:
            sql += f" AND m.lang IN ({_marks(langs)})"
            args += list(langs)
        cursor = self.conn.execute(sql, args)
        cursor.row_factory = None  # plain tuples: a few hundred thousand Row objects cost time
        while True:
            rows = cursor.fetchmany(5000)
            if not rows:
                return
            yield rows

    def alert_marks(self, start: datetime, end: datetime, brands: Sequence[str] | None = None) -> list[tuple]:
        """(fired_at ISO, rule, brand, severity, state, finding title) of the alerts fired in
        [start, end) (notices about harkbot itself left out), oldest first."""
        sql = ("SELECT fired_at, rule, brand, severity, state, json_extract(payload, '$.finding.title') FROM alerts"
               " WHERE fired_at >= ? AND fired_at < ? AND state != 'notice'")
        args: list = [iso(start), iso(end)]
        if brands is not None:
            sql += f" AND brand IN ({_marks(brands)})"
            args += list(brands)
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY fired_at, id", args)]

    def top_post_rows(self, brand: str, start: datetime, end: datetime, *, limit: int = 5,
                      sentiment: str | None = None) -> list[tuple]:
        """A brand's most seen mentions (SELECT_ROW order): author reach plus engagement. A post
        flagged for self-harm (bot/safety.py) is never among them."""
        sql = (f"SELECT {SELECT_ROW} FROM mention_brands l JOIN mentions m ON m.key = l.mention_key"
               " WHERE l.brand = ? AND l.created_at >= ? AND l.created_at < ?"
               " AND NOT EXISTS (SELECT 1 FROM safety_flags f WHERE f.mention_key = m.key)")
        args: list = [brand, iso(start), iso(end)]
        if sentiment:
            sql += " AND l.label = ?"
            args.append(sentiment)
        sql += " ORDER BY m.author_reach + m.engagement DESC, m.created_at DESC LIMIT ?"
        return [tuple(v) for v in self.conn.execute(sql, args + [limit])]

    def stored_brands(self) -> list[str]:
        """Every brand the buckets hold, in order (what stats and reports use without a config)."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT brand FROM buckets ORDER BY brand")]

    # -- status (protocol Operations) ----------------------------------------------------

    def newest_mention(self, listener: str) -> str | None:
        """The created_at (ISO) of the newest mention a listener stored."""
        return self.conn.execute("SELECT MAX(created_at) FROM mentions WHERE listener = ?", (listener,)).fetchone()[0]

    def retrying(self) -> int:
        """Outbox rows waiting for another attempt after a failed one."""
        return self.conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts > 0").fetchone()[0]

    def forget_requests(self) -> tuple[int, str | None]:
        """(erasure requests carried out, when the last was (ISO))."""
        n, last = self.conn.execute("SELECT COUNT(*), MAX(at) FROM audit WHERE action LIKE 'forget-%'").fetchone()
        return n, last

    def storage_bytes(self) -> dict[str, int]:
        """The database's size on disk: the file, its write-ahead log and its shared memory."""
        out = {}
        for kind, suffix in (("file", ""), ("wal", "-wal"), ("shm", "-shm")):
            try:
                out[f"{kind}_bytes"] = Path(f"{self.path}{suffix}").stat().st_size
            except (FileNotFoundError, OSError):
                out[f"{kind}_bytes"] = 0
        return out

    # -- retention and erasure (protocol Retention) --------------------------------------

    def expired_count(self, listener: str, cutoff: datetime) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM mentions WHERE listener = ? AND created_at < ?",
                                 (listener, iso(cutoff))).fetchone()[0]

    def expired_keys(self, listener: str, cutoff: datetime, limit: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT key FROM mentions WHERE listener = ? AND created_at < ? LIMIT ?", (listener, iso(cutoff), limit))]

    def delete_mentions(self, keys: Sequence[str]) -> None:
        """Delete mentions with their brand links, self-harm flags and corrected labels, in one
        transaction (the full-text index follows the table by trigger; the 5-minute buckets stay)."""
        marks = _marks(keys)
        with self._tx() as c:
            c.execute(f"DELETE FROM mention_brands WHERE mention_key IN ({marks})", list(keys))
            c.execute(f"DELETE FROM safety_flags WHERE mention_key IN ({marks})", list(keys))
            c.execute(f"DELETE FROM labels WHERE mention_key IN ({marks})", list(keys))  # a label names its post
            c.execute(f"DELETE FROM mentions WHERE key IN ({marks})", list(keys))

    def old_alert_count(self, cutoff: datetime) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM ({_OLD_ALERTS})", (iso(cutoff),)).fetchone()[0]

    def old_alert_ids(self, cutoff: datetime, limit: int) -> list[int]:
        """Alerts fired before `cutoff` that may go: not firing, nothing waiting to be sent."""
        return [r[0] for r in self.conn.execute(_OLD_ALERTS + " LIMIT ?", (iso(cutoff), limit))]

    def delete_alerts(self, ids: Sequence[int]) -> None:
        """Delete alerts with their updates, outbox rows, message references and triage events, in
        one transaction."""
        marks = _marks(ids)
        has_messages = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
                                         ).fetchone() is not None
        with self._tx() as c:
            c.execute(f"DELETE FROM outbox WHERE alert_id IN ({marks})", list(ids))
            if has_messages:
                c.execute(f"DELETE FROM messages WHERE alert_id IN ({marks})", list(ids))
            c.execute(f"DELETE FROM alert_updates WHERE alert_id IN ({marks})", list(ids))
            c.execute(f"DELETE FROM triage_events WHERE alert_id IN ({marks})", list(ids))
            c.execute(f"DELETE FROM alerts WHERE id IN ({marks})", list(ids))

    def author_mention_keys(self, wanted: str, fold: Callable[[str], str], platform: str | None = None) -> list[str]:
        """Keys of the mentions whose author, compared as `fold` compares handles, is `wanted`."""
        # Compared in Python (SQLite's lower() folds ASCII only); a scan, but forget is rare.
        self.conn.create_function("harkbot_handle", 1, lambda a: fold(a or ""), deterministic=True)
        sql, args = "SELECT key FROM mentions WHERE harkbot_handle(author) = ?", [wanted]
        if platform:
            sql, args = sql + " AND platform = ?", args + [platform]
        return [r[0] for r in self.conn.execute(sql, args)]

    def stored_mention(self, key: str | None = None, *, platform: str | None = None,
                       native_id: str | None = None) -> dict | None:
        """(key, platform, native_id, url, text, title, author) of one mention, by key or by
        platform and native id."""
        columns = "SELECT key, platform, native_id, url, text, title, author FROM mentions"
        if key is not None:
            row = self.conn.execute(columns + " WHERE key = ?", (key,)).fetchone()
        else:
            row = self.conn.execute(columns + " WHERE platform = ? AND native_id = ?", (platform, native_id)).fetchone()
        return dict(row) if row is not None else None

    def count_links(self, keys: Sequence[str]) -> int:
        total = 0
        for i in range(0, len(keys), 500):
            chunk = list(keys[i:i + 500])
            total += self.conn.execute(f"SELECT COUNT(*) FROM mention_brands WHERE mention_key IN ({_marks(chunk)})",
                                       chunk).fetchone()[0]
        return total

    def payloads(self, table: str) -> Iterator[tuple[int, str]]:
        """(id, JSON payload) of every row of alerts, alert_updates or outbox."""
        if table not in PAYLOAD_TABLES:
            raise ValueError(table)
        yield from ((r[0], r[1]) for r in self.conn.execute(f"SELECT id, payload FROM {table}"))

    def redact(self, alerts: Sequence[tuple[int, str]], updates: Sequence[tuple[int, str]],
               outbox: Sequence[tuple[int, str]], audit: Mapping[str, Any]) -> None:
        """Write redacted payloads ((id, payload) each) and the audit row, in one transaction."""
        with self._tx() as c:
            c.executemany("UPDATE alerts SET payload = ? WHERE id = ?", [(p, i) for i, p in alerts])
            c.executemany("UPDATE alert_updates SET payload = ?, title = NULL WHERE id = ?", [(p, i) for i, p in updates])
            c.executemany("UPDATE outbox SET payload = ? WHERE id = ?", [(p, i) for i, p in outbox])
            _insert_audit(c, audit)

    def add_audit(self, audit: Mapping[str, Any]) -> None:
        """One audit row: at, action, subject (already hashed), rows, counts (JSON text), actor, note."""
        with self._tx() as c:
            _insert_audit(c, audit)

    def audit_salt(self) -> str:
        """This database's audit salt, created on first use."""
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'audit_salt'").fetchone()
            if row is not None:
                return row[0]
            import secrets

            salt = secrets.token_hex(16)
            c.execute("INSERT INTO meta(key, value) VALUES ('audit_salt', ?)", (salt,))
            return salt

    def audit_rows(self, limit: int = 100) -> list[dict]:
        """The newest audit rows first, as dicts (times ISO, counts JSON text)."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))]

    def audited(self, subject_hash: str) -> bool:
        return self.conn.execute("SELECT 1 FROM audit WHERE subject = ?", (subject_hash,)).fetchone() is not None


def _insert_audit(c: sqlite3.Connection, a: Mapping[str, Any]) -> None:
    c.execute("INSERT INTO audit(at, action, subject, rows, counts, actor, note) VALUES (?,?,?,?,?,?,?)",
              (iso(a["at"]), a["action"], a["subject"], a["rows"], a["counts"], a["actor"], a["note"]))


def _where(f: Any, *, time_column: str = "m.created_at") -> tuple[list[str], list]:
    """SQL conditions on `mentions m` for every filter of a bot.history.Filters but the text query."""
    where, args = [], []
    if f.since is not None:
        where.append(f"{time_column} >= ?")
        args.append(iso(f.since))
    if f.until is not None:
        where.append(f"{time_column} < ?")
        args.append(iso(f.until))
    if f.platforms:
        where.append(f"m.platform IN ({_marks(f.platforms)})")
        args += list(f.platforms)
    if f.sentiments:
        where.append(f"m.label IN ({_marks(f.sentiments)})")
        args += list(f.sentiments)
    if f.min_reach is not None:
        where.append("m.author_reach >= ?")
        args.append(f.min_reach)
    if f.authors:
        where.append(f"ltrim(lower(m.author), '@') IN ({_marks(f.authors)})")
        args += [a.lstrip("@").lower() for a in f.authors]
    if f.langs:
        where.append(f"m.lang IN ({_marks(f.langs)})")
        args += list(f.langs)
    if f.brands:
        where.append(f"EXISTS (SELECT 1 FROM mention_brands b WHERE b.mention_key = m.key"
                     f" AND b.brand IN ({_marks(f.brands)}))")
        args += list(f.brands)
    return where, args


def _links(columns: str, brands: Sequence[str], start: datetime, end: datetime, platforms: Sequence[str],
           langs: Sequence[str]) -> tuple[str, list]:
    """SELECT `columns` over the brand links (`b`) of `brands` in [start, end), bounded as the
    buckets are (5-minute-aligned), joined to their mentions (`m`), of some platforms and languages."""
    sql = (f"SELECT {columns} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
           f" WHERE b.brand IN ({_marks(brands)}) AND b.created_at >= ? AND b.created_at < ?")
    args: list = [*brands, iso(floor_bucket(start)), iso(floor_bucket(end))]
    if platforms:
        sql += f" AND b.platform IN ({_marks(platforms)})"
        args += list(platforms)
    if langs:
        sql += f" AND m.lang IN ({_marks(langs)})"
        args += list(langs)
    return sql, args


def _marks(values: Sequence) -> str:
    return ",".join("?" * len(values))


def _and(where: list[str]) -> str:
    return " AND ".join(where) if where else "1"
