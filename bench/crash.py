"""Crash safety, measured: SIGKILL `harkbot run` at random points while it ingests from the
fake X and Reddit and sends to the fake Slack, restart it, and count what was lost or doubled.

    .venv/bin/python bench/crash.py                  # 30 kills, about 5 minutes
    .venv/bin/python bench/crash.py --trials 8 --seed 3

The fakes (tests/fakes/) run in this process, so they outlive every daemon. A feeder thread
keeps adding posts to X and Reddit as time passes; every post names one of four brands, a
fifth of them say "refund" (a `mention` rule, per brand and platform, alerts on them and
sends "it got worse" replies in the alert's thread), and a few express intent of self-harm
(each is a safety alert of its own, the kind that must never be lost). X posts carry a
created_at up to 8 minutes back, because rules read closed 5-minute buckets and a short run
would otherwise see none; their ids still grow, as X's do.

Each trial starts the daemon on the same database and kills it with SIGKILL. Where the kill
is aimed rotates through:
  start-up       0.3-2.5 s after the spawn: imports, the start-up sender, the first polls
  poll           just after X or Reddit received a request: the fetch, the ingest transaction
  slack-posted   Slack stored the message and holds its reply (`hold_reply_next`): killed
                 between Slack's OK and the outbox row being marked sent
  slack-slow     Slack delays a request and handles it after the kill (a client timeout)
  evaluation     just after the first evaluation starts (30 s after start-up), and the
                 sender run it triggers
  anywhere       a uniform time in 0.5-12 s
and where it landed is read from outside at the moment of the kill (`landed`): the fakes'
requests in flight, the daemon's log, and the outbox rows left claimed but not marked sent.

At the end the daemon runs clean until everything is stored and sent, then stops with
SIGTERM, and the checks are:
  mentions  every post the feeder added is stored once (the primary key forbids two rows,
            so "doubled" is counted where it would show: a mention counted twice in the
            5-minute buckets, against its brand links)
  alerts    every alert has its first message sent; every message key the database
            recorded is in Slack exactly once (0: lost, 2+: doubled), top-level for alerts,
            in the alert's thread for updates and resolutions; every harkbot message in
            Slack belongs to a recorded delivery (otherwise: doubled, an orphan)
Exit status 1 when anything was lost or doubled. Not a test: tests/test_crash_safety.py is
the small version CI runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, installed or not

from tests.fakes.reddit import FakeReddit  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.x import FakeX  # noqa: E402

UTC = timezone.utc
BRANDS = {"acme": "Acme Health", "globex": "Globex Care", "initech": "Initech Therapy", "umbrella": "Umbrella Clinics"}
CHANNELS = {"C0ALERTS": "alerts", "C0CRISIS": "crisis"}
FIRST_EVALUATION = 30.0  # seconds after start-up (bot/scheduler.py)
PHASES = ("start-up", "poll", "slack-posted", "slack-slow", "anywhere")

CONFIG = """\
database: crash.db
rules: rules
evaluate_every: 5s
brands:
{brands}
listeners:
  twitter: {{base_url: "{x}", bearer_token: "${{X_BEARER_TOKEN}}", every: 2s, timeout: 5}}
  reddit: {{base_url: "{reddit}", every: 2s, timeout: 5s}}
slack:
  token: ${{SLACK_BOT_TOKEN}}
  base_url: "{slack}"
  channels: {{alerts: C0ALERTS, crisis: C0CRISIS}}
  default_channel: alerts
safety: {{channel: crisis}}
"""

RULE = """\
name: refund-watch
description: Refund talk, per brand and platform (bench/crash.py)
brands: [acme, globex, initech, umbrella]
group_by: [brand, platform]
cooldown: 1m
resolve_after: 20s
mention: {query: refund, window: 10m}
"""

WORDS = ["love the new app", "support was slow today", "booked a session", "the therapist was kind",
         "price went up again", "reminders work well", "video call dropped", "great first week"]
REFUND = ["still waiting on my refund", "refund took three weeks", "how do I get a refund"]
AT_RISK = ["i want to end my life tonight", "i am going to kill myself", "i have a plan to end my life"]


# --------------------------------------------------------------------------- the world


class World:
    """The fakes and the feeder: everything that must outlive the daemon."""

    def __init__(self, rng: random.Random, rate: float, at_risk: float = 0.03):
        self.rng, self.rate, self.at_risk = rng, rate, at_risk
        self.x = FakeX(rate_limit=1_000_000).start()
        self.reddit = FakeReddit().start()
        self.slack = FakeSlack(channels=CHANNELS).start()
        self.added: dict[str, str] = {}  # mention key -> brand, every post the feeder added
        self.added_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._n = 0
        self.last_request = 0.0  # time.monotonic() when X or Reddit last received a request
        threading.Thread(target=self._watch, name="request-watch", daemon=True).start()

    def _watch(self) -> None:
        seen = 0
        while True:
            n = self.api_requests()
            if n != seen:
                seen, self.last_request = n, time.monotonic()
            if self._closed.wait(0.003):
                return

    def env(self) -> dict[str, str]:
        return {**os.environ, "X_BEARER_TOKEN": self.x.token, "REDDIT_CLIENT_ID": self.reddit.client_id,
                "REDDIT_CLIENT_SECRET": self.reddit.client_secret, "SLACK_BOT_TOKEN": self.slack.token,
                "SLACK_WEBHOOK_URL": "", "PYTHONUNBUFFERED": "1"}

    def config(self) -> str:
        brands = "\n".join(f"  {key}: {{name: {name}, kind: {'competitor' if key == 'umbrella' else 'brand'}, "
                           f"query: {key}}}" for key, name in BRANDS.items())
        return CONFIG.format(brands=brands, x=self.x.url, reddit=self.reddit.url, slack=self.slack.url)

    def post(self) -> None:
        """One post on each platform."""
        rng = self.rng
        for platform in ("x", "reddit"):
            self._n += 1
            brand = rng.choice(list(BRANDS))
            roll = rng.random()
            words = rng.choice(AT_RISK if roll < self.at_risk else REFUND if roll < 0.22 else WORDS)
            text = f"{brand} {words} (post {self._n})"
            author = f"user{rng.randrange(400)}"
            if platform == "x":
                back = timedelta(seconds=rng.uniform(0, 480))
                key = "x:" + self.x.add_post(text, author=author, followers=rng.randrange(50, 5000),
                                            created_at=datetime.now(UTC) - back)
            else:
                key = "reddit:" + self.reddit.add_submission(text, "", author=author, subreddit="therapy",
                                                            created_utc=time.time())
            with self._lock:
                self.added[key] = brand
                self.added_at[key] = time.time()

    def feed(self) -> None:
        def loop() -> None:
            while not self._stop.wait(1 / self.rate):
                self.post()

        self._thread = threading.Thread(target=loop, name="feeder", daemon=True)
        self._thread.start()

    def stop_feeding(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self._closed.set()
        self.stop_feeding()
        for fake in (self.x, self.reddit, self.slack):
            fake.stop()

    def polls_in_flight(self) -> int:
        return self.x.in_flight + self.reddit.in_flight

    def api_requests(self) -> int:
        return len(self.x.requests) + len(self.reddit.requests)


# --------------------------------------------------------------------------- one daemon's life


@dataclass
class Life:
    proc: subprocess.Popen
    log: Path
    started: float

    @classmethod
    def start(cls, workdir: Path, env: dict[str, str], number: int) -> Life:
        log = workdir / f"life-{number:03d}.log"
        with log.open("w") as out:  # a file, not a pipe: a full pipe would block the daemon
            proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(workdir / "config.yaml"),
                                     "--log-format", "json", "run"], cwd=workdir, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        return cls(proc, log, time.monotonic())

    def lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line, "level": "raw"})
        return out

    def said(self, fragment: str) -> bool:
        return any(fragment in line.get("message", "") for line in self.lines())

    def running_at(self, timeout: float) -> float | None:
        """When the scheduler started (monotonic, approximately), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.said("running:"):
                return time.monotonic()
            time.sleep(0.02)
        return None

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return time.monotonic() - self.started


@dataclass
class Trial:
    number: int
    aim: str
    landed: str
    lived: float
    claimed_open: int  # outbox rows left 'sending' by the kill
    posted_unmarked: int  # of those, rows whose message Slack already had
    problems: list[str] = field(default_factory=list)  # tracebacks in the life's log


def aim_and_kill(world: World, life: Life, aim: str, rng: random.Random) -> str:
    """Wait for the moment `aim` names, kill there, and say where the kill landed."""
    slack = world.slack
    if aim == "start-up":
        time.sleep(rng.uniform(0.3, 2.5))
    elif aim == "poll":
        life.running_at(15)
        time.sleep(rng.uniform(0, 1.5))
        seen = world.api_requests()
        _wait(lambda: world.api_requests() > seen, 6)
        time.sleep(rng.uniform(0, 0.04))
    elif aim in ("slack-posted", "slack-slow"):
        if aim == "slack-posted":
            slack.hold_reply_next(1, 1.5)
        else:
            slack.delay_next(1, 0.5)
        _wait(lambda: any(m.endswith(":held") for m in slack.in_flight()) if aim == "slack-posted"
              else bool(slack.in_flight()), 10)
        time.sleep(rng.uniform(0, 0.25))
    elif aim == "evaluation":
        running = life.running_at(15)
        if running is not None:
            time.sleep(max(0.0, running + FIRST_EVALUATION - time.monotonic()) + rng.uniform(-0.1, 0.6))
    else:
        time.sleep(rng.uniform(0.5, 8))
    return where(world, life)


def where(world: World, life: Life) -> str:
    """Where the daemon is, seen from outside, just before the kill."""
    flight = world.slack.in_flight()
    if any(m.endswith(":held") for m in flight):
        return "Slack posted, reply not read yet"
    if flight:
        return f"Slack {flight[0]} in flight"
    if world.polls_in_flight():
        return "poll: waiting on X/Reddit"
    messages = [line.get("message", "") for line in life.lines()]
    if not any(m.startswith("running:") for m in messages):
        return "start-up"
    lived = time.monotonic() - life.started
    if lived > FIRST_EVALUATION + 0.5 and not any(m.startswith("evaluate:") for m in messages):
        return "evaluation"
    if messages and re.match(r"(x|reddit): \d+ (queries|listings)", messages[-1]):
        return "poll: ingesting"  # the walk is logged, its "fetched, new" line not yet
    if time.monotonic() - world.last_request < 0.1:
        return "poll: answer being read or stored"
    return "between jobs"


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


# --------------------------------------------------------------------------- the database, read only


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def open_claims(db: Path, world: World) -> tuple[int, int]:
    """Outbox rows claimed and not marked sent; and how many of their messages Slack has."""
    if not db.exists():
        return 0, 0
    with connect(db) as c:
        instance = (c.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone() or [None])[0]
        batches = [b for (b,) in c.execute("SELECT DISTINCT batch FROM outbox WHERE status = 'sending'"
                                           " AND notifier = 'slack'")]
        rows = c.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sending' AND notifier = 'slack'"
                         ).fetchone()[0]
    keys = Counter(_key(m) for m in world.slack.messages())
    posted = sum(1 for b in batches if keys.get(f"{instance}.{b}"))
    return rows, posted


def outbox_open(db: Path) -> int:
    if not db.exists():
        return 0
    with connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM outbox WHERE notifier = 'slack' AND status IN ('pending', 'sending')"
                         ).fetchone()[0]


def _key(message) -> str | None:
    meta = message.metadata or {}
    return (meta.get("event_payload") or {}).get("key")


# --------------------------------------------------------------------------- the checks


@dataclass
class Verdict:
    served: int
    stored: int
    missing: int
    doubled_mentions: int
    alerts: int
    safety_alerts: int
    updates: int
    resolved: int
    messages_expected: int  # distinct message keys the database recorded as sent
    top_level: int
    replies: int
    lost: int  # keys recorded sent but absent, plus alerts whose first message was never sent
    doubled: int  # keys in Slack more than once, plus harkbot messages no delivery recorded
    unsent_rows: int
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.doubled_mentions or self.lost or self.doubled or self.unsent_rows)


def check(db: Path, world: World) -> Verdict:
    details: list[str] = []
    with connect(db) as c:
        stored = {k for (k,) in c.execute("SELECT key FROM mentions")}
        rows = c.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM mentions").fetchone()
        links = dict(c.execute("SELECT brand || '/' || platform, COUNT(*) FROM mention_brands GROUP BY 1"))
        counted = dict(c.execute("SELECT brand || '/' || platform, SUM(count) FROM buckets GROUP BY 1"))
        instance = c.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
        alerts = c.execute("SELECT id, kind, state FROM alerts").fetchall()
        safety = sum(1 for _id, kind, _s in alerts if kind == "safety")
        resolved = sum(1 for _id, _r, state in alerts if state == "resolved")
        updates = c.execute("SELECT COUNT(*) FROM alert_updates").fetchone()[0]
        # The console notifier gets every alert too; only Slack's rows are checked against Slack.
        outbox = c.execute("SELECT id, alert_id, action, status, batch FROM outbox WHERE notifier = 'slack'"
                           ).fetchall()
    missing = sorted(set(world.added) - stored)
    doubled_mentions = rows[0] - rows[1] + sum(max(0, counted.get(k, 0) - n) for k, n in links.items())
    for key, n in links.items():
        if counted.get(key, 0) != n:
            details.append(f"buckets count {counted.get(key, 0)} mentions for {key}, brand links say {n}")
    if missing:
        details.append(f"missing mentions, e.g. {missing[:5]}")

    slack_keys = Counter()
    where_key: dict[str, str] = {}
    for m in world.slack.messages():
        key = _key(m)
        if key is not None:
            slack_keys[key] += 1
            where_key[key] = "reply" if m.thread_ts else "top"
    expected: dict[str, str] = {}
    unsent = 0
    first_sent: set[int] = set()
    for _id, alert_id, action, status, batch in outbox:
        if status in ("pending", "held", "sending", "dead"):
            unsent += 1
            details.append(f"outbox row {_id} ({action}, alert {alert_id}) ended {status}")
        if status == "sent":
            expected[f"{instance}.{batch}"] = "reply" if action in ("update", "resolve") else "top"
            if action in ("alert", "digest", "notice"):
                first_sent.add(alert_id)
    lost = doubled = 0
    for key, kind in expected.items():
        n = slack_keys.get(key, 0)
        if n == 0:
            lost += 1
            details.append(f"{key}: recorded sent, not in Slack")
        elif n > 1:
            doubled += n - 1
            details.append(f"{key}: in Slack {n} times")
        elif where_key.get(key) != kind:
            lost += 1
            details.append(f"{key}: in Slack as a {where_key.get(key)} message, expected {kind}")
    for key, n in slack_keys.items():
        if key not in expected:
            doubled += n
            details.append(f"{key}: in Slack {n} times, no delivery recorded it")
    never = [a for a, _r, _s in alerts if a not in first_sent]
    lost += len(never)
    if never:
        details.append(f"alerts whose message was never sent: {never[:10]}")
    messages = world.slack.messages()
    return Verdict(len(world.added), len(stored), len(missing), doubled_mentions, len(alerts), safety, updates,
                   resolved, len(expected), sum(1 for m in messages if m.thread_ts is None),
                   sum(1 for m in messages if m.thread_ts), lost, doubled, unsent, details)


def settled(db: Path, world: World, flags_alerted: bool = True) -> bool:
    """Everything fed is stored, every flag alerted (when asked), and the outbox is empty."""
    if not db.exists():
        return False
    try:
        with connect(db) as c:
            stored = c.execute("SELECT COUNT(*) FROM mentions").fetchone()[0]
            flags = c.execute("SELECT COUNT(*) FROM safety_flags WHERE alert_id IS NULL"
                              " AND level IN ('intent', 'ideation')").fetchone()[0]
            open_rows = c.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'held', 'sending')"
                                  ).fetchone()[0]
    except sqlite3.Error:
        return False
    return stored >= len(world.added) and (flags == 0 or not flags_alerted) and open_rows == 0


# --------------------------------------------------------------------------- the run


@dataclass
class Result:
    trials: list[Trial]
    verdict: Verdict
    wall: float
    final_clean: bool


def plan(trials: int, rng: random.Random, evaluations: int | None = None) -> list[str]:
    """Which moment each trial aims at: an evaluation every sixth trial (from the first, so the
    outbox has alerts for the Slack aims), the other aims in turn, shuffled between them."""
    evaluations = max(1, trials // 6) if evaluations is None else evaluations
    every = max(1, trials // evaluations)
    others = [PHASES[i % len(PHASES)] for i in range(trials - evaluations)]
    rng.shuffle(others)
    out = []
    for i in range(trials):
        out.append("evaluation" if i % every == 0 and out.count("evaluation") < evaluations else others.pop())
    return out


def run(trials: int, seed: int, workdir: Path, *, rate: float = 3.0, at_risk: float = 0.03,
        evaluations: int | None = None, aims: list[str] | None = None, evaluate_before: frozenset[int] = frozenset(),
        final_evaluation: bool = True, final_timeout: float = 150.0, top_up: bool = True,
        progress: Callable[[str], None] = lambda _s: None) -> Result:
    """`trials` kills as `plan` (or `aims`) says, then a clean run, then the checks.

    `evaluate_before`: trial numbers before which this process evaluates the rules into the
    outbox with the daemon's own `evaluate_once` (the daemon's first evaluation is 30 s after
    its start, too late for a short test); with `top_up`, also before a Slack aim that would
    find the outbox empty. `final_evaluation`: the clean run waits for an
    evaluation after the last post, so late flags are alerted too (30 s more).
    """
    rng = random.Random(seed)
    world = World(random.Random(seed + 1), rate, at_risk)
    started = time.monotonic()
    try:
        (workdir / "rules").mkdir(parents=True, exist_ok=True)
        (workdir / "rules" / "refund-watch.yaml").write_text(RULE)
        (workdir / "config.yaml").write_text(world.config())
        db = workdir / "crash.db"
        for _ in range(int(rate * 3)):  # something to find on the first poll
            world.post()
        world.feed()
        done: list[Trial] = []
        for number, aim in enumerate(aims or plan(trials, rng, evaluations), 1):
            if number in evaluate_before:
                raised = evaluate_here(workdir)
                progress(f"evaluated in this process: {raised} new alerts in the outbox")
            if aim.startswith("slack") and not outbox_open(db) and top_up:
                raised = evaluate_here(workdir)
                progress(f"outbox empty before a Slack aim: evaluated in this process, {raised} new alerts")
            if aim.startswith("slack") and not outbox_open(db):
                aim = "poll"  # nothing to send: Slack would never see a request to slow down
            # A killed life's request may still be held or delayed in Slack: let it finish, so it is
            # not taken for the next life's, and so a slow post lands before the next life looks.
            _wait(lambda: not world.slack.in_flight(), 10)
            life = Life.start(workdir, world.env(), number)
            landed = aim_and_kill(world, life, aim, rng)
            lived = life.kill()
            rows, posted = open_claims(db, world)
            if rows and landed == "between jobs":
                landed = "sender: claimed, request not out"  # pacing, or building the message
            problems = [line["message"] for line in life.lines() if line.get("level") in ("error", "critical")
                        or "exc" in line]
            done.append(Trial(number, aim, landed, lived, rows, posted, problems))
            progress(f"kill {number}/{len(aims or []) or trials}: aimed at {aim}, landed {landed} after {lived:.1f}s"
                     + (f"; {rows} rows claimed and open ({posted} already in Slack)" if rows else ""))
        world.stop_feeding()
        _wait(lambda: not world.slack.in_flight(), 10)
        progress(f"clean run: until all {len(world.added)} posts are stored and every alert is sent")
        life = Life.start(workdir, world.env(), len(done) + 1)
        deadline = time.monotonic() + final_timeout
        wait_first = FIRST_EVALUATION + 6 if final_evaluation else 0
        clean = False
        while time.monotonic() < deadline and life.proc.poll() is None:
            if time.monotonic() - life.started > wait_first and settled(db, world, final_evaluation):
                # Another evaluation and sender run: nothing new may appear.
                time.sleep(6 if final_evaluation else 1)
                if settled(db, world, final_evaluation):
                    clean = True
                    break
            time.sleep(0.25)
        life.proc.send_signal(signal.SIGTERM)
        try:
            life.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            life.kill()
        verdict = check(db, world)
    finally:
        world.close()
    return Result(done, verdict, time.monotonic() - started, clean)


def evaluate_here(workdir: Path) -> int:
    """What the daemon's evaluation job does, once, in this process (the daemon is not running)."""
    from bot.app import rules_for
    from bot.config import load_config
    from bot.pipeline import evaluate_once
    from bot.store import Store

    config = load_config(workdir / "config.yaml")
    rules, _problems = rules_for(config)
    store = Store(config.database)
    try:
        result = evaluate_once(rules, config.brands, store, datetime.now(UTC), ["console", "slack"],
                               safety=config.model.safety)
    finally:
        store.close()
    return len(result.alerts)


def report(result: Result, console) -> None:
    from rich.table import Table

    trials = result.trials
    table = Table(title=f"Where the {len(trials)} kills landed (aimed -> seen from outside at the kill)")
    table.add_column("aimed at")
    table.add_column("landed")
    table.add_column("kills", justify="right")
    table.add_column("rows left claimed", justify="right")
    table.add_column("of them already in Slack", justify="right")
    groups: dict[tuple[str, str], list[Trial]] = {}
    for t in trials:
        groups.setdefault((t.aim, t.landed), []).append(t)
    for (aim, landed), ts in sorted(groups.items()):
        table.add_row(aim, landed, str(len(ts)), str(sum(t.claimed_open for t in ts)),
                      str(sum(t.posted_unmarked for t in ts)))
    table.add_section()
    table.add_row("all", "", str(len(trials)), str(sum(t.claimed_open for t in trials)),
                  str(sum(t.posted_unmarked for t in trials)))
    console.print(table)

    v = result.verdict
    out = Table(title="After the kills and a clean run: lost or doubled")
    for name in ("what", "count", "lost / missing", "doubled"):
        out.add_column(name, justify="left" if name == "what" else "right")
    out.add_row("mentions (posts the fakes served)", f"{v.served:,}", str(v.missing), str(v.doubled_mentions))
    out.add_row("mentions stored", f"{v.stored:,}", "", "")
    out.add_row("alerts raised (of them safety)", f"{v.alerts} ({v.safety_alerts})", "", "")
    out.add_row("alert updates, alerts resolved", f"{v.updates}, {v.resolved}", "", "")
    out.add_row("Slack messages recorded sent", str(v.messages_expected), str(v.lost), str(v.doubled))
    out.add_row("Slack messages seen: top-level, replies", f"{v.top_level}, {v.replies}", "", "")
    out.add_row("outbox rows not sent at the end", str(v.unsent_rows), "", "")
    console.print(out)
    for line in v.details[:20]:
        console.print(f"  [red]{line}[/red]")
    errors = sum(len(t.problems) for t in trials)
    lived = sorted(t.lived for t in trials)
    console.print(f"kills {len(trials)}, lives {lived[0]:.1f}-{lived[-1]:.1f}s; errors logged by the killed "
                  f"daemons: {errors}; final run settled: {'yes' if result.final_clean else 'NO (timed out)'}; "
                  f"wall time {result.wall:.0f}s; load average {os.getloadavg()[0]:.1f}")
    console.print("[green]nothing lost, nothing doubled[/green]" if v.ok and result.final_clean
                  else "[red]LOST OR DOUBLED (see above)[/red]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="SIGKILLs (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=3.0, help="posts a second on each platform (default 3)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the database and logs in this folder")
    args = parser.parse_args()

    from rich.console import Console

    console = Console(stderr=True, width=120)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="harkbot-crash-"))
    if args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    try:
        result = run(args.trials, args.seed, workdir, rate=args.rate, progress=lambda s: console.print(s))
        report(result, console)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if result.verdict.ok and result.final_clean else 1)


if __name__ == "__main__":
    main()
