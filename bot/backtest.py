"""Backtests: replay stored history through the alert engine on a simulated clock.

The same kind code, the same `decide()` and the same `bot.pipeline.evaluate` as the daemon,
stepping every `evaluate_every` from `since` to `until`, against a MemHistory (the store's
history loaded once) and a MemBook (states in memory: the database is only read). For each
rule: how many alerts it would have sent, when, for which group, the value each one reported
and its peak while it fired, when it resolved, how many updates it would have sent, the
decision reasons counted, and alerts per day.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from bot.kinds import KINDS
from bot.memhistory import MemBook, MemHistory
from bot.models import BUCKET, Brand, floor_bucket, iso
from bot.pipeline import evaluate
from bot.rules import Rule
from bot.store import Store


@dataclass
class BacktestAlert:
    rule: str
    group: str
    fired_at: datetime
    title: str
    observed: float
    peak: float
    resolved_at: datetime | None = None
    updates: int = 0

    def as_dict(self) -> dict:
        return {"rule": self.rule, "group": self.group, "fired_at": iso(self.fired_at), "title": self.title,
                "observed": self.observed, "peak": self.peak,
                "resolved_at": iso(self.resolved_at) if self.resolved_at else None, "updates": self.updates}


@dataclass
class RuleResult:
    rule: str
    kind: str
    alerts: list[BacktestAlert] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def per_day(self, days: float) -> float:
        return len(self.alerts) / days if days > 0 else 0.0


@dataclass
class Backtest:
    start: datetime
    end: datetime
    steps: int
    every: timedelta
    results: list[RuleResult]
    load_seconds: float
    replay_seconds: float

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)

    def as_dict(self) -> dict:
        return {
            "since": iso(self.start), "until": iso(self.end), "steps": self.steps, "days": round(self.days, 3),
            "load_seconds": round(self.load_seconds, 3), "replay_seconds": round(self.replay_seconds, 3),
            "rules": [{"rule": r.rule, "kind": r.kind, "alerts": len(r.alerts),
                       "alerts_per_day": round(r.per_day(self.days), 3), "reasons": r.reasons, "note": r.note,
                       "fired": [a.as_dict() for a in r.alerts]} for r in self.results],
        }


def lookback(rules: Sequence[Rule]) -> timedelta:
    """How much history before `since` the rules read (their longest baseline or lookback)."""
    longest = timedelta(hours=25)
    for rule in rules:
        for name in ("baseline", "lookback"):
            value = getattr(rule.options, name, None)
            if isinstance(value, timedelta):
                longest = max(longest, value + getattr(rule.options, "window", timedelta(0)))
    return longest + timedelta(hours=1)


def run_backtest(store: Store, rules: Sequence[Rule], brands: Mapping[str, Brand], since: datetime,
                 until: datetime, *, every: timedelta = BUCKET, explain: bool = True) -> Backtest:
    """Replay [since, until) of the store through `rules`; the clock is clipped to the stored data."""
    began = time.perf_counter()
    span = store.mention_span()
    if span is not None:
        since = max(since, floor_bucket(span[0]))
        until = min(until, floor_bucket(span[1]) + BUCKET)
    since, until = floor_bucket(since), floor_bucket(until)
    history = MemHistory(store, since - lookback(rules), until)
    history.prepare(rules)
    loaded = time.perf_counter()
    book = MemBook()
    results = {rule.name: RuleResult(rule.name, rule.kind, note=_note(rule)) for rule in rules}
    open_alerts: dict[tuple[str, str], BacktestAlert] = {}

    def watch(rule: Rule, group: Any, decision: Any, trigger: Any) -> None:
        result = results[rule.name]
        result.reasons[decision.reason] = result.reasons.get(decision.reason, 0) + 1
        key = (rule.name, group.key)
        current = open_alerts.get(key)
        if current is not None and trigger is not None:
            current.peak = max(current.peak, trigger.observed)
        if decision.reason == "worse" and current is not None:
            current.updates += 1
        if decision.reason == "resolved" and current is not None:
            current.resolved_at = decision_time[0]
            del open_alerts[key]

    decision_time = [since]
    steps = 0
    logger = logging.getLogger("harkbot")
    level = logger.level
    logger.setLevel(logging.WARNING)  # one log line per step would drown the report
    try:
        now = since + every
        while now <= until:
            decision_time[0] = now
            evaluation = evaluate(rules, brands, history, book, now, (), watch=watch, explain=explain,
                                  explain_updates=False)  # an update's level is its trigger's number
            for alert in evaluation.alerts:
                entry = BacktestAlert(alert.rule, alert.finding.group, alert.fired_at, alert.finding.title,
                                      alert.finding.observed, alert.finding.observed)
                results[alert.rule].alerts.append(entry)
                open_alerts[(alert.rule, alert.finding.group)] = entry
            steps += 1
            now += every
    finally:
        logger.setLevel(level)
    done = time.perf_counter()
    return Backtest(since, until, steps, every, list(results.values()), loaded - began, done - loaded)


def _note(rule: Rule) -> str:
    return getattr(KINDS[rule.kind], "BACKTEST_NOTE", "")
