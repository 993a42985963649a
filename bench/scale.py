"""Scale-out, measured: `harkbot worker` processes on PostgreSQL beside the SQLite daemon.

    .venv/bin/python bench/scale.py                          # everything, about 10 minutes
    .venv/bin/python bench/scale.py --only ingest --repeat 1 --per-brand 300
    .venv/bin/python bench/scale.py --only search --rows 100000
    .venv/bin/python bench/scale.py --only outbox --alerts 5

PostgreSQL: HARKBOT_TEST_DATABASE_URL or --dsn (default postgresql://postgres@127.0.0.1:5432/postgres).
Every run gets a fresh schema of its own on that server (created, then dropped), named in
the DSN's search_path so every connection of every worker lands in it.

1. ingest   New mentions/s end to end: the fakes (tests/fakes: X, Reddit, YouTube, on
            127.0.0.1, in this process) hold a backlog of posts for several brands; N
            `harkbot worker` processes on PostgreSQL (1, 2, 4), and the SQLite daemon
            `harkbot run` as the reference, each start on an empty database and the clock
            runs from the spawn until the database holds every post (counted in the database
            every 0.1 s). Best of --repeat, the runs interleaved. CPU per process from /proc.
2. search   p50/p95 of 2-word queries over the last 7 days at --rows mentions (bench/history.py's
            generator and queries), PostgreSQL beside SQLite, through each backend's
            `store.search()`, and SQLite's `harkbot search` (bot.history.search) beside them.
3. outbox   Drain of an outbox of --channels x --alerts messages into a fake Slack that
            refuses more than one message a second per channel (the notifier paces itself at
            `slack.pace: 1`): 1, 2, 4 workers beside the daemon's single sender, and the ideal
            (messages per channel at 1 msg/s, all channels at once).

Not a test: pytest never collects it. Figures are ratios to a reference measured in the same
run on the same data; nothing here was tuned on the data it reports.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, installed or not
sys.path.insert(0, str(ROOT / "bench"))

import history as hb  # noqa: E402 - bench/history.py: the 1M-mention generator and the queries

UTC = timezone.utc
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICK = os.sysconf("SC_CLK_TCK")
BRANDS = {"acme": "Acme Health", "globex": "Globex Care", "initech": "Initech Therapy",
          "umbrella": "Umbrella Clinics", "hooli": "Hooli Wellness", "vandelay": "Vandelay Counseling",
          "wonka": "Wonka Minds", "stark": "Stark Therapy"}
SUBREDDITS = ["therapy", "anxiety", "mentalhealth"]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- PostgreSQL


def with_schema(dsn: str, schema: str) -> str:
    """`dsn` with every connection's search_path set to `schema` (as tests/pg.py does)."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


class Schema:
    """A fresh schema on the server, dropped on exit."""

    def __init__(self, dsn: str, prefix: str):
        self.server, self.name = dsn, f"{prefix}_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {self.name}")
        return with_schema(self.server, self.name)

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def pg_version(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as c:
        return c.execute("SHOW server_version").fetchone()[0].split()[0]


# --------------------------------------------------------------------------- CPU from /proc


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> float:
    """CPU seconds of every live `postgres` process (the server is shared: other sessions'
    queries count too, and a backend that exited takes its seconds with it)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += proc_cpu(int(entry.name))
            except OSError:
                continue
    return total


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- processes


def harkbot(args: list[str], cfg: Path, env: dict, logfile: Path) -> subprocess.Popen:
    out = open(logfile, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, text=True)
    proc.log = out  # type: ignore[attr-defined]
    return proc


def stop(procs: list[subprocess.Popen]) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=40))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
        p.log.close()  # type: ignore[attr-defined]
    return codes


def errors_in(folder: Path) -> list[str]:
    return [f"{p.name}: {line.strip()}" for p in sorted(folder.glob("*.log"))
            for line in p.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line]


class Counter:
    """A count read from the database under test, in its own connection."""

    def __init__(self, database: str, sql: str):
        self.sql = sql
        if database.startswith("postgresql://"):
            import psycopg

            self.conn = psycopg.connect(database, autocommit=True)
        else:
            self.conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)

    def __call__(self) -> int:
        return int(self.conn.execute(self.sql).fetchone()[0])

    def rows(self, sql: str) -> list[tuple]:
        return list(self.conn.execute(sql).fetchall())

    def close(self) -> None:
        self.conn.close()


@dataclass
class Run:
    what: str
    workers: int
    total: float | None  # spawn -> every row there; None: timed out
    first: float | None  # spawn -> the first row there
    stored: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds until done
    detail: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the spawn and when done

    @property
    def window(self) -> float | None:
        return None if self.total is None or self.first is None else self.total - self.first


def wait_for(counter: Counter, expected: int, timeout: float, began: float,
             on_tick=None) -> tuple[float | None, float | None, int]:
    """Poll the count every 0.1 s: (seconds to the first row, seconds to all, last count)."""
    first = None
    n = 0
    while time.monotonic() - began < timeout:
        n = counter()
        now = time.monotonic() - began
        if on_tick is not None:
            on_tick(now)
        if n and first is None:
            first = now
        if n >= expected:
            return first, now, n
        time.sleep(0.1)
    return first, None, n


class ByListener(Counter):
    """The mentions count, and when each listener's share was complete (s after the spawn)."""

    def __init__(self, database: str, expected: dict[str, int], began: float):
        super().__init__(database, "SELECT listener, count(*) FROM mentions GROUP BY listener")
        self.expected, self.began, self.done = expected, began, {}

    def __call__(self) -> int:
        counts = dict(self.rows(self.sql))
        now = time.monotonic() - self.began
        for name, want in self.expected.items():
            if name not in self.done and counts.get(name, 0) >= want:
                self.done[name] = now
        return sum(counts.values())


# --------------------------------------------------------------------------- 1. ingest


INGEST_CONFIG = """\
database: {database}
rules: rules
evaluate_every: 10s
brands:
{brands}
listeners:
  twitter: {{base_url: "{x}", bearer_token: "${{X_BEARER_TOKEN}}", every: 1s, timeout: 30, max_pages: 100}}
  reddit: {{base_url: "{reddit}", every: 1s, timeout: 30s, subreddits: [{subs}], limit: 1000}}
  youtube: {{base_url: "{youtube}", api_key: "${{YOUTUBE_API_KEY}}", every: 1s, max_pages: 10}}
"""
RULE = """\
name: refund-watch
description: Refund talk, per brand (bench/scale.py; it makes the evaluation do real work)
group_by: [brand]
cooldown: 1h
mention: {query: refund, window: 15m}
"""


def post_text(rng: random.Random, name: str) -> str:
    """A post naming one brand: bench/history.py's bodies, long-tailed filler words and tags."""
    label = rng.choices(("positive", "neutral", "negative"), (0.35, 0.45, 0.2))[0]
    words = rng.choices(hb.FILLER, [1 / (i + 1) for i in range(len(hb.FILLER))], k=rng.randrange(0, 6))
    tags = rng.sample(hb.HASHTAGS, rng.choice((0, 0, 1, 2)))
    return " ".join([rng.choice(hb.BODIES[label]).replace("{b}", name), *words, *tags])


def serve_fake(kind: str, brands: dict[str, str], per_brand: int, seed: int, conn) -> None:
    """One fake in a process of its own (so the three do not share one GIL, and each one's CPU
    is its own): fill it, send back how to reach it, then answer "reset" and "stop"."""
    from tests.fakes.reddit import FakeReddit
    from tests.fakes.x import FakeX
    from tests.fakes.youtube import KEY, FakeYouTube

    rng = random.Random(f"{seed}:{kind}")
    now = datetime.now(UTC)
    fake = {"twitter": lambda: FakeX(rate_limit=1_000_000), "reddit": FakeReddit, "youtube": FakeYouTube}[kind]()
    fake.start()
    for i in range(per_brand):
        for name in brands.values():
            at = now - timedelta(hours=6) * (1 - i / per_brand) - timedelta(seconds=rng.random())
            if kind == "twitter":
                fake.add_post(post_text(rng, name), author=f"user{rng.randrange(20_000)}",
                              followers=rng.randrange(10, 5000), created_at=at)
            elif kind == "reddit":
                fake.add_submission(post_text(rng, name), "", author=f"r{rng.randrange(20_000)}",
                                    subreddit=rng.choice(SUBREDDITS), created_utc=at.timestamp())
            else:
                fake.add_video(post_text(rng, name), "", channel_id=f"UCscale{rng.randrange(50):017d}",
                               published_at=at, likes=rng.randrange(100), views=rng.randrange(5000))
    env = {"twitter": {"X_BEARER_TOKEN": getattr(fake, "token", "")},
           "reddit": {"REDDIT_CLIENT_ID": getattr(fake, "client_id", ""),
                      "REDDIT_CLIENT_SECRET": getattr(fake, "client_secret", "")},
           "youtube": {"YOUTUBE_API_KEY": KEY}}[kind]
    conn.send({"url": fake.url, "env": env, "count": per_brand * len(brands)})
    while True:
        command = conn.recv()
        if command == "reset":  # a fresh day for the next run: YouTube's units, Reddit's request window
            if kind == "youtube":
                fake.reset_quota()
            elif kind == "reddit":
                with fake._lock:  # noqa: SLF001 - the fake has no public reset of its window
                    fake._used = 0  # noqa: SLF001
            conn.send("ok")
        else:
            fake.stop()
            conn.send("stopped")
            return


class Backlog:
    """The fakes, each in a process of its own, and what they hold: `per_brand` posts for each
    brand (Reddit and YouTube at most what one walk reads: a listing lists 1,000, a search
    10 pages of 50)."""

    def __init__(self, brands: dict[str, str], per_brand: dict[str, int], seed: int = 11):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.brands = brands
        self.procs, self.pipes, self.info = {}, {}, {}
        for kind, n in per_brand.items():
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=serve_fake, args=(kind, brands, n, seed, theirs), daemon=True)
            proc.start()
            self.procs[kind], self.pipes[kind] = proc, ours
        for kind, pipe in self.pipes.items():
            self.info[kind] = pipe.recv()
        self.count = {kind: info["count"] for kind, info in self.info.items()}
        self.total = sum(self.count.values())

    def reset(self) -> None:
        for pipe in self.pipes.values():
            pipe.send("reset")
        for pipe in self.pipes.values():
            pipe.recv()

    def cpu(self) -> float:
        return sum(proc_cpu(p.pid) for p in self.procs.values())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARKBOT_", "SLACK_"))}
        for info in self.info.values():
            env.update(info["env"])
        return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}

    def config(self, database: str) -> str:
        brands = "\n".join(f"  {k}: {{name: {n}, query: {k}}}" for k, n in self.brands.items())
        return INGEST_CONFIG.format(database=database, brands=brands, x=self.info["twitter"]["url"],
                                    reddit=self.info["reddit"]["url"], youtube=self.info["youtube"]["url"],
                                    subs=", ".join(SUBREDDITS))

    def close(self) -> None:
        for kind, pipe in self.pipes.items():
            pipe.send("stop")
            pipe.recv()
            self.procs[kind].join(10)


def ingest_run(backlog: Backlog, workers: int, dsn: str, timeout: float, concurrency: int | None = None) -> Run:
    """workers == 0: the SQLite daemon; otherwise that many `harkbot worker`s on a fresh schema."""
    from bot.store import Store

    backlog.reset()
    with tempfile.TemporaryDirectory(prefix="harkbot-scale-") as tmp:
        folder = Path(tmp)
        (folder / "rules").mkdir()
        (folder / "rules" / "refund.yaml").write_text(RULE)
        env = backlog.env()
        if workers == 0:
            database = str(folder / "scale.db")
            Store(database).close()  # the schema exists before the clock starts, as `harkbot migrate` makes it
            return _measure(backlog, folder, env, database, 0, timeout)
        with Schema(dsn, "scale_ingest") as database:
            from bot.store.postgres import PostgresStore
            from bot.workers import ensure_schema

            PostgresStore(database).close()
            ensure_schema(database)
            env["HARKBOT_DATABASE_URL"] = database
            return _measure(backlog, folder, env, database, workers, timeout, concurrency)


def _measure(backlog: Backlog, folder: Path, env: dict, database: str, workers: int, timeout: float,
             concurrency: int | None = None) -> Run:
    cfg = folder / "config.yaml"
    cfg.write_text(backlog.config(database if workers == 0 else "unused.db"))
    pg0, me0, fakes0 = postgres_cpu(), self_cpu(), backlog.cpu()
    load0 = os.getloadavg()[0]
    began = time.monotonic()
    counter = ByListener(database, backlog.count, began)
    if workers == 0:
        procs = [harkbot(["run"], cfg, env, folder / "daemon.log")]
    else:
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        procs = [harkbot(["worker", "--name", f"w{i}", *extra], cfg, env, folder / f"worker{i}.log")
                 for i in range(workers)]
    try:
        first, total, n = wait_for(counter, backlog.total, timeout, began)
        load1 = os.getloadavg()[0]
        cpu = {f"{'daemon' if workers == 0 else 'worker'} {i}": proc_cpu(p.pid) for i, p in enumerate(procs)}
        cpu["fakes"] = backlog.cpu() - fakes0
        cpu["bench (counting)"] = self_cpu() - me0
        if workers:
            cpu["postgres (all)"] = postgres_cpu() - pg0
        per_listener = {name: (backlog.count[name], at) for name, at in counter.done.items()}
    finally:
        codes = stop(procs)
        counter.close()
    run = Run("SQLite daemon" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}", workers,
              total, first, n, cpu, {"listeners": per_listener, "exit": codes}, errors_in(folder), (load0, load1))
    return run


def bench_ingest(args, dsn: str) -> list[str]:
    brands = dict(list(BRANDS.items())[:args.brands])
    per_brand = {"twitter": args.per_brand, "reddit": min(args.per_brand, 1000), "youtube": min(args.per_brand // 2, 500)}
    log(f"ingest: building the backlog ({len(brands)} brands, {per_brand} per brand)")
    backlog = Backlog(brands, per_brand)
    modes = [(0, None), *[(w, None) for w in args.workers], *[(w, 1) for w in args.single]]
    runs: dict[tuple, list[Run]] = {m: [] for m in modes}
    try:
        for r in range(args.repeat):
            order = modes if r % 2 == 0 else list(reversed(modes))  # interleaved, both ways round
            for m in order:
                run = ingest_run(backlog, m[0], dsn, args.timeout, m[1])
                if m[1]:
                    run.what += f", --concurrency {m[1]}"
                log(f"  repeat {r + 1}: {run.what}: {run.stored:,}/{backlog.total:,} in "
                    f"{run.total if run.total is None else round(run.total, 1)} s (first row at "
                    f"{run.first if run.first is None else round(run.first, 1)} s); load {run.load[0]:.1f} -> {run.load[1]:.1f}")
                runs[m].append(run)
    finally:
        backlog.close()
    best = {m: min(rs, key=lambda r: r.total if r.total is not None else 1e9) for m, rs in runs.items()}
    ref = best[(0, None)]
    out = [f"## 1. Ingest: {backlog.total:,} new mentions ({len(brands)} brands; X {backlog.count['twitter']:,},"
           f" Reddit {backlog.count['reddit']:,}, YouTube {backlog.count['youtube']:,}) from the loopback fakes,"
           f" best of {args.repeat}", "",
           "| who | database | spawn -> all stored | new/s end to end | vs daemon | first row at | new/s after"
           " the first row | vs daemon | CPU s per process until done | load avg (start -> done) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for m in modes:
        run = best[m]
        db = "SQLite" if m[0] == 0 else "PostgreSQL"
        if run.total is None:
            out.append(f"| {run.what} | {db} | timed out at {args.timeout:.0f} s ({run.stored:,} stored) | | | | | |"
                       f" | {run.load[0]:.1f} -> {run.load[1]:.1f} |")
            continue
        rate, rate_ref = backlog.total / run.total, backlog.total / ref.total
        steady, steady_ref = backlog.total / run.window, backlog.total / ref.window
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in run.cpu.items())
        out.append(f"| {run.what} | {db} | {run.total:.1f} s | {rate:,.0f} | "
                   f"{'1.00x (ref)' if m[0] == 0 else f'{rate / rate_ref:.2f}x'} | {run.first:.1f} s | {steady:,.0f} | "
                   f"{'1.00x (ref)' if m[0] == 0 else f'{steady / steady_ref:.2f}x'} | {cpu} |"
                   f" {run.load[0]:.1f} -> {run.load[1]:.1f} |")
    out.append("")
    out.append("When each listener's share was all stored (s after the spawn):")
    for m in modes:
        listeners = best[m].detail.get("listeners", {})
        out.append(f"- {best[m].what}: " + ", ".join(f"{name} {n:,} by {at:.0f} s" for name, (n, at)
                                                       in sorted(listeners.items())))
    for m in modes:
        for run in runs[m]:
            if run.errors or any(c not in (0, None) for c in run.detail.get("exit", [])):
                out.append(f"- {run.what}: exit {run.detail.get('exit')}; errors: {run.errors[:3]}")
    out.append("")
    spread = []
    for m in modes:
        if m[0] > 1:
            shares = [max(v for k, v in r.cpu.items() if k.startswith("worker")) /
                      max(1e-9, sum(v for k, v in r.cpu.items() if k.startswith("worker"))) for r in runs[m]]
            spread.append(f"{best[m].what}: " + ", ".join(f"{x:.0%}" for x in shares))
    if spread:
        out += ["Share of the workers' CPU taken by the busiest worker, each repeat (100%: one process did all the"
                " polls): " + "; ".join(spread), ""]
    return out, best, backlog


# --------------------------------------------------------------------------- 2. search


def load_search(n: int, sqlite_path: Path, dsn: str) -> tuple[int, int, float, float]:
    """bench/history.py's data, generated once, into SQLite (Store.bulk_ingest per half hour,
    as history.setup writes it) and PostgreSQL (PostgresStore.bulk_ingest per 6 hours, with
    the secondary indexes dropped during the load and built again after, then ANALYZE)."""
    import psycopg

    from bot.store import Store
    from bot.store.postgres import PostgresStore

    sqlite_store, pg = Store(sqlite_path), PostgresStore(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        indexes = c.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                            " AND tablename IN ('mentions', 'mention_brands') AND indexname NOT LIKE '%pkey'"
                            ).fetchall()
        for name, _ in indexes:
            c.execute(f"DROP INDEX {name}")
    sqlite_s = pg_s = 0.0
    batch: dict[str, list] = {}
    for i, (slot, part) in enumerate(hb._slots(n, random.Random(7))):  # noqa: SLF001 - the generator
        by_listener: dict[str, list] = {}
        for sm in part:
            by_listener.setdefault(hb.LISTENER[sm.mention.platform], []).append(sm)
        began = time.perf_counter()
        for name, mentions in by_listener.items():
            sqlite_store.bulk_ingest(name, mentions, slot)
            batch.setdefault(name, []).extend(mentions)
        sqlite_s += time.perf_counter() - began
        if i % 12 == 11:
            began = time.perf_counter()
            for name, mentions in batch.items():
                pg.bulk_ingest(name, mentions, slot)
            batch = {}
            pg_s += time.perf_counter() - began
    began = time.perf_counter()
    for name, mentions in batch.items():
        pg.bulk_ingest(name, mentions, hb.END)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            c.execute(ddl)
        c.execute("ANALYZE")
    pg_s += time.perf_counter() - began
    counts = sqlite_store.count("mentions"), pg.count("mentions")
    sqlite_store.close()
    pg.close()
    return counts[0], counts[1], sqlite_s, pg_s


def _times(fn, out: list[float]) -> None:
    began = time.perf_counter()
    fn()
    out.append((time.perf_counter() - began) * 1000)


def bench_search(args, dsn: str) -> list[str]:
    import inspect

    from bot import history
    from bot.store import Store
    from bot.store.postgres import PostgresStore

    # bot.history.search is what `harkbot search` runs. Until #13 moved its SQL into the
    # backends it took a sqlite3 connection (SQLite only); then only store.search() compares.
    cli_sqlite_only = next(iter(inspect.signature(history.search).parameters)) == "conn"
    with tempfile.TemporaryDirectory(prefix="harkbot-scale-search-") as tmp, Schema(dsn, "scale_search") as pg_dsn:
        log(f"search: loading {args.rows:,} mentions into SQLite and PostgreSQL")
        began = time.perf_counter()
        n_sqlite, n_pg, sqlite_s, pg_s = load_search(args.rows, Path(tmp) / "search.db", pg_dsn)
        log(f"  loaded in {time.perf_counter() - began:.0f} s (SQLite {sqlite_s:.0f} s, PostgreSQL {pg_s:.0f} s)")
        sqlite_store, pg = Store(Path(tmp) / "search.db"), PostgresStore(pg_dsn)
        since, until = hb.END - hb.LAST_7, hb.END
        calls = {
            "pg search": lambda q, f: pg.search(q, since=since, until=until, limit=50),
            "lite search": lambda q, f: sqlite_store.search(q, since=since, until=until, limit=50),
        }
        if cli_sqlite_only:
            calls["lite cli"] = lambda q, f: history.search(sqlite_store.conn, f)
        else:
            calls["pg cli"] = lambda q, f: history.search(pg, f)
            calls["lite cli"] = lambda q, f: history.search(sqlite_store, f)
        rows = []
        loads = [os.getloadavg()[0]]
        for q in hb.QUERIES:
            f = history.Filters(query=q, since=since, until=until)
            times: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(args.search_repeat):  # interleaved: a noisy moment hurts one sample of each
                for name, call in calls.items():
                    _times(lambda: call(q, f), times[name])
            found = {name: len(call(q, f)) for name, call in calls.items()}
            loads.append(os.getloadavg()[0])
            rows.append((q, found, times, loads[-1]))
        sqlite_store.close()
        pg.close()
    pct = hb._pct  # noqa: SLF001
    out = [f"## 2. Search: {n_pg:,} mentions on PostgreSQL, {n_sqlite:,} on SQLite (bench/history.py's 30 days,"
           f" the same rows), 2-word queries over the last 7 days, 50 rows newest first; p50 / p95 ms of"
           f" {args.search_repeat} runs each, interleaved", ""]
    if cli_sqlite_only:
        out += ["`harkbot search` cannot run on PostgreSQL yet (bot/history.py still takes a sqlite3 connection),"
                " so both backends are compared through `store.search()` (History.search in"
                " bot/store/protocols.py); SQLite's `harkbot search` is shown beside them.", ""]
        cols = [("pg search", "PostgreSQL store.search"), ("lite search", "SQLite store.search"),
                ("lite cli", "SQLite `harkbot search`")]
        pairs = [("pg search", "lite search"), ("pg search", "lite cli")]
    else:
        out += ["`harkbot search` is bot.history.search on either store (Search.search_hits: the page of 50 with"
                " its highlights); `store.search()` (History.search, no highlight) is shown too.", ""]
        cols = [("pg cli", "PostgreSQL `harkbot search`"), ("lite cli", "SQLite `harkbot search`"),
                ("pg search", "PostgreSQL store.search"), ("lite search", "SQLite store.search")]
        pairs = [("pg cli", "lite cli"), ("pg search", "lite search")]
    head = " | ".join(title for _, title in cols)
    ratio_head = " | ".join(f"{dict(cols)[a].split()[0]} vs {dict(cols)[b].split()[0]} p95 ({dict(cols)[a].split(' ', 1)[1]})"
                            for a, b in pairs)
    out += [f"| query | rows shown | {head} | {ratio_head} | load avg |", "|---" * (3 + len(cols) + len(pairs)) + "|"]
    every: dict[str, list[float]] = {name: [] for name in calls}
    for q, found, times, load in rows:
        for name in calls:
            every[name] += times[name]
        shown = " / ".join(str(found[name]) for name, _ in cols)
        cells = " | ".join(f"{pct(times[name], .5):.1f} / {pct(times[name], .95):.1f}" for name, _ in cols)
        ratios = " | ".join(f"{pct(times[a], .95) / pct(times[b], .95):.2f}x" for a, b in pairs)
        out.append(f"| `{q}` | {shown} | {cells} | {ratios} | {load:.1f} |")
    p = {name: pct(v, .95) for name, v in every.items()}
    out += ["", f"p95 over all {len(every['pg search'])} runs of the {len(rows)} queries: "
            + ", ".join(f"{title} {p[name]:.1f} ms" for name, title in cols)
            + "; " + ", ".join(f"{dict(cols)[a]} / {dict(cols)[b]} = {p[a] / p[b]:.2f}x" for a, b in pairs)
            + f"; load average {min(loads):.1f}-{max(loads):.1f} while timing (the machine is shared)."
            + f" Load (not timed above): SQLite {sqlite_s:.0f} s, PostgreSQL {pg_s:.0f} s", ""]
    return out


# --------------------------------------------------------------------------- 3. outbox


OUTBOX_CONFIG = """\
database: {database}
rules: rules
evaluate_every: 1h
brands:
  acme: {{name: Acme Health, query: acme}}
listeners: {{}}
slack:
  token: ${{SLACK_BOT_TOKEN}}
  base_url: "{slack}"
  channels: {{{channels}}}
  default_channel: c1
  pace: 1
"""


def notice(channel: str, i: int, now: datetime):
    from bot.models import Alert, Finding

    finding = Finding(group="acme", title=f"Outbox drain {channel} #{i}", reason="bench/scale.py", observed=1.0,
                      usual=0.0, window_start=now, window_end=now)
    return Alert(id=None, fingerprint=f"scale:{channel}:{i}", rule="scale", kind="notice", severity="warning",
                 brand="acme", channel=channel, fired_at=now, finding=finding)


def outbox_run(workers: int, channels: int, per_channel: int, order: str, dsn: str, timeout: float) -> Run:
    from bot.store import Store
    from tests.fakes.slack import FakeSlack

    ids = {f"C0SCALE{i}": f"c{i}" for i in range(1, channels + 1)}
    names = list(ids.values())
    now = datetime.now(UTC)
    if order == "burst":  # every alert of c1, then every alert of c2, ...: one busy channel at a time
        plan = [(c, i) for c in names for i in range(per_channel)]
    else:  # c1, c2, ..., c1, c2, ...
        plan = [(c, i) for i in range(per_channel) for c in names]
    total = len(plan)
    with FakeSlack(channels=ids) as slack, tempfile.TemporaryDirectory(prefix="harkbot-scale-outbox-") as tmp:
        slack.enforce_pace(True)  # Slack's limit as the fake models it: a 4th post within a second is a 429
        folder = Path(tmp)
        (folder / "rules").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARKBOT_", "SLACK_"))}
        env.update({"SLACK_BOT_TOKEN": slack.token, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
        channel_map = ", ".join(f"{n}: {i}" for i, n in ids.items())

        def go(database: str) -> Run:
            cfg = folder / "config.yaml"
            cfg.write_text(OUTBOX_CONFIG.format(database=database if workers == 0 else "unused.db",
                                                slack=slack.url, channels=channel_map))
            counter = Counter(database, "SELECT count(*) FROM outbox WHERE status = 'sent'")
            posted: dict[str, list[float]] = {}
            seen = [0]

            def watch(at: float) -> None:
                messages = slack.top_level()
                for m in messages[seen[0]:]:
                    posted.setdefault(m.channel, []).append(at)
                seen[0] = len(messages)

            load0 = os.getloadavg()[0]
            began = time.monotonic()
            if workers == 0:
                procs = [harkbot(["run"], cfg, env, folder / "daemon.log")]
            else:
                procs = [harkbot(["worker", "--name", f"w{i}"], cfg, env, folder / f"worker{i}.log")
                         for i in range(workers)]
            try:
                first, done, n = wait_for(counter, total, timeout, began, on_tick=watch)
                watch(time.monotonic() - began)
                load1 = os.getloadavg()[0]
            finally:
                codes = stop(procs)
                counter.close()
            refused = sum(1 for c in slack.calls if c.method == "chat.postMessage") - len(slack.top_level())
            firsts = [min(v) for v in posted.values()]
            lasts = [max(v) for v in posted.values()]
            detail = {"exit": codes, "refused": refused, "messages": len(slack.top_level()),
                      "span": (max(lasts) - min(firsts)) if posted else None,
                      "first_post": min(firsts) if posted else None,
                      "per_channel": statistics.mean(b - a for a, b in zip(firsts, lasts)) if posted else None}
            what = "SQLite daemon" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"
            return Run(what, workers, done, first, n, {}, detail, errors_in(folder), (load0, load1))

        if workers == 0:
            database = str(folder / "outbox.db")
            store = Store(database)
            for c, i in plan:
                store.record_notice(notice(c, i, now), ["slack"], now)
            store.close()
            return go(database)
        with Schema(dsn, "scale_outbox") as database:
            from bot.store.postgres import PostgresStore
            from bot.workers import ensure_schema

            store = PostgresStore(database)
            for c, i in plan:
                store.record_notice(notice(c, i, now), ["slack"], now)
            store.close()
            ensure_schema(database)
            env["HARKBOT_DATABASE_URL"] = database
            return go(database)


def bench_outbox(args, dsn: str) -> list[str]:
    total = args.channels * args.alerts
    ideal = args.alerts / 1.0  # the brief's ideal: messages per channel at 1 msg/s
    span_ideal = max(1.0, args.alerts - 1.0)  # first -> last post: the first goes at once
    runs = []
    for workers, order in [(0, "burst"), (0, "interleaved"), *[(w, "burst") for w in args.workers]]:
        log(f"outbox: {'daemon' if workers == 0 else f'{workers} worker(s)'}, {order}")
        run = outbox_run(workers, args.channels, args.alerts, order, dsn, args.timeout + 60 + 2 * total)
        runs.append((order, run))
    out = [f"## 3. Outbox drain: {args.channels} channels x {args.alerts} messages = {total} into a fake Slack that"
           f" answers 429 past Slack's per-channel limit, `slack.pace: 1`; ideal {ideal:.0f} s (messages per channel"
           f" at 1 msg/s, the channels in parallel), i.e. {span_ideal:.0f} s from the first post to the last", "",
           "| sender | database | outbox order | spawn -> all sent | first post at | first -> last post |"
           " vs ideal (first -> last) | per channel, first -> last (mean) | 429s | messages in Slack | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for order, run in runs:
        d = run.detail
        span = d["span"]
        if span is None:  # nothing reached Slack: say so rather than fail on the format
            out.append(f"| {run.what} | {'SQLite' if run.workers == 0 else 'PostgreSQL'} | {order} | nothing posted"
                       f" | | | | | {d['refused']} | {d['messages']} | {run.load[0]:.1f} -> {run.load[1]:.1f} |")
            continue
        out.append(f"| {run.what} | {'SQLite' if run.workers == 0 else 'PostgreSQL'} | {order} |"
                   f" {'timed out' if run.total is None else f'{run.total:.1f} s'} |"
                   f" {d['first_post']:.1f} s | {span:.1f} s | {span / span_ideal:.2f}x | {d['per_channel']:.1f} s |"
                   f" {d['refused']} | {d['messages']} | {run.load[0]:.1f} -> {run.load[1]:.1f} |")
        if run.errors or any(c not in (0, None) for c in d["exit"]):
            out.append(f"| {run.what}: exit {d['exit']}; errors: {run.errors[:3]} |")
    out.append("")
    return out, runs


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get("HARKBOT_TEST_DATABASE_URL") or DEFAULT_DSN,
                        help="the PostgreSQL server; each run makes (and drops) a schema of its own on it")
    parser.add_argument("--only", choices=("ingest", "search", "outbox"), action="append")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--single", type=int, nargs="*", default=[4],
                        help="ingest: also this many workers with --concurrency 1 (one job at a time each)")
    parser.add_argument("--repeat", type=int, default=3, help="ingest: best of N interleaved runs")
    parser.add_argument("--brands", type=int, default=8, choices=range(1, len(BRANDS) + 1))
    parser.add_argument("--per-brand", type=int, default=1000,
                        help="posts per brand on X and Reddit (Reddit at most 1,000), half that on YouTube")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run may take")
    parser.add_argument("--rows", type=int, default=1_000_000, help="search: mentions stored")
    parser.add_argument("--search-repeat", type=int, default=20)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--alerts", type=int, default=8, help="outbox: messages per channel")
    args = parser.parse_args()
    parts = args.only or ["ingest", "search", "outbox"]
    started = time.monotonic()
    load = os.getloadavg()
    print(f"# bench/scale.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python"
          f" {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {pg_version(args.dsn)};"
          f" load average {load[0]:.1f} at start\n", flush=True)
    sections = {}
    if "ingest" in parts:
        lines, best, backlog = bench_ingest(args, args.dsn)
        sections["ingest"], sections["ingest_total"] = best, backlog.total
        print("\n".join(lines), flush=True)
    if "search" in parts:
        print("\n".join(bench_search(args, args.dsn)), flush=True)
    if "outbox" in parts:
        lines, runs = bench_outbox(args, args.dsn)
        sections["outbox"] = runs
        print("\n".join(lines), flush=True)
    print("\n".join(limits(sections, args)))
    print(f"\nwhole run {time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")


def limits(sections: dict, args) -> list[str]:
    """What limits scaling here, computed from the runs above (the best of each)."""
    cores = os.cpu_count() or 1
    out = ["## What limits scaling here (computed from the best runs above)", ""]
    best = sections.get("ingest")
    if best:
        total = sections["ingest_total"]
        out += [f"| who | wall s | CPU s, all processes | cores busy (of {cores}) | CPU floor on {cores} cores s |"
                " harkbot CPU per mention µs | PostgreSQL CPU s | fakes CPU s | busiest worker's share |"
                " spawn -> first row s | last listener done | load avg |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m, run in best.items():
            if run.total is None:
                continue
            ours = sum(v for k, v in run.cpu.items() if k.startswith(("worker", "daemon")))
            every = sum(run.cpu.values())
            workers = [v for k, v in run.cpu.items() if k.startswith("worker")]
            share = f"{max(workers) / max(1e-9, sum(workers)):.0%}" if len(workers) > 1 else "-"
            listeners = run.detail.get("listeners", {})
            last = max(listeners.items(), key=lambda kv: kv[1][1]) if listeners else None
            out.append(f"| {run.what} | {run.total:.1f} | {every:.1f} | {every / run.total:.2f} | {every / cores:.1f} |"
                       f" {ours / total * 1e6:,.0f} | {run.cpu.get('postgres (all)', 0):.1f} |"
                       f" {run.cpu.get('fakes', 0):.1f} | {share} | {run.first:.1f} |"
                       f" {f'{last[0]} at {last[1][1]:.1f} s' if last else '-'} | {run.load[1]:.1f} |")
        ref = best[(0, None)]
        scaled = [r for m, r in best.items() if m[0] > 1 and r.total is not None]
        one = best.get((1, None))
        if ref.total and one is not None and one.total and scaled:
            top = min(scaled, key=lambda r: r.total)
            every = sum(top.cpu.values())
            busy = every / top.total
            ours_one = sum(v for k, v in one.cpu.items() if k.startswith("worker"))
            ours_ref = sum(v for k, v in ref.cpu.items() if k.startswith("daemon"))
            out += ["", f"- Best scale-out run: {top.what}, {total / top.total:,.0f} new/s, {ref.total / top.total:.2f}x"
                    f" the SQLite daemon and {one.total / top.total:.2f}x one worker. It kept {busy:.2f} of the"
                    f" {cores} cores busy: {every:.1f} s of CPU in all (harkbot, PostgreSQL, the fakes) against a floor"
                    f" of {every / cores:.1f} s of wall time if all {cores} cores did nothing else.",
                    f"- harkbot's own CPU per stored mention: {ours_ref / total * 1e6:,.0f} µs in the SQLite daemon,"
                    f" {ours_one / total * 1e6:,.0f} µs in one worker on PostgreSQL"
                    f" ({ours_one / max(1e-9, ours_ref):.2f}x; the pipeline's prepare stage, normalise + match + score,"
                    f" is the same code in both). PostgreSQL itself used {one.cpu.get('postgres (all)', 0):.1f} s.",
                    f"- The fakes (three processes standing in for X, Reddit and YouTube) used"
                    f" {top.cpu.get('fakes', 0):.1f} s of the same {cores} cores: in production that CPU is the platforms'.",
                    f"- Start-up is a fixed cost: {one.first:.1f}-{max(r.first for r in scaled):.1f} s from spawn to the"
                    f" first stored row for workers (imports, then the first tick: ticks are {5} s apart) against"
                    f" {ref.first:.1f} s for the daemon; 'new/s after the first row' leaves it out.",
                    "- Parallel work is at most one poll per listener (3 here: a listener's polls are serialised"
                    " by its lock and lease), and with the default --concurrency (2 x cores) one worker can take"
                    " all three polls and run them on one interpreter (see the busiest worker's share)."]
        loads = [r.load[1] for r in best.values()]
        out.append(f"- The machine was shared: the 1-minute load average was {min(loads):.1f}-{max(loads):.1f} at the"
                   f" end of these runs on {cores} cores, so other processes than ours competed for the same cores;"
                   " the cores-busy column counts ours only. Read the ratios, not the rates.")
    runs = sections.get("outbox")
    if runs:
        span_ideal = max(1.0, args.alerts - 1.0)
        for order, run in runs:
            span = run.detail.get("span")
            if span is None:
                continue
            # Slack allows 1 msg/s per channel: messages a second over the whole drain is how many
            # channels were being posted to at once.
            at_once = (run.detail["messages"] - args.channels) / max(span, 1e-9)
            out.append(f"- Outbox, {run.what} ({order}): first -> last post {span:.1f} s against {span_ideal:.0f} s"
                       f" ideal ({span / span_ideal:.2f}x), about {min(at_once, args.channels):.1f} of the"
                       f" {args.channels} channels kept busy at once: the wait is Slack's 1 msg/s per channel"
                       + (", and how many lanes run side by side (one sender thread in the daemon drains the"
                          " channels one after another when their rows come in bursts; a worker runs up to its"
                          " --concurrency sends at once)" if span / span_ideal > 1.3 else "; CPU is not the limit"))
    return out


if __name__ == "__main__":
    main()
