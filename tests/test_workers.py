"""The scale-out mode on a real PostgreSQL: what a tick defers, the locks that keep a listener
from being polled twice or piling up, stalled-job recovery, and two real `harkbot worker`
processes draining the fake X, Reddit and Slack with every mention stored once and every
alert posted once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fakes.reddit import FakeReddit
from tests.fakes.slack import FakeSlack
from tests.fakes.x import FakeX
from tests.pg import pg_dsn  # noqa: F401 - fixture

procrastinate = pytest.importorskip("procrastinate", reason="the postgres extra: pip install 'harkbot[postgres]'")

from bot.store import open_store  # noqa: E402
from bot.workers import Runtime, ensure_schema, lane_name, make_app, plan_tick, recover_stalled  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = {"C0ALERTS": "alerts", "C0CRISIS": "crisis"}
CONFIG = """\
database: unused.db
rules: rules
evaluate_every: 2s
brands:
  acme: {{name: Acme Health, query: acme}}
  globex: {{name: Globex Care, kind: competitor, query: globex}}
listeners:
  twitter: {{base_url: "{x}", bearer_token: "${{X_BEARER_TOKEN}}", every: 2s, timeout: 5}}
  reddit: {{base_url: "{reddit}", every: 2s, timeout: 5s}}
slack:
  token: ${{SLACK_BOT_TOKEN}}
  base_url: "{slack}"
  channels: {{alerts: C0ALERTS, crisis: C0CRISIS}}
  default_channel: alerts
  pace: 0
safety: {{channel: crisis}}
"""
RULE = """\
name: refund-watch
description: Refund talk, per brand and platform
brands: [acme, globex]
group_by: [brand, platform]
cooldown: 1h
mention: {query: refund, window: 15m}
"""


@pytest.fixture
def world(tmp_path, pg_dsn):
    with FakeX(rate_limit=1_000_000) as x, FakeReddit() as reddit, FakeSlack(channels=CHANNELS) as slack:
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "refund.yaml").write_text(RULE)
        (tmp_path / "config.yaml").write_text(CONFIG.format(x=x.url, reddit=reddit.url, slack=slack.url))
        env = {**os.environ, "X_BEARER_TOKEN": x.token, "REDDIT_CLIENT_ID": reddit.client_id,
               "REDDIT_CLIENT_SECRET": reddit.client_secret, "SLACK_BOT_TOKEN": slack.token,
               "SLACK_WEBHOOK_URL": "", "HARKBOT_DATABASE_URL": pg_dsn, "PYTHONUNBUFFERED": "1"}
        yield x, reddit, slack, tmp_path, env


def _runtime(tmp_path, env, monkeypatch) -> Runtime:
    monkeypatch.setenv("HARKBOT_DATABASE_URL", env["HARKBOT_DATABASE_URL"])
    return Runtime(tmp_path / "config.yaml", env)


def test_a_tick_defers_what_is_due_once(world, monkeypatch):
    _x, _reddit, _slack, tmp_path, env = world
    runtime = _runtime(tmp_path, env, monkeypatch)
    now = datetime.now(timezone.utc)
    first = plan_tick(runtime, now)
    assert sorted(name for name, _ in first) == ["evaluate", "poll", "poll", "purge"]
    assert sorted(k["listener"] for name, k in first if name == "poll") == ["reddit", "twitter"]
    assert plan_tick(runtime, now + timedelta(seconds=1)) == []  # claimed until their period is over
    assert sorted(n for n, _ in plan_tick(runtime, now + timedelta(seconds=3))) == ["evaluate", "poll", "poll"]


def test_two_schedulers_racing_claim_each_job_once(world, monkeypatch):
    _x, _reddit, _slack, tmp_path, env = world
    a, b = _runtime(tmp_path, env, monkeypatch), _runtime(tmp_path, env, monkeypatch)
    now = datetime.now(timezone.utc)
    import threading

    got: list = []
    threads = [threading.Thread(target=lambda r=r: got.extend(plan_tick(r, now))) for r in (a, b)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(n for n, _ in got) == ["evaluate", "poll", "poll", "purge"]


def test_a_listener_never_piles_up_in_the_queue(pg_dsn):
    ensure_schema(pg_dsn)
    assert not ensure_schema(pg_dsn)  # the second start finds it
    app = make_app(pg_dsn)
    poll = app.harkbot_tasks["poll"]
    with app.open():
        poll.configure(lock="poll:twitter", queueing_lock="poll:twitter").defer(listener="twitter")
        with pytest.raises(procrastinate.exceptions.AlreadyEnqueued):
            poll.configure(lock="poll:twitter", queueing_lock="poll:twitter").defer(listener="twitter")
        poll.configure(lock="poll:reddit", queueing_lock="poll:reddit").defer(listener="reddit")
        jobs = app.job_manager.list_jobs()
    assert sorted(j.queueing_lock for j in jobs) == ["poll:reddit", "poll:twitter"]


def test_jobs_of_a_dead_worker_go_back_to_the_queue(pg_dsn):
    import psycopg

    ensure_schema(pg_dsn)
    app = make_app(pg_dsn)
    with app.open():
        app.harkbot_tasks["poll"].configure(lock="poll:x", queueing_lock="poll:x").defer(listener="x")
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        dead = c.execute("INSERT INTO procrastinate_workers(last_heartbeat) VALUES (now() - interval '5 minutes')"
                         " RETURNING id").fetchone()[0]
        c.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", (dead,))

    async def recover() -> int:
        async with app.open_async():
            return await recover_stalled(app)

    assert asyncio.run(recover()) == 1
    with psycopg.connect(pg_dsn) as c:
        assert c.execute("SELECT status FROM procrastinate_jobs").fetchall() == [("todo",)]


def test_lane_names_keep_notifier_and_channel_apart():
    assert lane_name("slack", "a:b") != lane_name("slack:a", "b")
    assert lane_name("slack", None) == 'send:["slack",null]'


def _worker(tmp_path: Path, env: dict, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.yaml"), "worker",
                             "--concurrency", "3", "--name", name], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.3)
    return predicate()


def test_two_workers_store_every_mention_once_and_post_every_alert_once(world):
    x, reddit, slack, tmp_path, env = world
    back = datetime.now(timezone.utc) - timedelta(minutes=6)  # inside a closed 5-minute bucket
    keys = set()
    for i in range(40):
        brand = ("acme", "globex")[i % 2]
        words = "still waiting on my refund" if i % 4 < 2 else "booked a session"
        keys.add("x:" + x.add_post(f"{brand} {words} ({i})", author=f"u{i}", created_at=back))
        keys.add("reddit:" + reddit.add_submission(f"{brand} {words} ({i})", "", author=f"r{i}",
                                                   subreddit="therapy", created_utc=back.timestamp()))
    workers = [_worker(tmp_path, env, f"w{i}") for i in range(2)]
    store = open_store(env["HARKBOT_DATABASE_URL"])
    try:
        def done() -> bool:
            return store.count("mentions") == len(keys) and store.outbox_counts() == {"sent": 4}
        assert _wait(done, 60), (store.count("mentions"), len(slack.top_level()), store.outbox_counts())
        time.sleep(4)  # two more ticks and evaluations: nothing more may be posted
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=30)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert store.count("mentions") == len(keys)
    # Four alerts (2 brands x 2 platforms) raised by one evaluation: one message per brand, each
    # posted exactly once, and nothing else.
    texts = [m.text for m in slack.top_level()]
    assert len(texts) == 2 and len(set(texts)) == 2, texts
    assert sorted("Acme" in t for t in texts) == [False, True]
    assert store.count("alerts") == 4 and store.outbox_counts() == {"sent": 4}
    holders = {lease.holder.split(":")[0] for lease in store.leases() if lease.name.startswith("poll:")}
    assert holders  # the polls ran under leases
    both = [o for o in outputs if "fetched" in o]
    assert both, outputs  # at least one worker polled (usually both share the work)
    store.close()


def test_every_worker_reloads_a_changed_config_and_keeps_the_last_good_one(world, monkeypatch):
    _x, _reddit, _slack, tmp_path, env = world
    runtime = _runtime(tmp_path, env, monkeypatch)
    assert set(runtime.listeners) == {"twitter", "reddit"}
    path = tmp_path / "config.yaml"
    text = path.read_text()
    path.write_text(text.replace('every: 2s, timeout: 5s}', 'every: 2s, timeout: 5s, enabled: false}'))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even within one tick
    runtime.refresh()
    assert set(runtime.listeners) == {"twitter"}
    assert "poll:reddit" not in runtime.periods()
    path.write_text("brands: [unclosed\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    runtime.refresh()  # a broken edit: logged, the last good config stays
    assert set(runtime.listeners) == {"twitter"}
