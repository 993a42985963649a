"""The alert state machine, pure: given a rule's state and this evaluation's finding, what
happens next, and why (a named reason that logs, tests and backtests can show).

    inactive --finding--> firing   (a new alert, unless the cooldown since the last one holds)
    firing   --finding--> firing   (the same event: no new alert)
    firing   --quiet for resolve_after--> inactive (the alert resolves)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from bot.models import Alert, Finding, iso
from bot.rules import Rule
from bot.store import RuleState


@dataclass(frozen=True)
class Decision:
    state: RuleState
    reason: str  # new, cooldown, still-firing, firing-again, resolving, resolved, quiet
    resolve: int | None = None  # the id of an alert that resolves now

    @property
    def new(self) -> bool:
        return self.reason == "new"

    @property
    def changed(self) -> bool:
        return self.reason not in ("still-firing", "quiet")


def fingerprint(rule: str, group: str) -> str:
    return hashlib.sha1(f"{rule}\x00{group}".encode()).hexdigest()[:16]


def decide(rule: Rule, group: str, state: RuleState | None, holds: bool, now: datetime) -> Decision:
    """The next state of one rule for one group, given whether its condition holds now."""
    key = fingerprint(rule.name, group)
    state = state or RuleState(key, rule.name, group, "inactive", None, None, None, None)
    if holds:
        if state.state == "firing":
            reason = "still-firing" if state.false_since is None else "firing-again"
            return Decision(replace(state, false_since=None), reason)
        if state.last_fired_at is not None and now - state.last_fired_at < rule.cooldown:
            return Decision(state, "cooldown")
        return Decision(replace(state, state="firing", since=now, false_since=None, last_fired_at=now), "new")
    if state.state != "firing":
        return Decision(state, "quiet")
    if state.false_since is None:
        return Decision(replace(state, false_since=now), "resolving")
    if now - state.false_since < rule.resolve_after:
        return Decision(state, "still-firing")
    return Decision(replace(state, state="inactive", since=None, false_since=None), "resolved", state.alert_id)


def new_alert(rule: Rule, group: str, finding: Finding, now: datetime) -> Alert:
    return Alert(id=None, fingerprint=fingerprint(rule.name, group), rule=rule.name, kind=rule.kind,
                 severity=rule.severity, brand=group, channel=rule.channel, fired_at=now, finding=finding,
                 search=search_command(group, finding))


def search_command(brand: str, finding: Finding) -> str:
    return (f"harkbot search --brand {brand} --since {iso(finding.window_start)} "
            f"--until {iso(finding.window_end)}")
