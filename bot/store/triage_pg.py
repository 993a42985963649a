"""The PostgreSQL backend's part of the triage loop (#16): the twin of triage_sqlite.SQLiteTriage,
with the same rows in and out. PostgresStore inherits this; methods here use self._tx() and
self._read() (see PostgresStore's docstring).

Several processes may record at once (a Slack worker beside the CLI): the alert row is
key-share locked while its event goes in (a purge cannot take it meanwhile), and a `ref` seen
twice is settled by the UNIQUE constraint, not by a read before the write."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from bot.store import triage_audit as ta
from bot.triage import LabelEvent, TriageEvent

_EVENT = "id, alert_id, kind, actor, at, verdict, reason, note, source, ref"
_LABEL = "id, mention_key, label, previous, scorer, actor, at"


class PostgresTriage:
    """Mixed into PostgresStore: methods here may use self._tx() and self._read()."""

    def record_triage(self, alert_id: int, kind: str, actor: str, now: datetime, *, verdict: str | None = None,
                      reason: str | None = None, note: str | None = None, source: str = "cli",
                      ref: str | None = None) -> TriageEvent:
        """See SQLiteTriage.record_triage: the same checks, rows and errors."""
        from bot.store.pg_reads import _insert_audit
        from bot.store.postgres import _txt

        actor, note = ta.checked(kind, actor, verdict=verdict, reason=reason, note=note, source=source)
        actor, note, ref = _txt(actor), _txt(note), _txt(ref)
        at = ta.stamp(now)
        if not ta.plausible_id(alert_id):
            raise ta.unknown_alert(alert_id)
        with self._tx() as c:
            if c.execute("SELECT 1 FROM alerts WHERE id = %s FOR KEY SHARE", (alert_id,)).fetchone() is None:
                raise ta.unknown_alert(alert_id)
            row = c.execute("INSERT INTO triage_events(alert_id, kind, actor, at, verdict, reason, note, source, ref)"
                            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (ref) DO NOTHING RETURNING id",
                            (alert_id, kind, actor, at, verdict, reason, note, source, ref)).fetchone()
            if row is None:
                raise ta.replayed(str(ref))
            event = TriageEvent(int(row[0]), alert_id, kind, str(actor), at, verdict, reason, note, source, ref)
            _insert_audit(c, ta.event_audit(event))
        return event

    def triage_events(self, alert_ids: Sequence[int] | None = None, since: datetime | None = None) -> list[TriageEvent]:
        sql, args = f"SELECT {_EVENT} FROM triage_events WHERE true", []
        if since is not None:
            sql, args = sql + " AND at >= %s", [since]
        if alert_ids is not None:
            sql, args = sql + " AND alert_id = ANY(%s)", args + [[int(i) for i in alert_ids]]
        return [_event(r) for r in self._rows(sql + " ORDER BY id", args)]

    def record_label(self, mention_key: str, label: str, actor: str, now: datetime) -> LabelEvent:
        """See SQLiteTriage.record_label."""
        from bot.store.pg_reads import _insert_audit
        from bot.store.postgres import _txt

        actor, key = str(_txt(ta.check_label(label, actor))), str(_txt(mention_key))
        at = ta.stamp(now)
        salt = self.audit_salt()
        with self._tx() as c:
            row = c.execute("SELECT label, scorer FROM mentions WHERE key = %s FOR KEY SHARE",
                            (key,)).fetchone()
            if row is None:
                raise ta.unknown_mention(mention_key)
            previous, scorer = row[0], row[1] or None
            label_id = c.execute("INSERT INTO labels(mention_key, label, previous, scorer, actor, at)"
                                 " VALUES (%s,%s,%s,%s,%s,%s) RETURNING id",
                                 (key, label, previous, scorer, actor, at)).fetchone()[0]
            _insert_audit(c, ta.label_audit(salt, key, label, previous, actor, at))
        return LabelEvent(int(label_id), key, label, previous, scorer, actor, at)

    def labels(self, since: datetime | None = None) -> list[LabelEvent]:
        from bot.store.postgres import _dt

        sql, args = f"SELECT {_LABEL} FROM labels", []
        if since is not None:
            sql, args = sql + " WHERE at >= %s", [since]
        return [LabelEvent(int(r[0]), r[1], r[2], r[3], r[4], r[5], _dt(r[6])) for r in self._rows(sql + " ORDER BY id", args)]


def _event(r: Sequence) -> TriageEvent:
    from bot.store.postgres import _dt

    return TriageEvent(int(r[0]), int(r[1]), r[2], r[3], _dt(r[4]), r[5], r[6], r[7], r[8], r[9])
