"""The alert state machine, pure: given a rule's state for one group and this evaluation's
answer, what happens next, and why (a named reason that logs, tests and backtests show).

    inactive --holds-->                 pending   (reason "pending", when the rule has `for`)
    pending  --holds, not yet `for`-->  pending   ("still-pending")
    pending  --quiet-->                 inactive  ("pending-cleared")
    inactive/pending --holds `for`-->   firing    ("new": one alert; "cooldown" while the last
                                                   alert for this group is younger than cooldown)
    firing   --holds-->                 firing    ("still-firing"; "firing-again" after a quiet
                                                   spell shorter than resolve_after; "worse"
                                                   when the kind says it got worse by worse_by
                                                   since the last report, at most once per
                                                   update_every: an update)
    firing   --quiet-->                 firing    ("resolving", then "still-firing")
    firing   --quiet resolve_after-->   resolved  ("resolved": the alert is marked resolved)
    resolved behaves as inactive; "quiet" is nothing happening.

A rule and group have one fingerprint, so one event is one alert that is updated while it
worsens and then resolved.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from bot.models import Alert, Finding, iso
from bot.rules import Rule
from bot.store import RuleState

REASONS = ("new", "pending", "still-pending", "pending-cleared", "cooldown", "still-firing", "firing-again",
           "worse", "resolving", "resolved", "quiet")
CHANGED = frozenset({"new", "pending", "pending-cleared", "firing-again", "worse", "resolving", "resolved"})


@dataclass(frozen=True)
class Decision:
    state: RuleState
    reason: str  # one of REASONS
    resolve: int | None = None  # the id of an alert that resolves now
    observed: float | None = None  # what the check saw, when the condition holds

    @property
    def new(self) -> bool:
        return self.reason == "new"

    @property
    def update(self) -> bool:
        return self.reason == "worse"

    @property
    def changed(self) -> bool:
        """Whether the state must be saved."""
        return self.reason in CHANGED


@functools.lru_cache(maxsize=65536)
def fingerprint(rule: str, group: str) -> str:
    return hashlib.sha1(f"{rule}\x00{group}".encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=65536)
def _inactive(rule: str, group: str) -> RuleState:
    """A group never seen: one shared frozen state (most checks of a backtest land here)."""
    return RuleState(fingerprint(rule, group), rule, group, "inactive", None, None, None, None)


def decide(rule: Rule, group: str, state: RuleState | None, holds: bool, now: datetime, *,
           observed: float | None = None, level: float | None = None, reported_at: datetime | None = None,
           worse: Callable[[float | None, float], bool] | None = None) -> Decision:
    """The next state of one rule for one group, given whether its condition holds now.

    `observed` is the check's number; `level` what the open alert last reported, at
    `reported_at`; `worse(level, observed)` says whether that is an update worth sending
    (default: never). Within the rule's `update_every` of the last report nothing is news: a
    channel hears of a worsening alert at most once per that spell, and each update is
    measured against what the channel was last told, not against the previous check.
    """
    state = state or _inactive(rule.name, group)
    hold_for = getattr(rule, "for_", None)
    if holds:
        if state.state == "firing":
            if worse is not None and observed is not None and _may_update(rule, reported_at, now) \
                    and worse(level, observed):
                return Decision(replace(state, false_since=None), "worse", observed=observed)
            reason = "still-firing" if state.false_since is None else "firing-again"
            return Decision(replace(state, false_since=None), reason, observed=observed)
        if hold_for:
            if state.state != "pending":
                return Decision(replace(state, state="pending", since=now, false_since=None), "pending",
                                observed=observed)
            if now - state.since < hold_for:
                return Decision(state, "still-pending", observed=observed)
        if state.last_fired_at is not None and now - state.last_fired_at < rule.cooldown:
            return Decision(state, "cooldown", observed=observed)
        return Decision(replace(state, state="firing", since=now, false_since=None, last_fired_at=now), "new",
                        observed=observed)
    if state.state == "pending":
        return Decision(replace(state, state="inactive", since=None, false_since=None), "pending-cleared")
    if state.state != "firing":
        return Decision(state, "quiet")
    if state.false_since is None:
        return Decision(replace(state, false_since=now), "resolving")
    if now - state.false_since < rule.resolve_after:
        return Decision(state, "still-firing")
    return Decision(replace(state, state="resolved", since=None, false_since=None), "resolved", state.alert_id)


def _may_update(rule: Rule, reported_at: datetime | None, now: datetime) -> bool:
    every = getattr(rule, "update_every", None)
    return not every or reported_at is None or now - reported_at >= every


def new_alert(rule: Rule, group: str, finding: Finding, now: datetime, brand: str | None = None) -> Alert:
    brand = group if brand is None else brand
    return Alert(id=None, fingerprint=fingerprint(rule.name, group), rule=rule.name, kind=rule.kind,
                 severity=rule.severity, brand=brand, channel=rule.channel, fired_at=now, finding=finding,
                 search=search_command(brand, finding))


def search_command(brand: str, finding: Finding) -> str:
    where = f"--brand {brand} " if brand else ""
    return f"harkbot search {where}--since {iso(finding.window_start)} --until {iso(finding.window_end)}"
