"""Backtest speed: 1M stored mentions, 20 rules of 7 kinds, 30 days of 5-minute evaluations.

    .venv/bin/python bench/backtest.py                          # 100,000 then 1,000,000 mentions (setup takes minutes)
    .venv/bin/python bench/backtest.py --n 100000               # a quick look
    .venv/bin/python bench/backtest.py --db-dir /tmp/b          # keep (and reuse) the databases
    .venv/bin/python bench/backtest.py --repeat 3               # best of 3 interleaved runs of each method

Setup (timed on its own, not part of the figure): a synthetic 30-day stream of three brands
(ordinary chatter with a daily rhythm, a competitor launch on day 12, a privacy crisis on
day 20, big accounts now and then) written with `Store.bulk_ingest` into a fresh SQLite file
(the FTS5 triggers included), seed 7 unless `--seed` says otherwise.

Our figure: `run_backtest(method="vector")` (bot/backtest_vec.py) of the 9 shipped rules plus
11 variants over the whole 30 days, split into loading the history and the replay, with every
alert explained as `harkbot rules backtest` does by default (`--no-explain`: titles from the
numbers only). Reference, in the same run on the same database: `method="step"`, the
step-by-step replay (today's path, which the vector path must equal alert for alert: the
bench checks it), and the daemon's own `evaluate_once` (SQL per check) over a slice of
`--slice` evaluations, extrapolated. Target (#15): 1M x 20 rules x 30 days in 5 s or less.
The bench prints how each rule was replayed (vectorised, prefiltered with real checks where
the vector cannot decide, or step by step) and the load average, since the machine is shared
and the wall-clock time moves with it (the CPU time much less).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.backtest import run_backtest  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.models import Mention, Score, ScoredMention  # noqa: E402
from bot.pipeline import evaluate_once  # noqa: E402
from bot.rules import load_file, load_rules  # noqa: E402
from bot.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 30
SHARE = {"mindful": 0.5, "theranow": 0.3, "haven": 0.2}
NAMES = {"mindful": ["Mindful Health", "#MindfulHealth", "the Mindful app"], "theranow": ["TheraNow", "@TheraNow"],
         "haven": ["Haven Therapy", "#HavenTherapy"]}
BODIES = {
    "positive": ["my therapist on {b} actually listens", "{b} has been a lifesaver this year",
                 "love the mood journal on {b}", "booked a session on {b} for Tuesday, great match",
                 "{b} made therapy affordable for me, thank you"],
    "neutral": ["does {b} take Aetna?", "anyone tried {b} for anxiety?", "{b} updated its iOS app this week",
                "switched my {b} sessions to Fridays", "{b} is hiring counselors in Ohio",
                "what does {b} cost without insurance?"],
    "negative": ["{b} charged me twice this month", "waiting two weeks for a refund from {b}",
                 "{b} cancelled my session again", "the {b} app crashed during my session",
                 "{b} support chat goes in circles"],
}
CRISIS = ["{b} leaked my therapy notes, never again", "HIPAA breach at {b}, my records are out there",
          "{b} data leak: session notes exposed", "class action against {b} over the breach"]
LAUNCH = ["TheraNow just launched TheraNow Teen", "Introducing TheraNow Teen for ages 13-17",
          "TheraNow Teen is now available in all 50 states"]
EXTRA_RULES = """
- name: surge-mindful
  brands: [mindful]
  volume_spike: {window: 1h, factor: 3, min_mentions: 30}
- name: surge-theranow
  brands: [theranow]
  volume_spike: {window: 1h, sensitivity: low}
- name: surge-haven
  brands: [haven]
  volume_spike: {window: 2h, factor: 3, min_mentions: 30}
- name: drop-mindful
  brands: [mindful]
  volume_spike: {window: 1h, direction: down, factor: 4, min_mentions: 40}
- name: negative-share-competitors
  brands: [theranow, haven]
  negative_share: {window: 3h, above: 0.6, min_mentions: 40}
- name: refunds-by-platform
  brands: [mindful]
  group_by: [brand, platform]
  mention: {query: 'refund* OR "charged me twice"', window: 1h, min_matches: 40}
- name: haven-share
  brands: [haven]
  share_of_voice: {versus: [mindful], window: 3h, rise: 0.2, min_total: 60}
- name: mindful-new-hashtag
  brands: [mindful]
  new_term: {window: 1h, lookback: 7d, hashtags_only: true, min_mentions: 20}
- name: big-accounts
  brands: [mindful, theranow, haven]
  influencer: {min_reach: 500000, window: 1h}
- name: competitor-prices
  brands: [theranow, haven]
  mention: {query: 'price* OR cost* OR insurance', window: 1h, min_matches: 200}
- name: crisis-negative-reddit
  brands: [mindful]
  platforms: [reddit]
  volume_spike: {window: 1h, sentiment: negative, factor: 4, min_mentions: 20}
"""


def rhythm(at: datetime) -> float:
    return 0.6 + 0.4 * math.sin((at.hour + at.minute / 60 - 9) / 24 * 2 * math.pi)


def generate(n: int, rng: random.Random) -> list[ScoredMention]:
    """n mentions over 30 days: a rhythm, a launch (day 12), a crisis (day 20), big accounts."""
    steps = DAYS * 288
    weights = [rhythm(START + timedelta(minutes=5 * i)) for i in range(steps)]
    scale = n / sum(weights)
    out: list[ScoredMention] = []
    crisis, launch = START + timedelta(days=20, hours=13), START + timedelta(days=12, hours=15)
    k = 0
    for i in range(steps):
        t = START + timedelta(minutes=5 * i)
        count = int(weights[i] * scale + rng.random())
        for _ in range(count):
            k += 1
            brand = rng.choices(list(SHARE), list(SHARE.values()))[0]
            label = rng.choices(("positive", "neutral", "negative"), (0.35, 0.45, 0.2))[0]
            text = rng.choice(BODIES[label])
            if brand == "mindful" and timedelta(0) <= t - crisis < timedelta(hours=6) and rng.random() < 0.5:
                text, label = rng.choice(CRISIS), "negative"
            if brand == "theranow" and timedelta(0) <= t - launch < timedelta(hours=3) and rng.random() < 0.6:
                text, label = rng.choice(LAUNCH), "positive"
            body = text.replace("{b}", rng.choice(NAMES[brand]))
            platform = rng.choices(("x", "reddit", "youtube"), (0.6, 0.25, 0.15))[0]
            reach = 2_000_000 if rng.random() < 0.0005 else int(rng.lognormvariate(5.8, 1.0))
            at = t + timedelta(seconds=rng.randrange(300))
            m = Mention(platform=platform, id=f"b{k}", text=body, author=f"user{rng.randrange(60_000)}",
                        url=f"https://example.com/{k}", created_at=at, author_reach=reach, engagement=1)
            out.append(ScoredMention(m, (brand,), Score(label, {"negative": -0.5, "positive": 0.5}.get(label, 0.0),
                                                        "bench")))
    return out


def setup(path: Path, n: int, seed: int = 7) -> tuple[float, int]:
    began = time.perf_counter()
    store = Store(path)
    if store.count("mentions") >= n * 0.9:
        stored = store.count("mentions")
        store.close()
        return 0.0, stored
    rng = random.Random(seed)
    mentions = generate(n, rng)
    listener = {"x": "twitter", "reddit": "reddit", "youtube": "youtube"}
    hours: dict[tuple[datetime, str], list[ScoredMention]] = {}
    for sm in mentions:  # as listeners would store them: each platform's new posts, every half hour
        at = sm.mention.created_at
        slot = at.replace(minute=30 if at.minute >= 30 else 0, second=0, microsecond=0) + timedelta(minutes=30)
        hours.setdefault((slot, listener[sm.mention.platform]), []).append(sm)
    for (slot, name), part in sorted(hours.items()):
        store.bulk_ingest(name, part, slot)
    stored = store.count("mentions")
    store.close()
    return time.perf_counter() - began, stored


def _plain(result) -> str:
    out = result.as_dict()
    out.pop("load_seconds"), out.pop("replay_seconds")
    return json.dumps(out)


def _timed(store, rules, brands, method: str, explain: bool):
    cpu = time.process_time()
    result = run_backtest(store, rules, brands, START, START + timedelta(days=DAYS), explain=explain, method=method)
    return result, time.process_time() - cpu


def measure(db: Path, n: int, rules, config, args) -> dict:
    """Vector and step backtests of one database, interleaved, best of --repeat each."""
    seconds, stored = setup(db, n, args.seed)
    print(f"setup: {stored:,} mentions in {db} ({'reused' if not seconds else f'{seconds:.1f}s'})")
    store = Store(db)
    best: dict[str, tuple] = {}
    load_before = os.getloadavg()
    try:
        for _ in range(args.repeat):
            for method in ("vector", "step"):
                result, cpu = _timed(store, rules, config.brands, method, not args.no_explain)
                total = result.load_seconds + result.replay_seconds
                if method not in best or total < best[method][0].load_seconds + best[method][0].replay_seconds:
                    best[method] = (result, cpu)
        vector, step = best["vector"][0], best["step"][0]
        identical = _plain(vector) == _plain(step)
        reference = None
        if args.slice:  # the daemon's evaluate_once (SQL per check) on a slice, extrapolated
            at = START + timedelta(days=5, hours=12)
            began = time.perf_counter()
            for i in range(args.slice):
                evaluate_once(rules, config.brands, store, at + timedelta(minutes=5 * i), [])
            reference = (time.perf_counter() - began) / args.slice * step.steps
    finally:
        store.close()
    return {"n": stored, "setup": seconds, "best": best, "identical": identical, "reference": reference,
            "load": (load_before[0], os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="mentions (repeatable; default 100,000 and 1,000,000)")
    parser.add_argument("--db", type=Path, help="with one --n: keep (and reuse) the database here")
    parser.add_argument("--db-dir", type=Path, help="keep (and reuse) the databases here, bench-N.db")
    parser.add_argument("--repeat", type=int, default=1, help="best of N interleaved runs of each method")
    parser.add_argument("--slice", type=int, default=6, help="evaluations the evaluate_once reference runs (0: skip)")
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--seed", type=int, default=7, help="the stream's random seed (7: the data the vector "
                        "path was written against; report figures from another)")
    args = parser.parse_args()
    sizes = args.n or [100_000, 1_000_000]
    folder = Path(tempfile.mkdtemp(prefix="harkbot-bench-"))

    config = load_config(ROOT / "config.yaml")
    rules, problems = load_rules([ROOT / "rules"], config)
    (folder / "extra.yaml").write_text(EXTRA_RULES)
    extra, extra_problems = load_file(folder / "extra.yaml", config)
    rules = rules + extra
    assert not [p for p in problems + extra_problems if p.severity == "error"], problems + extra_problems
    kinds = sorted({r.kind for r in rules})
    print(f"rules: {len(rules)} of {len(kinds)} kinds ({', '.join(kinds)})")

    runs = []
    for n in sizes:
        db = args.db if args.db and len(sizes) == 1 else (args.db_dir or folder) / f"bench-{n}-seed{args.seed}.db"
        runs.append(measure(db, n, rules, config, args))

    last = runs[-1]["best"]["vector"][0]
    print()
    print("How each rule was replayed (vector method):")
    for r in last.results:
        print(f"  {r.rule:28} {r.kind:16} {len(r.alerts):4} alerts  {last.paths.get(r.rule, '')}")
    print()
    print("| mentions | method | load s | replay s | total s | CPU s | alerts | same alerts |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        for method in ("vector", "step"):
            result, cpu = run["best"][method]
            total = result.load_seconds + result.replay_seconds
            alerts = sum(len(r.alerts) for r in result.results)
            print(f"| {run['n']:,} | {method}{' (reference)' if method == 'step' else ''} | {result.load_seconds:.2f} "
                  f"| {result.replay_seconds:.2f} | {total:.2f} | {cpu:.2f} | {alerts} | "
                  f"{'yes' if run['identical'] else 'NO'} |")
        if run["reference"] is not None:
            print(f"| {run['n']:,} | evaluate_once x {run['best']['step'][0].steps:,} (extrapolated from "
                  f"{args.slice}) | | | {run['reference']:.0f} | | | |")
    print()
    for run in runs:
        vector, step = run["best"]["vector"][0], run["best"]["step"][0]
        v, s_ = vector.load_seconds + vector.replay_seconds, step.load_seconds + step.replay_seconds
        checks = sum(sum(r.reasons.values()) for r in step.results)
        print(f"{run['n']:,} mentions, {step.steps:,} evaluations x {len(rules)} rules = {checks:,} decisions: "
              f"vector {v:.2f} s (load {vector.load_seconds:.2f} + replay {vector.replay_seconds:.2f}) against step "
              f"{s_:.2f} s (load {step.load_seconds:.2f} + replay {step.replay_seconds:.2f}): {s_ / max(v, 1e-9):.1f}x, "
              f"replay alone {step.replay_seconds / max(vector.replay_seconds, 1e-9):.1f}x; load average "
              f"{run['load'][0]:.2f} -> {run['load'][1]:.2f} on {os.cpu_count()} cores")
    big = [run for run in runs if run["n"] >= 900_000]
    if big:
        vector = big[-1]["best"]["vector"][0]
        total = vector.load_seconds + vector.replay_seconds
        verdict = "met" if total <= 5 else f"NOT met, {total - 5:.1f} s over"
        print(f"target (#15): 1M x {len(rules)} rules x {DAYS} days <= 5 s with identical alerts -> {verdict} "
              f"({'explained' if not args.no_explain else 'not explained'}; alerts identical: "
              f"{'yes' if big[-1]['identical'] else 'NO'})")


if __name__ == "__main__":
    main()
