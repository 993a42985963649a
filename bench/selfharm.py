"""Self-harm flag accuracy and speed, and redaction speed, on hand-written cases and the demo.

    .venv/bin/python bench/selfharm.py                  # cases + 20k demo mentions
    .venv/bin/python bench/selfharm.py --demo 5000 -v   # fewer demo mentions, list every flag

1. tests/data/selfharm_cases.tsv (text, expected level or none, category): precision, recall
   and F1 of "flagged or not", how often a correct flag has the expected level, and every
   miss by category. Honesty: these cases were written by the lexicon's author, so the
   figures are optimistic; real posts will be missed more often.
2. The demo stream (listeners/demo.py): how many of N ordinary brand mentions are flagged (the
   false-positive rate on everyday chatter, unless the demo plants a case), each flagged
   text with its count, and texts/s for bot.selfharm.assess and bot.privacy.redact (on the
   first 10,000 of them), one core. Not a test: pytest never collects it.
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
from bot.selfharm import assess  # noqa: E402
from listeners.demo import generate  # noqa: E402

CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "selfharm_cases.tsv"
console = Console(width=140)


def load_cases(path: Path = CASES) -> list[tuple[str, str, str]]:
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader((line for line in f if not line.startswith("#")), delimiter="\t",
                              quoting=csv.QUOTE_NONE):
            if row and row[0] != "text":
                rows.append((row[0], row[1], row[2]))
    return rows


def evaluate_cases(cases: list[tuple[str, str, str]]) -> None:
    tp = fp = fn = tn = level_right = 0
    misses: dict[str, list[str]] = {}
    per_category: Counter[str] = Counter()
    for text, expected, category in cases:
        per_category[category] += 1
        flag = assess(text)
        got = flag.level if flag else "none"
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


def evaluate_demo(n: int, verbose: bool) -> None:
    days = 3
    mentions = generate(datetime(2024, 1, 1, tzinfo=timezone.utc), days=days)
    while len(mentions) < n:
        days *= 2
        mentions = generate(datetime(2024, 1, 1, tzinfo=timezone.utc), days=days)
    texts = [f"{m.title}\n{m.text}" if m.title else m.text for m in mentions[:n]]
    flagged: Counter[tuple[str, str]] = Counter()
    for t in texts:
        flag = assess(t)
        if flag:
            flagged[(flag.level, t.split("\n")[-1])] += 1
    total = sum(flagged.values())
    console.print(f"\n[bold]Demo stream[/bold]: {n:,} mentions ({days} days, seed 7): "
                  f"{total} flagged ({total / n:.2%}), {len(flagged)} distinct texts")
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
    speed.add_row("selfharm.assess", f"{rate(assess, sample, 3):,.0f}")
    speed.add_row("privacy.redact (emails, phones)", f"{rate(redact, sample, 3):,.0f}")
    speed.add_row("privacy.redact (+ handles)", f"{rate(lambda t: redact(t, handles=policy), sample, 3):,.0f}")
    console.print(speed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=int, default=20_000, help="demo mentions to scan (default 20000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every flagged demo text")
    args = parser.parse_args()
    evaluate_cases(load_cases())
    evaluate_demo(args.demo, args.verbose)


if __name__ == "__main__":
    main()
