"""Ingest throughput: how many NEW mentions a second the real path stores, beside raw SQLite.

    .venv/bin/python bench/ingest.py                          # 20,000 new into 0, 100k and 1M rows
    .venv/bin/python bench/ingest.py --sizes 0 --n 5000       # quick
    .venv/bin/python bench/ingest.py --workers 2              # the prepare pool too (config ingest.workers)

What is timed, in one run, on the same synthetic stream (the demo generator, several seeds
and start dates, pages of 100 as a listener delivers them), into a SQLite file (WAL, as the
Store sets it) already holding --sizes rows (copies of the stream's rows under other keys and
earlier dates: the database a deployment has after months), so the cost growth shows:

* the pipeline: per page `prepare()` (dedupe -> normalise -> match brands -> redact -> score
  -> self-harm flag) and one `Store.ingest` transaction (mentions + FTS5 triggers, brand
  links, 5-minute buckets, safety flags, cursor), with the configured scorer;
* the references, into the same file right after: raw `sqlite3` `executemany` of the very
  rows the pipeline stored (values built beforehand, under other keys), one transaction per
  100 rows, (a) into mentions with its FTS5 triggers, and (b) into mentions + FTS5, brand
  links and bucket upserts: every table the pipeline writes, which the ratio is taken against;
* a per-stage profile (cProfile over one pipeline run into an empty file): each stage's
  share, and its µs per new mention scaled to the timed run. cProfile slows Python code more
  than C, so the shares are indicative; the timed rows above are the figures.
* each pure stage alone (normalise; cut + match brands; score with harkbot and harkbot-rules;
  the self-harm flag; prepare_one whole), µs per post, best of --stage-repeat over the same
  posts, beside the raw executemany's µs per row. `--against PATH` times another checkout's
  stages too, in the same process and interleaved (its own modules, config and lexicons), so
  a before/after ratio is taken under the same load: on a shared machine only ratios within
  one run mean much.

os.getloadavg() is printed beside the figures: the machine may be shared. Not a test: pytest
never collects it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, installed or not

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bot.demo.replay import demo_config  # noqa: E402
from bot.lang import detect  # noqa: E402
from bot.models import UTC, Mention, ScoredMention, floor_bucket, iso  # noqa: E402
from bot.pipeline import prepare  # noqa: E402
from bot.sentiment import SCORERS, Scorer, make_scorer  # noqa: E402
from bot.store import Store  # noqa: E402
from listeners.demo import generate  # noqa: E402

PAGE = 100  # mentions per listener page, and rows per raw transaction
STREAM_DAYS = 3  # the demo's default stream length: about 4,200 mentions each
FIRST_START = datetime(2026, 1, 5, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # ingested_at for every row
LISTENER = "bench"

console = Console(stderr=True)


# --------------------------------------------------------------------------- the stream


def stream(n: int) -> tuple[list[Mention], int]:
    """Exactly n mentions from several demo streams; ids made unique across them.

    Streams start a week apart (each covers 3 days), so the whole is in time order as a
    listener would deliver it. Returns the mentions and how many ids had to be rewritten.
    """
    mentions: list[Mention] = []
    seen: set[str] = set()
    rewritten = 0
    i = 0
    while len(mentions) < n:
        start = FIRST_START + timedelta(weeks=i)
        for m in generate(start, days=STREAM_DAYS, seed=7 + i):
            if m.key in seen:
                m = replace(m, id=f"{m.id}-s{i}")
                rewritten += 1
            seen.add(m.key)
            mentions.append(m)
        i += 1
    return mentions[:n], rewritten


def pages(items: Sequence, size: int = PAGE) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- measurements


@dataclass
class Sample:
    seconds: float
    count: int
    parts: dict[str, float] = field(default_factory=dict)


def run_pipeline(store, mentions: Sequence[Mention], brands, scorer: Scorer, keep: list | None = None,
                 workers: int = 0) -> Sample:
    """prepare() + Store.ingest per page of 100 into `store`; with `workers`, the prepare pool."""
    pool = None
    if workers:
        from bot.intake import Intake
        from bot.pipeline import prepare_page, prepare_pool

        pool = prepare_pool(workers, brands, scorer, Intake())
        pool.map(list(mentions[:PAGE]), LISTENER, True)  # start the workers before the clock
    before = store.count("mentions")
    new = 0
    began = time.perf_counter()
    for page in pages(mentions):
        if pool is None:
            scored = prepare(page, brands, scorer, store)
        else:
            scored, _dead = prepare_page(page, brands, scorer, store, listener=LISTENER, strict=True, pool=pool)
        new += store.ingest(LISTENER, scored, iso(page[-1].created_at), NOW)
        if keep is not None:
            keep.extend(scored)
    seconds = time.perf_counter() - began
    assert store.count("mentions") - before == new, (store.count("mentions"), before, new)
    return Sample(seconds, new)


COLUMNS = ("key", "platform", "native_id", "listener", "kind", "text", "title", "author", "url", "created_at",
           "ingested_at", "language", "author_reach", "engagement", "metrics", "label", "polarity", "scorer",
           "terms", "raw")
INSERT = f"INSERT INTO mentions({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
LINK = "INSERT INTO mention_brands(brand, created_at, mention_key, label, platform) VALUES (?,?,?,?,?)"
BUCKET = ("INSERT INTO buckets(brand, start, platform, count, negative, positive, polarity_sum) VALUES (?,?,?,1,?,?,?)"
          " ON CONFLICT(brand, start, platform) DO UPDATE SET count = count + 1, negative = negative + excluded.negative,"
          " positive = positive + excluded.positive, polarity_sum = polarity_sum + excluded.polarity_sum")


def rows_of(kept: Sequence[ScoredMention], tag: str, shift: timedelta = timedelta(0)) -> list[tuple]:
    """(mention row, link rows, bucket rows) of each stored mention, under keys of their own."""
    out = []
    for i, sm in enumerate(kept):
        m, s = sm.mention, sm.score
        key, created = f"{tag}:{i}", iso(m.created_at - shift)
        row = (key, m.platform, f"{tag}{i}", LISTENER, m.kind, m.text, m.title, m.author, m.url, created, iso(NOW),
               m.language, m.author_reach, m.engagement, json.dumps(m.metrics), s.label, s.polarity, s.scorer,
               json.dumps(list(s.terms)), json.dumps(m.raw, ensure_ascii=False, default=str))
        bucket = iso(floor_bucket(m.created_at - shift))
        links = [(b, created, key, s.label, m.platform) for b in sm.brands]
        buckets = [(b, bucket, m.platform, int(s.label == "negative"), int(s.label == "positive"), s.polarity)
                   for b in sm.brands]
        out.append((row, links, buckets))
    return out


def run_raw(conn: sqlite3.Connection, rows: Sequence[tuple], every_table: bool) -> Sample:
    """executemany, one BEGIN IMMEDIATE ... COMMIT per 100 rows."""
    began = time.perf_counter()
    for chunk in pages(rows):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, [r[0] for r in chunk])
        if every_table:
            conn.executemany(LINK, [link for r in chunk for link in r[1]])
            conn.executemany(BUCKET, [b for r in chunk for b in r[2]])
        conn.execute("COMMIT")
    return Sample(time.perf_counter() - began, len(rows))


def prefill(path: Path, kept: Sequence[ScoredMention], size: int) -> None:
    """`size` rows in every table, copies of `kept` a year and more before the stream."""
    Store(path).close()  # the schema
    conn = sqlite3.connect(path, isolation_level=None)
    done, round_ = 0, 0
    while done < size:
        part = rows_of(kept[: size - done], f"fill{round_}", timedelta(days=400 + 30 * round_))
        for chunk in pages(part, 5000):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, [r[0] for r in chunk])
            conn.executemany(LINK, [link for r in chunk for link in r[1]])
            conn.executemany(BUCKET, [b for r in chunk for b in r[2]])
            conn.execute("COMMIT")
        done += len(part)
        round_ += 1
    conn.close()


def profile(mentions: Sequence[Mention], brands, scorer: Scorer) -> tuple[dict[str, float], float]:
    """Seconds per stage under cProfile for one pipeline run into an empty file, and the total."""
    import cProfile
    import pstats

    stages = {  # (file suffix, function name) -> stage; cumulative time, so nested calls are not counted twice
        ("bot/normalise.py", "normalise"): "normalise",
        ("bot/pipeline.py", "match_brands"): "match brands",
        ("bot/intake.py", "redact"): "redact",
        ("bot/intake.py", "flag"): "self-harm flag",
        ("bot/store/sqlite.py", "existing_keys"): "dedupe lookup",
        ("bot/store/sqlite.py", "ingest"): "Store.ingest (write)",
    }
    with tempfile.TemporaryDirectory(prefix="harkbench-") as tmp:
        store = Store(Path(tmp) / "p.db")
        prof = cProfile.Profile()
        began = time.perf_counter()
        prof.enable()
        run_pipeline(store, mentions, brands, scorer)
        prof.disable()
        total = time.perf_counter() - began
        store.close()
    out: dict[str, float] = {}
    scorer_file = sys.modules[type(scorer).__module__].__file__ or ""
    for (file, line, name), (_cc, _nc, _tt, ct, _callers) in pstats.Stats(prof).stats.items():
        stage = stages.get((next((k for k in ("bot/normalise.py", "bot/pipeline.py", "bot/intake.py",
                                               "bot/store/sqlite.py") if file.endswith(k)), None), name))
        if stage is None and file == scorer_file and name == "score":
            stage = "score (sentiment)"
        if stage is not None:
            out[stage] = out.get(stage, 0.0) + ct
    return out, total


# --------------------------------------------------------------------------- stages alone

TREE_MODULES = ("bot.normalise", "bot.pipeline", "bot.sentiment", "bot.text", "bot.intake", "bot.demo.replay")


def load_tree(root: Path | None) -> dict:
    """The stage functions of the checkout at `root` (None: the one already imported), as a
    dict. Another checkout is imported under the same names with sys.modules swapped, and
    the current modules put back afterwards, so both live in one process; its lexicons and
    weights are loaded and its stages called once while its modules are in place, so the
    imports they make on first use are its own."""
    import importlib

    if root is None:
        return _tree_stages({name: importlib.import_module(name) for name in TREE_MODULES}, "this checkout")
    ours = {k: v for k, v in sys.modules.items() if k in ("bot", "listeners") or k.startswith(("bot.", "listeners."))}
    for k in ours:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        mods = {name: importlib.import_module(name) for name in TREE_MODULES}
        assert Path(mods["bot.sentiment"].__file__).resolve().is_relative_to(root.resolve()), root
        return _tree_stages(mods, str(root))
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if k in ("bot", "listeners") or k.startswith(("bot.", "listeners."))]:
            del sys.modules[k]
        sys.modules.update(ours)


def _tree_stages(mods: dict, name: str) -> dict:
    sentiment, pipeline = mods["bot.sentiment"], mods["bot.pipeline"]
    tree = {"name": name, "normalise": mods["bot.normalise"].normalise, "match_brands": pipeline.match_brands,
            "prepare_one": pipeline.prepare_one, "Text": mods["bot.text"].Text,
            "brands": mods["bot.demo.replay"].demo_config().brands, "intake": mods["bot.intake"].Intake(),
            "harkbot": sentiment.make_scorer("harkbot"), "harkbot-rules": sentiment.make_scorer("harkbot-rules")}
    warm = tree["Text"]("warm up: thanks for the 3 hour hold @MindfulHealth #MindfulApp")
    tree["match_brands"](warm, tree["brands"])
    tree["harkbot"].score(warm)
    tree["harkbot-rules"].score(warm)
    tree["intake"].flag(Mention("x", "1", warm, "a", "", NOW))
    return tree


STAGES = ("normalise", "cut + match brands", "score: harkbot", "score: harkbot-rules", "self-harm flag",
          "prepare_one (all of it)")


def time_stages(tree: dict, mentions: Sequence[Mention]) -> dict[str, float]:
    """Seconds per stage over `mentions`, each stage alone on what the one before it gives
    (the scorers read the Text the matching cut, as prepare_one hands it on)."""
    out: dict[str, float] = {}
    clock = time.perf_counter
    normalise, match, Text, brands = tree["normalise"], tree["match_brands"], tree["Text"], tree["brands"]
    began = clock()
    normed = [normalise(m) for m in mentions]
    out["normalise"] = clock() - began
    normed = [m for m in normed if m is not None]
    raw_texts = [m.full_text for m in normed]
    texts = [Text(t) for t in raw_texts]
    began = clock()
    for t in texts:
        match(t, brands)
    out["cut + match brands"] = clock() - began
    for name in ("harkbot", "harkbot-rules"):
        score = tree[name].score
        texts = [Text(t) for t in raw_texts]
        for t in texts:
            match(t, brands)
        began = clock()
        for t in texts:
            score(t)
        out[f"score: {name}"] = clock() - began
    flag = tree["intake"].flag
    began = clock()
    for m in normed:
        flag(m)
    out["self-harm flag"] = clock() - began
    prepare_one, scorer, intake = tree["prepare_one"], tree["harkbot"], tree["intake"]
    began = clock()
    for m in mentions:
        prepare_one(m, brands, scorer, intake)
    out["prepare_one (all of it)"] = clock() - began
    return out


def stage_table(trees: list[dict], mentions: Sequence[Mention], repeat: int, raw_us: float | None) -> Table:
    best: list[dict[str, float]] = [{} for _ in trees]
    loads = [load()]
    for _ in range(repeat):  # interleaved, so a load change hits every checkout alike
        for tree, b in zip(trees, best):
            for stage, sec in time_stages(tree, mentions).items():
                b[stage] = min(b.get(stage, sec), sec)
    loads.append(load())
    n = len(mentions)
    table = Table(title=f"Each stage alone: µs per post, best of {repeat}, {n:,} demo posts, same process "
                        f"({' -> '.join(loads)})", title_justify="left", caption_justify="left")
    table.add_column("stage", justify="left")
    for tree in trees:
        table.add_column(tree["name"], justify="right")
    if len(trees) > 1:
        table.add_column(f"{trees[0]['name']} / {trees[-1]['name']}", justify="right")
    for stage in STAGES:
        cells = [f"{1e6 * b[stage] / n:,.1f}" for b in best]
        if len(trees) > 1:
            cells.append(f"{best[0][stage] / best[-1][stage]:.2f}x")
        table.add_row(stage, *cells)
    if raw_us is not None:
        table.add_row("raw executemany, all tables (per row, above)", f"{raw_us:,.1f}", *[""] * (len(trees) - 1),
                      *([""] if len(trees) > 1 else []), end_section=True)
    table.caption = ("The budget for 10,000 new/s is 100 µs a post for every stage and the write together. "
                     "Scores and matches are those the stage gives in prepare_one (each scorer reads the Text "
                     "the matching cut).")
    return table


# --------------------------------------------------------------------------- report


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def load() -> str:
    import os

    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="mentions fed to the pipeline (default 20000)")
    parser.add_argument("--sizes", default="0,100000,1000000",
                        help="rows already in the database, comma-separated (default 0,100000,1000000)")
    parser.add_argument("--scorer", choices=sorted(SCORERS), help="default: the configured one")
    parser.add_argument("--workers", type=int, default=0, help="prepare pool workers (config ingest.workers)")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-stage profile")
    parser.add_argument("--stage-repeat", type=int, default=5, help="best of N for the stages alone (default 5)")
    parser.add_argument("--stage-n", type=int, default=5000, help="posts timed per stage (default 5000)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another checkout whose stages are timed beside this one's (repeatable)")
    parser.add_argument("--stages-only", action="store_true", help="only the stages alone (no database runs)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.n < PAGE or any(x < 0 for x in sizes):
        parser.error(f"--n must be at least {PAGE} and --sizes not negative")

    config = demo_config()
    brands = config.brands
    name = args.scorer or config.model.sentiment.scorer
    wall = time.perf_counter()
    loads = [load()]
    with console.status("generating the demo stream..."):
        mentions, rewritten = stream(args.n)
        scorer = make_scorer(name)
        scorer.score("warm up: load lexicons before the clock starts")
        detect("warm up: load the language model before the clock starts")

    out = Console(width=150)
    trees = [load_tree(root) for root in args.against] + [load_tree(None)]
    if args.stages_only:
        out.print(stage_table(trees, mentions[: args.stage_n], args.stage_repeat, None))
        return 0
    table = Table(title=f"Ingest: {args.n:,} demo mentions in pages of {PAGE}, scorer {name}, self-harm flag on, "
                        f"FTS5; prepare workers: {args.workers or 'none (in-process)'}",
                  title_justify="left", caption_justify="left")
    for col in ("rows before", "what", "new/rows", "seconds", "per second", "time vs raw (all tables)"):
        table.add_column(col, justify="left" if col == "what" else "right")
    kept: list[ScoredMention] = []
    growth: list[tuple[int, float, float]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="harkbench-") as tmp:
            path = Path(tmp) / "bench.db"
            if size:
                with console.status(f"filling {size:,} rows (not timed)..."):
                    prefill(path, kept, size)
            store = Store(path)
            with console.status(f"{size:,} rows: pipeline..."):
                pipe = run_pipeline(store, mentions, brands, scorer, kept if not kept else None, args.workers)
            store.close()
            assert kept, "the first size's run keeps the rows the references insert"
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA synchronous = NORMAL")
            with console.status(f"{size:,} rows: raw executemany..."):
                fts = run_raw(conn, rows_of(kept, f"rawa{size}"), every_table=False)
                every = run_raw(conn, rows_of(kept, f"rawb{size}"), every_table=True)
            conn.close()
        loads.append(load())
        raw_rate = every.count / every.seconds
        for label, sample, unit in (("pipeline (prepare + Store.ingest)", pipe, "new/s"),
                                    ("raw executemany: mentions + FTS5", fts, "rows/s"),
                                    ("raw executemany: + links + buckets", every, "rows/s")):
            rate = sample.count / sample.seconds
            table.add_row(f"{size:,}", label, f"{sample.count:,}", f"{sample.seconds:.2f}", f"{fmt_rate(rate)} {unit}",
                          "1.0x (ref)" if sample is every else f"{raw_rate / rate:.1f}x",
                          end_section=label.startswith("raw executemany: +"))
        growth.append((size, 1e6 * pipe.seconds / pipe.count, 1e6 * every.seconds / every.count))
    table.caption = (f"{date_line()}; {' -> '.join(loads)} (os.getloadavg, 2 shared cores); "
                     f"whole run {time.perf_counter() - wall:.0f}s")
    out.print(table)
    if len(growth) > 1:
        base = growth[0]
        out.print("Cost growth (µs per new row; pipeline / raw, all tables): " + ", ".join(
            f"{size:,} rows {p:,.0f} / {r:,.0f} ({p / base[1]:.2f}x / {r / base[2]:.2f}x)" for size, p, r in growth))

    if not args.no_profile:
        with console.status("profiling one pipeline run..."):
            spent, total = profile(mentions, brands, scorer)
        timed_us = growth[0][1]  # µs per new mention, the first size's timed run
        split = Table(title=f"Where the pipeline's time goes (cProfile, one run into an empty file, {load()})",
                      title_justify="left")
        for col in ("stage", "profiled s", "share", "µs/new (scaled to the timed run)"):
            split.add_column(col, justify="left" if col == "stage" else "right")
        rest = total - sum(spent.values())
        for stage, sec in sorted(spent.items(), key=lambda kv: -kv[1]) + [("other (loop, dataclasses, ...)", rest)]:
            split.add_row(stage, f"{sec:.2f}", f"{100 * sec / total:.0f}%", f"{timed_us * sec / total:,.0f}")
        split.add_row("total", f"{total:.2f}", "100%", f"{timed_us:,.0f}", end_section=True)
        out.print(split)
    with console.status("timing each stage alone..."):
        out.print(stage_table(trees, mentions[: args.stage_n], args.stage_repeat, growth[0][2]))
    if rewritten:
        console.print(f"[dim]{rewritten} mention ids collided across streams and were rewritten[/]")
    return 0


def date_line() -> str:
    import os

    return (f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


if __name__ == "__main__":
    sys.exit(main())
