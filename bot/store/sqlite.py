"""The SQLite backend (the embedded default): mentions, brand links, full-text search, cursors, 5-minute
rollups, listener health, alerts, rule state and the delivery outbox, in one SQLite file.

Writes that belong together commit together: one poll's new mentions, their brand links,
their buckets and the listener's cursor are one transaction; an alert, its rule state and
its outbox rows are another. Times are stored as fixed-width ISO-8601 UTC text, so text
order is time order and the file stays readable in any SQLite browser.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import sqlite_utils

from bot.errors import LeaseLost, StoreError
from bot.store.deadletters import DATA_ERRORS, DeadLetter, IngestResult, letter, matches as _matches
from bot.store.sqlite_reads import SQLiteReads
from bot.store.sqlite_work import SQLiteWork
from bot.store.triage_sqlite import SQLiteTriage
from bot.store.records import Delivery, Lease, Message, Report, RuleState, Silence, window_bounds  # noqa: F401
from bot.models import BUCKET, Alert, Mention, Score, ScoredMention, WindowStats, floor_bucket, iso, parse_iso

SCHEMA_VERSION = 1


def _migration_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["mentions"].create(
        {
            "key": str, "platform": str, "native_id": str, "listener": str, "kind": str,
            "text": str, "title": str, "author": str, "url": str,
            "created_at": str, "ingested_at": str, "language": str,
            "author_reach": int, "engagement": int, "metrics": str,
            "label": str, "polarity": float, "scorer": str, "terms": str, "raw": str,
        },
        pk="key",
        not_null={"platform", "native_id", "text", "created_at"},
    )
    db["mentions"].create_index(["created_at"])
    db["mentions"].create_index(["author"])
    db["mentions"].enable_fts(["text", "title", "author"], fts_version="FTS5", create_triggers=True,
                              tokenize="unicode61 remove_diacritics 2")
    # created_at and label are copied into the link so per-brand windows read one index.
    db.execute(
        "CREATE TABLE mention_brands (brand TEXT NOT NULL, created_at TEXT NOT NULL,"
        " mention_key TEXT NOT NULL REFERENCES mentions(key), label TEXT, platform TEXT,"
        " PRIMARY KEY (brand, created_at, mention_key)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX mention_brands_key ON mention_brands(mention_key)")
    db.execute(
        "CREATE TABLE buckets (brand TEXT NOT NULL, start TEXT NOT NULL, platform TEXT NOT NULL,"
        " count INTEGER NOT NULL DEFAULT 0, negative INTEGER NOT NULL DEFAULT 0,"
        " positive INTEGER NOT NULL DEFAULT 0, polarity_sum REAL NOT NULL DEFAULT 0,"
        " PRIMARY KEY (brand, start, platform)) WITHOUT ROWID"
    )
    db["cursors"].create({"listener": str, "cursor": str, "updated_at": str}, pk="listener")
    db["listener_health"].create(
        {"listener": str, "last_poll": str, "last_success": str, "last_error": str,
         "last_error_at": str, "failures": int, "retry_at": str, "fetched": int, "new": int},
        pk="listener", defaults={"failures": 0, "fetched": 0, "new": 0},
    )
    db.execute(
        "CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL,"
        " rule TEXT NOT NULL, brand TEXT, kind TEXT, severity TEXT, channel TEXT,"
        " state TEXT NOT NULL, fired_at TEXT NOT NULL, updated_at TEXT, resolved_at TEXT,"
        " payload TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX alerts_fingerprint ON alerts(fingerprint, fired_at)")
    db["rule_state"].create(
        {"fingerprint": str, "rule": str, "brand": str, "state": str, "since": str,
         "false_since": str, "alert_id": int, "last_fired_at": str},
        pk="fingerprint",
    )
    db.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL"
        " REFERENCES alerts(id), notifier TEXT NOT NULL, channel TEXT, payload TEXT NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT,"
        " remote_id TEXT, last_error TEXT)"
    )
    db.execute("CREATE INDEX outbox_pending ON outbox(status, next_attempt_at)")


MIGRATIONS = [_migration_1]  # index i migrates schema version i to i + 1


def _migration_2(db: sqlite_utils.Database) -> None:
    """Rules support: alert updates (a firing alert that got worse), and listener activity."""
    db.execute(
        "CREATE TABLE alert_updates (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL"
        " REFERENCES alerts(id), at TEXT NOT NULL, reason TEXT NOT NULL, observed REAL, title TEXT,"
        " payload TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX alert_updates_alert ON alert_updates(alert_id, id)")
    # When did a listener last store something: listener_silent asks every evaluation.
    db.execute("CREATE INDEX IF NOT EXISTS mentions_listener ON mentions(listener, ingested_at)")


MIGRATIONS.append(_migration_2)  # rules support


def _migration_slack(db: sqlite_utils.Database) -> None:
    """Delivery that people trust: follow-ups in threads, grouped messages, holds, silences.

    An outbox row is an `action`: 'alert' (a new message, grouped with others of the same
    evaluation), 'update' (a thread reply: it got worse), 'resolve' (edit the message, reply
    resolved) or 'notice'. Rows sent as one message share a `batch` (the first row's id), set
    when they are claimed, so a retry after a crash rebuilds exactly that message. `messages`
    is where each alert's message lives, for its follow-ups.
    """
    db.execute("ALTER TABLE outbox ADD COLUMN action TEXT NOT NULL DEFAULT 'alert'")
    db.execute("ALTER TABLE outbox ADD COLUMN update_id INTEGER REFERENCES alert_updates(id)")
    db.execute("ALTER TABLE outbox ADD COLUMN batch INTEGER")
    db.execute("UPDATE outbox SET action = 'notice' WHERE alert_id IN (SELECT id FROM alerts WHERE state = 'notice')")
    db.execute("DROP INDEX IF EXISTS outbox_pending")
    db.execute("CREATE INDEX outbox_open ON outbox(status, id) WHERE status IN ('pending', 'held', 'sending')")
    db.execute("CREATE INDEX outbox_alert ON outbox(alert_id, notifier)")
    db.execute(
        "CREATE TABLE messages (alert_id INTEGER NOT NULL REFERENCES alerts(id), notifier TEXT NOT NULL,"
        " channel TEXT, channel_id TEXT, ts TEXT, key TEXT NOT NULL, digest INTEGER NOT NULL DEFAULT 0,"
        " sent_at TEXT NOT NULL, PRIMARY KEY (alert_id, notifier)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX messages_ts ON messages(notifier, channel_id, ts)")
    db.execute(
        "CREATE TABLE silences (id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT, brand TEXT,"
        " starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, comment TEXT NOT NULL, created_by TEXT,"
        " created_at TEXT NOT NULL, expired_at TEXT)"
    )


MIGRATIONS.append(_migration_slack)  # Slack delivery (#6)


def _migration_ops(db: sqlite_utils.Database) -> None:
    """Operations (#7): an audit of data-subject requests and purges (bot/retention.py writes
    it), and an index to purge by listener and age without scanning the table."""
    db.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL,"
        " subject TEXT, rows INTEGER NOT NULL DEFAULT 0, counts TEXT NOT NULL DEFAULT '{}', actor TEXT,"
        " note TEXT)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS mentions_listener_created ON mentions(listener, created_at)")


MIGRATIONS.append(_migration_ops)  # operations: audit, retention (#7)
def _migration_safety(db: sqlite_utils.Database) -> None:
    """Self-harm flags (bot/selfharm.py), written with the mention; `alert_id` once alerted."""
    db.execute(
        "CREATE TABLE safety_flags (mention_key TEXT PRIMARY KEY REFERENCES mentions(key), level TEXT NOT NULL,"
        " cues TEXT NOT NULL, reason TEXT NOT NULL, flagged_at TEXT NOT NULL, alert_id INTEGER REFERENCES alerts(id))"
    )
    db.execute("CREATE INDEX safety_flags_open ON safety_flags(flagged_at) WHERE alert_id IS NULL")


MIGRATIONS.append(_migration_safety)  # self-harm flags (#7)


def _migration_leases(db: sqlite_utils.Database) -> None:
    """Leases (#13): one holder polls a listener or drains a lane at a time, across processes
    (`harkbot once` beside `harkbot run`). `token` only ever rises: it fences late writes.
    Budgets: an API quota that every process polling that platform spends from (one row per
    quota and period, e.g. ('youtube', '2026-12-07'))."""
    db.execute(
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL,"
        " expires_at TEXT NOT NULL) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE budgets (name TEXT NOT NULL, period TEXT NOT NULL, used REAL NOT NULL DEFAULT 0,"
        " budget REAL, updated_at TEXT NOT NULL, PRIMARY KEY (name, period)) WITHOUT ROWID"
    )


MIGRATIONS.append(_migration_leases)  # leases (#13)


def _migration_dead_letters(db: sqlite_utils.Database) -> None:
    """Dead letters (#20): posts a page could not store, set aside so the page goes on; one
    row per mention key (a post refused again counts another attempt), payload as ASCII JSON."""
    db.execute(
        "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
        " listener TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL,"
        " first_at TEXT NOT NULL, last_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1,"
        " resolved_at TEXT, resolution TEXT)"
    )
    db.execute("CREATE INDEX dead_letters_open ON dead_letters(listener, id) WHERE resolved_at IS NULL")


MIGRATIONS.append(_migration_dead_letters)  # dead letters (#20)


def _migration_triage(db: sqlite_utils.Database) -> None:
    """The triage loop (#16): what people said about an alert (ack, verdict, close, reopen;
    bot/triage.py) and the sentiment labels they corrected, both append-only. `ref` is what
    makes an event unique at its source (a Slack action's trigger), so a replayed click is
    refused; NULL for the CLI, which has none. A note is the person's words, never post text."""
    db.execute(
        "CREATE TABLE triage_events (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL"
        " REFERENCES alerts(id), kind TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL, verdict TEXT,"
        " reason TEXT, note TEXT, source TEXT NOT NULL DEFAULT 'cli', ref TEXT UNIQUE)"
    )
    db.execute("CREATE INDEX triage_events_alert ON triage_events(alert_id, id)")
    db.execute("CREATE INDEX triage_events_at ON triage_events(at)")
    db.execute(
        "CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, mention_key TEXT NOT NULL"
        " REFERENCES mentions(key), label TEXT NOT NULL, previous TEXT, scorer TEXT, actor TEXT NOT NULL,"
        " at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX labels_mention ON labels(mention_key, id)")


MIGRATIONS.append(_migration_triage)  # triage events and corrected labels (#16)


def _migration_lang(db: sqlite_utils.Database) -> str:
    """The language of each mention (#18): `lang`, the ISO 639-1 code ingest resolves from the
    text and the platform's tag (bot.lang.resolve; 'und' when it cannot tell), and
    `lang_confidence`, the detector's. Indexed with the time, for `--lang` filters.

    Rows already stored get the code of the platform's tag where they have one (confidence
    NULL: the platform's word); the rest stay NULL, unknown. The detector is not run here: a
    migration over millions of rows must take seconds, not an hour of fastText. Returns what
    it did, for `harkbot migrate` to say."""
    from bot.lang import platform_code

    db.execute("ALTER TABLE mentions ADD COLUMN lang TEXT")
    db.execute("ALTER TABLE mentions ADD COLUMN lang_confidence REAL")
    tags = [r[0] for r in db.execute("SELECT DISTINCT language FROM mentions WHERE language IS NOT NULL")]
    codes = [(tag, platform_code(tag)) for tag in tags]
    db.execute("CREATE TEMP TABLE lang_codes (tag TEXT PRIMARY KEY, code TEXT NOT NULL)")
    db.conn.executemany("INSERT INTO temp.lang_codes VALUES (?, ?)", [(t, c) for t, c in codes if c])
    filled = db.execute("UPDATE mentions SET lang = (SELECT code FROM temp.lang_codes WHERE tag = mentions.language)"
                        " WHERE language IN (SELECT tag FROM temp.lang_codes)").rowcount
    db.execute("DROP TABLE temp.lang_codes")
    db.execute("CREATE INDEX mentions_lang ON mentions(lang, created_at)")
    unknown = db.execute("SELECT COUNT(*) FROM mentions WHERE lang IS NULL").fetchone()[0]
    return lang_note(filled, unknown)


def lang_note(filled: int, unknown: int) -> str:
    """What the language migration did, in `harkbot migrate`'s words (both backends)."""
    return (f"lang set from the platform's language tag for {filled:,} stored mentions; {unknown:,} left unknown"
            " (NULL: stored before language detection, which a migration does not run; new mentions are detected"
            " at ingest)")


MIGRATIONS.append(_migration_lang)  # the language of each mention (#18)
SCHEMA_VERSION = len(MIGRATIONS)


WAL_WAIT = 10.0  # seconds, as busy_timeout


def _wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so: the mode is the file's).

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without the busy handler, when that would deadlock: another connection holds a write lock
    (a process storing a page, a second harkbot opening the same new file). So wait it out here.
    """
    deadline, pause = time.monotonic() + WAL_WAIT, 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


class SQLiteStore(SQLiteReads, SQLiteWork, SQLiteTriage):
    """A SQLite database. `Store(":memory:")` for tests; a path creates an owner-only file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 10000")
        if self.path != ":memory:":
            _wal(self.conn)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.db = sqlite_utils.Database(self.conn)
        self._lock = threading.RLock()  # one writer at a time across scheduler threads
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    # -- schema -------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        self._migrated: list[str] = []  # the steps run ("9: _migration_lang (...)"), as PostgresStore's
        if self.version == SCHEMA_VERSION:
            return
        with self._tx():
            # Read the version again under the write lock: another process opening the same
            # new file may have migrated it while we waited.
            version = self.version
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this harkbot ({SCHEMA_VERSION});"
                    " upgrade harkbot or point `database:` at another file"
                )
            if version == 0 and self.db.table_names() and "mentions" not in self.db.table_names():
                raise StoreError(f"{self.path} is a SQLite file that harkbot did not create; choose another path")
            for step in range(version, SCHEMA_VERSION):
                note = MIGRATIONS[step](self.db)
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
                self._migrated.append(f"{step + 1}: {MIGRATIONS[step].__name__}" + (f" ({note})" if note else ""))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                      (key, value))

    # -- ingest -------------------------------------------------------------------------

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(f"SELECT key FROM mentions WHERE key IN ({marks})", chunk))
        return found

    def ingest(self, listener: str, scored: Sequence[ScoredMention], cursor: str | None, now: datetime,
               *, lease: Lease | None = None, rejected: Sequence[DeadLetter] = ()) -> int:
        """Store new mentions with their links and buckets, and the cursor: one transaction.

        Mentions already stored are skipped (the key is platform:id), so a re-fetched page
        changes nothing. Returns how many were new. With `lease`, the page is refused
        (LeaseLost) unless that lease is still the current one: a stalled poller that lost
        its lease cannot move the cursor back under the poller that took over. A mention that
        cannot be stored is set aside as a dead letter (see `ingest_page`).
        """
        return self.ingest_page(listener, scored, cursor, now, lease=lease, rejected=rejected).new

    def ingest_page(self, listener: str, scored: Sequence[ScoredMention], cursor: str | None, now: datetime,
                    *, lease: Lease | None = None, rejected: Sequence[DeadLetter] = ()) -> IngestResult:
        """`ingest`, saying what it set aside: one transaction holds the page's mentions, its dead
        letters (`rejected`, refused before the store, and any mention whose row fails with a
        data error) and the cursor, so one poison post never holds back the rest of its page.

        The page goes in set-at-a-time under one savepoint (see `_put_page`); only when that
        fails on a row's data is it done again row by row, each under its own, to find the rows
        at fault."""
        stamp = iso(now)
        with self._tx() as c:
            if lease is not None:
                self._fence(c, lease)
            dead: list[DeadLetter] = []
            try:
                c.execute("SAVEPOINT page")
                new = _put_page(c, listener, scored, stamp)
                c.execute("RELEASE page")
            except _ROW_ERRORS:
                c.execute("ROLLBACK TO page")
                c.execute("RELEASE page")
                new = 0
                for sm in scored:
                    c.execute("SAVEPOINT row")
                    try:
                        new += _put_page(c, listener, [sm], stamp)
                        c.execute("RELEASE row")
                    except _ROW_ERRORS as exc:
                        c.execute("ROLLBACK TO row")
                        c.execute("RELEASE row")
                        dead.append(letter(listener, sm, "store", exc))
            dead = list(rejected) + dead
            for d in dead:
                c.execute(
                    "INSERT INTO dead_letters(key, listener, stage, reason, payload, first_at, last_at)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET listener = excluded.listener,"
                    " stage = excluded.stage, reason = excluded.reason, payload = excluded.payload,"
                    " last_at = excluded.last_at, attempts = attempts + 1, resolved_at = NULL, resolution = NULL",
                    (d.key, d.listener, d.stage, d.reason, d.payload, stamp, stamp))
            if cursor is not None:
                c.execute(
                    "INSERT INTO cursors(listener, cursor, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(listener) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                    (listener, cursor, stamp),
                )
        return IngestResult(new, tuple(dead))

    # -- dead letters -----------------------------------------------------------------------

    def dead_letters(self, *, listener: str | None = None, everything: bool = False,
                     limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first: the open ones, or with `everything` the resolved too."""
        sql, args = f"SELECT {_DEAD} FROM dead_letters WHERE 1 = 1", []
        if not everything:
            sql += " AND resolved_at IS NULL"
        if listener is not None:
            sql, args = sql + " AND listener = ?", [listener]
        return [_dead(r) for r in self.conn.execute(sql + " ORDER BY id LIMIT ?", [*args, limit])]

    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        row = self.conn.execute(f"SELECT {_DEAD} FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        return _dead(row) if row else None

    def dead_letter_count(self, listener: str | None = None) -> int:
        """Open dead letters (all listeners', or one's): what `status` shows."""
        sql, args = "SELECT COUNT(*) FROM dead_letters WHERE resolved_at IS NULL", []
        if listener is not None:
            sql, args = sql + " AND listener = ?", [listener]
        return int(self.conn.execute(sql, args).fetchone()[0])

    def resolve_dead_letter(self, letter_id: int, resolution: str, now: datetime) -> bool:
        """Close a dead letter (a retry stored it, or found nothing left to store)."""
        with self._tx() as c:
            return c.execute("UPDATE dead_letters SET resolved_at = ?, resolution = ? WHERE id = ?"
                             " AND resolved_at IS NULL", (iso(now), resolution, letter_id)).rowcount > 0

    def forget_dead_letters(self, match: Callable[[Mention], bool]) -> int:
        """Delete every dead letter (open or resolved) whose mention `match`es: a data-subject
        erasure reaches the posts set aside too. A scan, as forget's own; erasures are rare."""
        doomed = [r[0] for r in self.conn.execute("SELECT id, payload FROM dead_letters") if _matches(match, r[1])]
        with self._tx() as c:
            for i in range(0, len(doomed), 500):
                chunk = doomed[i : i + 500]
                c.execute(f"DELETE FROM dead_letters WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return len(doomed)

    def purge_dead_letters(self, before: datetime, listener: str | None = None) -> int:
        """Delete dead letters last seen before `before` (they hold post text: retention applies)."""
        sql, args = "DELETE FROM dead_letters WHERE last_at < ?", [iso(before)]
        if listener is not None:
            sql, args = sql + " AND listener = ?", [*args, listener]
        with self._tx() as c:
            return c.execute(sql, args).rowcount

    # -- leases -------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        """Take `name` for `holder` until now + ttl, unless someone else holds it unexpired.
        The same holder taking it again gets a new token (its earlier writes are fenced)."""
        until = now + ttl
        with self._tx() as c:
            row = c.execute("SELECT holder, token, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and parse_iso(row[2]) > now:
                return None
            token = (row[1] if row else 0) + 1
            c.execute("INSERT INTO leases(name, holder, token, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(name)"
                      " DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at",
                      (name, holder, token, iso(until)))
        return Lease(name, holder, token, until)

    def renew_lease(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend a lease still held; None if it was lost (expired and taken by another)."""
        until = now + ttl
        with self._tx() as c:
            cur = c.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?",
                            (iso(until), lease.name, lease.holder, lease.token))
        return Lease(lease.name, lease.holder, lease.token, until) if cur.rowcount else None

    def release_lease(self, lease: Lease) -> None:
        """Let the next holder in at once. The row stays, so tokens keep rising."""
        with self._tx() as c:
            c.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?",
                      (iso(datetime(1970, 1, 1, tzinfo=timezone.utc)), lease.name, lease.holder, lease.token))

    def leases(self) -> list[Lease]:
        return [Lease(r[0], r[1], r[2], parse_iso(r[3]))
                for r in self.conn.execute("SELECT name, holder, token, expires_at FROM leases ORDER BY name")]

    @staticmethod
    def _fence(c: sqlite3.Connection, lease: Lease) -> None:
        row = c.execute("SELECT holder, token FROM leases WHERE name = ?", (lease.name,)).fetchone()
        if row is None or (row[0], row[1]) != (lease.holder, lease.token):
            raise LeaseLost(f"lease {lease.name!r} (token {lease.token}) is no longer held by {lease.holder!r};"
                            " this write is refused so it cannot overwrite newer work")

    def cursor(self, listener: str) -> str | None:
        row = self.conn.execute("SELECT cursor FROM cursors WHERE listener = ?", (listener,)).fetchone()
        return row[0] if row else None

    def record_success(self, listener: str, now: datetime, fetched: int, new: int) -> None:
        """A whole walk finished: the failure streak ends. (Pages alone prove nothing: a walk
        can store page 1 and fail on page 2.)"""
        stamp = iso(now)
        with self._tx() as c:
            c.execute(
                "INSERT INTO listener_health(listener, last_poll, last_success, failures, fetched, new)"
                " VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT(listener) DO UPDATE SET last_poll = excluded.last_poll,"
                " last_success = excluded.last_success, failures = 0, retry_at = NULL,"
                " fetched = fetched + excluded.fetched, new = new + excluded.new",
                (listener, stamp, stamp, fetched, new),
            )

    def record_failure(self, listener: str, error: str, now: datetime, retry_at: datetime | None = None) -> int:
        """Note a failed poll, and when to try again; returns the number of consecutive failures."""
        stamp = iso(now)
        with self._tx() as c:
            c.execute(
                "INSERT INTO listener_health(listener, last_poll, last_error, last_error_at, failures, retry_at)"
                " VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(listener) DO UPDATE SET last_poll = excluded.last_poll,"
                " last_error = excluded.last_error, last_error_at = excluded.last_error_at,"
                " failures = failures + 1, retry_at = excluded.retry_at",
                (listener, stamp, error[:500], stamp, _maybe_iso(retry_at)),
            )
            return c.execute("SELECT failures FROM listener_health WHERE listener = ?", (listener,)).fetchone()[0]

    def retry_at(self, listener: str) -> datetime | None:
        """When a failing listener may be polled again (None: now)."""
        row = self.conn.execute("SELECT retry_at FROM listener_health WHERE listener = ?", (listener,)).fetchone()
        return _maybe_time(row[0]) if row else None

    def health_of(self, listener: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM listener_health WHERE listener = ?", (listener,)).fetchone()
        return dict(row) if row else None

    def health(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM listener_health ORDER BY listener")]

    # -- history (what rule kinds read) ---------------------------------------------------

    def series(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
               platforms: Sequence[str] | None = None) -> list[int]:
        column = {"negative": "negative", "positive": "positive", None: "count"}.get(sentiment)
        if column is None:  # neutral has no bucket column of its own
            column = "count - negative - positive"
        start, end = floor_bucket(start), floor_bucket(end)
        sql = f"SELECT start, SUM({column}) FROM buckets WHERE brand = ? AND start >= ? AND start < ?"
        args: list = [brand, iso(start), iso(end)]
        sql, args = _platform_filter(sql, args, platforms, "platform")
        out = [0] * int((end - start) / BUCKET)
        for bucket, count in self.conn.execute(sql + " GROUP BY start", args):
            out[int((_bucket_time(bucket) - start) / BUCKET)] = int(count)
        return out

    def stats(self, brand: str, start: datetime, end: datetime, *,
              platforms: Sequence[str] | None = None) -> WindowStats:
        sql = ("SELECT COALESCE(SUM(count),0), COALESCE(SUM(negative),0), COALESCE(SUM(positive),0),"
               " COALESCE(SUM(polarity_sum),0) FROM buckets WHERE brand = ? AND start >= ? AND start < ?")
        args: list = [brand, iso(floor_bucket(start)), iso(floor_bucket(end))]
        sql, args = _platform_filter(sql, args, platforms, "platform")
        count, negative, positive, polarity = self.conn.execute(sql, args).fetchone()
        sql, args = _linked("m.platform, COUNT(*)", brand, start, end, platforms=platforms)
        per_platform = dict(self.conn.execute(sql + " GROUP BY m.platform", args).fetchall())
        authors = self.authors(brand, start, end, platforms=platforms)
        return WindowStats(start, end, count, negative, positive, polarity, authors, per_platform)

    def mentions(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
                 platforms: Sequence[str] | None = None, limit: int | None = None,
                 order: str = "reach") -> list[ScoredMention]:
        sql, args = _linked(_LIGHT, brand, start, end, sentiment=sentiment, platforms=platforms)
        sql += {"reach": " ORDER BY m.author_reach + m.engagement DESC, m.created_at DESC",
                "time": " ORDER BY m.created_at DESC"}[order]
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self.conn.execute(sql, args).fetchall()
        return self._with_brands(rows)

    def first_seen(self, brand: str) -> datetime | None:
        row = self.conn.execute("SELECT MIN(start) FROM buckets WHERE brand = ?", (brand,)).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def _with_brands(self, rows: list[sqlite3.Row]) -> list[ScoredMention]:
        if not rows:
            return []
        keys = [r["key"] for r in rows]
        links: dict[str, list[str]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for key, brand in self.conn.execute(
                f"SELECT mention_key, brand FROM mention_brands WHERE mention_key IN ({marks}) ORDER BY brand", chunk
            ):
                links.setdefault(key, []).append(brand)
        return [_scored(r, tuple(links.get(r["key"], ()))) for r in rows]

    # -- search -------------------------------------------------------------------------

    def search(self, query: str, *, brand: str | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 50) -> list[ScoredMention]:
        """Full-text search (FTS5 syntax), newest first."""
        sql, args = _mention_filters("SELECT m.* FROM mentions_fts f JOIN mentions m ON m.rowid = f.rowid"
                                     " WHERE mentions_fts MATCH ?", [query], brand, since, until)
        try:
            rows = self.conn.execute(sql + " ORDER BY m.created_at DESC LIMIT ?", args + [limit]).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"cannot search for {query!r}: {exc}. Use words, \"exact phrases\", OR, NOT and prefix*"
            ) from None
        return self._with_brands(rows)

    def recent(self, *, brand: str | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 50) -> list[ScoredMention]:
        """Stored mentions, newest first, without a text query."""
        sql, args = _mention_filters("SELECT m.* FROM mentions m WHERE 1 = 1", [], brand, since, until)
        rows = self.conn.execute(sql + " ORDER BY m.created_at DESC LIMIT ?", args + [limit]).fetchall()
        return self._with_brands(rows)

    def count(self, table: str) -> int:
        if table not in ("mentions", "alerts", "outbox", "mention_brands"):
            raise ValueError(table)
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- alerts, rule state, outbox --------------------------------------------------------

    def rule_state(self, fingerprint: str) -> RuleState | None:
        row = self.conn.execute("SELECT * FROM rule_state WHERE fingerprint = ?", (fingerprint,)).fetchone()
        if row is None:
            return None
        return RuleState(row["fingerprint"], row["rule"], row["brand"], row["state"],
                         _maybe_time(row["since"]), _maybe_time(row["false_since"]), row["alert_id"],
                         _maybe_time(row["last_fired_at"]))

    def save_state(self, state: RuleState, alert: Alert | None = None, notifiers: Sequence[str] = (),
                   now: datetime | None = None, resolved_alert: int | None = None) -> int | None:
        """Persist a rule state, with a new alert and its outbox rows, in one transaction.

        Returns the new alert's id (or None when there is no new alert).
        """
        alert_id = state.alert_id
        with self._tx() as c:
            if alert is not None:
                stamp = iso(alert.fired_at)
                cur = c.execute(
                    "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at,"
                    " updated_at, payload) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (alert.fingerprint, alert.rule, alert.brand, alert.kind, alert.severity, alert.channel,
                     alert.state, stamp, stamp, "{}"),
                )
                alert_id = cur.lastrowid
                stored = _with_id(alert, alert_id)
                c.execute("UPDATE alerts SET payload = ? WHERE id = ?", (stored.to_json(), alert_id))
                for notifier in notifiers:
                    c.execute(
                        "INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at)"
                        " VALUES (?,?,?,?,?,?)",
                        (alert_id, notifier, alert.channel, stored.to_json(), stamp, stamp),
                    )
            if resolved_alert is not None and now is not None:
                c.execute("UPDATE alerts SET state = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?",
                          (iso(now), iso(now), resolved_alert))
                _follow_up(c, resolved_alert, "resolve", None, now)
            c.execute(
                "INSERT INTO rule_state(fingerprint, rule, brand, state, since, false_since, alert_id, last_fired_at)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(fingerprint) DO UPDATE SET state = excluded.state,"
                " since = excluded.since, false_since = excluded.false_since, alert_id = excluded.alert_id,"
                " last_fired_at = excluded.last_fired_at",
                (state.fingerprint, state.rule, state.brand, state.state, _maybe_iso(state.since),
                 _maybe_iso(state.false_since), alert_id, _maybe_iso(state.last_fired_at)),
            )
        return alert_id if alert is not None else None

    def alerts(self, limit: int = 100) -> list[Alert]:
        rows = self.conn.execute("SELECT payload, state FROM alerts ORDER BY fired_at, id LIMIT ?", (limit,))
        out = []
        for payload, state in rows:
            alert = Alert.from_json(payload)
            out.append(alert if alert.state == state else _with_state(alert, state))
        return out

    def open_deliveries(self, notifiers: Sequence[str] | None = None, limit: int = 500,
                        due_by: datetime | None = None) -> list[Delivery]:
        """Rows not yet settled (pending, held, sending), oldest first: the sender's queue.
        With `due_by`, held rows (quiet hours, digests) only once due, so that rows waiting for
        a digest never fill the window and hide the rows behind them."""
        sql = ("SELECT id, alert_id, notifier, channel, payload, attempts, action, status, next_attempt_at,"
               " created_at, batch, update_id, last_error FROM outbox WHERE status IN ('pending', 'held', 'sending')")
        args: list = []
        if due_by is not None:
            sql += " AND (status != 'held' OR next_attempt_at <= ?)"
            args.append(iso(due_by))
        if notifiers is not None:
            sql += f" AND notifier IN ({','.join('?' * len(notifiers))})"
            args += list(notifiers)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", args + [limit]).fetchall()
        return [Delivery(*r[:8], _maybe_time(r[8]), _maybe_time(r[9]), *r[10:]) for r in rows]

    def deliveries_of(self, alert_id: int) -> list[Delivery]:
        rows = self.conn.execute(
            "SELECT id, alert_id, notifier, channel, payload, attempts, action, status, next_attempt_at,"
            " created_at, batch, update_id, last_error FROM outbox WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [Delivery(*r[:8], _maybe_time(r[8]), _maybe_time(r[9]), *r[10:]) for r in rows]

    def claim(self, ids: Sequence[int], batch: int | None = None) -> bool:
        """Mark rows as being sent, as one message: committed before the request goes out,
        so that after a crash the sender knows to look for the message before posting again.

        Fresh rows (`batch` None) are claimed only if no other sender claimed them since they
        were read (a `harkbot once` beside the daemon); False means leave them to it."""
        with self._tx() as c:
            if batch is None:
                batch = min(ids)
                got = sum(c.execute("UPDATE outbox SET status = 'sending', batch = ? WHERE id = ? AND batch IS NULL"
                                    " AND status IN ('pending', 'held')", (batch, i)).rowcount for i in ids)
                if got != len(ids):
                    c.execute("ROLLBACK")
                    c.execute("BEGIN IMMEDIATE")  # the context manager commits an empty transaction
                    return False
            else:
                c.executemany("UPDATE outbox SET status = 'sending' WHERE id = ? AND batch = ?",
                              [(i, batch) for i in ids])
        return True

    def delivered(self, ids: Sequence[int], now: datetime, *, channel: str | None = None,
                  channel_id: str | None = None, ts: str | None = None, key: str = "",
                  digest: bool = False) -> None:
        """Rows sent (one message); an alert's first message is remembered for its follow-ups."""
        stamp = iso(now)
        with self._tx() as c:
            for i in ids:
                c.execute("UPDATE outbox SET status = 'sent', sent_at = ?, remote_id = ?, attempts = attempts + 1,"
                          " last_error = NULL WHERE id = ?", (stamp, ts, i))
                c.execute(
                    "INSERT OR IGNORE INTO messages(alert_id, notifier, channel, channel_id, ts, key, digest, sent_at)"
                    " SELECT alert_id, notifier, ?, ?, ?, ?, ?, ? FROM outbox WHERE id = ? AND action IN ('alert', 'digest')",
                    (channel, channel_id, ts, key, int(digest), stamp, i))

    def retry_later(self, ids: Sequence[int], error: str, at: datetime) -> None:
        with self._tx() as c:
            c.executemany("UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ?,"
                          " next_attempt_at = ? WHERE id = ?", [(error[:500], iso(at), i) for i in ids])

    def settle(self, ids: Sequence[int], status: str, note: str | None = None) -> None:
        """Close rows without sending: 'dead' (a refusal waiting cannot fix), 'silenced', 'skipped'."""
        with self._tx() as c:
            c.executemany("UPDATE outbox SET status = ?, last_error = ? WHERE id = ?",
                          [(status, (note or "")[:500] or None, i) for i in ids])

    def hold(self, ids: Sequence[int], until: datetime, action: str | None = None) -> None:
        """Keep rows back until `until` (quiet hours; a digest, when `action` is 'digest')."""
        with self._tx() as c:
            for i in ids:
                c.execute("UPDATE outbox SET status = 'held', next_attempt_at = ?, action = COALESCE(?, action)"
                          " WHERE id = ?", (iso(until), action, i))

    def requeue(self, ids: Sequence[int] | None, now: datetime) -> int:
        """Dead rows back into the queue (all dead rows when `ids` is None): after fixing the cause."""
        with self._tx() as c:
            sql, args = "UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE status = 'dead'", [iso(now)]
            if ids is not None:
                sql += f" AND id IN ({','.join('?' * len(ids))})"
                args += list(ids)
            return c.execute(sql, args).rowcount

    def message_of(self, alert_id: int, notifier: str) -> Message | None:
        row = self.conn.execute("SELECT alert_id, notifier, channel, channel_id, ts, key, digest FROM messages"
                                " WHERE alert_id = ? AND notifier = ?", (alert_id, notifier)).fetchone()
        return Message(*row[:6], bool(row[6])) if row else None

    def alerts_in_message(self, message: Message) -> list[int]:
        """The alerts that went out together in one (grouped) message, in the order it shows them."""
        if message.ts is None:
            return [message.alert_id]
        return [r[0] for r in self.conn.execute(
            "SELECT alert_id FROM messages WHERE notifier = ? AND channel_id IS ? AND ts = ? ORDER BY alert_id",
            (message.notifier, message.channel_id, message.ts))]

    def alert(self, alert_id: int) -> Alert | None:
        """An alert as it is now (its state may have moved on since it fired)."""
        row = self.conn.execute("SELECT payload, state FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None or row[0] == "{}":
            return None
        alert = Alert.from_json(row[0])
        return alert if alert.state == row[1] else _with_state(alert, row[1])

    def alert_times(self, alert_id: int) -> tuple[datetime, datetime | None] | None:
        row = self.conn.execute("SELECT fired_at, resolved_at FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return (parse_iso(row[0]), _maybe_time(row[1])) if row else None

    def update_of(self, update_id: int) -> dict | None:
        row = self.conn.execute("SELECT id, alert_id, at, reason, observed, title, payload FROM alert_updates"
                                " WHERE id = ?", (update_id,)).fetchone()
        return dict(row) if row else None

    def instance(self) -> str:
        """A random id for this database, in every message key, so that two harkbots posting
        to one channel never take each other's messages for their own."""
        found = self.get_meta("instance")
        if found:
            return found
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('instance', ?)", (os.urandom(6).hex(),))
        return str(self.get_meta("instance"))

    def alert_rows(self, since: datetime, state: str | None = None) -> list[dict]:
        """Alerts fired since `since`, newest first, each with its delivery statuses counted."""
        sql = ("SELECT id, fired_at, resolved_at, state, severity, rule, brand, channel,"
               " json_extract(payload, '$.finding.title') AS title FROM alerts WHERE fired_at >= ?")
        args: list = [iso(since)]
        if state:
            sql, args = sql + " AND state = ?", args + [state]
        rows = [dict(r) for r in self.conn.execute(sql + " ORDER BY fired_at DESC, id DESC", args)]
        for row in rows:
            row["deliveries"] = dict(self.conn.execute(
                "SELECT status, COUNT(*) FROM outbox WHERE alert_id = ? GROUP BY status", (row["id"],)).fetchall())
        return rows

    # -- silences ---------------------------------------------------------------------------

    def add_silence(self, rule: str | None, brand: str | None, starts: datetime, ends: datetime, comment: str,
                    created_by: str | None, now: datetime) -> int:
        with self._tx() as c:
            cur = c.execute("INSERT INTO silences(rule, brand, starts_at, ends_at, comment, created_by, created_at)"
                            " VALUES (?,?,?,?,?,?,?)", (rule, brand, iso(starts), iso(ends), comment, created_by,
                                                        iso(now)))
            return int(cur.lastrowid or 0)

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """All silences, newest first; only those active at `now` when given."""
        rows = self.conn.execute("SELECT * FROM silences ORDER BY id DESC").fetchall()
        found = [Silence(r["id"], r["rule"], r["brand"], parse_iso(r["starts_at"]), parse_iso(r["ends_at"]),
                         r["comment"], r["created_by"], parse_iso(r["created_at"]), _maybe_time(r["expired_at"]))
                 for r in rows]
        return [s for s in found if s.active(now)] if now is not None else found

    def expire_silence(self, silence_id: int, now: datetime) -> bool:
        with self._tx() as c:
            return c.execute("UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL",
                             (iso(now), silence_id)).rowcount == 1

    def outbox_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())

    # -- rules support ---------------------------------------------------------------------
    # What rule kinds read cheaply, what the alert engine records beyond save_state (updates,
    # notices), and the bulk reads a backtest loads its in-memory history from.

    def totals(self, brand: str, start: datetime, end: datetime, *,
               platforms: Sequence[str] | None = None) -> tuple[int, int, int]:
        """(count, negative, positive) over [start, end) from the buckets alone: what a check needs."""
        sql = ("SELECT COALESCE(SUM(count),0), COALESCE(SUM(negative),0), COALESCE(SUM(positive),0)"
               " FROM buckets WHERE brand = ? AND start >= ? AND start < ?")
        args: list = [brand, iso(floor_bucket(start)), iso(floor_bucket(end))]
        sql, args = _platform_filter(sql, args, platforms, "platform")
        count, negative, positive = self.conn.execute(sql, args).fetchone()
        return int(count), int(negative), int(positive)

    def authors(self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] | None = None,
                sentiment: str | None = None) -> int:
        """Distinct (platform, author) pairs among a brand's mentions in [start, end), of one sentiment or all."""
        sql, args = _linked("COUNT(DISTINCT m.platform || ':' || m.author)", brand, start, end, sentiment=sentiment,
                            platforms=platforms)
        return int(self.conn.execute(sql, args).fetchone()[0])

    def mention_rows(self, brand: str, start: datetime, end: datetime, *,
                     platforms: Sequence[str] | None = None) -> list[tuple]:
        """(key, platform, author, author_reach, label, text, title) of a brand's mentions in [start, end):
        the few columns a rule's filter reads, without building whole mentions."""
        sql, args = _linked("m.key, m.platform, m.author, m.author_reach, b.label, m.text, m.title", brand, start, end,
                            platforms=platforms)
        return self.conn.execute(sql, args).fetchall()

    def listener_activity(self, until: datetime | None = None) -> list[dict]:
        """Each listener's health row plus `last_data`: when it last stored a new mention."""
        rows = []
        for row in self.conn.execute("SELECT * FROM listener_health ORDER BY listener").fetchall():
            item = dict(row)
            sql, args = "SELECT MAX(ingested_at) FROM mentions WHERE listener = ?", [item["listener"]]
            if until is not None:
                sql, args = sql + " AND ingested_at <= ?", args + [iso(until)]
            item["last_data"] = self.conn.execute(sql, args).fetchone()[0]
            rows.append(item)
        return rows

    def alert_report(self, alert_id: int) -> Report:
        """What an open alert last reported, and when: its latest update, else its firing."""
        row = self.conn.execute("SELECT observed, at FROM alert_updates WHERE alert_id = ? ORDER BY id DESC LIMIT 1",
                                (alert_id,)).fetchone()
        if row is not None and row[0] is not None:
            return Report(float(row[0]), parse_iso(row[1]))
        row = self.conn.execute("SELECT json_extract(payload, '$.finding.observed'), fired_at FROM alerts"
                                " WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return Report(None, None)
        return Report(float(row[0]) if row[0] is not None else None, parse_iso(row[1]))

    def record_update(self, state: RuleState, alert: Alert, reason: str, now: datetime) -> None:
        """A firing alert got worse: keep the update (for a thread reply) and the newest payload,
        with the rule state, in one transaction."""
        stamp = iso(now)
        with self._tx() as c:
            if state.alert_id is not None:
                stored = _with_id(alert, state.alert_id)
                cur = c.execute("INSERT INTO alert_updates(alert_id, at, reason, observed, title, payload)"
                                " VALUES (?,?,?,?,?,?)", (state.alert_id, stamp, reason, alert.finding.observed,
                                                         alert.finding.title, stored.to_json()))
                _follow_up(c, state.alert_id, "update", cur.lastrowid, now, stored.to_json())
                c.execute("UPDATE alerts SET payload = ?, updated_at = ? WHERE id = ?",
                          (stored.to_json(), stamp, state.alert_id))
            c.execute(
                "UPDATE rule_state SET state = ?, since = ?, false_since = ?, last_fired_at = ? WHERE fingerprint = ?",
                (state.state, _maybe_iso(state.since), _maybe_iso(state.false_since),
                 _maybe_iso(state.last_fired_at), state.fingerprint),
            )

    def alert_updates(self, alert_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT id, alert_id, at, reason, observed, title FROM alert_updates WHERE alert_id = ? ORDER BY id",
            (alert_id,))]

    def record_notice(self, alert: Alert, notifiers: Sequence[str], now: datetime) -> int:
        """An admin message (not a rule's alert) through the same outbox: stored, retried, never lost."""
        with self._tx() as c:
            return _insert_notice(c, alert, notifiers, iso(now))

    # -- safety ------------------------------------------------------------------------------

    def open_safety_flags(self, levels: Sequence[str], since: datetime, limit: int = 200) -> list[tuple]:
        """(flag row, mention) for flags of `levels` since `since` that have no alert yet, oldest first."""
        if not levels:
            return []
        marks = ",".join("?" * len(levels))
        rows = self.conn.execute(
            f"SELECT f.mention_key, f.level, f.cues, f.reason, m.* FROM safety_flags f JOIN mentions m"
            f" ON m.key = f.mention_key WHERE f.alert_id IS NULL AND f.level IN ({marks}) AND f.flagged_at >= ?"
            f" ORDER BY f.flagged_at, f.mention_key LIMIT ?", [*levels, iso(since), limit]).fetchall()
        out = []
        for row in rows:
            brands = tuple(r[0] for r in self.conn.execute(
                "SELECT brand FROM mention_brands WHERE mention_key = ? ORDER BY brand", (row["mention_key"],)))
            out.append((row["level"], tuple(json.loads(row["cues"])), row["reason"], _scored(row, brands)))
        return out

    def record_safety_alert(self, mention_key: str, alert: Alert, notifiers: Sequence[str], now: datetime) -> int | None:
        """A safety alert, its outbox rows and the flag's link to it: one transaction, so a flag
        is alerted exactly once."""
        with self._tx() as c:
            if c.execute("SELECT 1 FROM safety_flags WHERE mention_key = ? AND alert_id IS NULL",
                         (mention_key,)).fetchone() is None:
                return None  # alerted meanwhile by another harkbot process
            alert_id = _insert_notice(c, alert, notifiers, iso(now))
            c.execute("UPDATE safety_flags SET alert_id = ? WHERE mention_key = ?", (alert_id, mention_key))
        return alert_id

    def safety_flagged(self, keys: Sequence[str]) -> set[str]:
        """Which of these mention keys carry a self-harm flag."""
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT mention_key FROM safety_flags WHERE mention_key IN ({marks})", chunk))
        return found

    def mention_span(self) -> tuple[datetime, datetime] | None:
        """The created_at of the first and the last stored mention."""
        first, last = self.conn.execute(  # one aggregate per SELECT: each is then a look-up of the index
            "SELECT (SELECT MIN(created_at) FROM mentions), (SELECT MAX(created_at) FROM mentions)").fetchone()
        return (parse_iso(first), parse_iso(last)) if first else None

    def bucket_rows(self, start: datetime, end: datetime) -> list[tuple]:
        """(brand, epoch seconds, platform, count, negative, positive) for every bucket in [start, end)."""
        return self.conn.execute(
            f"SELECT brand, {_EPOCH.format('start')}, platform, count, negative, positive FROM buckets"
            " WHERE start >= ? AND start < ?", (iso(start), iso(end))).fetchall()

    def link_rows(self, start: datetime, end: datetime, *, min_reach: int | None = None,
                  authors: Sequence[str] = (), fts: str | None = None, odd: bool = False,
                  brands: Sequence[str] | None = None, text: bool = True,
                  containing: str | None = None, unusual: bool = False) -> list[tuple]:
        """Brand links of mentions in [start, end) as (key, brand, epoch, platform, label, reach, author, text, title).

        Filters (any of them, ORed): an author reach (a missing reach counts as 0), a list of
        authors (case-insensitive), texts holding characters the FTS tokenizer may read
        differently from harkbot's own (`odd`: letters beyond ASCII, invisibles inside words),
        or a text, title or author with anything beyond ASCII, or a text or title with an
        underscore (`unusual`: where SQLite's ASCII-only lower() and its tokenizer may differ
        from Python's, which a caller then checks itself). An FTS5 query (`fts`) is ANDed to
        them. With no filter, every link.
        """
        what = "m.text, m.title" if text else "'', ''"
        where, args = ["b.created_at >= ?", "b.created_at < ?"], [iso(start), iso(end)]
        sql = (f"SELECT m.key, b.brand, {_EPOCH.format('b.created_at')}, b.platform, b.label, m.author_reach,"
               f" m.author, {what} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key")
        if fts is None and (min_reach is not None or authors or odd or unusual) and self._spans(start, end):
            # Every stored mention is in range: scanning the table and looking up the links of
            # the few that pass is half the work of joining every link to its mention.
            sql = (f"SELECT m.key, b.brand, {_EPOCH.format('b.created_at')}, b.platform, b.label, m.author_reach,"
                   f" m.author, {what} FROM mentions m CROSS JOIN mention_brands b ON b.mention_key = m.key")
        ors: list[str] = []
        if fts is not None:
            sql = (f"SELECT m.key, b.brand, {_EPOCH.format('b.created_at')}, b.platform, b.label, m.author_reach,"
                   f" m.author, {what} FROM mentions_fts f CROSS JOIN mentions m ON m.rowid = f.rowid"
                   " CROSS JOIN mention_brands b ON b.mention_key = m.key")
            # CROSS JOIN pins this order: with `brands` the planner otherwise drives from the
            # brand index and runs the MATCH once per link (EXPLAIN QUERY PLAN: SCAN f
            # VIRTUAL TABLE INDEX 0:=M3 innermost), 511 s at 1M rows.
            where.append("mentions_fts MATCH ?")
            args.append(fts)
        if min_reach is not None:
            ors.append("coalesce(m.author_reach, 0) >= ?")
            args.append(min_reach)
        if authors:
            ors.append(f"ltrim(lower(coalesce(m.author, '')), '@') IN ({','.join('?' * len(authors))})")
            args += [a.lower().lstrip("@") for a in authors]
        if odd:
            ors.append(" OR ".join(f"m.text GLOB ? OR m.title GLOB ?" for _ in _ODD_GLOBS))
            for pattern in _ODD_GLOBS:
                args += [pattern, pattern]
        if unusual:
            ors.append(_UNUSUAL)
        if ors:
            where.append("(" + " OR ".join(ors) + ")")
        if brands is not None:
            where.append(f"b.brand IN ({','.join('?' * len(brands))})")
            args += list(brands)
        if containing is not None:  # texts (or titles) holding this string: `instr`, no pattern
            where.append("(instr(m.text, ?) > 0 OR instr(m.title, ?) > 0)")
            args += [containing, containing]
        return self.conn.execute(sql + " WHERE " + " AND ".join(where), args).fetchall()

    def brand_links(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        """(mention key, brand) of every brand link in [start, end)."""
        return self.conn.execute("SELECT mention_key, brand FROM mention_brands WHERE created_at >= ? AND created_at < ?",
                                 (iso(start), iso(end))).fetchall()

    def iter_mentions(self, start: datetime, end: datetime, *, scan: bool = False) -> Iterator[tuple]:
        """(key, created_at, platform, label, reach, author, text, title) of every mention in [start, end),
        streamed (a backtest reads a million once without holding them all). `scan`: read the table
        in storage order rather than through the time index (faster when the range is most of it)."""
        column = "+created_at" if scan else "created_at"
        cursor = self.conn.execute(
            "SELECT key, created_at, platform, label, author_reach, author, text, title FROM mentions"
            f" WHERE {column} >= ? AND {column} < ?", (iso(start), iso(end)))
        while True:
            rows = cursor.fetchmany(5000)
            if not rows:
                return
            yield from rows

    def ingest_times(self, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """(listener, epoch) of each distinct time a listener stored new mentions in [start, end), in order."""
        return self.conn.execute(
            f"SELECT listener, {_EPOCH.format('ingested_at')} FROM mentions WHERE ingested_at >= ? AND ingested_at < ?"
            " GROUP BY listener, ingested_at ORDER BY listener, ingested_at", (iso(start), iso(end))).fetchall()

    def bulk_ingest(self, listener: str, scored: Sequence[ScoredMention], now: datetime) -> int:
        """Many new mentions in one transaction with executemany (benchmarks, imports).

        The same rows as `ingest` (mentions, brand links, buckets, FTS through its triggers);
        mentions already stored are skipped. Returns how many were new.
        """
        with self._tx() as c:
            return _put_page(c, listener, scored, iso(now), raw=False, safety=False)

    # -- rule engine ---------------------------------------------------------------------------
    # The rows a backtest builds its evidence from, and the states of rules that are gone.

    def mention_records(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
                        platforms: Sequence[str] | None = None, limit: int | None = None,
                        order: str = "reach", keys: Sequence[str] | None = None) -> list[tuple]:
        """The rows `mentions` builds its ScoredMentions from, as plain tuples (the _LIGHT columns,
        then the mention's brands joined by \\x1f, sorted), for callers that build them faster;
        `keys` keeps only those mentions.
        Order "time" walks the brand index backwards (equal times in key order, as `mentions`
        returns them), so a LIMIT stops early instead of sorting a week of mentions."""
        brands = ("(SELECT group_concat(brand, char(31)) FROM (SELECT l.brand FROM mention_brands l"
                  " WHERE l.mention_key = m.key ORDER BY l.brand))")
        sql, args = _linked(f"{_LIGHT}, {brands}", brand, start, end, sentiment=sentiment, platforms=platforms)
        if keys is not None:  # only these mentions (a few hundred at most)
            sql += f" AND b.mention_key IN ({','.join('?' * len(keys))})"
            args += list(keys)
        sql += {"reach": " ORDER BY m.author_reach + m.engagement DESC, m.created_at DESC",
                "time": " ORDER BY b.created_at DESC, b.mention_key"}[order]
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: a Row per mention costs more than the caller's work
        return cursor.execute(sql, args).fetchall()

    def link_texts(self, brand: str, start: datetime, end: datetime, *,
                   containing: str | None = None) -> Iterator[tuple]:
        """(epoch seconds, platform, text, title) of a brand's mentions in [start, end), streamed
        in time order; with `containing`, only those whose text or title holds that string
        (instr, no pattern). What a term index reads: no key, no author, nothing else."""
        sql = (f"SELECT {_EPOCH.format('b.created_at')}, b.platform, m.text, m.title FROM mention_brands b"
               " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?")
        args: list = [brand, iso(start), iso(end)]
        if containing is not None:
            sql += " AND (instr(m.text, ?) > 0 OR instr(m.title, ?) > 0)"
            args += [containing, containing]
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql + " ORDER BY b.created_at", args)
        while True:
            rows = cursor.fetchmany(5000)
            if not rows:
                return
            yield from rows

    def link_counts(self, brand: str, start: datetime, end: datetime) -> list[tuple[int, str, int]]:
        """(5-minute bucket start in epoch seconds, platform, links) of a brand's mentions in
        [start, end): what a term index's bucket sizes are when it reads only some texts. From
        the links themselves (an index-only read), not the buckets table, which retention and
        relabelling may leave different."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        return cursor.execute(
            f"SELECT at - at % 300, platform, COUNT(*) FROM (SELECT {_EPOCH.format('created_at')} AS at, platform"
            " FROM mention_brands WHERE brand = ? AND created_at >= ? AND created_at < ?) GROUP BY 1, 2",
            (brand, iso(start), iso(end))).fetchall()

    def _spans(self, start: datetime, end: datetime) -> bool:
        """Whether every stored mention lies in [start, end) (two index look-ups)."""
        first, last = self.conn.execute(  # one aggregate per SELECT: each is then a look-up of the index
            "SELECT (SELECT MIN(created_at) FROM mentions), (SELECT MAX(created_at) FROM mentions)").fetchone()
        return first is None or (first >= iso(start) and last < iso(end))

    def iter_links(self, brand: str, start: datetime, end: datetime) -> Iterator[tuple]:
        """(mention key, epoch seconds, platform, label, reach, author, text, title) of a brand's
        mentions in [start, end), streamed in time order: a backtest reads a million once."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(
            f"SELECT m.key, {_EPOCH.format('b.created_at')}, b.platform, b.label, m.author_reach, m.author, m.text,"
            " m.title FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
            " WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ? ORDER BY b.created_at",
            (brand, iso(start), iso(end)))
        while True:
            rows = cursor.fetchmany(5000)
            if not rows:
                return
            yield from rows

    def open_states(self) -> list[RuleState]:
        """Every rule state that is firing or pending."""
        rows = self.conn.execute("SELECT * FROM rule_state WHERE state IN ('firing', 'pending')"
                                 " ORDER BY rule, brand").fetchall()
        return [RuleState(r["fingerprint"], r["rule"], r["brand"], r["state"], _maybe_time(r["since"]),
                          _maybe_time(r["false_since"]), r["alert_id"], _maybe_time(r["last_fired_at"]))
                for r in rows]

    def close_state(self, state: RuleState, reason: str, now: datetime) -> None:
        """Close the state of a rule that is gone, in one transaction: a firing alert resolves, its
        title saying why ("... (closed: rule removed from rules/x.yaml)"), with a follow-up queued
        for every notifier its message went to, as any resolution; a pending state goes inactive."""
        stamp = iso(now)
        with self._tx() as c:
            if state.state == "firing" and state.alert_id is not None:
                row = c.execute("SELECT payload FROM alerts WHERE id = ? AND state != 'resolved'",
                                (state.alert_id,)).fetchone()
                if row is not None:
                    from dataclasses import replace

                    alert = Alert.from_json(row[0])
                    closed = replace(alert, finding=replace(alert.finding,
                                                            title=f"{alert.finding.title} (closed: {reason})"))
                    c.execute("UPDATE alerts SET state = 'resolved', resolved_at = ?, updated_at = ?, payload = ?"
                              " WHERE id = ?", (stamp, stamp, closed.to_json(), state.alert_id))
                    _follow_up(c, state.alert_id, "resolve", None, now)
            c.execute("UPDATE rule_state SET state = ?, since = NULL, false_since = NULL WHERE fingerprint = ?",
                      ("resolved" if state.state == "firing" else "inactive", state.fingerprint))


# Seconds since the epoch, computed by SQLite (parsing a million ISO strings in Python is slow):
# unixepoch() (SQLite 3.38+) is the same integer as strftime('%s') without writing a string and
# reading it back, a third of a backtest's link reads.
_EPOCH = "unixepoch({})" if sqlite3.sqlite_version_info >= (3, 38) else "CAST(strftime('%s', {}) AS INTEGER)"


# A row's data, not the database: sqlite3 raises these for a value it cannot bind or keep
# (a lone surrogate, an int past 64 bits, a string too big); OperationalError (locked, disk
# full) is not among them and still fails the page.
_ROW_ERRORS = (*DATA_ERRORS, sqlite3.DataError, sqlite3.IntegrityError, sqlite3.InterfaceError,
               sqlite3.ProgrammingError)
_DEAD = "id, key, listener, stage, reason, payload, first_at, last_at, attempts, resolved_at, resolution"


_INSERT_MENTIONS = (
    "INSERT INTO mentions(key, platform, native_id, listener, kind, text, title, author, url, created_at,"
    " ingested_at, language, author_reach, engagement, metrics, label, polarity, scorer, terms, raw, lang,"
    " lang_confidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_INSERT_FLAGS = ("INSERT OR IGNORE INTO safety_flags(mention_key, level, cues, reason, flagged_at)"
                 " VALUES (?,?,?,?,?)")
_INSERT_LINKS = ("INSERT OR IGNORE INTO mention_brands(brand, created_at, mention_key, label, platform)"
                 " VALUES (?,?,?,?,?)")
_ADD_BUCKETS = (
    "INSERT INTO buckets(brand, start, platform, count, negative, positive, polarity_sum)"
    " VALUES (?,?,?,?,?,?,?) ON CONFLICT(brand, start, platform) DO UPDATE SET"
    " count = count + excluded.count, negative = negative + excluded.negative,"
    " positive = positive + excluded.positive, polarity_sum = polarity_sum + excluded.polarity_sum")
# One encoder, made once: json.dumps with any option builds a new JSONEncoder per call.
_RAW_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _put_page(c: sqlite3.Connection, listener: str, scored: Sequence[ScoredMention], stamp: str, *,
              raw: bool = True, safety: bool = True) -> int:
    """A page of mentions, set-at-a-time, inside the caller's transaction: the new ones (the
    first of each key not stored yet), then their safety flags, brand links and the buckets'
    increments summed per (brand, bucket, platform). Returns how many were new.

    SQLite has no executemany with RETURNING, so the keys already stored are read first; the
    caller holds the write lock (BEGIN IMMEDIATE), so none can be stored between that read and
    the insert. A row whose data the database refuses raises here for the caller to set aside."""
    page: dict[str, ScoredMention] = {}
    for sm in scored:
        page.setdefault(sm.mention.key, sm)
    if not page:
        return 0
    keys = list(page)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        for (key,) in c.execute(f"SELECT key FROM mentions WHERE key IN ({','.join('?' * len(chunk))})", chunk):
            del page[key]
    if not page:
        return 0
    rows, flags, links = [], [], []
    buckets: dict[tuple[str, str, str], list] = {}
    bucket_of: dict[datetime, str] = {}  # a page's posts fall in a few buckets: each iso'd once
    for key, sm in page.items():
        m, s = sm.mention, sm.score
        created = iso(m.created_at)
        rows.append((key, m.platform, m.id, listener, m.kind, m.text, m.title, m.author, m.url, created, stamp,
                     m.language, m.author_reach, m.engagement, json.dumps(m.metrics), s.label, s.polarity, s.scorer,
                     json.dumps(list(s.terms)), _RAW_JSON(m.raw) if raw else "{}", m.lang, m.lang_confidence))
        if safety and sm.safety is not None:
            flags.append((key, sm.safety.level, json.dumps(list(sm.safety.cues)), sm.safety.reason, stamp))
        start = floor_bucket(m.created_at)
        bucket = bucket_of.get(start)
        if bucket is None:
            bucket = bucket_of[start] = iso(start)
        neg, pos = s.label == "negative", s.label == "positive"
        for brand in sm.brands:
            links.append((brand, created, key, s.label, m.platform))
            b = buckets.get((brand, bucket, m.platform))
            if b is None:
                b = buckets[(brand, bucket, m.platform)] = [0, 0, 0, 0.0]
            b[0] += 1
            b[1] += neg
            b[2] += pos
            b[3] += s.polarity
    c.executemany(_INSERT_MENTIONS, rows)
    if flags:
        c.executemany(_INSERT_FLAGS, flags)
    c.executemany(_INSERT_LINKS, links)
    c.executemany(_ADD_BUCKETS, [(*k, *v) for k, v in buckets.items()])
    return len(rows)


def _dead(r: sqlite3.Row) -> DeadLetter:
    return DeadLetter(key=r["key"], listener=r["listener"], stage=r["stage"], reason=r["reason"],
                      payload=r["payload"], id=r["id"], first_at=_maybe_time(r["first_at"]),
                      last_at=_maybe_time(r["last_at"]), attempts=r["attempts"],
                      resolved_at=_maybe_time(r["resolved_at"]), resolution=r["resolution"])


def _odd_globs() -> tuple[str, ...]:
    """GLOB patterns for texts the FTS5 tokenizer may split or fold unlike bot.query: letters
    beyond ASCII (accents, other scripts, full-width, mathematical letters; NFKC and casefold
    change them), and invisible characters or variation selectors next to a word character."""
    letters = [(0x00A0, 0x02FF), (0x0300, 0x1FFF), (0x2070, 0x209F), (0x2100, 0x218F), (0x2460, 0x24FF),
               (0x2C00, 0x2DFF), (0x2E80, 0xD7FF), (0xF900, 0xFDFF), (0xFE20, 0xFFEF), (0x10000, 0x1EFFF),
               (0x20000, 0x3FFFF), (0xE0000, 0xE0FFF)]
    invisible = [(0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0xFE00, 0xFE0F)]

    def cls(ranges: list[tuple[int, int]]) -> str:
        return "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]"

    word = "[A-Za-z0-9_#@]"
    return (f"*{cls(letters)}*", f"*{word}{cls(invisible)}*", f"*{cls(invisible)}{word}*")


_ODD_GLOBS = _odd_globs()
# Beyond ASCII (a character of more than one byte: UTF-8 length against character count; a
# NUL, which length() stops at, counts too) or an underscore in a text or title, or beyond
# ASCII in an author: see link_rows(unusual=True).
_UNUSUAL = " OR ".join(
    [f"length(CAST(m.{c} AS BLOB)) != length(m.{c}) OR instr(m.{c}, '_') > 0" for c in ("text", "title")]
    + ["length(CAST(m.author AS BLOB)) != length(m.author)"])


# What windows read: everything but the raw platform payload, which only exports need.
_LIGHT = ", ".join(f"m.{c}" for c in (
    "key", "platform", "native_id", "kind", "text", "title", "author", "url", "created_at", "language",
    "author_reach", "engagement", "metrics", "label", "polarity", "scorer", "terms"))


def _insert_notice(c: sqlite3.Connection, alert: Alert, notifiers: Sequence[str], stamp: str) -> int:
    cur = c.execute(
        "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, updated_at,"
        " resolved_at, payload) VALUES (?,?,?,?,?,?,'notice',?,?,?,?)",
        (alert.fingerprint, alert.rule, alert.brand, alert.kind, alert.severity, alert.channel,
         stamp, stamp, stamp, "{}"),
    )
    alert_id = int(cur.lastrowid or 0)
    stored = _with_id(alert, alert_id).to_json()
    c.execute("UPDATE alerts SET payload = ? WHERE id = ?", (stored, alert_id))
    for notifier in notifiers:
        c.execute("INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at, action)"
                  " VALUES (?,?,?,?,?,?,'notice')", (alert_id, notifier, alert.channel, stored, stamp, stamp))
    return alert_id


def _follow_up(c: sqlite3.Connection, alert_id: int, action: str, update_id: int | None, now: datetime,
               payload: str | None = None) -> None:
    """Queue an update or resolution for every notifier the alert itself went (or goes) to:
    follow-ups belong where the first message is."""
    stamp = iso(now)
    c.execute(
        "INSERT INTO outbox(alert_id, notifier, channel, payload, next_attempt_at, created_at, action, update_id)"
        " SELECT alert_id, notifier, channel, COALESCE(?, payload), ?, ?, ?, ? FROM outbox"
        " WHERE alert_id = ? AND action IN ('alert', 'digest') AND status != 'dead' GROUP BY notifier",
        (payload, stamp, stamp, action, update_id, alert_id))


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only: it holds people's posts."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def _linked(columns: str, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
            platforms: Sequence[str] | None = None) -> tuple[str, list]:
    """SELECT `columns` over a brand's links in [start, end) (`b`), joined to their mentions
    (`m`), of one sentiment and some platforms when given: the window every read here shares."""
    sql = (f"SELECT {columns} FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
           " WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?")
    args: list = [brand, iso(start), iso(end)]
    if sentiment:
        sql += " AND b.label = ?"
        args.append(sentiment)
    return _platform_filter(sql, args, platforms, "b.platform")


def _platform_filter(sql: str, args: list, platforms: Sequence[str] | None, column: str) -> tuple[str, list]:
    if not platforms:
        return sql, args
    return sql + f" AND {column} IN ({','.join('?' * len(platforms))})", args + list(platforms)


def _mention_filters(sql: str, args: list, brand: str | None, since: datetime | None,
                     until: datetime | None) -> tuple[str, list]:
    if since:
        sql += " AND m.created_at >= ?"
        args = args + [iso(since)]
    if until:
        sql += " AND m.created_at < ?"
        args = args + [iso(until)]
    if brand:
        sql += " AND EXISTS (SELECT 1 FROM mention_brands b WHERE b.mention_key = m.key AND b.brand = ?)"
        args = args + [brand]
    return sql, args


@lru_cache(maxsize=65536)
def _bucket_time(text: str) -> datetime:
    """Bucket starts repeat across every evaluation; parse each one once."""
    return parse_iso(text)


def _maybe_time(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def _maybe_iso(dt: datetime | None) -> str | None:
    return iso(dt) if dt else None


def _scored(row: sqlite3.Row, brands: tuple[str, ...]) -> ScoredMention:
    names = row.keys()
    mention = Mention(
        platform=row["platform"], id=row["native_id"], text=row["text"], author=row["author"] or "",
        url=row["url"] or "", created_at=parse_iso(row["created_at"]), author_reach=row["author_reach"] or 0,
        engagement=row["engagement"] or 0, language=row["language"], title=row["title"] or "",
        kind=row["kind"] or "post", metrics=json.loads(row["metrics"] or "{}"),
        raw=json.loads(row["raw"] or "{}") if "raw" in names else {},
        lang=row["lang"] if "lang" in names else None,
        lang_confidence=row["lang_confidence"] if "lang" in names else None,
    )
    score = Score(row["label"], row["polarity"], row["scorer"], tuple(json.loads(row["terms"] or "[]")))
    return ScoredMention(mention, brands, score)


def _with_id(alert: Alert, alert_id: int) -> Alert:
    from dataclasses import replace

    return replace(alert, id=alert_id)


def _with_state(alert: Alert, state: str) -> Alert:
    from dataclasses import replace

    return replace(alert, state=state)


Store = SQLiteStore  # the name every caller and test has used since session 1
