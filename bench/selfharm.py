"""Self-harm detection: recall and false positives on labelled posts, beside the lexicons alone,
round 1's detector and a length-only baseline; per-family recall and level accuracy on case
files; speed on Reddit-length and tweet-length posts; redaction speed.

    .venv/bin/python bench/selfharm.py                  # everything below
    .venv/bin/python bench/selfharm.py --demo 5000 -v   # fewer demo mentions, list every flag
    .venv/bin/python bench/selfharm.py --round1 none    # without round 1's detector beside it
    .venv/bin/python bench/selfharm.py --speed-only --before 90cc9dc   # speed table, an older detector beside

1. Labelled Reddit posts (../shared/data/selfharm/dev.csv, weak labels: r/SuicideWatch = risk,
   r/teenagers = none; see its SOURCE.md), cut by tools/train_selfharm.split: the classifier was
   fitted on `train` and its thresholds chosen on `tune`; the figures are on `test`, which nothing
   was tuned on. Each detector's recall on risk posts and false-positive rate on none posts, on
   all test posts and on the short ones (under 200 characters), beside the patterns and concepts
   alone (no classifier), round 1's pattern lexicon alone, the classifier alone, the detector
   without its cue-word gate, round 1's whole detector (its code and files from git, --round1),
   and a length-only baseline (a threshold on the character count, chosen on train+tune for the
   same 2% false positives). Skipped, with a line saying so, when the data is absent.
2. Case files (text, expected level, family; written by someone else): recall and level accuracy
   per family, false positives on negatives, beside the lexicons alone and round 1.
   bench/data/selfharm_cases.tsv (v1) was read while round 2 was tuned (its families guided the
   concept classes): a TUNING set, its figures are not held-out figures.
   bench/data/selfharm_cases_v2.tsv (v2, written apart while round 2 was built, opened only to
   run this bench once the detector was final): held out in round 2, a TUNING set since round 3.
   bench/data/selfharm_cases_v3.tsv (v3): held out in round 3, a TUNING set since round 4
   (--cases v3; see its card for the 5-fold figures). Each skipped when absent.
3. tests/data/selfharm_cases.tsv: the lexicon author's own cases (optimistic): precision,
   recall, every miss by category.
4. The demo stream (listeners/demo.py): how many ordinary brand mentions are flagged, and
   posts/s, one core, for the detector and its parts on demo posts (tweet-length), on the test
   split's Reddit posts (none and risk apart) and its short posts, beside round 1's detector
   on the same posts in the same run, and for bot.privacy.redact.
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
CASE_FILES = (  # (path, what it is to these figures)
    (REPO / "bench" / "data" / "selfharm_cases.tsv", "v1: TUNING set (read while round 2 was built)"),
    (REPO / "bench" / "data" / "selfharm_cases_v2.tsv", "v2: TUNING set since round 3 (held out in round 2, run once)"),
    (REPO / "bench" / "data" / "selfharm_cases_v3.tsv", "v3: TUNING set since round 4 (held out in round 3, run once)"),
)
SHORT = 200  # characters: a "short" post (tweets, comments)
ROUND1 = "667613a"  # the commit of round 1's detector (#14), measured beside ours
ROUND2 = "0a6fecc"  # round 2's detector (#14): patterns, concepts and classifier as round 3 began
console = Console(width=140)


def load_round1(rev: str):
    """An earlier round's detector, as it was at `rev`: its bot/selfharm.py and lexicon files from
    git, loaded as a module of its own (it reads its files from a temporary directory)."""
    import importlib.util
    import subprocess
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"harkbot-{rev}-"))
    (tmp / "lexicon").mkdir()
    try:
        for path in ("bot/selfharm.py", "bot/lexicon/selfharm.tsv", "bot/lexicon/selfharm_model.tsv",
                     "bot/lexicon/selfharm_concepts.tsv"):
            got = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True)
            if got.returncode and path.endswith("concepts.tsv"):
                continue  # round 1 had no concept lexicon
            got.check_returncode()
            (tmp / path.removeprefix("bot/")).write_bytes(got.stdout)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        console.print(f"[yellow]round 1 ({rev}): cannot read it from git ({e}); skipped[/yellow]")
        return None
    source = (tmp / "selfharm.py").read_text(encoding="utf-8").replace(
        'resources.files("bot")', f"__import__('pathlib').Path({str(tmp)!r})")
    (tmp / "selfharm.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"harkbot_selfharm_{rev}", tmp / "selfharm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# Families the v1 and v2 case files use; a case file with others is still scored (each family its
# own rows), and the bench says which names it did not know (a typo, or a new family).
KNOWN_FAMILIES = frozenset((
    "preparation-farewell", "method-plan", "selfharm-relapse", "slang-misspelling", "passive-ideation",
    "joking-marker", "med-risk", "third-person", "third-person-at-risk", "third-person-help", "figurative",
    "media-gaming", "news-prevention", "ordinary", "recovery", "side-effects",
    "oblique", "recovery-present"))  # v3's new families
CASE_LEVELS = ("none", *ROUTED)


def load_cases(path: Path = CASES, problems: list[str] | None = None) -> list[tuple[str, str, str]]:
    """Rows (text, level, family) of a TSV with a `text<TAB>level<TAB>family` header (v1, v2 and any
    file in their format). A row without three columns or with a level not in CASE_LEVELS is left
    out and described in `problems` (file:line, what, how to fix) instead of stopping the bench."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        header = True
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            row = line.split("\t")
            if header:
                header = False
                if row[0].strip().lower() == "text":
                    continue  # the header (text, level or expected, family or category)
            if len(row) < 3 or not row[0].strip():
                if problems is not None:
                    problems.append(f"{path.name}:{number}: {len(row)} column(s), want text<TAB>level<TAB>family; row skipped")
                continue
            level = row[1].strip().lower()
            if level not in CASE_LEVELS:
                if problems is not None:
                    problems.append(f"{path.name}:{number}: level {row[1]!r}, want one of {', '.join(CASE_LEVELS)}; row skipped")
                continue
            rows.append((row[0], level, row[2].strip() or "(no family)"))
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


def classifier_alone(text: str) -> bool:
    clf = selfharm.default_classifier()
    words = selfharm.model_words(text)
    return clf.probability_of(words) >= clf.threshold_for(len(words))


def evaluate_labelled(data: Path, reference: Path | None, round1) -> list[tuple[str, int]] | None:
    """Section 1; returns the test split (for the speed table), or None without data."""
    if not data.exists():
        console.print(f"[yellow]labelled data: {data} is absent; skipped (see tools/train_selfharm.py)[/yellow]")
        return None
    from tools.train_selfharm import SEED, load_dev, split

    parts = split(load_dev(data))
    test = parts["test"]
    fitted = parts["train"] + parts["tune"]
    # Length only: flag when longer than the length that keeps 2% of train+tune's none posts over it.
    none_lengths = sorted(len(t) for t, y in fitted if not y)
    cut = none_lengths[int(0.98 * len(none_lengths))]
    clf = selfharm.default_classifier()
    ungated = selfharm.Detector(selfharm.default_lexicon(), clf, prefilter=False, concepts=selfharm.default_concepts())
    short_t = clf.short_threshold if clf.short_threshold is not None else 2.0
    detectors = [
        ("harkbot (patterns + concepts + classifier)", lambda t: routed(assess(t))),
        ("  the same without the cue-word gate", lambda t: routed(ungated.assess(t))),
        ("  patterns + concepts alone (no classifier)", lambda t: routed(selfharm.assess_cues(t))),
        ("  pattern lexicon alone (round 1's rows, as edited in round 2)", lambda t: routed(assess_lexicon(t))),
        (f"  classifier alone (P >= {clf.threshold:.3f}; short posts {short_t:.3f})", classifier_alone),
        (f"length only (> {cut} characters, from train+tune)", lambda t: len(t) > cut),
    ]
    for label, module in reversed(round1):
        detectors.insert(4, (f"{label}'s whole detector (same run)", lambda t, m=module: routed(m.assess(t))))
    if reference is not None:
        old = selfharm.Lexicon.from_text(reference.read_text(encoding="utf-8"))
        detectors.insert(4, (f"  lexicon {reference.name}", lambda t: routed(old.assess(t))))
    short = [(t, y) for t, y in test if len(t) < SHORT]
    table = Table(title=f"Labelled Reddit posts, test split ({len(test)} posts, seed {SEED}; "
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
    lost = [t for t, y in test if y and routed(ungated.assess(t)) and not routed(assess(t))]
    gate = selfharm.default_detector().cue_words
    passed = sum(1 for t, _ in test if not gate.isdisjoint(selfharm.default_reader().words(t)[0]))
    console.print(f"cue-word gate on test: {len(lost)} risk posts flagged without it are lost with it; "
                  f"it lets {passed / len(test):.1%} of test posts through to the cue pass (the classifier reads all)")
    return test


def evaluate_case_file(path: Path, what: str, round1) -> None:
    """Section 2: recall and level accuracy per family, false positives on negatives."""
    if not path.exists():
        console.print(f"[yellow]cases: {path} is absent; skipped[/yellow]")
        return
    problems: list[str] = []
    cases = load_cases(path, problems)
    for problem in problems:
        console.print(f"[yellow]{problem}[/yellow]", highlight=False)
    unknown = sorted({family for _, _, family in cases} - KNOWN_FAMILIES)
    if unknown:
        console.print(f"[yellow]{path.name}: families not in v1 or v2 (scored on their own rows): "
                      f"{', '.join(unknown)}[/yellow]", highlight=False)
    if not cases:
        console.print(f"[yellow]{path.name}: no case to score[/yellow]")
        return
    families: dict[str, list[tuple[str, str]]] = {}
    for text, expected, family in cases:
        families.setdefault(family, []).append((text, expected))
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    table = Table(title=f"Cases {shown} ({len(cases)}; {what})")
    cols = ["family", "cases", "harkbot", "right level", "patterns + concepts", "pattern lexicon"]
    others = [lambda t: routed(selfharm.assess_cues(t)), lambda t: routed(assess_lexicon(t))]
    for label, module in round1:
        cols.append(f"{label} detector")
        others.append(lambda t, m=module: routed(m.assess(t)))
    for col in cols:
        table.add_column(col, justify="left" if col == "family" else "right")
    tot = {"pos": 0, "neg": 0, "tp": 0, "fp": 0, "level": 0, "o_tp": [0] * len(others), "o_fp": [0] * len(others)}
    misses = []
    for family in sorted(families):
        rows = families[family]
        pos = [(t, e) for t, e in rows if e != "none"]
        neg = [(t, e) for t, e in rows if e == "none"]
        flags = {t: assess(t) for t, _ in rows}
        if pos:
            tp = sum(routed(flags[t]) for t, _ in pos)
            level = sum(1 for t, e in pos if routed(flags[t]) and flags[t].level == e)
            o = [sum(fn(t) for t, _ in pos) for fn in others]
            table.add_row(family, str(len(pos)), f"recall {tp / len(pos):.2f}", f"{level}/{len(pos)}",
                          *(f"recall {x / len(pos):.2f}" for x in o))
            tot["pos"] += len(pos)
            tot["tp"] += tp
            tot["level"] += level
            tot["o_tp"] = [a + b for a, b in zip(tot["o_tp"], o)]
            misses += [f"missed ({family}, {e}): {t}" for t, e in pos if not routed(flags[t])]
        if neg:
            fp = sum(routed(flags[t]) for t, _ in neg)
            o = [sum(fn(t) for t, _ in neg) for fn in others]
            table.add_row(family + " (negatives)", str(len(neg)), f"FP {fp / len(neg):.1%}", "-",
                          *(f"FP {x / len(neg):.1%}" for x in o))
            tot["neg"] += len(neg)
            tot["fp"] += fp
            tot["o_fp"] = [a + b for a, b in zip(tot["o_fp"], o)]
            misses += [f"false flag ({family}, {flags[t].level}: {', '.join(flags[t].evidence)}): {t}"
                       for t, _ in neg if routed(flags[t])]
    if tot["pos"]:
        table.add_row("all positives", str(tot["pos"]), f"recall {tot['tp'] / tot['pos']:.3f}",
                      f"{tot['level']}/{tot['pos']} ({tot['level'] / tot['pos']:.0%})",
                      *(f"recall {x / tot['pos']:.3f}" for x in tot["o_tp"]))
    if tot["neg"]:
        table.add_row("all negatives", str(tot["neg"]), f"FP {tot['fp'] / tot['neg']:.1%}", "",
                      *(f"FP {x / tot['neg']:.1%}" for x in tot["o_fp"]))
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


SPEED_REPEAT = 5  # passes per cell of the speed table; the best is shown


def rate(fn, texts: list[str], repeat: int = 1) -> float:
    """Texts per second of this process's CPU time, best of `repeat` passes: the machine is
    shared, and CPU time leaves out the time other processes hold the core."""
    best = 0.0
    for _ in range(repeat):
        start = time.process_time()
        for t in texts:
            fn(t)
        best = max(best, len(texts) / max(time.process_time() - start, 1e-9))
    return best


def evaluate_demo(n: int, verbose: bool, reddit: list[tuple[str, int]] | None, round1) -> None:
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
    sets = [(f"demo posts (tweet-length, median {sorted(map(len, sample))[len(sample) // 2]} characters)", sample)]
    if reddit:
        for label, rows in (("none", [t for t, y in reddit if not y]), ("risk", [t for t, y in reddit if y]),
                            (f"short (<{SHORT} ch)", [t for t, _ in reddit if len(t) < SHORT])):
            chars = sorted(len(t) for t in rows)[len(rows) // 2]
            sets.append((f"Reddit test posts, {label} ({len(rows)}, median {chars} ch)", rows))
        every = [t for t, _ in reddit]
        sets.append((f"Reddit test posts, all ({len(every)}, median {sorted(map(len, every))[len(every) // 2]} ch)", every))
    cols = ["posts", "harkbot.assess", "cues only", "classifier only", "pattern lexicon"]
    cols += [f"{label} detector" for label, _ in round1]
    speed = Table(title=f"Speed, posts/s of CPU time, one core, best of {SPEED_REPEAT} ({platform.python_implementation()} "
                        f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}; target >= 5,000 on Reddit-length)")
    for col in cols:
        speed.add_column(col, justify="left" if col == "posts" else "right")
    for label, rows in sets:
        for t in rows:  # warm the caches (ours and the earlier rounds'): a stream repeats its words
            assess(t)
            for _, module in round1:
                module.assess(t)
        r = SPEED_REPEAT
        cells = [f"{rate(assess, rows, r):,.0f}", f"{rate(selfharm.assess_cues, rows, r):,.0f}",
                 f"{rate(selfharm.default_classifier().probability, rows, r):,.0f}",
                 f"{rate(assess_lexicon, rows, r):,.0f}"]
        cells += [f"{rate(module.assess, rows, r):,.0f}" for _, module in round1]
        speed.add_row(label, *cells)
    console.print(speed)
    console.print(f"privacy.redact (emails, phones): {rate(redact, sample, 3):,.0f} texts/s; "
                  f"with handles {rate(lambda t: redact(t, handles=policy), sample, 3):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=int, default=20_000, help="demo mentions to scan (default 20000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every flagged demo text")
    parser.add_argument("--data", type=Path, default=next(
                            (p for p in (REPO.parent / "shared" / "data" / "selfharm" / "dev.csv",
                                         REPO.parent.parent / "shared" / "data" / "selfharm" / "dev.csv") if p.exists()),
                            REPO.parent / "shared" / "data" / "selfharm" / "dev.csv"),
                        help="labelled posts (default ../shared/data/selfharm/dev.csv)")
    parser.add_argument("--reference-lexicon", type=Path, default=None,
                        help="another selfharm.tsv to score beside ours (e.g. an older one)")
    parser.add_argument("--round1", default=ROUND1, help=f"git revision of round 1's detector (default {ROUND1}; 'none' to skip)")
    parser.add_argument("--round2", default=ROUND2, help=f"git revision of round 2's detector (default {ROUND2}; 'none' to skip)")
    parser.add_argument("--before", default="none",
                        help="git revision of a detector to time beside ours in the speed table only, "
                             "e.g. the commit before a speed-up (default none)")
    parser.add_argument("--speed-only", action="store_true",
                        help="only the demo stream and the speed table (section 4), on the labelled test split when present")
    parser.add_argument("--cases", default="v1,v2",
                        help="case files to score, comma-separated: v1, v2, v3 or a path to a TSV in their "
                             "format (text, level, family), e.g. --cases v2,/tmp/v4.tsv (default v1,v2)")
    args = parser.parse_args()
    if args.speed_only:
        args.round1 = args.round2 = "none"
    round1 = [(f"{name} ({rev})", module) for name, rev in (("round 1", args.round1), ("round 2", args.round2))
              if rev != "none" and (module := load_round1(rev)) is not None]
    before = [(f"before ({args.before})", module) for module in
              ([load_round1(args.before)] if args.before != "none" else []) if module is not None]
    if args.speed_only:
        reddit = None
        if args.data.exists():
            from tools.train_selfharm import load_dev, split

            reddit = split(load_dev(args.data))["test"]
        else:
            console.print(f"[yellow]labelled data: {args.data} is absent; demo posts only[/yellow]")
        evaluate_demo(args.demo, args.verbose, reddit, round1 + before)
        return
    reddit = evaluate_labelled(args.data, args.reference_lexicon, round1)
    named = {what.split(":")[0]: (path, what) for path, what in CASE_FILES}
    for choice in (c.strip() for c in args.cases.split(",") if c.strip()):
        if choice in named:
            evaluate_case_file(*named[choice], round1)
        else:
            evaluate_case_file(Path(choice), "a case file given with --cases; "
                               "v1, v2 and v3 are tuning sets now, only a file nobody tuned on is held out", round1)
    evaluate_cases(load_cases())
    evaluate_demo(args.demo, args.verbose, reddit, round1 + before)


if __name__ == "__main__":
    main()
