"""What both backends write beside a triage event or a corrected label: the check, the audit
row, and the one timestamp rule. Pure: no SQL here (triage_sqlite.py and triage_pg.py hold it).

The audit row says who did what to which alert, and when; never post text, and not the
person's note either (that stays with the event, and goes when the purge takes the alert). An
alert id names no one, so it is the subject as it is; a mention key names a post (and so its
author), so a label's subject is the HMAC under the audit salt, as `forget`'s subjects are
(bot/retention.py), but under a prefix of its own: a label is never mistaken for an erasure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from bot.models import utc
from bot.triage import LABELS, TriageError, TriageEvent, check_event


def stamp(now: datetime) -> datetime:
    """The time an event is stored at: aware UTC, whole seconds (what both backends keep)."""
    return utc(now).replace(microsecond=0)


def checked(kind: str, actor: str, *, verdict: str | None, reason: str | None, note: str | None,
            source: str) -> tuple[str, str | None]:
    """(actor, note) trimmed, once check_event has found nothing wrong (else TriageError('invalid'))."""
    actor = (actor or "").strip()
    note = (note or "").strip() or None
    check_event(kind, verdict=verdict, reason=reason, note=note, source=source, actor=actor)
    return actor, note


def check_label(label: str, actor: str) -> str:
    actor = (actor or "").strip()
    problems = []
    if label not in LABELS:
        problems.append(f"label {label!r} is not one of {', '.join(LABELS)}")
    if not actor:
        problems.append("who did it is required (actor)")
    if problems:
        raise TriageError("; ".join(problems), "invalid")
    return actor


def plausible_id(alert_id: object) -> bool:
    """An id either backend could hold (a forged Slack value may be anything)."""
    return isinstance(alert_id, int) and not isinstance(alert_id, bool) and 0 < alert_id < 2**63


def unknown_alert(alert_id: object) -> TriageError:
    return TriageError(f"no alert {alert_id}", "unknown")


def replayed(ref: str) -> TriageError:
    return TriageError(f"this action ({ref}) was recorded before; it is not recorded twice", "replayed")


def unknown_mention(key: str) -> TriageError:
    return TriageError(f"no stored mention {key!r}", "unknown")


def event_audit(e: TriageEvent) -> dict[str, Any]:
    """The audit row of a triage event (action `triage.<kind>`)."""
    parts = [p for p in (e.verdict, f"reason {e.reason}" if e.reason else None, f"via {e.source}",
                         "with a note" if e.note else None) if p]
    return {"at": e.at, "action": f"triage.{e.kind}", "subject": f"alert:{e.alert_id}", "rows": 1,
            "counts": json.dumps({"alert": e.alert_id}), "actor": e.actor, "note": "; ".join(parts)}


def label_audit(salt: str, key: str, label: str, previous: str | None, actor: str, at: datetime) -> dict[str, Any]:
    """The audit row of a corrected label (action `triage.label`): the mention as an HMAC."""
    subject = hmac.new(salt.encode(), f"label:{key}".encode(), hashlib.sha256).hexdigest()
    return {"at": at, "action": "triage.label", "subject": subject, "rows": 1, "counts": "{}", "actor": actor,
            "note": f"{label} (was {previous or 'unscored'})"}
