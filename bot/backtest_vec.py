"""The vectorised backtest replay: per rule and group, every step at once.

The step-by-step replay (bot/backtest.py `replay_steps`) runs each rule's check at every step
of the simulated clock: 20 rules over 30 days of 5-minute steps are a quarter of a million
Python checks. Here a kind's `vector(options, frame)` (bot/kinds/vectors.py) answers for all
steps of one group in a few numpy operations, and the alert state machine (the same
`decide()`) runs only over what matters:

* the steps where the condition holds (the trigger array), in order;
* between them, the quiet runs, handled in one go: a pending state clears on the first quiet
  step, a firing one starts resolving there and resolves at the first step `resolve_after`
  later (a search in the clock), every other quiet step is counted without a call;
* the real `check` only where the Vector says it cannot decide (`confirm`: a distinct-authors
  guard, a seasonal baseline, new terms) and where an alert is raised (its Trigger feeds
  `explain`, as in the step replay).

Every decision the step replay would make is counted (reasons), and the alerts, their
peaks, updates and resolutions come out identical, in the same order. A kind without a
`vector` falls back to the step replay for its rules, and so does a rule whose vector
disagrees with the real check where both are asked (the backtest notes it); `how` says which
path each rule took.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import numpy as np

from bot.decide import decide, new_alert
from bot.kinds import KINDS
from bot.kinds.base import Context, Group
from bot.kinds.vectors import Frame, Steps, micros
from bot.models import Brand


class Disagree(Exception):
    """A vector said the condition holds where the real check says it does not (a bug in the
    vector): the rule is replayed step by step instead."""


@dataclass
class RulePlan:
    """How one rule is replayed, and what it cost."""

    rule: Any
    how: str
    checks: int = 0  # real checks run
    groups: int = 0


def vectorisable(rule: Any) -> bool:
    return hasattr(KINDS[rule.kind], "vector")


def replay_rule(rule: Any, brands: Mapping[str, Brand], history: Any, steps: Steps, explain: bool,
                result: Any, alert_type: Any, cache: dict) -> RulePlan:
    """Replay one rule over every step into `result` (a RuleResult); raises Disagree."""
    module = KINDS[rule.kind]
    plan = RulePlan(rule, "")
    alerts: list[tuple[int, int, Any]] = []
    first: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}

    def count(reason: str, n: int, at: tuple[int, int]) -> None:
        if n <= 0:
            return
        counts[reason] = counts.get(reason, 0) + n
        if reason not in first or at < first[reason]:
            first[reason] = at

    hows = set()
    for g, (group, brand, platforms, present) in enumerate(_groups(rule, brands, history, steps)):
        plan.groups += 1
        frame = Frame(history, steps, brand, platforms, group, cache)
        vector = module.vector(rule.options, frame)
        hows.add(vector.how)
        _walk(rule, group, brand, platforms, frame, vector, present, g, history, steps, explain, plan, count,
              alerts, alert_type)
    plan.how = " / ".join(sorted(hows)) or "vectorised"
    alerts.sort(key=lambda item: (item[0], item[1]))
    result.alerts.extend(entry for _k, _g, entry in alerts)
    result.reasons.update({r: counts[r] for r in sorted(counts, key=lambda r: first[r])})
    return plan


def _groups(rule: Any, brands: Mapping[str, Brand], history: Any, steps: Steps):
    """(group, brand, platforms, first step it exists at), in the order `evaluate` visits them."""
    if "listener" not in rule.group_by:
        from bot.pipeline import groups_of

        for group, brand, platforms in groups_of(rule, brands, history, steps.now(0)):
            yield group, brand, platforms, 0
        return
    names = getattr(rule.options, "listeners", None)
    if names:
        for name in names:
            yield Group(listener=name), None, None, 0
        return
    history.listener_activity()  # without a list, a listener is a group once it has stored something
    for name, times in sorted((history.ingests or {}).items()):
        if times:
            yield Group(listener=name), None, None, int(np.searchsorted(steps.now_s, times[0], "left"))


def _walk(rule: Any, group: Group, brand: Any, platforms: Any, frame: Frame, vector: Any, present: int, g: int,
          history: Any, steps: Steps, explain: bool, plan: RulePlan, count: Any, alerts: list, alert_type: Any) -> None:
    """The state machine of one group over the trigger array (see the module docstring)."""
    from bot.pipeline import _finding

    K = steps.count
    holds = np.asarray(vector.holds, dtype=bool).copy()
    observed = vector.observed.tolist() if isinstance(vector.observed, np.ndarray) else \
        (list(vector.observed) if vector.observed is not None else [None] * K)
    triggers: dict[int, Any] = {}
    key = group.key

    def ctx_at(k: int) -> Context:
        return Context(brand, steps.now(k), history, platforms, group)

    def real(k: int) -> Any:
        if k not in triggers:
            plan.checks += 1
            triggers[k] = rule.check(ctx_at(k))
        return triggers[k]

    def quiet(k: int) -> None:
        """A quiet step where the state changes: the real check must not hold there either."""
        if real(k) is not None:
            raise Disagree(f"rule {rule.name}: the vector is quiet at {steps.now(k)} for {key}, the check holds")

    if vector.confirm is not None:
        for k in np.flatnonzero(vector.confirm).tolist():
            trigger = real(k)
            holds[k] = trigger is not None
            if trigger is not None:
                observed[k] = trigger.observed
    holds[:present] = False
    true = np.flatnonzero(holds).tolist()
    resolve_us = micros(rule.resolve_after)
    state, level, entry = None, None, None
    reported = None  # when the open alert last reported (fired or updated): update_every counts from it
    k = present
    for t in true + [K]:
        if t > k:  # a quiet run [k, t)
            k, state, level, entry = _quiet(rule, key, state, level, entry, k, t, g, steps, resolve_us, count, quiet)
        if t == K:
            break
        now = steps.now(t)
        trigger_value = observed[t]
        firing = state is not None and state.state == "firing" and state.alert_id is not None
        decision = decide(rule, key, state, True, now, observed=trigger_value, level=level if firing else None,
                          reported_at=reported if firing else None, worse=rule.worse)
        count(decision.reason, 1, (t, g))
        if entry is not None:
            entry.peak = max(entry.peak, trigger_value)
        if decision.reason == "worse" and entry is not None:
            entry.updates += 1
        state = decision.state
        if decision.changed:  # where the state changes the real check must agree, number and type
            trigger = real(t)
            if trigger is None or type(trigger.observed) is not type(trigger_value) or \
                    trigger.observed != trigger_value:
                raise Disagree(f"rule {rule.name}: the vector holds at {now} for {key} with {trigger_value!r}, "
                               f"the check says {trigger.observed if trigger is not None else None!r}")
        if decision.new:
            trigger = real(t)
            finding = _finding(rule, ctx_at(t), trigger, explain)
            alert = new_alert(rule, key, finding, now, brand=group.brand or "")
            state = _with_alert(state)
            level, reported = alert.finding.observed, now
            entry = alert_type(alert.rule, alert.finding.group, alert.fired_at, alert.finding.title,
                               alert.finding.observed, alert.finding.observed)
            alerts.append((t, g, entry))
        elif decision.update:
            level, reported = trigger_value, now  # an update's level is its trigger's number (explain_updates=False)
        k = t + 1


def _quiet(rule: Any, key: str, state: Any, level: Any, entry: Any, k: int, t: int, g: int, steps: Steps,
           resolve_us: int, count: Any, verify: Any):
    """Steps [k, t) where the condition does not hold: what decide() says at each, without
    calling it at every one; `verify(k)` at each step where the state changes."""
    if state is None or state.state not in ("pending", "firing"):
        count("quiet", t - k, (k, g))
        return t, state, level, entry
    verify(k)
    if state.state == "pending":
        decision = decide(rule, key, state, False, steps.now(k))
        count(decision.reason, 1, (k, g))
        count("quiet", t - k - 1, (k + 1, g))
        return t, decision.state, level, entry
    if state.false_since is None:
        decision = decide(rule, key, state, False, steps.now(k))  # "resolving"
        count(decision.reason, 1, (k, g))
        state, k = decision.state, k + 1
        if k >= t:
            return t, state, level, entry
    # firing and resolving: "still-firing" until resolve_after has passed since false_since
    since_us = micros(state.false_since - _epoch0())
    j = max(k, int(np.searchsorted(steps.now_us, since_us + resolve_us, "left")))
    if j >= t:
        count("still-firing", t - k, (k, g))
        return t, state, level, entry
    count("still-firing", j - k, (k, g))
    verify(j)
    decision = decide(rule, key, state, False, steps.now(j))
    assert decision.reason == "resolved", decision.reason
    count("resolved", 1, (j, g))
    if entry is not None:
        entry.resolved_at = steps.now(j)
    count("quiet", t - j - 1, (j + 1, g))
    return t, decision.state, None, None


_ALERT_IDS = iter(range(1, 1 << 62))


def _with_alert(state: Any) -> Any:
    """A firing state carries its alert's id (MemBook numbers them; only its presence matters)."""
    return replace(state, alert_id=next(_ALERT_IDS))


def _epoch0() -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


def steps_between(since: datetime, until: datetime, every: timedelta) -> int:
    """How many steps run_backtest takes: now = since + every, ... while now <= until."""
    if until < since + every:
        return 0
    return (until - since) // every
