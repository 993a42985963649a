"""Train harkbot's learned sentiment layer and write bot/lexicon/weights.tsv; with --umsab, train
the per-language models of bot/sentiment_multi.py and write bot/lexicon/sentiment_<lang>.tsv.

    .venv/bin/python tools/train_sentiment.py                 # writes bot/lexicon/weights.tsv
    .venv/bin/python tools/train_sentiment.py --out /tmp/w.tsv --data /path/to/sentiment
    .venv/bin/python tools/train_sentiment.py --umsab all     # ar de es fr hi it pt (see below)
    .venv/bin/python tools/train_sentiment.py --umsab es --out-dir /tmp/models

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
tests. `--labels FILE` (repeatable) adds the team's own corrections, as `harkbot labels export
--with-text` writes them (CSV or JSON lines), as one more set: what a deployment's people said the
scorer got wrong, weighed like any other set (the weights file then derives from their posts too:
keep it in that deployment). Each set weighs the same in training, and within a set each class weighs the same, so
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
from bot.sentiment_multi import FEATURES, LANGUAGES as UMSAB_LANGUAGES, LEXICON_DIR, Spec  # noqa: E402
from bot.sentiment_multi import features, model_path, tokens  # noqa: E402

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


def team_labels(paths: Sequence[Path]):
    """The corrections in `harkbot labels export --with-text` files as a labelled set ('team'):
    the post's title and text with the label a person gave it. Rows without text (an export
    made without --with-text) or with a label outside LABELS are refused by name."""
    import csv
    import json

    from bench.sentiment import Example as Labelled, LabelledSet

    examples = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = ([json.loads(line) for line in handle if line.strip()] if path.suffix == ".jsonl"
                    else list(csv.DictReader(handle)))
        for n, row in enumerate(rows, 1):
            text = "\n".join(p for p in (row.get("title") or "", row.get("text") or "") if p).strip()
            if not text:
                raise SystemExit(f"{path}:{n}: no text; export with `harkbot labels export --with-text`")
            if row.get("label") not in LABELS:
                raise SystemExit(f"{path}:{n}: label {row.get('label')!r} is not one of {', '.join(LABELS)}")
            examples.append(Labelled(text, row["label"]))
    return LabelledSet("team", "the team's corrections (harkbot labels export)", tuple(examples))


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
    parser.add_argument("--umsab", action="append", metavar="LANG",
                        help="train a language's model on UMSAB's train split instead: "
                             f"{', '.join(UMSAB_LANGUAGES)} (code or name), or 'all' (repeatable)")
    parser.add_argument("--out-dir", type=Path, default=LEXICON_DIR, help="where --umsab writes its models")
    parser.add_argument("--labels", type=Path, action="append", default=[], metavar="FILE",
                        help="corrections from `harkbot labels export --with-text` (csv or jsonl), as one more set")
    args = parser.parse_args(argv)
    if args.umsab:
        return umsab_main(args)
    if not args.data.is_dir():
        print(f"No labelled data at {args.data}: training needs the shared sentiment sets.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sets = load_sets(args.data, TRAINED_ON)
    if args.labels:
        sets.append(team_labels(args.labels))
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
        *([f"#   the team's own corrections: {', '.join(str(p) for p in args.labels)} (harkbot labels export)"]
          if args.labels else []),
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


# =========================================================================== --umsab: other languages
#
# One model per language (bot/sentiment_multi.py reads them): a multinomial logistic regression,
# L2, over bot.sentiment_multi.features (words, word pairs, negated words, in-word character
# n-grams, emoji valence, optionally English words' VADER valence and counts of hand-written seed
# words, bot/lexicon/seeds.tsv), fitted by full-batch Adam in numpy: deterministic (a fixed number of
# steps from zero, sums in a fixed order), the same data gives the same file. Only UMSAB's train
# split is read here: the character n-grams on or off and the L2 strength are chosen by 5-fold
# cross-validation on train (folds fixed by a hash of the text), macro-recall out of fold; the
# val split is read only by bench/sentiment.py. UMSAB's classes are balanced, so the model takes
# the likeliest class and has no thresholds to tune.

# Words alone lost to words + character n-grams in every language (first run, all four l2), so the
# grid starts from the n-grams and adds the two lexicon features.
UMSAB_SPECS = {"words+chars 2-4": Spec(char=(2, 4)),
               "words+chars 2-4+English valence": Spec(char=(2, 4), english=True),
               "words+chars 2-4+English valence+seeds": Spec(char=(2, 4), english=True, seeds=True)}
# Within this much of the best cross-validated macro-recall (about one standard error on 1,839
# tweets), the later, richer feature set wins: the lexicon features carry what the tweets' topics
# cannot teach (a plain "I hate this company" in a language whose training tweets use the words
# in other senses), which cross-validation on those same tweets cannot see.
UMSAB_CV_SLACK = 0.01
UMSAB_L2 = (1e-4, 3e-4, 1e-3, 3e-3)  # on the mean loss; strongest first (each fit starts from the last)
UMSAB_MIN_DF = 2  # a feature must occur in this many training texts
UMSAB_STEPS = 150  # enough: the loss moves by < 1e-4 after 100 (Spanish, each l2)
UMSAB_KEEP = 40_000  # features kept in a shipped model at most (the largest weights)
UMSAB_PRUNE = 0.02  # and only those whose largest weight reaches this
UMSAB_CREDIT = ("UMSAB (Barbieri et al., XLM-T, LREC 2022; cardiffnlp/xlm-t data/sentiment, commit 874214d), "
                "train split only")
UMSAB_TERMS = ("the original datasets' restrictions and Twitter's terms apply (research and evaluation); "
               "no text ships, only these weights")


def umsab_split(root: Path, language: str, split: str) -> tuple[list[str], list[int]]:
    folder = root / "umsab" / language
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = [int(v) for v in (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()]
    return [t.strip() for t in texts[:len(labels)]], labels  # 0 negative, 1 neutral, 2 positive


def umsab_fold(text: str, folds: int = 5) -> int:
    """A text's cross-validation fold, fixed by the text alone (the same in every run)."""
    return split_of(text + "\x00umsab", folds)


class Design:
    """Rows of sparse features over a vocabulary, as numpy arrays (row, column, value)."""

    def __init__(self, rows: Sequence[dict[str, float]], vocab: dict[str, int]):
        import numpy as np

        r, c, v = [], [], []
        for i, x in enumerate(rows):
            for k, val in x.items():
                j = vocab.get(k)
                if j is not None:
                    r.append(i)
                    c.append(j)
                    v.append(val)
        self.n, self.dim = len(rows), len(vocab)
        self.rows = np.array(r, dtype=np.int64)
        self.cols = np.array(c, dtype=np.int64)
        self.vals = np.array(v, dtype=np.float64)

    def logits(self, w, b):
        import numpy as np

        part = self.vals[:, None] * w[self.cols]
        return np.stack([np.bincount(self.rows, part[:, j], minlength=self.n) for j in range(3)], axis=1) + b

    def back(self, r):
        """X^T r: the gradient of the logits' sum weighted by r (n x 3), per feature."""
        import numpy as np

        part = self.vals[:, None] * r[self.rows]
        return np.stack([np.bincount(self.cols, part[:, j], minlength=self.dim) for j in range(3)], axis=1)


def umsab_vocab(rows: Sequence[dict[str, float]], min_df: int = UMSAB_MIN_DF) -> dict[str, int]:
    df = Counter(k for x in rows for k in x)
    return {k: i for i, k in enumerate(sorted(k for k, n in df.items() if n >= min_df))}


def umsab_fit(x: Design, y: Sequence[int], l2: float, start=None, steps: int = UMSAB_STEPS, lr: float = 0.1):
    """Multinomial logistic regression: mean cross-entropy + l2/2 |w|^2 (no penalty on the bias),
    by full-batch Adam from `start` (or zero), the step shrinking linearly to a tenth (no
    oscillation at the end). Returns (w, b)."""
    import numpy as np

    onehot = np.eye(3)[np.asarray(y)]
    w, b = (np.zeros((x.dim, 3)), np.zeros(3)) if start is None else (start[0].copy(), start[1].copy())
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros(3), np.zeros(3)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        step = lr * (1 - 0.9 * (t - 1) / max(1, steps - 1))
        z = x.logits(w, b)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        r = (p - onehot) / x.n
        gw, gb = x.back(r) + l2 * w, r.sum(axis=0)
        for g, m, v, param in ((gw, mw, vw, w), (gb, mb, vb, b)):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            param -= step * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w, b


def macro_recall(gold: Sequence[int], pred: Sequence[int]) -> float:
    recalls = []
    for c in range(3):
        n = sum(1 for g in gold if g == c)
        recalls.append(sum(1 for g, p in zip(gold, pred) if g == c and p == c) / n if n else 0.0)
    return sum(recalls) / 3


def umsab_cross_validate(texts: Sequence[str], labels: Sequence[int], lang: str, folds: int = 5
                         ) -> dict[tuple[str, float], float]:
    """Out-of-fold macro-recall of every (spec, l2) in the grid, on the training texts alone."""
    import numpy as np

    fold = [umsab_fold(t, folds) for t in texts]
    toks = [tokens(t) for t in texts]
    out: dict[tuple[str, float], float] = {}
    for spec_name, spec in UMSAB_SPECS.items():
        rows = [features(tk, lang, spec) for tk in toks]
        pred: dict[float, list[int]] = {l2: [0] * len(texts) for l2 in UMSAB_L2}
        for f in range(folds):
            train_i = [i for i in range(len(texts)) if fold[i] != f]
            test_i = [i for i in range(len(texts)) if fold[i] == f]
            vocab = umsab_vocab([rows[i] for i in train_i])
            xtr = Design([rows[i] for i in train_i], vocab)
            xte = Design([rows[i] for i in test_i], vocab)
            start = None
            for l2 in sorted(UMSAB_L2, reverse=True):
                start = umsab_fit(xtr, [labels[i] for i in train_i], l2, start)
                guesses = np.argmax(xte.logits(*start), axis=1)
                for i, g in zip(test_i, guesses):
                    pred[l2][i] = int(g)
        for l2 in UMSAB_L2:
            out[(spec_name, l2)] = macro_recall(labels, pred[l2])
    return out


def umsab_train(texts: Sequence[str], labels: Sequence[int], lang: str, spec: Spec, l2: float,
                keep: int = UMSAB_KEEP, prune: float = UMSAB_PRUNE) -> dict[str, tuple[float, float, float]]:
    """The shipped weights: fitted on every training text (the path of l2 values down to `l2`,
    as in cross-validation), then the largest `keep` features whose weights reach `prune`."""
    rows = [features(tokens(t), lang, spec) for t in texts]
    vocab = umsab_vocab(rows)
    x = Design(rows, vocab)
    start = None
    for value in sorted((v for v in set(UMSAB_L2) | {l2} if v >= l2), reverse=True):
        start = umsab_fit(x, labels, value, start)
    w, b = start
    names = list(vocab)
    size = [max(abs(float(v)) for v in w[i]) for i in range(len(names))]
    order = sorted((i for i in range(len(names)) if size[i] >= prune), key=lambda i: (-size[i], names[i]))[:keep]
    out = {"bias": tuple(round(float(v), 5) for v in b)}
    for i in sorted(order, key=lambda i: names[i]):
        out[names[i]] = tuple(round(float(v), 5) for v in w[i])
    return out


def umsab_write(path: Path, lang: str, weights: dict[str, tuple[float, float, float]], spec: Spec, l2: float,
                cv: dict[tuple[str, float], float], n: int) -> None:
    spec_name = next(k for k, v in UMSAB_SPECS.items() if v == spec)
    lines = [
        f"# harkbot's {UMSAB_LANGUAGES[lang]} sentiment model (bot/sentiment_multi.py): multinomial logistic",
        "# regression over words, word pairs, negated words, in-word character n-grams and emoji valence.",
        "# Made by tools/train_sentiment.py --umsab; do not edit by hand. See bot/lexicon/sentiment_multi.md.",
        f"# Trained on: {UMSAB_CREDIT}, {n:,} tweets; {UMSAB_TERMS}.",
        f"# Chosen by 5-fold cross-validation on train (macro-recall out of fold): {spec_name}, l2 {l2:g}; grid "
        + ", ".join(f"{s}/{v:g} {m:.3f}" for (s, v), m in sorted(cv.items())) + ".",
        f"# {len(weights) - 1:,} features kept (min df {UMSAB_MIN_DF}, largest {UMSAB_KEEP:,} reaching {UMSAB_PRUNE}).",
        f"#lang\t{lang}",
        "#version\t1",
        f"#features\t{FEATURES}",
        "#char\t" + ("\t".join(str(v) for v in spec.char) if spec.char else "none"),
        f"#negation\t{int(spec.negation)}",
        f"#emoji\t{int(spec.emoji)}",
        f"#english\t{int(spec.english)}",
        f"#seeds\t{int(spec.seeds)}",
        f"#cv\t{cv[(spec_name, l2)]:.4f}",
        "#labels\t" + "\t".join(LABELS),
        "feature\tnegative\tneutral\tpositive",
    ]
    for k, row in weights.items():
        lines.append(k + "\t" + "\t".join(f"{v:.4g}" for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def umsab_choose(cv: dict[tuple[str, float], float]) -> tuple[str, float]:
    """The (feature set, l2) to ship: the richest feature set within UMSAB_CV_SLACK of the best
    figure, at its best l2 (ties: the stronger l2)."""
    top = max(cv.values())
    names = list(UMSAB_SPECS)
    spec_name = max((name for (name, _l2), m in cv.items() if m >= top - UMSAB_CV_SLACK), key=names.index)
    return max(((name, l2) for (name, l2) in cv if name == spec_name), key=lambda k: (cv[k], k[1]))


def umsab_languages(asked: Sequence[str]) -> list[str]:
    names = {v: k for k, v in UMSAB_LANGUAGES.items()}
    out: list[str] = []
    for a in asked:
        a = a.lower()
        codes = list(UMSAB_LANGUAGES) if a == "all" else [names.get(a, a)]
        for code in codes:
            if code not in UMSAB_LANGUAGES:
                raise SystemExit(f"--umsab {a}: not a UMSAB language; one of {', '.join(UMSAB_LANGUAGES)} or all")
            if code not in out:
                out.append(code)
    return out


def umsab_main(args: argparse.Namespace) -> int:
    langs = umsab_languages(args.umsab)
    if not (args.data / "umsab").is_dir():
        print(f"No UMSAB data at {args.data / 'umsab'}: training needs the shared sentiment sets.", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        started = time.perf_counter()
        texts, labels = umsab_split(args.data, UMSAB_LANGUAGES[lang], "train")
        cv = umsab_cross_validate(texts, labels, lang)
        spec_name, l2 = umsab_choose(cv)
        best = cv[(spec_name, l2)]
        weights = umsab_train(texts, labels, lang, UMSAB_SPECS[spec_name], l2)
        path = model_path(lang, args.out_dir)
        umsab_write(path, lang, weights, UMSAB_SPECS[spec_name], l2, cv, len(texts))
        print(f"{lang}: {len(texts):,} train texts; cross-validated macro-recall "
              + ", ".join(f"{s}/{v:g} {m:.3f}" for (s, v), m in sorted(cv.items()))
              + f"; chose {spec_name}, l2 {l2:g} ({best:.3f}); wrote {path} ({len(weights) - 1:,} features, "
              f"{path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
