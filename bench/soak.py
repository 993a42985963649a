"""Soak: `harkbot run` against the fake X, Reddit and Slack at ten times a realistic volume
for several minutes; memory over time (it must stay flat) and ingest lag.

    .venv/bin/python bench/soak.py                    # 5 minutes at 10x
    .venv/bin/python bench/soak.py --minutes 20 --scale 50

Realistic (see bench/README.md): a mid-size brand gets about 2,000 mentions a day on each
platform; the shipped config.yaml watches one brand and two competitors, so about 6,000 a
day per platform, 12,000 over X and Reddit. At --scale 10 that is 120,000 a day, 1.4 posts a
second. The posts are the demo generator's (listeners/demo.py: complaints, praise, decoys
the brand queries must drop, a crisis, a launch), fed to the fakes at an even rate as time
passes; the daemon runs the shipped config.yaml and rules/ (copied), with the listeners'
`every` shortened (--every, default 15s, instead of 5m: many more poll cycles in a short run,
which is what finds a leak) and evaluate_every 1m.

Every --sample seconds (10): the daemon's RSS (VmRSS in /proc/PID/status), its CPU use, the
mentions stored, and the ingest lag of the posts stored since the last sample (from the
moment the feeder put a post in the fake to the ingested_at the daemon wrote, which has
whole-second resolution), and the backlog (posts in the fakes not yet stored, and the age of
the oldest). The verdict on memory: the first 150 s are warm-up (imports, caches, the first
walks, the first purge run at 2 minutes); over the rest, the least-squares slope in MB per
hour and the mean of the second half against the first. Flat: the second half is within 5%
(at least 3 MB) of the first.
Exit status 1 when memory is not flat or a post was never stored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, installed or not

from bot.durations import parse_duration  # noqa: E402
from tests.fakes.reddit import FakeReddit  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.x import FakeX  # noqa: E402

UTC = timezone.utc
REALISTIC_PER_DAY = 2_000 * 3 * 2  # per brand and platform, 3 brands, X and Reddit
CHANNELS = {"C0ALERTS": "brand-alerts", "C0CRISIS": "brand-crisis", "C0COMPETE": "competitor-watch"}
# Seconds left out of the verdict: imports, caches, the first walks, and the first purge run
# (2 minutes after start-up, bot/scheduler.py), which imports the retention module (+1 MB once).
WARM_UP = 150.0


def texts() -> list[tuple[str, str]]:
    """(text, author) from three days of the demo stream, in its order: the posts one of the
    shipped brand queries keeps (the decoys and chatter it drops would never be stored, and
    this bench follows every post it feeds until it is)."""
    from bot.config import load_config
    from listeners.demo import generate

    brands = load_config(ROOT / "config.yaml").brands.values()
    stream = generate(datetime(2026, 3, 2, tzinfo=UTC), days=3, seed=7)
    return [(m.text, m.author) for m in stream if m.text and any(b.matches(m.text) for b in brands)]


def config(x: FakeX, reddit: FakeReddit, slack: FakeSlack, every: str) -> str:
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    data["database"] = "soak.db"
    data["evaluate_every"] = "1m"
    data["listeners"]["twitter"].update(base_url=x.url, every=every, timeout=10)
    data["listeners"]["reddit"].update(base_url=reddit.url, every=every)
    data["listeners"]["youtube"]["enabled"] = False  # its 10,000-unit quota allows a poll an hour
    data["slack"].update(token="${SLACK_BOT_TOKEN}", webhook_url=None, base_url=slack.url,
                         channels={"alerts": "C0ALERTS", "crisis": "C0CRISIS", "competitors": "C0COMPETE"})
    return yaml.safe_dump(data, sort_keys=False)


class Feeder:
    """Posts into the fakes at an even rate; remembers when each went in."""

    def __init__(self, x: FakeX, reddit: FakeReddit, per_second: float):
        self.x, self.reddit, self.interval = x, reddit, 1 / per_second
        self.corpus = texts()
        self.added: dict[str, float] = {}  # mention key -> time.time() when it entered the fake
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        n, due = 0, time.monotonic()
        while not self._stop.is_set():
            text, author = self.corpus[n % len(self.corpus)]
            if n % 2 == 0:
                key = "x:" + self.x.add_post(text, author=author, followers=100 + n % 5000)
            else:
                key = "reddit:" + self.reddit.add_submission(text[:300], text, author=author,
                                                            subreddit="therapy", created_utc=time.time())
            with self._lock:
                self.added[key] = time.time()
            n += 1
            due += self.interval
            self._stop.wait(max(0.0, due - time.monotonic()))

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.added)


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the daemon started
    rss_mb: float
    cpu: float  # share of one core over the interval
    fed: int
    stored: int
    lag_p50: float | None  # seconds, posts stored in this interval
    lag_max: float | None
    backlog: int  # posts fed and not stored yet
    oldest_waiting: float | None
    sent: int  # Slack messages so far


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def flatness(samples: list[Sample]) -> tuple[float, float, float, bool]:
    """(first-half mean MB, second-half mean MB, slope MB/hour, flat?) after the warm-up."""
    kept = [s for s in samples if s.at >= WARM_UP]
    kept = kept if len(kept) >= 2 else samples
    half = max(1, len(kept) // 2)
    first, second = statistics.fmean(s.rss_mb for s in kept[:half]), statistics.fmean(s.rss_mb for s in kept[half:])
    if len(kept) > 1:
        slope = statistics.linear_regression([s.at for s in kept], [s.rss_mb for s in kept]).slope * 3600
    else:
        slope = 0.0
    return first, second, slope, second - first <= max(3.0, 0.05 * first)


def run(minutes: float, scale: float, every: str, sample: float, workdir: Path, console) -> int:
    per_second = REALISTIC_PER_DAY * scale / 86_400
    with FakeX(rate_limit=1_000_000) as x, FakeReddit() as reddit, FakeSlack(channels=CHANNELS) as slack:
        (workdir / "config.yaml").write_text(config(x, reddit, slack, every))
        shutil.copytree(ROOT / "rules", workdir / "rules")
        env = {**os.environ, "X_BEARER_TOKEN": x.token, "REDDIT_CLIENT_ID": reddit.client_id,
               "REDDIT_CLIENT_SECRET": reddit.client_secret, "SLACK_BOT_TOKEN": slack.token,
               "SLACK_WEBHOOK_URL": "", "YOUTUBE_API_KEY": ""}
        feeder = Feeder(x, reddit, per_second)
        feeder.start()
        log = (workdir / "soak.log").open("w")  # a file, not a pipe: a full pipe would block the daemon
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(workdir / "config.yaml"), "run"],
                                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        interval = parse_duration(every).total_seconds()
        console.print(f"soak: {per_second:.2f} posts/s ({scale:g}x {REALISTIC_PER_DAY:,}/day), polls every {every}, "
                      f"{minutes:g} min, daemon pid {proc.pid}, load average {os.getloadavg()[0]:.1f}")
        samples: list[Sample] = []
        lags_all: list[float] = []
        seen: set[str] = set()
        db = workdir / "soak.db"
        last_cpu, last_at = 0.0, 0.0
        try:
            while time.monotonic() - started < minutes * 60 and proc.poll() is None:
                time.sleep(sample - (time.monotonic() - started) % sample)
                at = time.monotonic() - started
                fed = feeder.snapshot()
                rows = []
                if db.exists():
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
                        rows = c.execute("SELECT key, ingested_at FROM mentions").fetchall()
                        sent = c.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND notifier = 'slack'"
                                         ).fetchone()[0]
                else:
                    sent = 0
                new = [(k, parse_iso(t)) for k, t in rows if k not in seen and k in fed]
                lags = [max(0.0, stored - fed[k]) for k, stored in new]
                seen.update(k for k, _t in new)
                lags_all += lags
                stored_keys = {k for k, _t in rows}
                now = time.time()
                waiting = [now - t for k, t in fed.items() if k not in stored_keys]
                cpu = cpu_seconds(proc.pid)
                samples.append(Sample(at, rss_mb(proc.pid), (cpu - last_cpu) / max(1e-9, at - last_at), len(fed),
                                      len(rows), statistics.median(lags) if lags else None,
                                      max(lags) if lags else None, len(waiting), max(waiting, default=None), sent))
                last_cpu, last_at = cpu, at
                s = samples[-1]
                console.print(f"  {s.at:6.0f}s  RSS {s.rss_mb:6.1f} MB  cpu {s.cpu:5.1%}  fed {s.fed:6,}  "
                              f"stored {s.stored:6,}  lag p50 {_s(s.lag_p50)} max {_s(s.lag_max)}  sent {s.sent}")
        finally:
            feeder.stop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()
        return report(samples, lags_all, proc.returncode, workdir, console, every, interval)


def _s(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.0f}s"


def report(samples: list[Sample], lags: list[float], returncode: int | None, workdir: Path, console,
           every: str, interval: float) -> int:
    from rich.table import Table

    table = Table(title="Soak: the daemon over time")
    for name in ("t", "RSS MB", "CPU (1 core)", "fed", "stored", "waiting", "oldest waiting", "lag p50", "lag max",
                 "sent to Slack"):
        table.add_column(name, justify="right")
    for s in samples:
        table.add_row(f"{s.at:.0f}s", f"{s.rss_mb:.1f}", f"{s.cpu:.1%}", f"{s.fed:,}", f"{s.stored:,}",
                      str(s.backlog), _s(s.oldest_waiting).strip(), _s(s.lag_p50).strip(), _s(s.lag_max).strip(),
                      str(s.sent))
    console.print(table)
    if not samples:
        console.print("[red]no samples: the daemon stopped at once; see soak.log[/red]")
        return 1
    first, second, slope, flat = flatness(samples)
    peak = max(s.rss_mb for s in samples)
    console.print(f"RSS after warm-up: first half {first:.1f} MB, second half {second:.1f} MB "
                  f"({second - first:+.1f} MB), slope {slope:+.1f} MB/hour, peak {peak:.1f} MB: "
                  + ("[green]flat[/green]" if flat else "[red]GROWING[/red]"))
    if lags:
        q = statistics.quantiles(lags, n=20) if len(lags) > 1 else [lags[0]] * 19
        console.print(f"ingest lag (fed -> stored) over {len(lags):,} mentions: p50 {statistics.median(lags):.1f}s, "
                      f"p95 {q[18]:.1f}s, max {max(lags):.1f}s (polls every {every}; ingested_at has 1 s "
                      "resolution)")
    # A post waiting longer than two polls (and some slack for a slow walk) was never fetched.
    stuck = (samples[-1].oldest_waiting or 0) > 2 * interval + 10
    if stuck:
        console.print(f"[red]a post fed {samples[-1].oldest_waiting:.0f}s before the end is not stored yet, more "
                      f"than two polls later: a backlog (or a loss; crash.py drains and counts)[/red]")
    errors = [line for line in (workdir / "soak.log").read_text(errors="replace").splitlines()
              if "ERROR" in line or "Traceback" in line]
    console.print(f"daemon exit status {returncode}; error lines in its log: {len(errors)}; "
                  f"load average {os.getloadavg()[0]:.1f}")
    return 0 if flat and returncode == 0 and not stuck else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--scale", type=float, default=10.0, help="times the realistic volume (default 10)")
    parser.add_argument("--every", default="15s", help="the listeners' poll interval (default 15s)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the database and log in this folder")
    args = parser.parse_args()

    from rich.console import Console

    console = Console(stderr=True, width=120)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="harkbot-soak-"))
    if args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    try:
        status = run(args.minutes, args.scale, args.every, args.sample, workdir, console)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
