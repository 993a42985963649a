"""The alert triage loop, pure: what a person can say about an alert (ack, a verdict, a close
reason), the state those events add up to, and the per-rule figures `harkbot rules stats`
prints. No I/O here: the events come from the store (the `Triage` protocol,
bot/store/protocols.py), the clock from the caller.

Events are append-only. An alert's state is read from its events in order: the latest
verdict wins, a close can be followed by a reopen, an ack is kept once (the first one counts
for time to ack). Every event is also an audit row (action `triage.<kind>`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Iterable, Mapping, Sequence

from bot.errors import StoreError

KINDS = ("ack", "verdict", "close", "reopen")
VERDICTS = ("useful", "noise")
# Close reasons: Elastic / Sentinel split a wrong rule from wrong data; data has three causes.
CLOSE_REASONS = ("resolved", "false-positive:rule", "false-positive:wrong-brand", "false-positive:spam",
                 "false-positive:wrong-sentiment", "duplicate")
# Why an alert was noise (optional): the same causes as a false positive's.
NOISE_REASONS = ("rule", "wrong-brand", "spam", "wrong-sentiment", "duplicate", "other")
SOURCES = ("cli", "slack", "reaction")
LABELS = ("negative", "neutral", "positive")
NOTE_LIMIT = 2000
SILENCED_WITHIN = timedelta(minutes=15)


class TriageError(StoreError):
    """A triage event the store refuses: `.reason` is 'unknown' (no such alert or mention),
    'replayed' (this ref was recorded before) or 'invalid' (a value outside the lists above)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TriageEvent:
    id: int
    alert_id: int
    kind: str  # ack, verdict, close, reopen
    actor: str
    at: datetime
    verdict: str | None = None  # useful / noise, for a verdict
    reason: str | None = None  # a close reason, or why noise
    note: str | None = None
    source: str = "cli"  # cli, slack, reaction
    ref: str | None = None  # what makes it unique at its source (a Slack action's trigger), else None


@dataclass(frozen=True)
class LabelEvent:
    id: int
    mention_key: str
    label: str
    previous: str | None  # the scorer's label when it was corrected
    scorer: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class TriageState:
    alert_id: int
    acked_by: str | None = None
    acked_at: datetime | None = None
    verdict: str | None = None
    verdict_by: str | None = None
    verdict_reason: str | None = None
    closed: str | None = None  # the close reason while closed
    closed_by: str | None = None

    @property
    def label(self) -> str:
        """One short word or two for a table cell: 'acked', 'useful', 'closed: duplicate'."""
        parts = []
        if self.closed:
            parts.append(f"closed: {self.closed}")
        elif self.acked_by:
            parts.append(f"acked by {self.acked_by}")
        if self.verdict:
            parts.append(self.verdict + (f" ({self.verdict_reason})" if self.verdict_reason else ""))
        return ", ".join(parts) or "new"


def check_event(kind: str, *, verdict: str | None = None, reason: str | None = None, note: str | None = None,
                source: str = "cli", actor: str = "") -> None:
    """Raise TriageError('invalid') for a value outside the lists; the store calls this first."""
    problems = []
    if kind not in KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "verdict":
        if verdict not in VERDICTS:
            problems.append(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        if reason is not None and reason not in NOISE_REASONS:
            problems.append(f"reason {reason!r} is not one of {', '.join(NOISE_REASONS)}")
    elif verdict is not None:
        problems.append(f"a {kind} has no verdict")
    if kind == "close" and reason not in CLOSE_REASONS:
        problems.append(f"close reason {reason!r} is not one of {', '.join(CLOSE_REASONS)}")
    if source not in SOURCES:
        problems.append(f"source {source!r} is not one of {', '.join(SOURCES)}")
    if note is not None and len(note) > NOTE_LIMIT:
        problems.append(f"the note is {len(note)} characters; at most {NOTE_LIMIT}")
    if not actor.strip():
        problems.append("who did it is required (actor)")
    if problems:
        raise TriageError("; ".join(problems), "invalid")


def state_of(alert_id: int, events: Iterable[TriageEvent]) -> TriageState:
    """The state an alert's events add up to, read in id order."""
    s = TriageState(alert_id)
    for e in sorted(events, key=lambda e: e.id):
        if e.alert_id != alert_id:
            continue
        if e.kind == "ack" and s.acked_at is None:
            s = _replace(s, acked_by=e.actor, acked_at=e.at)
        elif e.kind == "verdict":
            s = _replace(s, verdict=e.verdict, verdict_by=e.actor, verdict_reason=e.reason)
        elif e.kind == "close":
            s = _replace(s, closed=e.reason, closed_by=e.actor)
        elif e.kind == "reopen":
            s = _replace(s, closed=None, closed_by=None)
    return s


def states(events: Iterable[TriageEvent]) -> dict[int, TriageState]:
    by_alert: dict[int, list[TriageEvent]] = {}
    for e in events:
        by_alert.setdefault(e.alert_id, []).append(e)
    return {a: state_of(a, evs) for a, evs in by_alert.items()}


def _replace(s: TriageState, **changes) -> TriageState:
    from dataclasses import replace

    return replace(s, **changes)


# -- rule stats ---------------------------------------------------------------------------


def wilson_lower(successes: int, n: int, z: float = 1.959963984540054) -> float | None:
    """The lower bound of the Wilson score interval (95% by default) for successes/n; None for n = 0."""
    if n == 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


@dataclass(frozen=True)
class RuleStats:
    rule: str
    fired: int
    sent: int
    acked: int
    median_ack: timedelta | None
    useful: int
    noise: int
    closed: dict[str, int]
    silenced_soon: int  # a silence covering it was created within 15 minutes of firing
    resolved_soon: int  # resolved within one evaluation interval

    @property
    def judged(self) -> int:
        return self.useful + self.noise

    @property
    def precision(self) -> float | None:
        return self.useful / self.judged if self.judged else None

    @property
    def precision_low(self) -> float | None:
        return wilson_lower(self.useful, self.judged)


def rule_stats(alerts: Sequence[Mapping], events: Iterable[TriageEvent], silences: Sequence, *,
               evaluate_every: timedelta) -> list[RuleStats]:
    """Per rule, from `alerts` (store.alert_rows dicts: id, rule, brand, fired_at and resolved_at as
    ISO text, deliveries), their triage events and the silences, sorted by rule name."""
    from bot.models import parse_iso

    st = states(events)
    grouped: dict[str, list[Mapping]] = {}
    for a in alerts:
        grouped.setdefault(a["rule"], []).append(a)
    out = []
    for rule, rows in sorted(grouped.items()):
        sent = acked = useful = noise = silenced = resolved = 0
        waits: list[timedelta] = []
        closed: dict[str, int] = {}
        for a in rows:
            fired = parse_iso(a["fired_at"])
            sent += 1 if a.get("deliveries", {}).get("sent") else 0
            s = st.get(a["id"])
            if s is not None:
                if s.acked_at is not None:
                    acked += 1
                    waits.append(max(s.acked_at - fired, timedelta(0)))
                useful += s.verdict == "useful"
                noise += s.verdict == "noise"
                if s.closed:
                    closed[s.closed] = closed.get(s.closed, 0) + 1
            if a.get("resolved_at") and parse_iso(a["resolved_at"]) - fired <= evaluate_every:
                resolved += 1
            if any(_covers(x, a, fired) for x in silences):
                silenced += 1
        out.append(RuleStats(rule, len(rows), sent, acked, median(waits) if waits else None, useful, noise,
                             closed, silenced, resolved))
    return out


def _covers(silence, alert: Mapping, fired: datetime) -> bool:
    return (silence.matches(alert["rule"], alert.get("brand"))
            and fired <= silence.created_at <= fired + SILENCED_WITHIN)

