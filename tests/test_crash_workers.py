"""Crash safety of the scale-out mode, the small version of bench/crash_workers.py: three real
`harkbot worker` processes on PostgreSQL drain the fake X, Reddit and YouTube into the fake Slack
while one of them is SIGKILLed eight times (in a poll, between Slack's OK and the row marked sent,
in a slow Slack request, in an evaluation, at start-up, anywhere) and restarted; after a clean
drain nothing is lost or doubled and each Slack channel kept its order.

Most of the time is the drain waiting for the killed workers' jobs (and their procrastinate
locks) to come back: `recover` takes the jobs of workers silent for 30 s, and its cron defers it
once a minute, which made this test take 90-125 s. The drain here also defers `recover` every
5 s (the same task, run by the workers), so jobs come back about 30 s after their worker's last
heartbeat; the aims that leave jobs behind come first and the start-up kill, which leaves
nothing, last. bench/crash_workers.py waits for the cron as a deployment does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.pg import pg_dsn  # noqa: F401 - fixture

pytest.importorskip("procrastinate", reason="the postgres extra: pip install 'harkbot[postgres]'")

BENCH = Path(__file__).resolve().parent.parent / "bench" / "crash_workers.py"
AIMS = ["evaluation", "slack-posted", "poll", "slack-slow", "poll", "slack-posted", "anywhere", "start-up"]


def _bench():
    spec = importlib.util.spec_from_file_location("harkbot_bench_crash_workers", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_three_workers_sigkilled_eight_times_lose_and_double_nothing(tmp_path, pg_dsn):
    bench = _bench()
    result = bench.run(len(AIMS), seed=5, dsn=pg_dsn, workdir=tmp_path, aims=AIMS, warm_up=5.0,
                       gap=(0.3, 1.0), drain_timeout=180, recover_every=5.0)
    v = result.verdict
    summary = (f"{[(k.aim, k.landed, k.claimed_open, k.posted_unmarked) for k in result.kills]}\n"
               + "\n".join(v.details + result.raised_twice + result.order.details + result.bursts.details))
    assert len(result.kills) == len(AIMS) and result.workers_started == 3 + len(AIMS), summary
    assert result.drained, summary
    assert (result.lost_mentions, result.duplicate_mentions) == (0, 0), summary
    assert (result.lost_alerts, result.doubled_alerts) == (0, 0), summary
    assert result.order.out_of_order == 0, summary
    assert result.exit_codes == [0, 0, 0], summary
    # Not an empty run: all three platforms fed, stored, alerted and posted.
    assert v.served > 100 and v.stored == v.served, summary
    assert v.alerts >= 3 and v.safety_alerts >= 1 and v.messages_expected >= 3, summary
    assert result.order.top_level >= 3, summary
    # The kills hit workers at work, not only idle ones.
    assert any(k.landed != "between jobs" for k in result.kills), summary
