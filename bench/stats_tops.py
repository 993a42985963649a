"""`harkbot stats` top authors, terms and hashtags: exact (what bot.history.stats reads now)
beside the 5,000-mention sample it used to read, in the same run, on the same database.

    .venv/bin/python bench/stats_tops.py                     # 200,000 mentions, seed 11
    .venv/bin/python bench/stats_tops.py --n 1000000 --db /tmp/h.db --seed 7
    .venv/bin/python bench/stats_tops.py --pg postgresql://...   # and the PostgreSQL store

The stream is bench/history.py's generator (three brands over 30 days, long-tailed authors and
vocabulary) with a seed of its own (default 11: not the seed 7 bench/history.py tunes on).
Measured: stats for `mindful` (half the stream) by day over 7 and 30 days, p50 / p95 of
`--repeat` runs; beside them the reference, the old method (a 5,000-mention sample in 50 equal
time slices, its top lists counted from the sample), and how many of its top 10 authors and
hashtags are in the true top 10 (its counts are of the sample, never the true ones).
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import history as stream  # noqa: E402 - bench/history.py: the generator
from bot import history  # noqa: E402
from bot.models import iso  # noqa: E402
from bot.store import Store, open_store  # noqa: E402
from bot.vocab import is_term, raw_terms  # noqa: E402

SAMPLE = 5000  # what bot/history.py read before its top lists became exact


def fill(store, n: int, seed: int) -> None:
    for slot, part in stream._slots(n, random.Random(seed)):  # noqa: SLF001 - the bench's own generator
        by: dict[str, list] = {}
        for sm in part:
            by.setdefault(stream.LISTENER[sm.mention.platform], []).append(sm)
        for name, mentions in by.items():
            store.bulk_ingest(name, mentions, slot)


def sampled_tops(conn, brand, start, end, population: int, top: int = 10):
    """The old method, for reference: all mentions up to SAMPLE, else SAMPLE of them in 50
    equal time slices; top lists counted from what was read."""
    sql = ("SELECT m.platform, m.author, m.author_reach, m.title, m.text FROM mention_brands b"
           " JOIN mentions m ON m.key = b.mention_key WHERE b.brand = ? AND b.created_at >= ? AND b.created_at < ?")
    rows = []
    if population <= SAMPLE:
        rows = conn.execute(sql, (brand.key, iso(start), iso(end))).fetchall()
    else:
        step = (end - start) / 50
        for i in range(50):
            rows += conn.execute(sql + " LIMIT ?", (brand.key, iso(start + step * i), iso(start + step * (i + 1)),
                                                    SAMPLE // 50)).fetchall()
    authors: Counter = Counter()
    raw: Counter = Counter()
    for platform, author, _reach, title, text in rows:
        if author:
            authors[(platform, author)] += 1
        raw.update(raw_terms(f"{title}\n{text}" if title else text))
    tags = [(t, n) for t, n in raw.items() if is_term(t) and t.startswith("#")]
    best = lambda items: heapq.nsmallest(top, items, key=lambda kv: (-kv[1], kv[0]))  # noqa: E731
    return [(a, n) for (_p, a), n in best(authors.items())], best(tags), len(rows)


def _times(fn, repeat: int) -> tuple[float, float]:
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    out.sort()
    return out[len(out) // 2], out[min(len(out) - 1, int(round(0.95 * (len(out) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db", type=Path, help="a SQLite file to fill (or reuse)")
    parser.add_argument("--pg", help="also a PostgreSQL DSN (an empty schema, or one this bench filled)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    db = args.db or Path(f"/tmp/harkbot-stats-tops-{args.n}-{args.seed}.db")
    stores = [("SQLite", Store(db))]
    if args.pg:
        stores.append(("PostgreSQL", open_store(args.pg)))
    for name, store in stores:
        if store.count("mentions") < args.n * 0.9:
            began = time.perf_counter()
            fill(store, args.n, args.seed)
            print(f"{name}: filled {store.count('mentions'):,} mentions in {time.perf_counter() - began:.0f}s")
    lite = stores[0][1]
    brands = [history.BrandInfo(k, k, stream.KINDS[k], tuple(w.lower() for n in stream.NAMES[k]
                                                             for w in n.strip("#@").split())) for k in stream.SHARE]
    print(f"seed {args.seed}, {lite.count('mentions'):,} mentions; `mindful` by day; p50 / p95 ms of {args.repeat}\n")
    print("| window | mentions | reference: top lists from a 5,000 sample, ms | of its top-10 authors, in the true top 10"
          " | hashtags likewise | " + " | ".join(f"ours: exact top lists, {n}, ms" for n, _ in stores) + " |")
    print("|---|---|---|---|---|" + "---|" * len(stores))
    for days in (7, 30):
        end, start = stream.END, stream.END - timedelta(days=days)
        exact = history.stats(lite, brands[:1], start, end, versus=brands).brands[0]
        population = exact.total.count
        ref_ms = _times(lambda: sampled_tops(lite.conn, brands[0], start, end, population), args.repeat)
        authors, tags, _read = sampled_tops(lite.conn, brands[0], start, end, population)
        right_authors = len({a.author for a in exact.top_authors} & {a for a, _n in authors})
        right_tags = len({t for t, _n in exact.top_hashtags} & {t for t, _n in tags})
        ours = [_times(lambda: history._tops(s, brands[0], start, end, (), population, 10), args.repeat)  # noqa: SLF001
                for _, s in stores]
        whole = [_times(lambda: history.stats(s, brands[:1], start, end, versus=brands), 3)[0] for _, s in stores]
        print(f"| {days} days | {population:,} | {ref_ms[0]:.0f} / {ref_ms[1]:.0f} | {right_authors} of 10"
              f" | {right_tags} of 10 | " + " | ".join(f"{p50:.0f} / {p95:.0f} (whole stats {w:.0f})"
                                                     for (p50, p95), w in zip(ours, whole)) + " |")
    print("\nOurs reads every stored mention of the window once (texts tokenized, authors aggregated in SQL);"
          " the reference reads 5,000 and is wrong whenever the window holds more.")
    for _, store in stores:
        store.close()


if __name__ == "__main__":
    main()
