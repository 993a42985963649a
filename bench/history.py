"""History queries on one million stored mentions: search, stats, export, beside plain SQL.

    .venv/bin/python bench/history.py                       # 1,000,000 mentions (setup takes minutes)
    .venv/bin/python bench/history.py --n 100000            # a quick look
    .venv/bin/python bench/history.py --db /tmp/h.db        # keep (and reuse) the database

Setup (timed on its own, not part of any figure): a synthetic 30-day stream of three brands
(`mindful`, a `kind: brand`, and two competitors), written half an hour at a time with
`Store.bulk_ingest` (the real schema: mentions with the FTS5 triggers, brand links, buckets),
as listeners would store it. Texts mix complaint, praise and question templates with words
drawn from a long-tailed vocabulary and a few hashtags; authors are long-tailed too (a few
accounts post a lot), reach is log-normal with rare big accounts.

Measured, each the p50 / p95 of `--repeat` runs per query, all in the same run:

* search: `bot.history.search` (what `harkbot search` runs) for several two-word queries over
  the last 7 days, newest first, 50 rows with the match highlighted; beside a plain
  `LIKE '%w1%' AND LIKE '%w2%'` scan over the same 7 days and the raw SQLite FTS5 query
  (`MATCH` joined to the table, no highlight, no brands);
* stats: `bot.history.stats` (what `harkbot stats` runs) for one brand over 30 days by day;
  beside the raw SQL of the same figures read the obvious way from the mentions table;
* export: `bot.history.export` of the 7-day window to CSV, rows/s and peak Python memory.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.models import Mention, Score, ScoredMention  # noqa: E402
from bot.store import Store  # noqa: E402

END = datetime(2026, 2, 1, tzinfo=timezone.utc)  # "now" for every query: the stream's last instant
DAYS = 30
START = END - timedelta(days=DAYS)
SHARE = {"mindful": 0.5, "theranow": 0.3, "haven": 0.2}
KINDS = {"mindful": "brand", "theranow": "competitor", "haven": "competitor"}
NAMES = {"mindful": ["Mindful Health", "#MindfulHealth", "the Mindful app"], "theranow": ["TheraNow", "@TheraNow"],
         "haven": ["Haven Therapy", "#HavenTherapy"]}
BODIES = {
    "positive": ["my therapist on {b} actually listens", "{b} has been a lifesaver this year",
                 "love the mood journal on {b}", "booked a session on {b} for Tuesday, great match",
                 "{b} made therapy affordable for me, thank you", "{b} support sorted my billing in minutes"],
    "neutral": ["does {b} take Aetna?", "anyone tried {b} for anxiety?", "{b} updated its iOS app this week",
                "switched my {b} sessions to Fridays", "{b} is hiring counselors in Ohio",
                "what does {b} cost without insurance?", "comparing {b} plans for my family"],
    "negative": ["{b} charged me twice this month", "waiting two weeks for a refund from {b}",
                 "{b} cancelled my session again", "the {b} app crashed during my session",
                 "{b} support chat goes in circles", "{b} refund still pending after a month",
                 "my {b} therapist ghosted me"],
}
CRISIS = ["{b} leaked my therapy notes, never again", "HIPAA breach at {b}, my records are out there",
          "{b} data leak: session notes exposed", "class action against {b} over the breach"]
HASHTAGS = ["#mentalhealth", "#therapy", "#selfcare", "#anxiety", "#telehealth", "#wellness", "#healthcare",
            "#depression", "#mindfulness", "#privacy"]
# Filler words with a long tail: a few common, most rare, as real posts' vocabularies are.
FILLER = ("honestly really today again still though maybe literally seriously lately finally tonight morning "
          "weekend monday friday coworker sister brother mom dad partner kids school work commute office "
          "insurance copay deductible coverage claim billing invoice receipt statement subscription plan "
          "premium basic annual monthly trial discount coupon promo price pricing expensive cheap affordable "
          "video audio chat messaging calendar reminder notification login password account profile update "
          "android iphone ipad laptop browser tablet screen camera microphone headphones wifi connection "
          "counselor psychiatrist psychologist therapist coach clinician provider doctor nurse specialist "
          "appointment booking schedule reschedule waitlist intake assessment questionnaire matching "
          "grief stress burnout insomnia panic trauma adhd ocd bipolar postpartum loneliness anger").split()
LISTENER = {"x": "twitter", "reddit": "reddit", "youtube": "youtube"}
QUERIES = ["refund pending", "session cancelled", "therapist listens", "charged twice", "hipaa breach",
           "insurance aetna", "support chat", "booking appointment", "refund* weeks", '"mood journal" love']
LAST_7 = timedelta(days=7)


def rhythm(at: datetime) -> float:
    return 0.6 + 0.4 * math.sin((at.hour + at.minute / 60 - 9) / 24 * 2 * math.pi)


def _slots(n: int, rng: random.Random):
    """Yield (slot end, [ScoredMention]) per half hour: what the listeners store at that time."""
    steps = DAYS * 48
    weights = [rhythm(START + timedelta(minutes=30 * i)) for i in range(steps)]
    scale = n / sum(weights)
    crisis = START + timedelta(days=24, hours=13)
    filler_weights = [1 / (i + 1) for i in range(len(FILLER))]
    k = 0
    for i in range(steps):
        t = START + timedelta(minutes=30 * i)
        out: list[ScoredMention] = []
        for _ in range(int(weights[i] * scale + rng.random())):
            k += 1
            brand = rng.choices(list(SHARE), list(SHARE.values()))[0]
            label = rng.choices(("positive", "neutral", "negative"), (0.35, 0.45, 0.2))[0]
            text = rng.choice(BODIES[label])
            if brand == "mindful" and timedelta(0) <= t - crisis < timedelta(hours=8) and rng.random() < 0.5:
                text, label = rng.choice(CRISIS), "negative"
            words = rng.choices(FILLER, filler_weights, k=rng.randrange(0, 4))
            tags = rng.sample(HASHTAGS, rng.choice((0, 0, 0, 1, 2)))
            body = " ".join([text.replace("{b}", rng.choice(NAMES[brand])), *words, *tags])
            platform_ = rng.choices(("x", "reddit", "youtube"), (0.6, 0.25, 0.15))[0]
            reach = 2_000_000 if rng.random() < 0.0005 else int(rng.lognormvariate(5.8, 1.0))
            # 5% from 200 regulars (user1 the busiest), the rest from 80,000 occasional authors
            author = (f"user{int(rng.paretovariate(1.0)) % 200}" if rng.random() < 0.05
                      else f"user{200 + rng.randrange(80_000)}")
            at = t + timedelta(seconds=rng.randrange(1800))
            m = Mention(platform=platform_, id=f"h{k}", text=body, author=author, url=f"https://example.com/{k}",
                        created_at=at, author_reach=reach, engagement=rng.randrange(20))
            polarity = {"negative": -0.5, "positive": 0.5}.get(label, 0.0) + rng.uniform(-0.2, 0.2)
            out.append(ScoredMention(m, (brand,), Score(label, round(polarity, 3), "bench")))
        yield t + timedelta(minutes=30), out


def setup(path: Path, n: int) -> tuple[float, int]:
    """Fill `path` with n mentions (reused when it already holds about that many)."""
    began = time.perf_counter()
    store = Store(path)
    if store.count("mentions") >= n * 0.9:
        stored = store.count("mentions")
        store.close()
        return 0.0, stored
    rng = random.Random(7)
    for slot, part in _slots(n, rng):
        by_listener: dict[str, list[ScoredMention]] = {}
        for sm in part:
            by_listener.setdefault(LISTENER[sm.mention.platform], []).append(sm)
        for name, mentions in by_listener.items():
            store.bulk_ingest(name, mentions, slot)
    stored = store.count("mentions")
    store.close()
    return time.perf_counter() - began, stored


def _times(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _like_args(query: str) -> list[str]:
    """The LIKE patterns a plain scan would use for one of QUERIES: each word or phrase."""
    parts = [p.strip('"') for p in (query.split('"')[1::2] + query.split('"')[2::2][0].split() if '"' in query
                                    else query.split())]
    return [f"%{p.rstrip('*')}%" for p in parts if p]


def bench_search(store, repeat: int) -> list[tuple]:
    conn = store.conn
    from bot import history

    since, until = END - LAST_7, END
    filters = [history.Filters(query=q, since=since, until=until) for q in QUERIES]
    fts = ("SELECT m.* FROM mentions_fts JOIN mentions m ON m.rowid = mentions_fts.rowid WHERE mentions_fts MATCH ?"
           " AND m.created_at >= ? AND m.created_at < ? ORDER BY m.created_at DESC LIMIT 50")
    rows = []
    for q, f in zip(QUERIES, filters):
        likes = _like_args(q)
        like = ("SELECT * FROM mentions WHERE created_at >= ? AND created_at < ? AND "
                + " AND ".join("(text LIKE ? OR title LIKE ?)" for _ in likes) + " ORDER BY created_at DESC LIMIT 50")
        like_args = [history.iso(since), history.iso(until)] + [p for pat in likes for p in (pat, pat)]
        ours, raw, scan = [], [], []
        for _ in range(repeat):  # interleaved, so a noisy moment hurts one sample of each
            ours += _times(lambda: history.search(store, f), 1)
            raw += _times(lambda: conn.execute(fts, (q, history.iso(since), history.iso(until))).fetchall(), 1)
            scan += _times(lambda: conn.execute(like, like_args).fetchall(), 1)
        found = len(history.search(store, f))
        matches = store.match_count(q)
        rows.append((q, matches, found, ours, raw, scan))
    return rows


def bench_stats(store, repeat: int, every: str) -> tuple:
    conn = store.conn
    from bot import history

    brands = [history.BrandInfo(k, k, KINDS[k], tuple(w.lower() for n in NAMES[k] for w in n.strip("#@").split()))
              for k in SHARE]
    start = END - timedelta(days=30)
    ours = _times(lambda: history.stats(store, brands[:1], start, END, every=every, versus=brands), repeat)
    width = 13 if every == "hour" else 10
    exact = [
        (f"SELECT substr(b.created_at, 1, {width}), count(*), sum(b.label = 'negative'), sum(b.label = 'positive'),"
         " avg(m.polarity), m.platform FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
         " WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ? GROUP BY 1, m.platform"),
        (f"SELECT substr(created_at, 1, {width}), brand, count(*) FROM mention_brands"
         " WHERE created_at >= ? AND created_at < ? AND brand IN ('mindful', 'theranow', 'haven') GROUP BY 1, 2"),
        ("SELECT m.platform, m.author, count(*) AS n FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"
         " WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ? GROUP BY 1, 2 ORDER BY n DESC LIMIT 10"),
    ]
    args = [("mindful", history.iso(start), history.iso(END)), (history.iso(start), history.iso(END)),
            ("mindful", history.iso(start), history.iso(END))]
    few = max(1, min(3, repeat))
    raw = _times(lambda: [conn.execute(sql, a).fetchall() for sql, a in zip(exact, args)], few)
    like = (f"SELECT substr(created_at, 1, {width}), count(*), sum(label = 'negative'), sum(label = 'positive'),"
            " avg(polarity) FROM mentions WHERE created_at >= ? AND created_at < ? AND (text LIKE '%mindful%')"
            " GROUP BY 1")
    scan = _times(lambda: conn.execute(like, (history.iso(start), history.iso(END))).fetchall(), few)
    result = history.stats(store, brands[:1], start, END, every=every, versus=brands)
    return ours, raw, scan, result.brands[0]


def bench_export(store, folder: Path) -> tuple:
    from io import StringIO

    from rich.console import Console

    from bot import history
    from bot.cli_history import write_export

    f = history.Filters(since=END - LAST_7, until=END)
    quiet = Console(file=StringIO())
    out = {}
    for fmt in ("csv", "parquet"):
        began = time.perf_counter()
        n = write_export(history.iter_rows(store, f), fmt, str(folder / f"export.{fmt}"), total=0, console=quiet)
        seconds = time.perf_counter() - began
        tracemalloc.start()
        write_export(history.iter_rows(store, f), fmt, str(folder / f"export2.{fmt}"), total=0, console=quiet)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[fmt] = (n, seconds, peak)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--repeat", type=int, default=20, help="runs per query (p50 and p95 over them)")
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="harkbot-history-"))
    db = args.db or folder / "bench.db"
    seconds, stored = setup(db, args.n)
    print(f"setup: {stored:,} mentions in {db} ({'reused' if not seconds else f'{seconds:.1f}s'})")
    if args.setup_only:
        return
    began = time.perf_counter()
    load = os.getloadavg()[0]
    store = Store(db)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" SQLite {sqlite3.sqlite_version}, load average {load:.1f} at start; p50 / p95 of {args.repeat} runs\n")

    rows = bench_search(store, args.repeat)
    print("search, last 7 days, newest first, 50 rows | FTS matches (all time) | shown | ours p50 / p95 ms"
          " | raw FTS5 p50 / p95 ms | LIKE scan p50 / p95 ms")
    print("|---|---|---|---|---|---|")
    every_ours = []
    for q, matches, found, ours, raw, scan in rows:
        every_ours += ours
        print(f"| `{q}` | {matches:,} | {found} | {_pct(ours, .5):.1f} / {_pct(ours, .95):.1f}"
              f" | {_pct(raw, .5):.1f} / {_pct(raw, .95):.1f} | {_pct(scan, .5):.1f} / {_pct(scan, .95):.1f} |")
    print(f"\nsearch p95 over all {len(every_ours)} runs of the {len(rows)} queries: {_pct(every_ours, .95):.1f} ms"
          " (target < 50 ms)\n")

    print("stats, mindful, 30 days | ours p50 / p95 ms | raw SQL over brand links (exact) ms | LIKE scan ms"
          " | mentions | top lists from")
    print("|---|---|---|---|---|---|")
    for every in ("day", "hour"):
        ours, raw, scan, s = bench_stats(store, args.repeat, every)
        print(f"| by {every} | {_pct(ours, .5):.1f} / {_pct(ours, .95):.1f} | {_pct(raw, .5):.0f} | {_pct(scan, .5):.0f}"
              f" | {s.population:,} | {'a sample of ' + format(s.sample, ',') if s.sampled else 'all'} |")
    print("(target: a brand's 30-day stats < 200 ms)\n")

    if not args.no_export:
        for fmt, (n, secs, peak) in bench_export(store, folder).items():
            print(f"export {fmt}: {n:,} rows (7 days) in {secs:.1f}s = {n / secs:,.0f} rows/s;"
                  f" peak traced Python memory {peak / 1e6:.1f} MB")
    store.close()
    print(f"\nwhole run {time.perf_counter() - began:.0f}s; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
