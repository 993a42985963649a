"""Train harkbot's learned sentiment layer and write bot/lexicon/weights.tsv.

    .venv/bin/python tools/train_sentiment.py                 # writes bot/lexicon/weights.tsv
    .venv/bin/python tools/train_sentiment.py --out /tmp/w.tsv --data /path/to/sentiment

What it trains: a 3-class (negative / neutral / positive) multinomial logistic regression over
the features harkbot's rules compute for a text (compound score, positive and negative sums and
rates, mixed evidence, clinical-word count, question, exclamation, length, negation) and its
words (one weight triple per VADER-lexicon word seen in at least --min-df training texts).
Pure Python (AdaGrad SGD, L2), deterministic: the same data gives the same file. About two
minutes on one core (five out-of-fold models and the final one).

On what: only sets whose licence allows shipping weights derived from them, each minus a fixed
held-out fifth (bench.sentiment.split_of(text) == 0), which bench/sentiment.py scores:

* VADER ground-truth tweets (Hutto & Gilbert 2014) - MIT
* GoEmotions test split, single group label (Demszky et al. 2020) - Apache-2.0
* Druglib.com drug reviews, UCI 461 (Kallumadi & Graesser 2018) - CC BY 4.0 (attribution in
  bot/lexicon/NOTES.md and in the weights file's header)

Never on the airline tweets (CC BY-NC-SA 4.0) or TweetEval (Twitter terms): those stay pure
tests. Each set weighs the same in training, and within a set each class weighs the same, so
the layer aims at macro-recall rather than at the largest class of the largest set.

Harkbot's hand-made cues (complaints, sarcasm, empathy, relief, worsening) are not learned: their
summed valence adds a fixed push to the logits (bot.sentiment.cue_push), in training as at run time.
Long texts (over 40 words: reviews) get their own copy of the features, their words and word pairs.
A shift of the long-text bias and the thresholds on polarity = P(pos) - P(neg) are chosen on
out-of-fold predictions (5 folds over the training part) to maximise the mean macro-recall over the
three sets. See bot/lexicon/NOTES.md.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sentiment import DEFAULT_DATA, TRAINED_ON, load_sets, metrics, split_of  # noqa: E402
from bot.models import LABELS  # noqa: E402
from bot.sentiment import WEIGHTS_FILE, Thresholds, analyse, base_lexicon, cue_push, layer_inputs  # noqa: E402

LICENCES = {
    "vader_tweets": "VADER ground-truth tweets (Hutto & Gilbert, ICWSM 2014; cjhutto/vaderSentiment) - MIT",
    "goemotions": "GoEmotions test split, single sentiment group (Demszky et al., ACL 2020; google-research) "
                  "- Apache-2.0",
    "druglib": "Drug Review Dataset (Druglib.com), UCI ML repository 461 (Kallumadi & Graesser, DH 2018), "
               "train file - CC BY 4.0",
}

CUE = "__cue"
SPARSE = ("w:", "lw:", "lb:")
LONG = "long:bias"
Example = tuple[dict[str, float], int, float, str]  # features (name -> value), class, weight, set key


def featurize(text: str) -> dict[str, float]:
    a = analyse(text, base_lexicon())
    x = layer_inputs(a)
    if a.cue:
        x[CUE] = a.cue  # not a learned feature: the hand-made cues' fixed push
    return x


def offsets(x: dict[str, float]) -> list[float]:
    """The fixed logit push of harkbot's hand-made cues, exactly as bot.sentiment.probabilities adds it."""
    return list(cue_push(x.get(CUE, 0.0)))


def choose_vocab(examples: Sequence[Example], min_df: int) -> set[str]:
    """Words for short texts: VADER's lexicon words only (harkbot's own terms keep their hand-set
    valence), seen in min_df texts. Words and word pairs for long texts: any seen in min_df texts."""
    lex = base_lexicon()
    df = Counter(k for x, *_ in examples for k in x if k.startswith(SPARSE))
    vocab = set()
    for k, n in df.items():
        if n < min_df:
            continue
        if k.startswith("w:") and (k[2:] not in lex.valence or k[2:] in lex.kind):
            continue
        vocab.add(k)
    return vocab


def train(examples: Sequence[Example], vocab: set[str], epochs: int, l2: float, lr: float,
          seed: int = 13) -> dict[str, list[float]]:
    w: dict[str, list[float]] = {}
    g2: dict[str, list[float]] = {}
    order = list(range(len(examples)))
    rng = random.Random(seed)
    # L2 applied lazily, when a feature is active: l2 / (its count) a time, so l2 * w an epoch in all
    df = Counter(k for x, *_ in examples for k in x)
    for _epoch in range(epochs):
        rng.shuffle(order)
        for idx in order:
            x, y, c, _set = examples[idx]
            active = [(k, v) for k, v in x.items() if k != CUE and (not k.startswith(SPARSE) or k in vocab)]
            z = offsets(x)
            for k, v in active:
                wk = w.get(k)
                if wk:
                    z[0] += wk[0] * v
                    z[1] += wk[1] * v
                    z[2] += wk[2] * v
            top = max(z)
            e = [math.exp(t - top) for t in z]
            s = sum(e)
            p = [t / s for t in e]
            for k, v in active:
                wk = w.setdefault(k, [0.0, 0.0, 0.0])
                gk = g2.setdefault(k, [1e-8, 1e-8, 1e-8])
                reg = 0.0 if k == "bias" else l2 / df[k]
                for j in range(3):
                    grad = c * (p[j] - (1.0 if j == y else 0.0)) * v + reg * wk[j]
                    gk[j] += grad * grad
                    wk[j] -= lr * grad / math.sqrt(gk[j])
    return w


def best_thresholds(scored: dict[str, list[tuple[float, str]]]) -> tuple[Thresholds, float]:
    """Thresholds on P(pos) - P(neg) that maximise the mean macro-recall over the sets."""
    per_class = {key: {label: sorted(p for p, g in rows if g == label) for label in LABELS}
                 for key, rows in scored.items()}
    best = (Thresholds(0.0, 0.0), -1.0)
    grid = [round(-0.7 + 0.02 * i, 2) for i in range(71)]
    for low in grid:
        for high in grid:
            if high < low:
                continue
            total = 0.0
            for classes in per_class.values():
                neg, neu, pos = (classes[label] for label in LABELS)
                r_neg = bisect.bisect_right(neg, low) / len(neg) if neg else 0.0
                r_pos = (len(pos) - bisect.bisect_left(pos, high)) / len(pos) if pos else 0.0
                # neutral: low < p < high
                r_neu = (bisect.bisect_left(neu, high) - bisect.bisect_right(neu, low)) / len(neu) if neu else 0.0
                total += (r_neg + r_neu + r_pos) / 3
            m = total / len(per_class)
            if m > best[1] + 1e-12:
                best = (Thresholds(low, high), m)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--l2", type=float, default=1.0, help="L2 strength (over the whole training set)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--min-df", type=int, default=5, help="a word needs this many training texts")
    parser.add_argument("--prune", type=float, default=0.1, help="drop words whose weights all stay below")
    parser.add_argument("--folds", type=int, default=5, help="out-of-fold predictions for the thresholds")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"No labelled data at {args.data}: training needs the shared sentiment sets.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sets = load_sets(args.data, TRAINED_ON)
    examples: list[Example] = []
    for ls in sets:
        train_part = [e for e in ls.examples if split_of(e.text) != 0]
        per_class = Counter(e.gold for e in train_part)
        for e in train_part:
            weight = len(train_part) / (3 * per_class[e.gold])  # each class of a set weighs the same
            examples.append((featurize(e.text), LABELS.index(e.gold), weight, ls.key))
    # each set weighs the same in total
    mass = Counter()
    for _x, _y, c, key in examples:
        mass[key] += c
    share = len(examples) / len(mass)  # so the mean weight is 1
    examples = [(x, y, c * share / mass[key], key) for x, y, c, key in examples]
    vocab = choose_vocab(examples, args.min_df)
    kinds = Counter(k.split(":")[0] for k in vocab)
    print(f"{len(examples):,} training texts from {', '.join(ls.key for ls in sets)}; vocabulary (min df "
          f"{args.min_df}): {kinds['w']:,} lexicon words, {kinds['lw']:,} long-text words, {kinds['lb']:,} "
          "long-text word pairs", file=sys.stderr)

    # Out-of-fold logits, for the long-text calibration and the thresholds.
    folds = args.folds
    oof: list[tuple[list[float], bool, str, str]] = []  # logits, long, gold, set
    for f in range(folds):
        tr = [e for i, e in enumerate(examples) if i % folds != f]
        w = train(tr, vocab, args.epochs, args.l2, args.lr)
        for i, (x, y, _c, key) in enumerate(examples):
            if i % folds == f:
                oof.append((logits(w, x), LONG in x, LABELS[y], key))
    shift, thresholds, cv, per_set = calibrate(oof, [ls.key for ls in sets])
    print(f"long-text shift (neutral, positive-negative) {shift}; out-of-fold macro-recall at {thresholds}: "
          + ", ".join(f"{k} {v:.3f}" for k, v in per_set.items()) + f"; mean {cv:.3f}", file=sys.stderr)

    w = train(examples, vocab, args.epochs, args.l2, args.lr)
    bias = w.setdefault(LONG, [0.0, 0.0, 0.0])
    bias[0] -= shift[1] / 2
    bias[1] += shift[0]
    bias[2] += shift[1] / 2
    kept = {k: v for k, v in w.items() if not k.startswith(SPARSE) or max(abs(t) for t in v) >= args.prune}
    write(args.out, kept, thresholds, args, per_set, len(examples), vocab, shift)
    print(f"wrote {args.out} ({len(kept):,} features) in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


def logits(w: dict[str, list[float]], x: dict[str, float]) -> list[float]:
    z = offsets(x)
    for k, v in x.items():
        wk = w.get(k)
        if wk:
            for j in range(3):
                z[j] += wk[j] * v
    return z


def polarity(z: list[float]) -> float:
    top = max(z)
    e = [math.exp(t - top) for t in z]
    return (e[2] - e[0]) / sum(e)


def calibrate(oof: list[tuple[list[float], bool, str, str]], keys: list[str]
              ) -> tuple[tuple[float, float], Thresholds, float, dict[str, float]]:
    """Long texts (reviews) get their own neutral band: a shift of the long-text bias, (neutral,
    positive-minus-negative), chosen with the thresholds on out-of-fold predictions to maximise the
    mean macro-recall over the sets."""
    best: tuple[float, tuple[float, float], Thresholds] = (-1.0, (0.0, 0.0), Thresholds())
    steps = [round(-1.0 + 0.25 * i, 2) for i in range(13)]
    for du in steps:
        for dpn in steps:
            scored: dict[str, list[tuple[float, str]]] = {k: [] for k in keys}
            for z, long, gold, key in oof:
                if long:
                    z = [z[0] - dpn / 2, z[1] + du, z[2] + dpn / 2]
                scored[key].append((polarity(z), gold))
            t, m = best_thresholds(scored)
            if m > best[0] + 1e-9:
                best = (m, (du, dpn), t)
    m, shift, t = best
    per_set: dict[str, list[tuple[float, str]]] = {k: [] for k in keys}
    for z, long, gold, key in oof:
        if long:
            z = [z[0] - shift[1] / 2, z[1] + shift[0], z[2] + shift[1] / 2]
        per_set[key].append((polarity(z), gold))
    recalls = {k: metrics([g for _, g in rows], [t.label(p) for p, _ in rows], 1.0).macro_recall
               for k, rows in per_set.items()}
    return shift, t, m, recalls


def write(path: Path, w: dict[str, list[float]], t: Thresholds, args: argparse.Namespace,
          per_set: dict[str, float], n: int, vocab: set[str], shift: tuple[float, float]) -> None:
    dense = [k for k in w if not k.startswith(SPARSE)]
    words = sorted(k for k in w if k.startswith(SPARSE))
    kinds = Counter(k.split(":")[0] for k in words)
    lines = [
        "# harkbot's learned sentiment layer: multinomial logistic regression over harkbot's rule features",
        "# and words. Made by tools/train_sentiment.py (see bot/lexicon/NOTES.md); do not edit by hand.",
        "# Trained on (each minus the held-out fifth, sha1(text) % 5 == 0, which bench/sentiment.py scores):",
        *[f"#   {LICENCES[k]}" for k in TRAINED_ON],
        "# Not trained on: airline tweets (CC BY-NC-SA 4.0), TweetEval (Twitter terms).",
        f"# {n:,} texts; epochs {args.epochs}, l2 {args.l2}, lr {args.lr}, min df {args.min_df}; kept "
        f"{kinds['w']:,} lexicon words (w:), {kinds['lw']:,} long-text words (lw:) and {kinds['lb']:,} long-text "
        f"word pairs (lb:) whose weights reach {args.prune}; long-text bias shift {shift}.",
        "# Out-of-fold macro-recall (5 folds of the training part) at the thresholds below: "
        + ", ".join(f"{k} {v:.3f}" for k, v in per_set.items()),
        "#labels\tnegative\tneutral\tpositive",
        f"#thresholds\t{t.negative_below}\t{t.positive_above}",
        "feature\tnegative\tneutral\tpositive",
    ]
    for k in dense + words:
        lines.append(k + "\t" + "\t".join(f"{v:.3f}" for v in w[k]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
