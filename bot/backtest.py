"""Backtests: replay stored history through the alert engine on a simulated clock.

The same kind code, the same `decide()` and the same `bot.pipeline.evaluate` as the daemon,
stepping every `evaluate_every` from `since` to `until`, against a MemHistory (the store's
history loaded once) and a MemBook (states in memory: the database is only read). By
default the replay is vectorised per rule (bot/backtest_vec.py), with the step-by-step
replay as the reference (`method="step"`) and the fallback. For each
rule: how many alerts it would have sent, when, for which group, the value each one reported
and its peak while it fired, when it resolved, how many updates it would have sent, the
decision reasons counted, and alerts per day.
"""

from __future__ import annotations

import gc
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
    paths: dict[str, str] = field(default_factory=dict)  # rule -> how it was replayed

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


METHODS = ("vector", "step")


def run_backtest(store: Store, rules: Sequence[Rule], brands: Mapping[str, Brand], since: datetime,
                 until: datetime, *, every: timedelta = BUCKET, explain: bool = True,
                 method: str = "vector") -> Backtest:
    """Replay [since, until) of the store through `rules`; the clock is clipped to the stored data.

    `method="vector"` (bot/backtest_vec.py) answers each rule for every step at once and runs
    the state machine over its trigger array; `method="step"` is the step-by-step replay
    through `bot.pipeline.evaluate` (the reference, and the fallback for kinds without a
    vectorised path). Both give the same alerts, decisions and order.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    began = time.perf_counter()
    span = store.mention_span()
    if span is not None:
        since = max(since, floor_bucket(span[0]))
        until = min(until, floor_bucket(span[1]) + BUCKET)
    since, until = floor_bucket(since), floor_bucket(until)
    collecting = gc.isenabled()
    # A million loaded rows and hundreds of thousands of evidence mentions are freed by their
    # reference counts; the collector's passes over them cost a tenth of the run (both methods)
    # and find next to nothing. Any cycle left is collected once it is back on.
    gc.disable()
    try:
        history = MemHistory(store, since - lookback(rules), until)
        history.prepare(rules)
    except BaseException:
        if collecting:
            gc.enable()
        raise
    loaded = time.perf_counter()
    logger = logging.getLogger("harkbot")
    level = logger.level
    logger.setLevel(logging.WARNING)  # one log line per step would drown the report
    try:
        if method == "step":
            results, steps = replay_steps(rules, brands, history, since, until, every, explain)
            paths = {rule.name: "step" for rule in rules}
        else:
            results, steps, paths = _replay_vector(rules, brands, history, since, until, every, explain)
    finally:
        logger.setLevel(level)
        if collecting:
            gc.enable()
    done = time.perf_counter()
    return Backtest(since, until, steps, every, results, loaded - began, done - loaded, paths)


def _replay_vector(rules: Sequence[Rule], brands: Mapping[str, Brand], history: MemHistory, since: datetime,
                   until: datetime, every: timedelta, explain: bool) -> tuple[list[RuleResult], int, dict[str, str]]:
    from bot.backtest_vec import Disagree, Steps, replay_rule, steps_between, vectorisable

    steps = Steps(since, every, steps_between(since, until, every))
    results: dict[str, RuleResult] = {}
    paths: dict[str, str] = {}
    fallback: list[Rule] = []
    cache: dict = {}
    for rule in rules:
        if not vectorisable(rule):
            fallback.append(rule)
            paths[rule.name] = "step (no vectorised path for this kind)"
            continue
        result = RuleResult(rule.name, rule.kind, note=_note(rule))
        try:
            plan = replay_rule(rule, brands, history, steps, explain, result, BacktestAlert, cache)
        except Disagree as exc:
            logging.getLogger("harkbot").warning("%s; replaying it step by step", exc)
            fallback.append(rule)
            paths[rule.name] = "step (the vector disagreed with the check)"
            continue
        results[rule.name] = result
        paths[rule.name] = f"{plan.how}, {plan.checks} real checks"
    if fallback:
        replayed, _steps = replay_steps(fallback, brands, history, since, until, every, explain)
        results.update({r.rule: r for r in replayed})
    return [results[rule.name] for rule in rules], steps.count, paths


def replay_steps(rules: Sequence[Rule], brands: Mapping[str, Brand], history: MemHistory, since: datetime,
                 until: datetime, every: timedelta, explain: bool) -> tuple[list[RuleResult], int]:
    """The step-by-step replay: `evaluate` at every step of the simulated clock, states in a MemBook."""
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
    return list(results.values()), steps


def _note(rule: Rule) -> str:
    return getattr(KINDS[rule.kind], "BACKTEST_NOTE", "")
