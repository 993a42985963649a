"""Retention and erasure: the purge of old mentions and alerts, `forget` for data-subject
requests, and the audit table that records both.

The policy is here (what goes, in which batches, what is redacted and how it is audited); the
SQL is the store's (protocol Retention, bot/store/protocols.py), on SQLite and PostgreSQL
alike. Each batch of deletes is one transaction of its own, so the daemon's (or a worker's)
other jobs wait at most one batch.

What goes, and what stays:
- A purged or forgotten mention leaves `mentions`, its full-text index (SQLite's FTS triggers
  follow deletes on the table; PostgreSQL's tsvector is a column of the row) and
  `mention_brands`. The 5-minute `buckets` stay: they are
  counts without content, and the rules' baselines need them.
- `forget` also redacts the mention's copies inside stored alerts, alert updates and outbox
  payloads (an alert is a record we keep; the post quoted in it is not).
- An alert older than `alerts_days` goes with its updates, outbox rows and message
  references, unless it is still firing, still has a delivery waiting, or is the alert of
  a self-harm flag whose mention is still kept (the flag goes with the mention, then the alert).
- Dead letters (posts set aside because they could not be stored, bot/store/deadletters.py)
  hold post text too: the purge drops a listener's letters last seen before its cutoff, and
  `forget` every letter, open or resolved, whose post it erases.
- The audit row never holds what was forgotten: the subject is an HMAC-SHA256 of the request
  (keyed by a random salt kept in the database's meta table), so an operator who is given the
  handle again can show the request was carried out, while the table itself lists no one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from bot.store.protocols import Database as Store  # the protocols Retention and Meta, on either backend

BATCH = 500  # rows per transaction: the daemon's other jobs wait at most one batch
REMOVED_TEXT = "[removed on request]"
FORGOTTEN = "[forgotten]"


@dataclass(frozen=True)
class PurgeResult:
    mentions: dict[str, int] = field(default_factory=dict)  # listener -> mentions deleted (or due, dry run)
    alerts: int = 0
    complete: bool = True  # False: the time budget ran out; the rest is for the next run
    dry_run: bool = False
    dead_letters: int = 0  # posts set aside, past their listener's retention

    @property
    def total(self) -> int:
        return sum(self.mentions.values()) + self.alerts + self.dead_letters


@dataclass(frozen=True)
class ForgetResult:
    what: str  # "author" or "mention"
    mentions: int = 0
    brand_links: int = 0
    alerts: int = 0  # alerts whose payload quoted the subject (redacted)
    alert_updates: int = 0
    outbox: int = 0
    dry_run: bool = False
    keys: tuple[str, ...] = ()  # the mention keys deleted (or that would be), for the operator
    dead_letters: int = 0  # posts set aside (never stored) that held the subject

    @property
    def rows(self) -> int:
        return self.mentions + self.brand_links + self.alerts + self.alert_updates + self.outbox + self.dead_letters

    def counts(self) -> dict[str, int]:
        return {"mentions": self.mentions, "mention_brands": self.brand_links, "alerts": self.alerts,
                "alert_updates": self.alert_updates, "outbox": self.outbox, "dead_letters": self.dead_letters}


# -- purge ----------------------------------------------------------------------------------


def purge(store: Store, days: Mapping[str, int | None], alerts_days: int | None, now: datetime, *,
          dry_run: bool = False, budget: float | None = None, actor: str | None = None) -> PurgeResult:
    """Delete mentions older than their listener's retention, and old alerts, in batches.

    `days` maps a listener name to days kept (None: forever). `budget` (seconds) stops after
    the batch that crosses it, so a daemon job never holds the writer for long; the result
    says whether it finished. A run that deleted anything is recorded in the audit table.
    """
    started = time.monotonic()
    out: dict[str, int] = {}
    complete = True
    letters = 0
    for listener, kept in sorted(days.items()):
        if kept is None:
            continue
        cutoff = now - timedelta(days=kept)
        if dry_run:
            n = store.expired_count(listener, cutoff)
            if n:
                out[listener] = n
            letters += sum(1 for d in store.dead_letters(listener=listener, everything=True, limit=10**9)
                           if d.last_at is not None and d.last_at < cutoff)
            continue
        letters += store.purge_dead_letters(cutoff, listener)  # few rows: one statement
        while True:
            keys = store.expired_keys(listener, cutoff, BATCH)
            if not keys:
                break
            store.delete_mentions(keys)  # one transaction per batch
            out[listener] = out.get(listener, 0) + len(keys)
            if budget is not None and time.monotonic() - started > budget:
                complete = False
                break
        if not complete:
            break
    alerts = 0
    if alerts_days is not None and complete:
        alerts, complete = _purge_alerts(store, now - timedelta(days=alerts_days), dry_run,
                                         None if budget is None else budget - (time.monotonic() - started))
    result = PurgeResult(out, alerts, complete, dry_run, letters)
    if result.total and not dry_run:
        record(store, "purge", None, result.total, {**{f"mentions:{k}": v for k, v in out.items()},
                                                    "alerts": alerts, "dead_letters": letters}, now, actor)
    return result


def _purge_alerts(store: Store, cutoff: datetime, dry_run: bool, budget: float | None) -> tuple[int, bool]:
    if dry_run:
        return store.old_alert_count(cutoff), True
    started = time.monotonic()
    deleted = 0
    while True:
        ids = store.old_alert_ids(cutoff, BATCH)
        if not ids:
            return deleted, True
        store.delete_alerts(ids)  # one transaction per batch
        deleted += len(ids)
        if budget is not None and time.monotonic() - started > budget:
            return deleted, False


# -- forget -----------------------------------------------------------------------------------


def handle_of(text: str) -> str:
    """How a handle is compared: without a leading @ or u/, case-insensitive."""
    text = text.strip()
    text = re.sub(r"^(@|u/|/u/)", "", text)
    return text.casefold()


def forget_author(store: Store, handle: str, now: datetime, *, platform: str | None = None,
                  dry_run: bool = False, actor: str | None = None, note: str | None = None) -> ForgetResult:
    """Erase one author: their mentions everywhere, their posts quoted in alerts and outbox
    payloads, and their handle wherever an alert's text names it. `platform` narrows it to one
    platform (x, reddit, youtube); by default a handle is forgotten on every platform."""
    wanted = handle_of(handle)
    if not wanted:
        raise ValueError("the handle is empty")
    # Compared as handle_of compares (casefold, not SQL's lower()); a scan, but forget is rare.
    keys = store.author_mention_keys(wanted, handle_of, platform)

    def quoted(post: Mapping[str, Any]) -> bool:
        return handle_of(str(post.get("author") or "")) == wanted and (not platform or post.get("platform") == platform)

    # The handle as a whole word anywhere in an alert's text (titles and facts name authors):
    # a common word that is also the handle is blanked too, the lesser harm.
    pattern = re.compile(rf"(?<![\w@])@?{re.escape(wanted)}(?!\w)", re.I)

    def theirs(m: Any) -> bool:  # a dead letter's mention
        return handle_of(m.author or "") == wanted and (not platform or m.platform == platform)

    return _forget("author", store, keys, quoted, pattern, now, dry_run, actor, note,
                   subject=f"author:{platform or '*'}:{wanted}", letters=theirs)


def forget_mention(store: Store, ident: str, now: datetime, *, dry_run: bool = False,
                   actor: str | None = None, note: str | None = None) -> ForgetResult:
    """Erase one mention, by its key (`x:123`, `platform:native_id`): its rows, and its copies
    quoted in alerts and outbox payloads (matched by platform and URL, or platform and text)."""
    ident = ident.strip()
    row = store.stored_mention(ident)
    if row is None and ":" in ident:
        platform, native = ident.split(":", 1)
        row = store.stored_mention(platform=platform, native_id=native)
    if row is None:
        if ":" not in ident:
            raise ValueError(f"no stored mention has the key {ident!r}; write it as platform:id (x:1790...)")
        # Gone from the table already (purged, or forgotten once): still clean the alerts' copies.
        platform, native = ident.split(":", 1)
        keys: list[str] = []
        url = text = None
        author = ""
    else:
        platform, native, keys = row["platform"], row["native_id"], [row["key"]]
        url, text, author = row["url"] or None, row["text"], row["author"] or ""
    full = None
    if row is not None:
        full = f"{row['title']}\n\n{row['text']}" if row["title"] else row["text"]

    def quoted(post: Mapping[str, Any]) -> bool:
        if post.get("platform") != platform:
            return False
        if post.get("url"):
            if url:
                return post.get("url") == url
            # Without the stored row, the URL is the only trace: platforms put the id in it.
            return bool(native) and re.search(rf"(?<![0-9A-Za-z_-]){re.escape(native)}(?![0-9A-Za-z_-])",
                                              str(post.get("url"))) is not None
        # No URL to go by: the same text by the same author (two people may post the same words).
        return (full is not None and post.get("text") in (full, text)
                and handle_of(str(post.get("author") or "")) == handle_of(author))

    # A notifier's payload (Block Kit) may carry the post's link outside a post object.
    pattern = re.compile(re.escape(url)) if url else None

    def this_one(m: Any) -> bool:  # a dead letter's mention
        return m.platform == platform and str(m.id) == native

    return _forget("mention", store, keys, quoted, pattern, now, dry_run, actor, note,
                   subject=f"mention:{platform}:{native}", letters=this_one)


def _forget(what: str, store: Store, keys: list[str], quoted, pattern: re.Pattern | None, now: datetime,
            dry_run: bool, actor: str | None, note: str | None, subject: str, letters) -> ForgetResult:
    from bot.store.deadletters import matches

    links = sum(store.count_links(keys[i:i + BATCH]) for i in range(0, len(keys), BATCH))
    alert_rows = _redactions(store, "alerts", quoted, pattern)
    update_rows = _redactions(store, "alert_updates", quoted, pattern)
    outbox_rows = _redactions(store, "outbox", quoted, pattern)
    if dry_run:
        dead = sum(1 for d in store.dead_letters(everything=True, limit=10**9) if matches(letters, d.payload))
    else:
        dead = store.forget_dead_letters(letters)
    result = ForgetResult(what, len(keys), links, len(alert_rows), len(update_rows), len(outbox_rows),
                          dry_run, tuple(keys), dead)
    if dry_run:
        return result
    for i in range(0, len(keys), BATCH):
        store.delete_mentions(keys[i:i + BATCH])  # one transaction per batch
    store.redact(alert_rows, update_rows, outbox_rows,
                 _audit_row(store, f"forget-{what}", subject, result.rows, result.counts(), now, actor, note))
    return result


def _redactions(store: Store, table: str, quoted, pattern: re.Pattern | None) -> list[tuple[int, str]]:
    """(row id, redacted payload) for every payload that quotes the subject; the others untouched."""
    out = []
    for row_id, payload in store.payloads(table):
        try:
            data = json.loads(payload)
        except (TypeError, ValueError):
            continue
        cleaned, changed = redact_payload(data, quoted, pattern)
        if changed:
            out.append((row_id, json.dumps(cleaned, ensure_ascii=False)))
    return out


def redact_payload(data: Any, quoted, pattern: re.Pattern | None = None) -> tuple[Any, bool]:
    """A payload (an Alert's JSON, or a notifier's) with each quoted post blanked, and with the
    pattern (a handle) replaced in every other string. Returns (new data, whether it changed)."""
    changed = False

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, dict):
            if _is_post(value) and quoted(value):
                changed = True
                return {**value, "author": FORGOTTEN, "text": REMOVED_TEXT, "url": "", "author_reach": 0}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and pattern is not None:
            new = pattern.sub(FORGOTTEN, value)
            if new != value:
                changed = True
            return new
        return value

    return walk(data), changed


def _is_post(value: Mapping[str, Any]) -> bool:
    return {"platform", "author", "text", "url"} <= value.keys()


# -- audit ------------------------------------------------------------------------------------


def record(store: Store, action: str, subject: str | None, rows: int, counts: Mapping[str, int],
           now: datetime, actor: str | None, note: str | None = None) -> None:
    store.add_audit(_audit_row(store, action, subject, rows, counts, now, actor, note))


def _audit_row(store: Store, action: str, subject: str | None, rows: int, counts: Mapping[str, int],
               now: datetime, actor: str | None, note: str | None) -> dict[str, Any]:
    return {"at": now, "action": action, "subject": subject_hash(store, subject) if subject else None, "rows": rows,
            "counts": json.dumps(dict(counts), sort_keys=True), "actor": actor, "note": note}


def subject_hash(store: Store, subject: str) -> str:
    """HMAC-SHA256 of the request under this database's salt (created on first use)."""
    return hmac.new(store.audit_salt().encode(), subject.encode(), hashlib.sha256).hexdigest()


def author_subject(handle: str, platform: str | None = None) -> str:
    """The subject an author request is recorded under (to check an audit row against a handle)."""
    return f"author:{platform or '*'}:{handle_of(handle)}"


def audit_rows(store: Store, limit: int = 100) -> list[dict]:
    return store.audit_rows(limit)


def was_forgotten(store: Store, subject: str) -> bool:
    """Whether an audit row records this subject (see author_subject)."""
    salt = store.get_meta("audit_salt")
    if salt is None:
        return False
    return store.audited(hmac.new(salt.encode(), subject.encode(), hashlib.sha256).hexdigest())


def retention_days(config: Any) -> tuple[dict[str, int | None], int | None]:
    """(listener -> days, alerts_days) from a Config's `retention:`."""
    model = config.model.retention
    days = {name: getattr(model, name) for name in type(model).model_fields if name != "alerts_days"}
    return days, model.alerts_days

