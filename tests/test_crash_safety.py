"""Crash safety, the small version of bench/crash.py: `harkbot run` is SIGKILLed five times while
it ingests from the fake X and Reddit and delivers to the fake Slack, including between Slack's
OK and the outbox row being marked sent; after a clean run nothing is lost and nothing doubled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "crash.py"


def _crash():
    spec = importlib.util.spec_from_file_location("harkbot_bench_crash", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_sigkill_at_five_moments_loses_and_doubles_nothing(tmp_path):
    crash = _crash()
    # Life 1 ingests and is killed in a poll; the rules are evaluated into the outbox (what
    # the daemon's evaluation job does, 30 s after start-up: too late for a test); then each
    # kill lands while Slack holds the reply to a post it already stored, or handles a slow
    # post after the kill, or in the start-up sender's reconciliation, or in another poll.
    aims = ["poll", "slack-posted", "slack-slow", "start-up", "slack-posted", "poll"]
    result = crash.run(len(aims), seed=11, workdir=tmp_path, rate=4.0, at_risk=0.15, aims=aims,
                       evaluate_before=frozenset({2, 5}), final_evaluation=False, final_timeout=30)
    v = result.verdict
    summary = (f"{[(t.aim, t.landed, t.claimed_open, t.posted_unmarked) for t in result.trials]}\n"
               + "\n".join(v.details))
    assert result.final_clean, summary
    assert (v.lost, v.doubled, v.unsent_rows) == (0, 0, 0), summary
    assert (v.missing, v.doubled_mentions) == (0, 0), summary
    assert v.served > 20 and v.stored == v.served, summary
    assert v.alerts >= 3 and v.messages_expected >= 3, summary
    # The kills landed where they were aimed: a message Slack stored was never marked sent.
    assert sum(t.posted_unmarked for t in result.trials) >= 1, summary
