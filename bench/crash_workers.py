"""Crash safety of the scale-out mode, measured: three `harkbot worker` processes on one
PostgreSQL drain the fake X, Reddit and YouTube into the fake Slack while a random worker is
SIGKILLed at random moments and restarted; after a clean drain, count what was lost or doubled.

    .venv/bin/python bench/crash_workers.py                 # 200 kills, about 12 minutes
    .venv/bin/python bench/crash_workers.py --kills 40 --seed 3 --dsn postgresql://...

The PostgreSQL is HARKBOT_TEST_DATABASE_URL, else --dsn, else the local default; the run gets
a schema of its own (every connection's search_path, as tests/pg.py does), dropped at the end.

What it reuses from bench/crash.py (imported, not copied): the World (fakes and feeder: four
brands, a fifth of the posts about refunds for a `mention` rule grouped by brand and platform
that fires, updates in the alert's thread and resolves; a few at-risk posts that each raise a
safety alert), the refund rule, and the checks (`crash.check`, pointed at PostgreSQL). Added here:
YouTube (videos and their comments, through the real googleapiclient), three workers instead
of one daemon, a second rule (recall-watch: a minute of "recall" posts on X at the start, 5-8
minutes back, so its alerts fire and resolve within minutes: the chat.update and the thread note
of a resolution under kills too), and the checks the cluster needs beyond the daemon's:
  order     per Slack channel, top-level messages appear in the order of their outbox rows
            (a message's key names its first row); per thread, replies in row order, each
            after its parent. One sender per lane (bot/workers.py) is what keeps this.
  bursts    every (brand, platform) whose refund posts the last evaluation of the drain
            certainly counted (created 5-10 minutes before it) has an alert: an alert that
            should have fired and never did is lost too.
  flags     every at-risk post stored is a safety alert (none left flagged, unalerted).

Each kill is aimed (in turn, shuffled), and the victim is the worker doing that thing, found
from outside: the pid in a lease's holder (host:pid:nonce) or the procrastinate worker id in
the worker's own log:
  start-up       the worker restarted last, 0.2-2 s after its spawn
  poll           the holder of the poll lease of the platform that just got a request
  slack-posted   Slack stored a message and holds its reply (`hold_reply_next`): the lane's
                 sender is killed between Slack's OK and the outbox row marked sent
  slack-slow     Slack delays a request and handles it after the kill (a client timeout)
  evaluation     the worker running the `evaluate` job
  anywhere       a random worker at a random time
An aim whose moment does not come within a few seconds (a lane or listener still held by a
killed worker: see below) kills a random worker that has finished starting instead; `landed` says what the victim was
doing when killed, as seen from outside.

A killed worker's jobs (and their procrastinate locks) go back to the queue by the `recover`
task (every minute, after 30 s without a heartbeat): during the kills the cluster is often
waiting on those, and the drain must wait for them. Its poll and lane leases are let go at
once by the next taker, because all three workers run on this host and bot/leases.py sees the
holder's pid is gone; across machines they would lapse after bot/leases.TTL (60 s), a path
(and the fencing of a zombie's late write) this bench does not exercise. The drain stops feeding, lets the workers run until every post
is stored, every flag alerted and the outbox empty, watches one more evaluation, then SIGTERMs
all three. Exit status 1 when any check fails. Not a test: tests/test_crash_workers.py is the
small version CI runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, installed or not

from tests.fakes.youtube import KEY, FakeYouTube  # noqa: E402
from tests.pg import with_schema  # noqa: E402


def _load_crash():
    """bench/crash.py as a private module: its checks read the database through its `connect`,
    which this copy points at PostgreSQL (the daemon bench's own module is left alone)."""
    spec = importlib.util.spec_from_file_location("harkbot_bench_crash_for_workers", ROOT / "bench" / "crash.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


crash = _load_crash()

from bot.decide import fingerprint  # noqa: E402
from bot.workers import lane_name as _lane  # noqa: E402


def lane_name(channel: str) -> str:
    return _lane("slack", channel)


UTC = timezone.utc
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKERS = 3
AIMS = ("start-up", "poll", "slack-posted", "slack-slow", "evaluation", "anywhere")
CHANNEL_NAMES = crash.CHANNELS  # id -> name
DEFAULT_CHANNEL = "alerts"
LISTENER_OF = {"x": "twitter", "reddit": "reddit", "youtube": "youtube"}
VIDEOS_MAX = 150  # below max_followed_videos, so every video's comments stay followed all run
EVALUATE_EVERY = 5.0
RECALL_FOR = 60.0  # seconds of recall posts at the start
RECALL = ["recall notice for the app", "they issued a recall", "is the recall real"]
RECALL_RULE = """\
name: recall-watch
description: A short recall scare that passes (bench/crash_workers.py)
brands: [initech, umbrella]
group_by: [brand, platform]
cooldown: 1m
resolve_after: 20s
mention: {query: recall, window: 5m}
"""

CONFIG = """\
database: unused.db
rules: rules
evaluate_every: {evaluate}s
brands:
{brands}
listeners:
  twitter: {{base_url: "{x}", bearer_token: "${{X_BEARER_TOKEN}}", every: 2s, timeout: 5}}
  reddit: {{base_url: "{reddit}", every: 2s, timeout: 5s}}
  youtube: {{base_url: "{youtube}", every: 4s, timeout: 5s, max_pages: 3, max_followed_videos: 200,
            daily_quota: 1000000000}}
slack:
  token: ${{SLACK_BOT_TOKEN}}
  base_url: "{slack}"
  channels: {{alerts: C0ALERTS, crisis: C0CRISIS}}
  default_channel: alerts
safety: {{channel: crisis}}
"""


# --------------------------------------------------------------------------- the world


class World(crash.World):
    """bench/crash.py's fakes and feeder, with YouTube: a new video now and then (its title names
    a brand), and comments on the newest ones, with the same mix of refund and at-risk words."""

    def __init__(self, rng: random.Random, rate: float, at_risk: float = 0.03, recall_for: float = RECALL_FOR):
        self.youtube: FakeYouTube | None = None  # the parent's request watcher starts before this is set
        super().__init__(rng, rate, at_risk)
        self.youtube = FakeYouTube(keys={KEY: 10**12}).start()
        self.videos: list[str] = []
        self.recall_until = time.monotonic() + recall_for

    def env(self) -> dict[str, str]:
        return {**super().env(), "YOUTUBE_API_KEY": KEY}

    def config(self) -> str:
        brands = "\n".join(f"  {key}: {{name: {name}, kind: {'competitor' if key == 'umbrella' else 'brand'}, "
                           f"query: {key}}}" for key, name in crash.BRANDS.items())
        return CONFIG.format(brands=brands, x=self.x.url, reddit=self.reddit.url, youtube=self.youtube.url,
                             slack=self.slack.url, evaluate=int(EVALUATE_EVERY))

    def post(self) -> None:
        super().post()
        rng, youtube = self.rng, self.youtube
        if time.monotonic() < self.recall_until and rng.random() < 0.3:
            # A short burst 5-8 minutes back: in a closed bucket at once, out of the rule's
            # 5-minute window at the next bucket boundary, so recall-watch fires and resolves.
            brand = rng.choice(["initech", "umbrella"])
            self._n += 1
            native = self.x.add_post(f"{brand} {rng.choice(RECALL)} (post {self._n})", author=f"user{rng.randrange(400)}",
                                     followers=rng.randrange(50, 5000),
                                     created_at=datetime.now(UTC) - timedelta(seconds=rng.uniform(300, 470)))
            with self._lock:
                self.added["x:" + native] = brand
                self.added_at["x:" + native] = time.time()
        roll = rng.random()
        if roll > 0.45 or youtube is None:
            return
        brand = rng.choice(list(crash.BRANDS))
        kind = rng.random()
        words = rng.choice(crash.AT_RISK if kind < self.at_risk else crash.REFUND if kind < 0.22 else crash.WORDS)
        self._n += 1
        now = datetime.now(UTC)
        if (roll < 0.1 or not self.videos) and len(self.videos) < VIDEOS_MAX:
            native = youtube.add_video(f"{brand} {words} (video {self._n})", "", published_at=now)
            self.videos.append(native)
        else:
            video = rng.choice(self.videos[-5:])
            native = youtube.add_comment(video, f"{brand} {words} (comment {self._n})",
                                         author=f"@viewer{rng.randrange(400)}", published_at=now)
        with self._lock:
            self.added["youtube:" + native] = brand
            self.added_at["youtube:" + native] = time.time()

    def api_requests(self) -> int:
        return super().api_requests() + (len(self.youtube.requests) if self.youtube is not None else 0)

    def requests_by_platform(self) -> dict[str, int]:
        return {"x": len(self.x.requests), "reddit": len(self.reddit.requests),
                "youtube": len(self.youtube.requests) if self.youtube is not None else 0}

    def close(self) -> None:
        super().close()
        if self.youtube is not None:
            self.youtube.stop()


# --------------------------------------------------------------------------- the database


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    """A DSN whose every connection sees a new, empty schema; dropped afterwards."""
    import psycopg

    schema = f"crash_workers_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(server, schema)
    finally:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _pg_connect(dsn):
    """What crash.check opens: read-only, committed reads, closed when the `with` ends."""
    import psycopg

    conn = psycopg.connect(str(dsn), autocommit=True)
    conn.read_only = True
    return conn


crash.connect = _pg_connect  # crash.check's SQL is plain enough for both databases


class Db:
    """One autocommit connection for what the bench looks at while the workers run."""

    def __init__(self, dsn: str):
        import psycopg

        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        try:
            return self.conn.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # the workers have not migrated yet
        except psycopg.OperationalError:  # the server closed it: a new one next time
            self.conn = psycopg.connect(self.dsn, autocommit=True)
            return []

    def one(self, sql: str, params: tuple = (), default=None):
        rows = self.rows(sql, params)
        return rows[0][0] if rows else default

    def live_leases(self, prefix: str) -> dict[str, str]:
        """Lease name -> holder, for the leases with `prefix` not lapsed or released."""
        return dict(self.rows("SELECT name, holder FROM leases WHERE name LIKE %s AND expires_at > now()",
                              (prefix + "%",)))

    def evaluating(self) -> list[int]:
        """procrastinate worker ids running an evaluation now."""
        return [r[0] for r in self.rows("SELECT worker_id FROM procrastinate_jobs WHERE status = 'doing'"
                                        " AND task_name = 'harkbot.evaluate' AND worker_id IS NOT NULL")]

    def doing_locks(self) -> list[tuple[str | None, int | None]]:
        return self.rows("SELECT lock, worker_id FROM procrastinate_jobs WHERE status = 'doing'")

    def claims(self, slack, lanes: list[str]) -> tuple[int, int]:
        """Outbox rows in `lanes` claimed and not marked sent; and how many of their messages Slack has."""
        channels = [json.loads(lane[5:])[1] for lane in lanes]
        if not channels:
            return 0, 0
        instance = self.one("SELECT value FROM meta WHERE key = 'instance'")
        rows = self.rows("SELECT batch FROM outbox WHERE status = 'sending' AND notifier = 'slack'"
                         " AND COALESCE(channel, %s) = ANY(%s)", (DEFAULT_CHANNEL, channels))
        keys = Counter(crash._key(m) for m in slack.messages())
        return len(rows), sum(1 for b in {b for (b,) in rows} if keys.get(f"{instance}.{b}"))

    def settled(self, world: World) -> bool:
        """Everything fed is stored, every flag alerted and the outbox empty. (A killed worker's
        job may still sit 'doing' until recovered: the tick's, say. What it would have done,
        it is done by now, or one of these would still be false.)"""
        stored = self.one("SELECT COUNT(*) FROM mentions", default=0)
        flags = self.one("SELECT COUNT(*) FROM safety_flags WHERE alert_id IS NULL AND level IN ('intent', 'ideation')",
                         default=1)
        open_rows = self.one("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'held', 'sending')", default=1)
        return stored >= len(world.added) and flags == 0 and open_rows == 0

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- the workers


@dataclass
class Life:
    """One worker process: slot N runs as `--name wN` and is restarted in the same slot."""

    slot: int
    number: int
    proc: subprocess.Popen
    log: Path
    started: float
    _worker_id: int | None = None

    @classmethod
    def start(cls, workdir: Path, env: dict[str, str], slot: int, number: int) -> Life:
        log = workdir / f"w{slot}-{number:03d}.log"
        with log.open("w") as out:  # a file, not a pipe: a full pipe would block the worker
            proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(workdir / "config.yaml"),
                                     "--log-format", "json", "worker", "--concurrency", "3", "--name", f"w{slot}"],
                                    cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        return cls(slot, number, proc, log, time.monotonic())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line, "level": "raw"})
        return out

    def worker_id(self) -> int | None:
        """The id procrastinate gave this process (from its 'Starting worker' line)."""
        if self._worker_id is None:
            for line in self.lines():
                if line.get("action") == "start_worker":
                    self._worker_id = (line.get("worker") or {}).get("worker_id")
                    break
        return self._worker_id

    def problems(self) -> list[str]:
        return [line.get("message", "") for line in self.lines()
                if line.get("level") in ("error", "critical") or "exc" in line]

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return time.monotonic() - self.started


def _pid_of(holder: str) -> int | None:
    parts = holder.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


@dataclass
class Kill:
    number: int
    aim: str
    landed: str
    slot: int
    lived: float
    claimed_open: int  # outbox rows of the victim's lanes left 'sending' by the kill
    posted_unmarked: int  # of those, rows whose message Slack already had


class Cluster:
    def __init__(self, workdir: Path, env: dict[str, str], world: World, db: Db, rng: random.Random):
        self.workdir, self.env, self.world, self.db, self.rng = workdir, env, world, db, rng
        self.lives: list[Life] = []
        self.slots: list[Life] = []
        for slot in range(1, WORKERS + 1):
            self.slots.append(self._spawn(slot))

    def _spawn(self, slot: int) -> Life:
        life = Life.start(self.workdir, self.env, slot, len(self.lives) + 1)
        self.lives.append(life)
        return life

    def by_pid(self, pid: int | None) -> Life | None:
        return next((life for life in self.slots if life.pid == pid), None)

    def by_worker_id(self, worker_id: int) -> Life | None:
        return next((life for life in self.slots if life.worker_id() == worker_id), None)

    def holders(self, prefix: str) -> dict[str, Life]:
        """Live leases with `prefix` held by a running worker: name -> that worker."""
        out = {}
        for name, holder in self.db.live_leases(prefix).items():
            life = self.by_pid(_pid_of(holder))
            if life is not None:
                out[name] = life
        return out

    def blocked(self) -> set[str]:
        """Locks and leases a killed worker still holds: the jobs and listeners or lanes that
        wait for recovery (30-90 s) or a lapsed lease (60 s)."""
        live_ids = {life.worker_id() for life in self.slots} - {None}
        live_pids = {life.pid for life in self.slots}
        out = {lock for lock, wid in self.db.doing_locks() if lock and wid not in live_ids}
        out |= {name for name, holder in self.db.live_leases("").items()
                if not name.startswith("due:") and _pid_of(holder) not in live_pids}
        return out

    def restart(self, life: Life) -> Life:
        self.slots[life.slot - 1] = new = self._spawn(life.slot)
        return new

    def stop(self, timeout: float = 30) -> list[int | None]:
        for life in self.slots:
            if life.proc.poll() is None:
                life.proc.send_signal(signal.SIGTERM)
        codes = []
        for life in self.slots:
            try:
                codes.append(life.proc.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                life.kill()
                codes.append(None)
        return codes


def choose(cluster: Cluster, aim: str, rng: random.Random) -> Life:
    """Wait for the moment `aim` names and return the worker in it; a random worker when the
    moment cannot come (what it needs is still held by a killed worker) or does not come soon."""
    world, slack = cluster.world, cluster.world.slack
    blocked = cluster.blocked()
    if aim == "start-up":
        life = max(cluster.slots, key=lambda life: life.started)
        time.sleep(max(0.0, life.started + rng.uniform(0.2, 2.0) - time.monotonic()))
        return life
    if aim == "poll":
        platforms = [p for p, name in LISTENER_OF.items() if f"poll:{name}" not in blocked]
        before = world.requests_by_platform()
        got: dict[str, Life] = {}

        def polling() -> bool:
            now = world.requests_by_platform()
            held = cluster.holders("poll:")
            got.update({p: held[f"poll:{LISTENER_OF[p]}"] for p in platforms
                        if now[p] > before[p] and f"poll:{LISTENER_OF[p]}" in held})
            return bool(got)

        if platforms and crash._wait(polling, 4):
            time.sleep(rng.uniform(0, 0.04))
            return rng.choice(list(got.values()))
    elif aim in ("slack-posted", "slack-slow"):
        lanes = [lane_name(c) for c in CHANNEL_NAMES.values() if lane_name(c) not in blocked]
        if lanes:  # else no request can come; when one does (a new alert, a retry), it is the one
            if aim == "slack-posted":
                slack.hold_reply_next(1, 1.5)
            else:
                slack.delay_next(1, 0.5)
            sender: list[Life] = []

            def sending() -> bool:
                flight = slack.in_flight()
                if not (any(m.endswith(":held") for m in flight) if aim == "slack-posted" else flight):
                    return False
                held = cluster.holders("send:")
                if aim == "slack-posted" and slack.messages():  # the held message is the newest stored
                    name = CHANNEL_NAMES.get(slack.messages()[-1].channel)
                    held = {k: v for k, v in held.items() if json.loads(k[5:])[1] == name} or held
                sender[:] = list(held.values())[:1]
                return bool(sender)

            if crash._wait(sending, 8):
                time.sleep(rng.uniform(0, 0.25))
                return sender[0]
    elif aim == "evaluation":
        found: list[Life] = []

        def evaluating() -> bool:
            found[:] = [life for wid in cluster.db.evaluating() if (life := cluster.by_worker_id(wid))]
            return bool(found)

        if "evaluate" not in blocked and crash._wait(evaluating, EVALUATE_EVERY + 2):
            time.sleep(rng.uniform(0, 0.3))
            return found[0]
    else:
        time.sleep(rng.uniform(0.3, 2.5))
        return rng.choice(cluster.slots)
    # The aim's moment did not come: a random worker that is up (a restarted one may still be
    # importing, and killing it again and again would leave the cluster doing nothing to kill).
    up = [life for life in cluster.slots if life.worker_id() is not None]
    return rng.choice(up or cluster.slots)


def landed(cluster: Cluster, life: Life, aim: str) -> tuple[str, list[str]]:
    """What `life` is doing, seen from outside, just before the kill (what the aim named first,
    when it is one of the things it does); and the send lanes it holds."""
    doing: list[tuple[str, str]] = []  # (aim it answers, what)
    flight = cluster.world.slack.in_flight()
    lanes = [name for name, holder in cluster.holders("send:").items() if holder is life]
    if lanes:
        if any(m.endswith(":held") for m in flight):
            doing.append(("slack-posted", "Slack posted, reply not read yet"))
        elif flight:
            doing.append(("slack-slow", f"Slack {flight[0]} in flight"))
        else:
            doing.append(("slack", "sender: between Slack requests"))
    if life.worker_id() is None:
        doing.append(("start-up", "start-up"))
    elif life.worker_id() in cluster.db.evaluating():
        doing.append(("evaluation", "evaluation"))
    if life in cluster.holders("poll:").values():
        doing.append(("poll", "poll: waiting on an API" if cluster.world.polls_in_flight() else "poll: reading or storing"))
    if not doing:
        return "between jobs", lanes
    return next((what for answers, what in doing if aim.startswith(answers) or answers.startswith(aim)),
                doing[0][1]), lanes


def plan(kills: int, rng: random.Random) -> list[str]:
    aims = [AIMS[i % len(AIMS)] for i in range(kills)]
    rng.shuffle(aims)
    return aims


# --------------------------------------------------------------------------- the checks beyond crash.check


@dataclass
class Order:
    channels: int
    top_level: int
    replies: int
    out_of_order: int
    details: list[str] = field(default_factory=list)


def slack_order(world: World) -> Order:
    """Per channel: top-level messages in outbox row order; per thread: replies in row order,
    each after its parent. A message's key is `instance.batch`, batch being its first row id."""
    details: list[str] = []
    bad = top = replies = 0
    messages = world.slack.messages()
    by_ts = {(m.channel, m.ts): m for m in messages}
    for channel in sorted({m.channel for m in messages}):
        lines: dict[str | None, list] = {}
        for m in messages:  # oldest first, as Slack stored them
            if m.channel == channel:
                lines.setdefault(m.thread_ts, []).append(m)
        for thread, ms in lines.items():
            batches = [_batch(m) for m in ms]
            top += len(ms) if thread is None else 0
            replies += len(ms) if thread is not None else 0
            for a, b in zip(batches, batches[1:]):
                if a is not None and b is not None and b < a:
                    bad += 1
                    details.append(f"{CHANNEL_NAMES.get(channel, channel)}"
                                   f"{' thread ' + thread if thread else ''}: row {b} posted after row {a}")
            if thread is not None:
                parent = by_ts.get((channel, thread))
                if parent is None or parent.thread_ts is not None or any(float(m.ts) <= float(thread) for m in ms):
                    bad += 1
                    details.append(f"thread {thread} in {channel}: a reply without its parent before it")
    return Order(len({m.channel for m in messages}), top, replies, bad, details)


def _batch(message) -> int | None:
    key = crash._key(message)
    tail = key.rsplit(".", 1)[-1] if key else ""
    return int(tail) if tail.isdigit() else None


@dataclass
class Bursts:
    expected: int  # (brand, platform) pairs the last evaluation certainly saw refund posts of
    missed: int
    details: list[str] = field(default_factory=list)


def bursts(db: Db, evaluated_at: datetime, rule: str = "refund-watch") -> Bursts:
    """Refund posts created 5-10 minutes before the drain's last evaluation sit in closed buckets
    inside its 10-minute window, so the rule held for their (brand, platform): an alert for it
    must exist (firing then, or fired before and resolved into its cooldown)."""
    start, end = evaluated_at + timedelta(seconds=15) - timedelta(minutes=10), evaluated_at - timedelta(minutes=5)
    pairs = db.rows("SELECT DISTINCT b.brand, m.platform FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
                    " WHERE m.text ILIKE '%%refund%%' AND b.created_at >= %s AND b.created_at < %s", (start, end))
    fired = {f for (f,) in db.rows("SELECT DISTINCT fingerprint FROM alerts WHERE rule = %s", (rule,))}
    missed = [(b, p) for b, p in pairs if fingerprint(rule, f"{b}/{p}") not in fired]
    return Bursts(len(pairs), len(missed), [f"refund posts of {b} on {p} never alerted" for b, p in missed])


# --------------------------------------------------------------------------- the run


@dataclass
class Result:
    kills: list[Kill]
    verdict: object  # crash.Verdict
    order: Order
    bursts: Bursts
    unalerted_flags: int
    wall: float
    kill_phase: float
    drain: float
    drained: bool
    exit_codes: list[int | None]
    problems: int
    workers_started: int
    recall: tuple[int, int] = (0, 0)  # recall-watch alerts raised, and of them resolved
    raised_twice: list[str] = field(default_factory=list)  # alerts the store holds twice (see twice())

    @property
    def lost_mentions(self) -> int:
        return self.verdict.missing

    @property
    def duplicate_mentions(self) -> int:
        return self.verdict.doubled_mentions

    @property
    def lost_alerts(self) -> int:
        return self.verdict.lost + self.verdict.unsent_rows + self.bursts.missed + self.unalerted_flags

    @property
    def doubled_alerts(self) -> int:
        return self.verdict.doubled + len(self.raised_twice)

    @property
    def ok(self) -> bool:
        return (self.drained and not (self.lost_mentions or self.duplicate_mentions or self.lost_alerts
                                      or self.doubled_alerts or self.order.out_of_order)
                and all(code == 0 for code in self.exit_codes))


def run(kills: int, seed: int, dsn: str, workdir: Path, *, rate: float = 3.0, at_risk: float = 0.05,
        gap: tuple[float, float] = (0.5, 2.0), aims: list[str] | None = None, warm_up: float = 8.0,
        drain_timeout: float = 360.0, recover_every: float | None = None,
        progress: Callable[[str], None] = lambda _s: None) -> Result:
    """`kills` SIGKILLs of a random worker (aimed as `plan` or `aims` says), each restarted at
    once, then a clean drain, then the checks. `dsn` must name an empty schema.

    `recover_every`: during the drain, also defer the workers' own `recover` task every so many
    seconds rather than only at the minute its cron defers it (the CI test: the killed workers'
    jobs come back 30 s after their last heartbeat instead of 30-90 s). What runs is the same
    task on the same workers; it only takes jobs of workers silent for 30 s, so never a live one's."""
    rng = random.Random(seed)
    world = World(random.Random(seed + 1), rate, at_risk)
    started = time.monotonic()
    db: Db | None = None
    cluster: Cluster | None = None
    try:
        (workdir / "rules").mkdir(parents=True, exist_ok=True)
        (workdir / "rules" / "refund-watch.yaml").write_text(crash.RULE)
        (workdir / "rules" / "recall-watch.yaml").write_text(RECALL_RULE)
        (workdir / "config.yaml").write_text(world.config())
        env = {**world.env(), "HARKBOT_DATABASE_URL": dsn}
        env.pop("HARKBOT_TEST_DATABASE_URL", None)
        for _ in range(int(rate * 3)):  # something to find on the first polls
            world.post()
        world.feed()
        db = Db(dsn)
        cluster = Cluster(workdir, env, world, db, rng)
        crash._wait(lambda: all(life.worker_id() is not None for life in cluster.slots), 60)
        time.sleep(warm_up)  # a first evaluation and its sends, so the Slack aims find work
        done: list[Kill] = []
        for number, aim in enumerate(aims or plan(kills, rng), 1):
            victim = choose(cluster, aim, rng)
            where, lanes = landed(cluster, victim, aim)
            lived = victim.kill()
            rows, posted = db.claims(world.slack, lanes)
            cluster.restart(victim)
            done.append(Kill(number, aim, where, victim.slot, lived, rows, posted))
            progress(f"kill {number}/{len(aims or []) or kills}: w{victim.slot} aimed at {aim}, landed {where}"
                     f" after {lived:.1f}s" + (f"; {rows} rows claimed and open ({posted} already in Slack)"
                                               if rows else ""))
            time.sleep(rng.uniform(*gap))
        kill_phase = time.monotonic() - started
        world.stop_feeding()
        progress(f"drain: feeding stopped at {len(world.added)} posts; waiting for the killed workers' jobs"
                 f" (recovered each minute after 30s without a heartbeat) and for everything to be stored and sent")
        drain_started = time.monotonic()
        deadline = drain_started + drain_timeout
        drained = False
        evaluated_at = datetime.now(UTC)
        recovering = _Recoverer(dsn, recover_every) if recover_every else None
        while time.monotonic() < deadline:
            if recovering is not None:
                recovering.tick()
            if db.settled(world):
                # One more evaluation and send run after everything is stored: nothing new may appear.
                mark = datetime.now(UTC)
                crash._wait(lambda: _evaluated_since(db, mark), 3 * EVALUATE_EVERY + 5)
                time.sleep(2)
                if db.settled(world):
                    evaluated_at, drained = mark, True
                    break
            time.sleep(0.5)
        drain = time.monotonic() - drain_started
        if recovering is not None:
            recovering.close()
        codes = cluster.stop()
        verdict = crash.check(dsn, world)
        order = slack_order(world)
        missed = bursts(db, evaluated_at)
        flags = db.one("SELECT COUNT(*) FROM safety_flags WHERE alert_id IS NULL AND level IN ('intent', 'ideation')",
                       default=0)
        twice = raised_twice(db)
        recall = tuple(db.rows("SELECT COUNT(*), COUNT(*) FILTER (WHERE state = 'resolved') FROM alerts"
                               " WHERE rule = 'recall-watch'")[0])
        problems = sum(len(life.problems()) for life in cluster.lives)
        return Result(done, verdict, order, missed, flags, time.monotonic() - started, kill_phase, drain, drained,
                      codes, problems, len(cluster.lives), recall, twice)
    finally:
        if cluster is not None:
            for life in cluster.slots:
                if life.proc.poll() is None:
                    life.kill()
        if db is not None:
            db.close()
        world.close()


class _Recoverer:
    """Defers harkbot's `recover` task (bot/workers.py) every `every` seconds; the queueing lock
    keeps at most one waiting, and the workers run it as they run the cron's."""

    def __init__(self, dsn: str, every: float):
        from bot.workers import make_app

        self.app, self.every, self.last = make_app(dsn), every, 0.0
        self.app.open()

    def tick(self) -> None:
        import procrastinate

        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        try:
            self.app.tasks["harkbot.recover"].configure(queueing_lock="recover").defer(timestamp=int(time.time()))
        except procrastinate.exceptions.AlreadyEnqueued:
            pass

    def close(self) -> None:
        self.app.close()


def raised_twice(db: Db) -> list[str]:
    """Alerts doubled in the store, which no Slack count would show (each copy has its own
    outbox rows and key): a safety flag alerted twice, or a rule alert fired for a group while
    an earlier alert of the same group was still open (firing episodes must not overlap)."""
    out = [f"safety flag {fp} alerted {n} times" for fp, n in
           db.rows("SELECT fingerprint, COUNT(*) FROM alerts WHERE kind = 'safety' GROUP BY 1 HAVING COUNT(*) > 1")]
    out += [f"alert {b} ({rule}) fired at {fired:%H:%M:%S} while alert {a} of the same group was open" for a, b, rule, fired in
            db.rows("SELECT a.id, b.id, b.rule, b.fired_at FROM alerts a JOIN alerts b ON b.fingerprint = a.fingerprint"
                    " AND b.id > a.id WHERE a.kind IS DISTINCT FROM 'safety'"
                    " AND (a.resolved_at IS NULL OR b.fired_at < a.resolved_at)")]
    return out


def _evaluated_since(db: Db, mark: datetime) -> bool:
    """The tick claimed an evaluation after `mark` and no evaluation is waiting or running."""
    claimed = db.one("SELECT expires_at FROM leases WHERE name = 'due:evaluate'")
    waiting = db.one("SELECT COUNT(*) FROM procrastinate_jobs WHERE task_name = 'harkbot.evaluate'"
                     " AND status IN ('todo', 'doing')", default=1)
    return claimed is not None and claimed - timedelta(seconds=EVALUATE_EVERY) > mark and waiting == 0


def report(result: Result, console) -> None:
    from rich.table import Table

    kills = result.kills
    table = Table(title=f"Where the {len(kills)} kills landed (aimed -> seen from outside at the kill)")
    for name in ("aimed at", "landed", "kills", "rows left claimed", "of them already in Slack"):
        table.add_column(name, justify="left" if name in ("aimed at", "landed") else "right")
    groups: dict[tuple[str, str], list[Kill]] = {}
    for k in kills:
        groups.setdefault((k.aim, k.landed), []).append(k)
    for (aim, where), ks in sorted(groups.items()):
        table.add_row(aim, where, str(len(ks)), str(sum(k.claimed_open for k in ks)),
                      str(sum(k.posted_unmarked for k in ks)))
    table.add_section()
    by_aim = Counter(k.aim for k in kills)
    table.add_row("all", ", ".join(f"{a} {n}" for a, n in sorted(by_aim.items())), str(len(kills)),
                  str(sum(k.claimed_open for k in kills)), str(sum(k.posted_unmarked for k in kills)))
    console.print(table)

    v, o, b = result.verdict, result.order, result.bursts

    def mark(n: int) -> str:
        return "0" if not n else f"[red]{n} FAIL[/red]"

    out = Table(title="After the kills and a clean drain (target 0/0/0/0, order kept)")
    for name in ("check", "count", "lost / missing", "doubled"):
        out.add_column(name, justify="left" if name == "check" else "right")
    out.add_row("mentions (posts the fakes served)", f"{v.served:,}", mark(v.missing), mark(v.doubled_mentions))
    out.add_row("mentions stored", f"{v.stored:,}", "", "")
    out.add_row("alerts raised (of them safety)", f"{v.alerts} ({v.safety_alerts})", "", "")
    out.add_row("alert updates, alerts resolved", f"{v.updates}, {v.resolved}", "", "")
    out.add_row("  of them refund-watch, recall-watch (resolved)",
                f"{v.alerts - v.safety_alerts - result.recall[0]}, {result.recall[0]} ({result.recall[1]})", "", "")
    out.add_row("Slack messages recorded sent (keys)", str(v.messages_expected), mark(v.lost), mark(v.doubled))
    out.add_row("alerts raised twice in the store (a flag, an open group)", "", "", mark(len(result.raised_twice)))
    out.add_row("outbox rows not sent at the end", str(v.unsent_rows), mark(v.unsent_rows), "")
    out.add_row("refund bursts the last evaluation saw, unalerted", str(b.expected), mark(b.missed), "")
    out.add_row("at-risk posts flagged, never alerted", "", mark(result.unalerted_flags), "")
    out.add_section()
    out.add_row("lost mentions / duplicate mentions", "", mark(result.lost_mentions), mark(result.duplicate_mentions))
    out.add_row("lost alerts / doubled alerts", "", mark(result.lost_alerts), mark(result.doubled_alerts))
    console.print(out)
    console.print(f"Slack order per channel: {o.channels} channels, {o.top_level} top-level messages, {o.replies} "
                  f"thread replies, {'kept' if not o.out_of_order else f'[red]{o.out_of_order} out of order FAIL[/red]'}")
    for line in (v.details + result.raised_twice + o.details + b.details)[:20]:
        console.print(f"  [red]{line}[/red]")
    lived = sorted(k.lived for k in kills) or [0.0]
    console.print(f"kills {len(kills)} ({len(kills) / max(result.kill_phase, 1) * 60:.0f}/min), worker lives "
                  f"{lived[0]:.1f}-{lived[-1]:.1f}s (median {lived[len(lived) // 2]:.1f}s), {result.workers_started} "
                  f"worker processes started; errors logged by the workers: {result.problems}")
    console.print(f"wall time {result.wall:.0f}s: kills {result.kill_phase:.0f}s, drain {result.drain:.0f}s "
                  f"({'settled' if result.drained else '[red]NOT settled (timed out) FAIL[/red]'}); SIGTERM exit "
                  f"codes {result.exit_codes}; load average {os.getloadavg()[0]:.1f}")
    console.print("[green]nothing lost, nothing doubled, order kept[/green]" if result.ok
                  else "[red]FAILED (see the marked checks above)[/red]")


# --------------------------------------------------------------------------- --stall: a zombie sender

STALL_CONFIG = """\
database: unused.db
rules: rules
evaluate_every: 1h
brands:
  acme: {{name: Acme Health, query: acme}}
listeners: {{}}
slack:
  token: ${{SLACK_BOT_TOKEN}}
  base_url: "{slack}"
  channels: {{alerts: C0ALERTS}}
  default_channel: alerts
"""


@dataclass
class Stall:
    rows: int
    stopped_on: str  # the key of the row claimed and not yet in Slack when the sender was stopped
    stopped_for: float
    in_slack: Counter  # key -> times in Slack
    taken_over: bool  # the other worker drained the lane while the first was stopped

    @property
    def doubled(self) -> dict[str, int]:
        return {k: n for k, n in self.in_slack.items() if n > 1}


def stall(dsn: str, workdir: Path, rows: int = 8, progress: Callable[[str], None] = lambda _s: None) -> Stall:
    """A worker is SIGSTOPped (a GC pause, a frozen VM) holding a lane, with an outbox row claimed
    and not yet posted (the Slack notifier's own 1 msg/s pacing sleeps inside post(), after the
    claim and after the sender's lease check, so the moment is wide). A second worker recovers its job, takes the lane once the lease
    lapses (60 s: a stopped process is alive, so it is not let go at once) and drains the
    outbox. Then the first is SIGCONTed. The row must still be in Slack once."""
    from bot.models import Alert, Finding
    from bot.store.postgres import PostgresStore
    from bot.workers import ensure_schema
    from tests.fakes.slack import FakeSlack

    with FakeSlack(channels={"C0ALERTS": "alerts"}) as slack:
        (workdir / "rules").mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(STALL_CONFIG.format(slack=slack.url))
        now = datetime.now(UTC)
        store = PostgresStore(dsn)
        for i in range(rows):
            finding = Finding(group="acme", title=f"Stall #{i}", reason="bench/crash_workers.py --stall",
                              observed=1.0, usual=0.0, window_start=now, window_end=now)
            store.record_notice(Alert(id=None, fingerprint=f"stall:{i}", rule="stall", kind="notice",
                                      severity="warning", brand="acme", channel="alerts", fired_at=now,
                                      finding=finding), ["slack"], now)
        instance = store.instance()
        store.close()
        ensure_schema(dsn)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARKBOT_", "SLACK_"))}
        env.update({"SLACK_BOT_TOKEN": slack.token, "HARKBOT_DATABASE_URL": dsn, "PYTHONUNBUFFERED": "1"})
        db = Db(dsn)
        first = Life.start(workdir, env, 1, 1)
        second = None
        try:
            def keys() -> Counter:
                return Counter(crash._key(m) for m in slack.messages())

            stopped_on = None
            deadline = time.monotonic() + 60
            while stopped_on is None and time.monotonic() < deadline:
                claimed = [f"{instance}.{b}" for (b,) in db.rows("SELECT batch FROM outbox WHERE status = 'sending'")]
                holders = db.live_leases("send:").values()
                if [k for k in claimed if k not in keys()] and any(_pid_of(h) == first.pid for h in holders):
                    first.proc.send_signal(signal.SIGSTOP)
                    time.sleep(0.2)  # a post already on the wire lands now
                    waiting = [k for k in claimed if k not in keys()]
                    if waiting:
                        stopped_on = waiting[0]
                        break
                    first.proc.send_signal(signal.SIGCONT)
                time.sleep(0.02)
            if stopped_on is None:
                raise RuntimeError("stall: the sender never had a row claimed and unposted within 60 s")
            stopped = time.monotonic()
            progress(f"stall: w1 (pid {first.pid}) SIGSTOPped with {stopped_on} claimed and not in Slack;"
                     f" {len(slack.messages())} of {rows} messages posted; starting w2")
            second = Life.start(workdir, env, 2, 2)
            drained = crash._wait(lambda: db.one("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'",
                                                 default=1) == 0, 240)
            progress(f"stall: outbox {'drained' if drained else 'NOT drained'} by w2 after"
                     f" {time.monotonic() - stopped:.0f}s ({stopped_on} in Slack {keys()[stopped_on]} time(s));"
                     " SIGCONT w1")
            first.proc.send_signal(signal.SIGCONT)
            stopped_for = time.monotonic() - stopped
            time.sleep(8)  # w1 finishes what it was doing
            return Stall(rows, stopped_on, stopped_for, keys(), drained)
        finally:
            for life in (first, second):
                if life is not None and life.proc.poll() is None:
                    life.proc.send_signal(signal.SIGCONT)
                    life.proc.send_signal(signal.SIGTERM)
                    try:
                        life.proc.wait(30)
                    except subprocess.TimeoutExpired:
                        life.kill()
            db.close()


def report_stall(result: Stall, console) -> None:
    doubled = result.doubled
    console.print(f"stall: {result.rows} outbox rows, the sender stopped {result.stopped_for:.0f}s on {result.stopped_on};"
                  f" the other worker {'took the lane over and drained it' if result.taken_over else 'did NOT drain it'};"
                  f" {sum(result.in_slack.values())} messages in Slack")
    console.print("[green]nothing doubled[/green]" if not doubled else
                  f"[red]doubled: {', '.join(f'{k} x{n}' for k, n in doubled.items())} FAIL[/red] (the woken sender"
                  " posted a row the lane's new holder had already re-sent: it was stopped after its last lease"
                  " check and before the request left; see its log for 'lease was lost before')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=3.0, help="feeder rounds a second (default 3)")
    parser.add_argument("--dsn", default=None, help="PostgreSQL server (default: HARKBOT_TEST_DATABASE_URL, "
                                                    f"else {DEFAULT_DSN})")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workers' logs in this folder")
    parser.add_argument("--stall", action="store_true",
                        help="instead of the kills: SIGSTOP a sender between its claim and its post until another"
                             " worker took its lane over, then SIGCONT it (about 2 minutes)")
    args = parser.parse_args()

    from rich.console import Console

    console = Console(stderr=True, width=130)
    server = os.environ.get("HARKBOT_TEST_DATABASE_URL") or args.dsn or DEFAULT_DSN
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="harkbot-crash-workers-"))
    if args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    try:
        if args.stall:
            with fresh_schema(server) as dsn:
                console.print(f"crash_workers --stall: 2 workers, load average {os.getloadavg()[0]:.1f} at the start")
                began = time.monotonic()
                stalled = stall(dsn, workdir, progress=lambda s: console.print(s))
            report_stall(stalled, console)
            console.print(f"wall time {time.monotonic() - began:.0f}s; load average {os.getloadavg()[0]:.1f}")
            sys.exit(1 if stalled.doubled or not stalled.taken_over else 0)
        with fresh_schema(server) as dsn:
            console.print(f"crash_workers: {WORKERS} workers (--concurrency 3), {args.kills} kills, seed {args.seed},"
                          f" feeder {args.rate:g} rounds/s, {os.cpu_count()} cores, load average"
                          f" {os.getloadavg()[0]:.1f} at the start")
            result = run(args.kills, args.seed, dsn, workdir, rate=args.rate, progress=lambda s: console.print(s))
        report(result, console)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
