"""The SQLite backend's part of the triage loop (#16): triage events and corrected labels, the
`Triage` protocol (bot/store/protocols.py). SQLiteStore inherits this; postgres's twin is
triage_pg.PostgresTriage. Validation and the audit row are shared (triage_audit.py), so the
two backends refuse and record the same things."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from bot.models import iso, parse_iso
from bot.store import triage_audit as ta
from bot.triage import LabelEvent, TriageEvent

_EVENT = "id, alert_id, kind, actor, at, verdict, reason, note, source, ref"
_LABEL = "id, mention_key, label, previous, scorer, actor, at"


class SQLiteTriage:
    """Mixed into SQLiteStore: methods here may use self.conn and self._tx()."""

    def record_triage(self, alert_id: int, kind: str, actor: str, now: datetime, *, verdict: str | None = None,
                      reason: str | None = None, note: str | None = None, source: str = "cli",
                      ref: str | None = None) -> TriageEvent:
        """Record what a person said about an alert, with its audit row, in one transaction.
        Raises TriageError: 'invalid' (bot.triage.check_event), 'unknown' (no such alert),
        'replayed' (an event with this `ref` is stored already)."""
        from bot.store.sqlite_reads import _insert_audit

        actor, note = ta.checked(kind, actor, verdict=verdict, reason=reason, note=note, source=source)
        at = ta.stamp(now)
        if not ta.plausible_id(alert_id):
            raise ta.unknown_alert(alert_id)
        with self._tx() as c:  # BEGIN IMMEDIATE: nothing is written between these reads and the insert
            if c.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                raise ta.unknown_alert(alert_id)
            if ref is not None and c.execute("SELECT 1 FROM triage_events WHERE ref = ?", (ref,)).fetchone():
                raise ta.replayed(ref)
            cur = c.execute("INSERT INTO triage_events(alert_id, kind, actor, at, verdict, reason, note, source, ref)"
                            " VALUES (?,?,?,?,?,?,?,?,?)", (alert_id, kind, actor, iso(at), verdict, reason, note,
                                                            source, ref))
            event = TriageEvent(int(cur.lastrowid or 0), alert_id, kind, actor, at, verdict, reason, note, source, ref)
            _insert_audit(c, ta.event_audit(event))
        return event

    def triage_events(self, alert_ids: Sequence[int] | None = None, since: datetime | None = None) -> list[TriageEvent]:
        """Triage events in the order they were recorded: of these alerts, at or after `since`."""
        sql, args = f"SELECT {_EVENT} FROM triage_events WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND at >= ?", [iso(since)]
        if alert_ids is None:
            return [_event(r) for r in self.conn.execute(sql + " ORDER BY id", args)]
        ids = list(dict.fromkeys(int(i) for i in alert_ids))
        out: list[TriageEvent] = []
        for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[i:i + 500]
            out += [_event(r) for r in self.conn.execute(
                sql + f" AND alert_id IN ({','.join('?' * len(chunk))})", args + chunk)]
        return sorted(out, key=lambda e: e.id)

    def record_label(self, mention_key: str, label: str, actor: str, now: datetime) -> LabelEvent:
        """Record a corrected sentiment label for a stored mention, with its audit row, in one
        transaction. `previous` and `scorer` are what the mention was stored with (the stored
        label is not changed: the rules' history stays as the scorer saw it). Raises
        TriageError: 'invalid' (not a label, no actor), 'unknown' (no such mention)."""
        from bot.store.sqlite_reads import _insert_audit

        actor = ta.check_label(label, actor)
        at = ta.stamp(now)
        salt = self.audit_salt()  # its own transaction, so before ours
        with self._tx() as c:
            row = c.execute("SELECT label, scorer FROM mentions WHERE key = ?", (mention_key,)).fetchone()
            if row is None:
                raise ta.unknown_mention(mention_key)
            previous, scorer = row[0], row[1] or None
            cur = c.execute("INSERT INTO labels(mention_key, label, previous, scorer, actor, at) VALUES (?,?,?,?,?,?)",
                            (mention_key, label, previous, scorer, actor, iso(at)))
            _insert_audit(c, ta.label_audit(salt, mention_key, label, previous, actor, at))
        return LabelEvent(int(cur.lastrowid or 0), mention_key, label, previous, scorer, actor, at)

    def labels(self, since: datetime | None = None) -> list[LabelEvent]:
        """Corrected labels in the order they were recorded (at or after `since`)."""
        sql, args = f"SELECT {_LABEL} FROM labels", []
        if since is not None:
            sql, args = sql + " WHERE at >= ?", [iso(since)]
        return [LabelEvent(r[0], r[1], r[2], r[3], r[4], r[5], parse_iso(r[6]))
                for r in self.conn.execute(sql + " ORDER BY id", args)]


def _event(r: Sequence) -> TriageEvent:
    return TriageEvent(r[0], r[1], r[2], r[3], parse_iso(r[4]), r[5], r[6], r[7], r[8], r[9])
