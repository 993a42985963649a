"""Listener ingest from a fake API serving 100-item pages, beside raw parsing and insertion.

    .venv/bin/python bench/listeners.py [--posts 5000] [--repeat 3]

For X (tweepy) and Reddit (praw), the same corpus is walked two ways in the same run:
  harkbot   poll_once: the real client over HTTP -> to_mention -> normalise -> match ->
            dedupe -> score (VADER) -> Store.ingest (mentions, links, buckets, FTS, cursor)
  raw       the same page requests with plain `requests`, json.loads, and one sqlite3
            executemany per page of (id, text, author, created_at) into a plain table
Reddit lists at most 1,000 items, so its walk is capped there.
so the table shows what the client library and the pipeline cost over fetching the pages.
It starts the fakes in tests/fakes/, so run it from a clone (no ../shared needed).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.models import Brand  # noqa: E402
from bot.pipeline import poll_once  # noqa: E402
from bot.query import parse  # noqa: E402
from bot.sentiment import make_scorer  # noqa: E402
from bot.store import Store  # noqa: E402
from listeners.reddit import RedditListener  # noqa: E402
from listeners.twitter import TwitterListener  # noqa: E402
from tests.fakes.reddit import FakeReddit  # noqa: E402
from tests.fakes.x import FakeX  # noqa: E402

BRANDS = {"mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health" OR mindfulhealth'))}
TEXTS = ["Mindful Health helped me through a rough month, thank you 🙏",
         "still waiting on my refund from Mindful Health, 3 weeks now",
         "does Mindful Health take Aetna? asking for my sister",
         "my therapist at #MindfulHealth actually listens. rare."]


def raw_table(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE posts (id TEXT PRIMARY KEY, text TEXT, author TEXT, created_at TEXT)")
    return conn


def x_harkbot(fake: FakeX, pages: int, folder: Path) -> tuple[int, float]:
    listener = TwitterListener.from_config(TwitterListener.Options(base_url=fake.url, max_pages=pages),
                                           {"X_BEARER_TOKEN": fake.token})
    store = Store(folder / "x.db")
    started = time.perf_counter()
    result = poll_once(listener, BRANDS, make_scorer("vader"), store, datetime.now(timezone.utc))
    seconds = time.perf_counter() - started
    store.close()
    return result.new, seconds


def x_raw(fake: FakeX, pages: int, folder: Path) -> tuple[int, float]:
    conn = raw_table(folder / "x-raw.db")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fake.token}"
    params = {"query": "mindful", "max_results": "100", "tweet.fields": "created_at,author_id",
              "expansions": "author_id", "user.fields": "username"}
    stored, started = 0, time.perf_counter()
    for _ in range(pages):
        body = session.get(f"{fake.url}/2/tweets/search/recent", params=params, timeout=30).json()
        users = {u["id"]: u["username"] for u in body.get("includes", {}).get("users", [])}
        rows = [(t["id"], t["text"], users.get(t["author_id"], ""), t["created_at"]) for t in body.get("data", [])]
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        stored += len(rows)
        token = body.get("meta", {}).get("next_token")
        if not token:
            break
        params["next_token"] = token
    return stored, time.perf_counter() - started


def reddit_harkbot(fake: FakeReddit, pages: int, folder: Path) -> tuple[int, float]:
    options = RedditListener.Options(base_url=fake.url, subreddits=["therapy"], limit=min(1000, pages * 100))
    listener = RedditListener.from_config(options, {"REDDIT_CLIENT_ID": fake.client_id,
                                                    "REDDIT_CLIENT_SECRET": fake.client_secret})
    store = Store(folder / "reddit.db")
    started = time.perf_counter()
    result = poll_once(listener, BRANDS, make_scorer("vader"), store, datetime.now(timezone.utc))
    seconds = time.perf_counter() - started
    store.close()
    return result.new, seconds


def reddit_raw(fake: FakeReddit, pages: int, folder: Path) -> tuple[int, float]:
    conn = raw_table(folder / "reddit-raw.db")
    session = requests.Session()
    token = session.post(f"{fake.url}/api/v1/access_token", auth=(fake.client_id, fake.client_secret),
                         data={"grant_type": "client_credentials"}, timeout=30).json()["access_token"]
    session.headers["Authorization"] = f"bearer {token}"
    params = {"q": "mindful", "sort": "new", "restrict_sr": "on", "limit": "100", "raw_json": "1"}
    stored, started = 0, time.perf_counter()
    for _ in range(min(10, pages)):  # Reddit lists 1,000 items at most, as the listener's limit does
        body = session.get(f"{fake.url}/r/therapy/search", params=params, timeout=30).json()["data"]
        rows = [(c["data"]["name"], c["data"].get("title", "") + "\n" + c["data"].get("selftext", ""),
                 c["data"].get("author") or "", str(c["data"]["created_utc"])) for c in body["children"]]
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        stored += len(rows)
        if not body.get("after"):
            break
        params["after"] = body["after"]
    return stored, time.perf_counter() - started


def best(runs: list[tuple[int, float]]) -> tuple[int, float]:
    return min(runs, key=lambda r: r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000, help="posts per platform (100 a page)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    pages = args.posts // 100
    console = Console()
    rows = []
    with FakeX() as x, FakeReddit() as reddit:
        start = datetime.now(timezone.utc) - timedelta(hours=6)
        for i in range(args.posts):
            at = start + timedelta(seconds=4 * i)
            x.add_post(f"{TEXTS[i % 4]} #{i}", author=f"user{i % 900}", followers=i % 5000, created_at=at)
            reddit.add_submission(f"{TEXTS[i % 4]} #{i}", "", author=f"user{i % 900}", subreddit="therapy",
                                  created_utc=at.timestamp())
        for name, ours, raw, fake in (("x (tweepy)", x_harkbot, x_raw, x), ("reddit (praw)", reddit_harkbot,
                                                                            reddit_raw, reddit)):
            ours_runs, raw_runs = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as folder:
                    ours_runs.append(ours(fake, pages, Path(folder)))
                    raw_runs.append(raw(fake, pages, Path(folder)))
            rows.append((name, best(ours_runs), best(raw_runs)))
    table = Table(title=f"Listener ingest: {args.posts:,} posts per platform in pages of 100, best of {args.repeat}")
    for column in ("platform", "harkbot new/s", "raw parse+insert rows/s", "harkbot vs raw"):
        table.add_column(column, justify="right")
    for name, (n, s), (rn, rs) in rows:
        table.add_row(name, f"{n / s:,.0f} ({n:,} in {s:.2f}s)", f"{rn / rs:,.0f} ({rn:,} in {rs:.2f}s)",
                      f"{(s / n) / (rs / rn):.1f}x the time per post")
    console.print(table)
    console.print(f"{datetime.now(timezone.utc):%Y-%m-%d}, Python {sys.version.split()[0]}, "
                  f"SQLite {sqlite3.sqlite_version}; the fakes run in this process on 127.0.0.1")


if __name__ == "__main__":
    main()
