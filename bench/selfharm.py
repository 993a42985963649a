"""Self-harm detection: recall and false positives on labelled posts, beside the lexicon alone and
a length-only baseline; per-family recall on held-out cases; speed; redaction speed.

    .venv/bin/python bench/selfharm.py                  # everything below
    .venv/bin/python bench/selfharm.py --demo 5000 -v   # fewer demo mentions, list every flag

1. Labelled Reddit posts (../shared/data/selfharm/dev.csv, weak labels: r/SuicideWatch = risk,
   r/teenagers = none; see its SOURCE.md), cut by tools/train_selfharm.split: the classifier was
   fitted on `train` and its threshold chosen on `tune`; the figures are on `test`, which nothing
   was tuned on. Each detector's recall on risk posts and false-positive rate on none posts, on
   all test posts and on the short ones (under 200 characters), beside the lexicon alone, the
   classifier alone, the whole detector without its prefilter, and a length-only baseline (a
   threshold on the character count, chosen on train+tune for the same 2% false positives).
   Skipped, with a line saying so, when the data is absent.
2. bench/data/selfharm_cases.tsv (text, expected level, family; written by someone else, never
   tuned on): recall per family and false positives on its negatives, beside the lexicon alone.
   Skipped with one line when absent.
3. tests/data/selfharm_cases.tsv: the lexicon author's own cases (optimistic): precision,
   recall, every miss by category.
4. The demo stream (listeners/demo.py): how many ordinary brand mentions are flagged, and
   texts/s, one core, for the detector, the prefilter alone, the lexicon alone, on demo posts
   and on Reddit-length posts (test split), and for bot.privacy.redact.
Not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, installed or not

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bot.privacy import HandlePolicy, redact  # noqa: E402
from bot import selfharm  # noqa: E402
from bot.selfharm import ROUTED, assess, assess_lexicon  # noqa: E402
from listeners.demo import generate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "data" / "selfharm_cases.tsv"
HELD_OUT = REPO / "bench" / "data" / "selfharm_cases.tsv"
SHORT = 200  # characters: a "short" post (tweets, comments)
console = Console(width=140)


def load_cases(path: Path = CASES) -> list[tuple[str, str, str]]:
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader((line for line in f if not line.startswith("#")), delimiter="\t",
                              quoting=csv.QUOTE_NONE):
            if row and row[0] != "text":
                rows.append((row[0], row[1], row[2]))
    return rows


def routed(flag) -> bool:
    """Flagged at a level the default config routes (a `none` flag is stored, not routed)."""
    return flag is not None and flag.level in ROUTED


def _rates(fn, rows: list[tuple[str, int]]) -> tuple[float, float, int, int]:
    """(recall on label 1, false-positive rate on label 0, positives, negatives)."""
    pos = [t for t, y in rows if y]
    neg = [t for t, y in rows if not y]
    tp = sum(1 for t in pos if fn(t))
    fp = sum(1 for t in neg if fn(t))
    return tp / max(1, len(pos)), fp / max(1, len(neg)), len(pos), len(neg)


def evaluate_labelled(data: Path, reference: Path | None) -> list[str] | None:
    """Section 1; returns the test split's texts (for the speed table), or None without data."""
    if not data.exists():
        console.print(f"[yellow]labelled data: {data} is absent; skipped (see tools/train_selfharm.py)[/yellow]")
        return None
    from tools.train_selfharm import load_dev, split

    parts = split(load_dev(data))
    test = parts["test"]
    fitted = parts["train"] + parts["tune"]
    # Length only: flag when longer than the length that keeps 2% of train+tune's none posts over it.
    none_lengths = sorted(len(t) for t, y in fitted if not y)
    cut = none_lengths[int(0.98 * len(none_lengths))]
    clf = selfharm.default_classifier()
    no_prefilter = selfharm.Detector(selfharm.default_lexicon(), clf, prefilter=False)
    detectors = [
        ("harkbot (lexicon + classifier, prefilter)", lambda t: routed(assess(t))),
        ("  the same without the prefilter", lambda t: routed(no_prefilter.assess(t))),
        ("  lexicon alone", lambda t: routed(assess_lexicon(t))),
        (f"  classifier alone (P >= {clf.threshold:.3f})", lambda t: clf.probability(t) >= clf.threshold),
        (f"length only (> {cut} characters, from train+tune)", lambda t: len(t) > cut),
    ]
    if reference is not None:
        old = selfharm.Lexicon.from_text(reference.read_text(encoding="utf-8"))
        detectors.insert(3, (f"  lexicon {reference.name}", lambda t: routed(old.assess(t))))
    short = [(t, y) for t, y in test if len(t) < SHORT]
    table = Table(title=f"Labelled Reddit posts, test split ({len(test)} posts, seed {parts and 'harkbot-14'}; "
                        f"tuned on none of them; weak labels)")
    for col in ("detector", "recall (risk)", "false positives (none)", f"recall, short (<{SHORT} ch)",
                "FP, short"):
        table.add_column(col, justify="right" if col != "detector" else "left")
    for name, fn in detectors:
        r, f, npos, nneg = _rates(fn, test)
        rs, fs, spos, sneg = _rates(fn, short)
        table.add_row(name, f"{r:.3f}", f"{f:.2%}", f"{rs:.3f}", f"{fs:.2%}")
    console.print(table)
    npos = sum(y for _, y in test)
    spos = sum(y for _, y in short)
    console.print(f"[dim]test: {npos} risk, {len(test) - npos} none; short: {spos} risk, {len(short) - spos} none. "
                  f"Target: recall >= .90 at <= 2% false positives.[/dim]")
    lost = [t for t, y in test if y and routed(no_prefilter.assess(t)) and not selfharm.may_be_at_risk(t)]
    passed = sum(1 for t, _ in test if selfharm.may_be_at_risk(t))
    console.print(f"prefilter on test: {len(lost)} risk posts flagged without it are lost with it; "
                  f"it lets {passed / len(test):.1%} of test posts through to the full pass")
    return [t for t, _ in test]


def evaluate_held_out(path: Path = HELD_OUT) -> None:
    """Section 2: another author's cases, untuned: recall per family, false positives on negatives."""
    if not path.exists():
        console.print(f"[yellow]held-out cases: {path.relative_to(REPO)} is absent; skipped[/yellow]")
        return
    cases = load_cases(path)
    families: dict[str, list[tuple[str, str]]] = {}
    for text, expected, family in cases:
        families.setdefault(family, []).append((text, expected))
    table = Table(title=f"Held-out cases ({path.relative_to(REPO)}, {len(cases)}; never tuned on)")
    for col in ("family", "cases", "harkbot", "lexicon alone", "right level (harkbot)"):
        table.add_column(col, justify="left" if col == "family" else "right")
    tot = {"pos": 0, "neg": 0, "h_tp": 0, "l_tp": 0, "h_fp": 0, "l_fp": 0}
    misses = []
    for family in sorted(families):
        rows = families[family]
        pos = [(t, e) for t, e in rows if e != "none"]
        neg = [(t, e) for t, e in rows if e == "none"]
        h = [assess(t) for t, _ in rows]
        hits = {t: routed(f) for (t, _), f in zip(rows, h)}
        lex = {t: routed(assess_lexicon(t)) for t, _ in rows}
        level_right = sum(1 for (t, e), f in zip(rows, h) if e != "none" and f is not None and f.level == e)
        if pos:
            tp, ltp = sum(hits[t] for t, _ in pos), sum(lex[t] for t, _ in pos)
            table.add_row(family, str(len(pos)), f"recall {tp / len(pos):.2f}", f"recall {ltp / len(pos):.2f}",
                          f"{level_right}/{len(pos)}")
            tot["pos"] += len(pos)
            tot["h_tp"] += tp
            tot["l_tp"] += ltp
            misses += [f"missed ({family}, {e}): {t}" for t, e in pos if not hits[t]]
        if neg:
            fp, lfp = sum(hits[t] for t, _ in neg), sum(lex[t] for t, _ in neg)
            table.add_row(family + " (negatives)", str(len(neg)), f"FP {fp / len(neg):.1%}",
                          f"FP {lfp / len(neg):.1%}", "-")
            tot["neg"] += len(neg)
            tot["h_fp"] += fp
            tot["l_fp"] += lfp
            misses += [f"false flag ({family}): {t}" for t, _ in neg if hits[t]]
    if tot["pos"]:
        table.add_row("all positives", str(tot["pos"]), f"recall {tot['h_tp'] / tot['pos']:.3f}",
                      f"recall {tot['l_tp'] / tot['pos']:.3f}", "")
    if tot["neg"]:
        table.add_row("all negatives", str(tot["neg"]), f"FP {tot['h_fp'] / tot['neg']:.1%}",
                      f"FP {tot['l_fp'] / tot['neg']:.1%}", "")
    console.print(table)
    for m in misses:
        console.print(f"  {m}", markup=False, highlight=False)


def evaluate_cases(cases: list[tuple[str, str, str]]) -> None:
    tp = fp = fn = tn = level_right = 0
    misses: dict[str, list[str]] = {}
    per_category: Counter[str] = Counter()
    for text, expected, category in cases:
        per_category[category] += 1
        flag = assess(text)
        got = flag.level if routed(flag) else "none"
        if not routed(flag):
            flag = None
        if expected != "none" and flag:
            tp += 1
            level_right += got == expected
            if got != expected:
                misses.setdefault(category, []).append(f"level {got}, expected {expected}: {text}")
        elif expected != "none":
            fn += 1
            misses.setdefault(category, []).append(f"MISSED (expected {expected}): {text}")
        elif flag:
            fp += 1
            misses.setdefault(category, []).append(f"FALSE FLAG ({got}: {', '.join(flag.cues)}): {text}")
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    table = Table(title=f"{len(cases)} hand-written cases ({tp + fn} should flag, {fp + tn} should not)")
    for col in ("precision", "recall", "F1", "level right (of correct flags)", "TP", "FP", "FN", "TN"):
        table.add_column(col, justify="right")
    table.add_row(f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}",
                  f"{level_right}/{tp}" if tp else "-", str(tp), str(fp), str(fn), str(tn))
    console.print(table)
    console.print("[dim]Self-written cases: optimistic figures, not a measure of real-world recall.[/dim]")
    for category in sorted(per_category):
        rows = misses.get(category, [])
        console.print(f"[bold]{category}[/bold] ({per_category[category]} cases): {len(rows)} wrong")
        for r in rows:
            console.print(f"  {r}", markup=False, highlight=False)


def rate(fn, texts: list[str], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for t in texts:
            fn(t)
    return len(texts) * repeat / (time.perf_counter() - start)


def evaluate_demo(n: int, verbose: bool, reddit: list[str] | None) -> None:
    days = 3
    mentions = generate(datetime(2024, 1, 1, tzinfo=timezone.utc), days=days)
    while len(mentions) < n:
        days *= 2
        mentions = generate(datetime(2024, 1, 1, tzinfo=timezone.utc), days=days)
    texts = [f"{m.title}\n{m.text}" if m.title else m.text for m in mentions[:n]]
    flagged: Counter[tuple[str, str]] = Counter()
    for t in texts:
        flag = assess(t)
        if routed(flag):
            flagged[(flag.level, t.split("\n")[-1])] += 1
    total = sum(flagged.values())
    console.print(f"\n[bold]Demo stream[/bold]: {n:,} mentions ({days} days, seed 7): "
                  f"{total} flagged at a routed level ({total / n:.2%}), {len(flagged)} distinct texts")
    shown = flagged.most_common() if verbose else flagged.most_common(10)
    for (level, text), count in shown:
        console.print(f"  {count:5d} x {level:8s} {text}", markup=False, highlight=False)
    sample = texts[:10_000]
    policy = HandlePolicy.of(["MindfulHealth", "TheraNow", "HavenTherapy"])
    speed = Table(title=f"Speed on {len(sample):,} demo texts, one core "
                        f"({platform.python_implementation()} {platform.python_version()}, "
                        f"load {os.getloadavg()[0]:.2f})")
    speed.add_column("function")
    speed.add_column("texts/s", justify="right")
    passed = sum(1 for t in sample if selfharm.may_be_at_risk(t))
    speed.add_row(f"selfharm.assess (the detector; prefilter passes {passed / len(sample):.1%})",
                  f"{rate(assess, sample, 3):,.0f}")
    speed.add_row("  its prefilter alone (selfharm.may_be_at_risk)", f"{rate(selfharm.may_be_at_risk, sample, 3):,.0f}")
    speed.add_row("  lexicon alone, no prefilter", f"{rate(assess_lexicon, sample, 3):,.0f}")
    if reddit:
        reddit_sample = reddit[:1000]
        chars = sorted(len(t) for t in reddit_sample)[len(reddit_sample) // 2]
        speed.add_row(f"selfharm.assess on Reddit posts (test split, median {chars} characters)",
                      f"{rate(assess, reddit_sample, 3):,.0f}")
        speed.add_row("  lexicon alone on them", f"{rate(assess_lexicon, reddit_sample, 3):,.0f}")
    speed.add_row("privacy.redact (emails, phones)", f"{rate(redact, sample, 3):,.0f}")
    speed.add_row("privacy.redact (+ handles)", f"{rate(lambda t: redact(t, handles=policy), sample, 3):,.0f}")
    console.print(speed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=int, default=20_000, help="demo mentions to scan (default 20000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every flagged demo text")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "selfharm" / "dev.csv",
                        help="labelled posts (default ../shared/data/selfharm/dev.csv)")
    parser.add_argument("--reference-lexicon", type=Path, default=None,
                        help="another selfharm.tsv to score beside ours (e.g. an older one)")
    args = parser.parse_args()
    reddit = evaluate_labelled(args.data, args.reference_lexicon)
    evaluate_held_out()
    evaluate_cases(load_cases())
    evaluate_demo(args.demo, args.verbose, reddit)


if __name__ == "__main__":
    main()
