from __future__ import annotations

from datetime import timedelta

from bot.decide import decide, fingerprint
from bot.kinds.volume_spike import Options
from bot.rules import Rule
from tests.helpers import T0

RULE = Rule("crisis", "", ("mindful",), None, "critical", "crisis", timedelta(hours=2), timedelta(minutes=30),
            "volume_spike", Options(), "rules/crisis.yaml", 1)
STEP = timedelta(minutes=5)


def run(pattern: str) -> list[str]:
    """Feed a pattern of evaluations ('1' holds, '0' does not) and collect the reasons."""
    state, reasons = None, []
    for i, c in enumerate(pattern):
        d = decide(RULE, "mindful", state, c == "1", T0 + i * STEP)
        state, reasons = d.state, reasons + [d.reason]
    return reasons


def test_one_event_is_one_alert_then_resolves():
    reasons = run("0111" + "0" * 8)
    assert reasons[:4] == ["quiet", "new", "still-firing", "still-firing"]
    assert reasons[4] == "resolving"
    assert reasons.index("resolved") == 10  # 30 minutes after the condition stopped holding
    assert reasons.count("new") == 1


def test_flapping_within_resolve_after_stays_one_alert():
    assert run("1010101").count("new") == 1


def test_cooldown_holds_back_a_refire_and_then_lets_it_through():
    reasons = run("1" + "0" * 7 + "1" * 20)
    assert reasons.count("resolved") == 1
    assert "cooldown" in reasons
    refire = reasons.index("new", 1)
    assert refire * STEP >= RULE.cooldown


def test_resolution_names_the_alert_and_fingerprint_is_stable():
    d = decide(RULE, "mindful", None, True, T0)
    from dataclasses import replace

    firing = replace(d.state, alert_id=42, false_since=T0)
    resolved = decide(RULE, "mindful", firing, False, T0 + timedelta(hours=1))
    assert (resolved.reason, resolved.resolve) == ("resolved", 42)
    assert fingerprint("crisis", "mindful") == d.state.fingerprint != fingerprint("crisis", "haven")
