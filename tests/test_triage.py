"""bot/triage.py, pure: event validation, the state events add up to, per-rule stats and the Wilson bound."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.store.records import Silence
from bot.triage import TriageError, TriageEvent, check_event, rule_stats, state_of, wilson_lower

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def ev(i, alert, kind, at, actor="ann", **kw):
    return TriageEvent(i, alert, kind, actor, at, **kw)


def test_wilson_lower_bound_matches_the_published_formula():
    assert wilson_lower(0, 0) is None
    assert wilson_lower(8, 10) == pytest.approx(0.4902, abs=1e-4)  # Wilson 1927, z=1.96
    assert wilson_lower(0, 5) == 0.0
    assert wilson_lower(50, 100) == pytest.approx(0.4038, abs=1e-4)


def test_invalid_events_are_refused_with_every_problem():
    with pytest.raises(TriageError) as exc:
        check_event("verdict", verdict="meh", reason="bored", source="fax", actor=" ")
    assert exc.value.reason == "invalid"
    for word in ("verdict 'meh'", "reason 'bored'", "source 'fax'", "actor"):
        assert word in str(exc.value)
    with pytest.raises(TriageError):
        check_event("close", reason="whatever", actor="ann")
    check_event("close", reason="false-positive:spam", actor="ann")


def test_state_keeps_first_ack_latest_verdict_and_reopen_undoes_close():
    events = [ev(1, 7, "ack", T0, "ann"), ev(2, 7, "ack", T0 + timedelta(minutes=5), "bob"),
              ev(3, 7, "verdict", T0, verdict="noise", reason="spam"), ev(4, 7, "verdict", T0, "bob", verdict="useful"),
              ev(5, 7, "close", T0, reason="duplicate"), ev(6, 7, "reopen", T0), ev(7, 8, "close", T0, reason="resolved")]
    s = state_of(7, reversed(events))
    assert (s.acked_by, s.acked_at, s.verdict, s.verdict_by, s.closed) == ("ann", T0, "useful", "bob", None)
    assert s.label == "acked by ann, useful"


def test_rule_stats_on_a_seeded_history():
    def row(i, rule, fired_min, resolved_min=None, sent=True):
        fired = T0 + timedelta(minutes=fired_min)
        return {"id": i, "rule": rule, "brand": "acme", "fired_at": fired.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "resolved_at": (T0 + timedelta(minutes=resolved_min)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if resolved_min is not None else None, "deliveries": {"sent": 1} if sent else {"pending": 1}}
    alerts = [row(1, "spike", 0), row(2, "spike", 60, resolved_min=63), row(3, "spike", 120, sent=False),
              row(4, "quiet", 0)]
    events = [ev(1, 1, "ack", T0 + timedelta(minutes=4)), ev(2, 2, "ack", T0 + timedelta(minutes=70)),
              ev(3, 1, "verdict", T0, verdict="useful"), ev(4, 2, "verdict", T0, verdict="noise"),
              ev(5, 3, "verdict", T0, verdict="useful"), ev(6, 2, "close", T0, reason="false-positive:rule")]
    silence = Silence(1, "spike", None, T0, T0 + timedelta(hours=4), "noisy", "ann",
                      T0 + timedelta(minutes=130), None)  # 10 minutes after alert 3 fired
    stats = {s.rule: s for s in rule_stats(alerts, events, [silence], evaluate_every=timedelta(minutes=5))}
    spike = stats["spike"]
    assert (spike.fired, spike.sent, spike.acked, spike.useful, spike.noise) == (3, 2, 2, 2, 1)
    assert spike.median_ack == timedelta(minutes=7)  # 4 and 10 minutes
    assert spike.precision == pytest.approx(2 / 3) and spike.precision_low == pytest.approx(wilson_lower(2, 3))
    assert (spike.silenced_soon, spike.resolved_soon, spike.closed) == (1, 1, {"false-positive:rule": 1})
    assert stats["quiet"].precision is None and stats["quiet"].median_ack is None
