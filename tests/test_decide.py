from __future__ import annotations

import dataclasses
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


PENDING = replace_rule = None


def _rule(**kw):
    from dataclasses import replace

    return replace(RULE, **kw)


def run_with(rule, pattern: str, observed=None) -> list[str]:
    """As the pipeline does: the level and time of the last report go back into decide."""
    state, reasons, level, reported = None, [], None, None
    for i, c in enumerate(pattern):
        value = observed[i] if observed else 1.0
        now = T0 + i * STEP
        d = decide(rule, "mindful", state, c == "1", now, observed=value, level=level, reported_at=reported,
                   worse=rule.worse)
        if d.reason in ("new", "worse"):
            level, reported = value, now
        state, reasons = d.state, reasons + [d.reason]
    return reasons


def test_for_makes_a_rule_pending_before_it_fires():
    rule = _rule(for_=timedelta(minutes=15))
    reasons = run_with(rule, "0111110")
    assert reasons[:6] == ["quiet", "pending", "still-pending", "still-pending", "new", "still-firing"]


def test_a_pending_condition_that_stops_clears_without_an_alert():
    rule = _rule(for_=timedelta(minutes=15))
    reasons = run_with(rule, "0110111100")
    assert reasons[:4] == ["quiet", "pending", "still-pending", "pending-cleared"]
    assert reasons.count("new") == 1 and reasons.index("new") == 7


def test_worse_is_an_update_of_the_same_alert():
    reasons = run_with(_rule(update_every=timedelta(0)), "11111", observed=[10, 12, 19, 21, 30])
    assert reasons == ["new", "still-firing", "still-firing", "worse", "still-firing"]  # 21 >= 2 x 10


def test_an_alert_that_keeps_worsening_updates_at_most_once_per_update_every():
    # Doubling at every 5-minute check for two hours: 24 worsenings, one update an hour.
    values = [10 * 2 ** i for i in range(25)]
    reasons = run_with(_rule(update_every=timedelta(hours=1)), "1" * 25, observed=values)
    worse = [i for i, r in enumerate(reasons) if r == "worse"]
    assert worse == [12, 24]  # 60 and 120 minutes after the alert, each against what was last told
    default = run_with(RULE, "1" * 25, observed=values)  # 30 minutes
    assert [i for i, r in enumerate(default) if r == "worse"] == [6, 12, 18, 24]
    assert reasons.count("new") == 1


def test_an_update_is_measured_against_the_last_report_not_the_last_check():
    # 10 at firing; 15, 19 within the hour are held back; at the hour 19 is not 2 x 10 yet, 21 is.
    values = [10, 15, 19] + [19] * 10 + [21]
    reasons = run_with(_rule(update_every=timedelta(hours=1)), "1" * len(values), observed=values)
    assert reasons.count("worse") == 1 and reasons[-1] == "worse"


def test_worse_by_sets_how_much_worse_is_news():
    values = [10, 14, 16]
    keen = _rule(update_every=timedelta(0), worse_by=1.5)
    assert run_with(keen, "111", observed=values) == ["new", "still-firing", "worse"]  # 16 >= 1.5 x 10
    assert "worse" not in run_with(_rule(update_every=timedelta(0)), "111", observed=values)


def test_a_shares_worse_by_is_in_points():
    from bot.kinds.negative_share import Options as ShareOptions

    share = _rule(kind="negative_share", options=ShareOptions(), update_every=timedelta(0))
    values = [0.40, 0.46, 0.50]
    assert run_with(share, "111", observed=values) == ["new", "still-firing", "worse"]  # ten points
    assert run_with(dataclasses.replace(share, worse_by=0.05), "111", observed=values)[1] == "worse"


def test_resolved_is_a_state_of_its_own_and_behaves_as_inactive():
    d = decide(RULE, "mindful", None, True, T0)
    from dataclasses import replace

    firing = replace(d.state, false_since=T0)
    resolved = decide(RULE, "mindful", firing, False, T0 + timedelta(hours=1))
    assert resolved.state.state == "resolved" and resolved.changed
    again = decide(RULE, "mindful", resolved.state, True, T0 + timedelta(hours=3))
    assert again.reason == "new"
