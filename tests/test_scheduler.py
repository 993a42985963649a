"""`harkbot run` as a user runs it: a real process, a real scheduler, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bot.store import Store

CONFIG = """
database: live.db
rules: rules
evaluate_every: 5m
brands:
  mindful: {name: Mindful Health, query: '"mindful health" OR mindfulhealth OR "mindful app"'}
  theranow: {name: TheraNow, kind: competitor, query: theranow}
  haven: {name: Haven Therapy, kind: competitor, query: '"haven therapy" OR haventherapy'}
listeners:
  demo: {every: 1h, days: 2}
  twitter: {every: 5m}
"""


def test_run_polls_enabled_listeners_and_stops_cleanly_on_sigterm(tmp_path, repo):
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "rules").mkdir()
    env = {**os.environ, "X_BEARER_TOKEN": "", "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": ""}
    log = (tmp_path / "run.log").open("w")  # a file, not a pipe: a full pipe would block the daemon
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.yaml"), "run"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (tmp_path / "live.db").exists():
                store = Store(tmp_path / "live.db")
                polled = store.cursor("demo")
                store.close()
                if polled:
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert proc.returncode == 0, output
    flat = " ".join(output.split())
    assert "twitter: skipped, set X_BEARER_TOKEN to enable it" in flat
    assert "demo: fetched" in flat and "shutting down" in flat
    store = Store(tmp_path / "live.db")
    assert store.count("mentions") > 1000
    store.close()


# -- shutdown with a poll stuck on a slow request; the outbox flushed on the way out ----------

STUCK_CONFIG = """
database: live.db
rules: rules
evaluate_every: 5m
brands:
  mindful: {{name: Mindful Health, query: '"mindful health" OR mindfulhealth'}}
listeners:
  twitter: {{every: 5m, base_url: '{url}', timeout: 120}}
"""


def _daemon(tmp_path, config: str, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, object]:
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "rules").mkdir(exist_ok=True)
    env = {**os.environ, "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": "", **(env or {})}
    log = (tmp_path / "run.log").open("w")  # a file, not a pipe: a full pipe would block the daemon
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.yaml"), *args, "run"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, log


def _wait(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _notice(now):
    from bot.models import Alert, Finding

    finding = Finding(group="ops", title="Flush me on the way out", reason="a test notice", observed=1.0, usual=0.0,
                      window_start=now, window_end=now)
    return Alert(id=None, fingerprint="test:flush", rule="test-flush", kind="notice", severity="warning", brand="",
                 channel=None, fired_at=now, finding=finding)


def test_sigterm_exits_0_within_10s_while_a_poll_hangs_and_flushes_the_outbox(tmp_path):
    from datetime import datetime, timezone

    from tests.fakes.x import FakeX

    with FakeX(token="test-bearer") as x:
        x.add_post("mindful health helped me", author="ana")
        x.delay_next(5, seconds=60)  # every request of the first walk hangs far past the 10 s
        proc, log = _daemon(tmp_path, STUCK_CONFIG.format(url=x.url), env={"X_BEARER_TOKEN": "test-bearer"})
        try:
            _wait(lambda: x.searches())  # the poll is now stuck in its first request
            time.sleep(0.5)
            # An alert arrives in the outbox while the single worker is stuck: only the shutdown flush can send it.
            store = Store(tmp_path / "live.db")
            store.record_notice(_notice(datetime.now(timezone.utc)), ["console"], datetime.now(timezone.utc))
            store.close()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    output = (tmp_path / "run.log").read_text()
    assert proc.returncode == 0, output
    assert took < 10, f"took {took:.1f}s\n{output}"
    flat = " ".join(output.split())
    assert "still running" in flat and "outbox flushed, sent 1" in flat, output
    assert "Flush me on the way out" in flat
    store = Store(tmp_path / "live.db")
    assert store.outbox_counts().get("sent") == 1 and not store.outbox_counts().get("pending")
    store.close()


def test_start_up_delivers_what_a_previous_run_left_in_the_outbox(tmp_path, repo):
    from datetime import datetime, timezone

    (tmp_path / "rules").mkdir()
    store = Store(tmp_path / "live.db")  # a previous run's alert, never sent
    store.record_notice(_notice(datetime.now(timezone.utc)), ["console"], datetime.now(timezone.utc))
    store.close()
    proc, log = _daemon(tmp_path, CONFIG.replace("  twitter: {every: 5m}\n", ""))
    try:
        def sent() -> bool:
            s = Store(tmp_path / "live.db")
            try:
                return s.outbox_counts().get("sent") == 1
            finally:
                s.close()

        _wait(sent, 30)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()


def test_jobs_one_worker_coalesced_single_instance_evaluation_never_dropped(tmp_path):
    from bot.config import load_config

    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "rules").mkdir()
    config = load_config(tmp_path / "config.yaml")
    from bot import scheduler
    from listeners.demo import DemoListener

    demo = DemoListener.from_config(config.listeners["demo"], {})
    store = Store(":memory:")
    daemon = scheduler.build([demo], config, [], None, store, {})
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {"send", "poll:demo", "evaluate", "purge"}
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["evaluate"].misfire_grace_time is None and jobs["send"].misfire_grace_time is None
    assert jobs["poll:demo"].misfire_grace_time == 3600 and jobs["poll:demo"].trigger.jitter == 30
    assert jobs["send"].trigger.interval.total_seconds() == scheduler.SEND_EVERY
    assert jobs["purge"].trigger.interval.days == 1
    # the sender runs first at start-up: it reconciles what a previous run left half-sent
    assert min(jobs.values(), key=lambda j: j.next_run_time).id == "send"
    assert daemon.scheduler._executors["default"]._pool._max_workers == 1  # one writer
