"""Train harkbot's self-harm classifier and write bot/lexicon/selfharm_model.tsv.

    .venv/bin/pip install -e '.[train]'                  # scikit-learn, at training time only
    .venv/bin/python tools/train_selfharm.py             # writes bot/lexicon/selfharm_model.tsv
    .venv/bin/python tools/train_selfharm.py --data /path/to/dev.csv --out /tmp/m.tsv

On what: ../shared/data/selfharm/dev.csv (see its SOURCE.md): 3,500 Reddit posts, `risk` from
r/SuicideWatch and `none` from r/teenagers, from the Kaggle "Suicide and Depression Detection"
dataset (N. Komati; CC BY-SA 4.0). The labels are weak (the subreddit, not an annotator).
`split()` cuts it, per label, by a keyed hash of the text (seed SEED): 60% train, 20% tune,
20% test. The model is fitted on train; C and the threshold are chosen on tune; test is only
read by bench/selfharm.py. The same text always lands in the same part, whatever the row order.

What: an L2 logistic regression (liblinear, balanced classes) over bot.selfharm.text_features:
hashed (CRC-32, BUCKETS slots) words, word pairs and in-word character 3-5-grams, counts divided
by the square root of the text's feature count. Only the weights ship (bucket<TAB>weight, the
smallest pruned), never text; as a work derived from CC BY-SA data they carry that licence
(see the header of the file and bot/lexicon/selfharm_model.md).

The threshold: the lowest P(risk) at which the whole detector (lexicon or classifier) keeps its
false positives on tune's `none` posts at or under --fp (default 2%, the target: recall comes
first, so test may land a little over it), and the classifier flags none of NEGATIVES below (figurative and
ordinary posts written for harkbot). Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import re
import sys
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import selfharm  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "selfharm" / "dev.csv"
OUT = REPO / "bot" / selfharm.MODEL_FILE
SEED = "harkbot-14"
BUCKETS = 1 << 18
PARTS = (("train", 0.6), ("tune", 0.2), ("test", 0.2))
CREDIT = ("Kaggle 'Suicide and Depression Detection' (N. Komati; Reddit r/SuicideWatch and r/teenagers "
          "via Pushshift), first 5,000 rows as in torrentpien/chatgpt-textmining-workshop, 70% dev part")
LICENCE = "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"

# Written for harkbot (not from the data): short figurative and ordinary posts the classifier
# alone must not flag at the chosen threshold. Tests use other sentences.
NEGATIVES = (
    "this exam is killing me",
    "I'd die for that pizza",
    "Suicide prevention week: the crisis line is 988, share it",
    "new study on suicide rates among veterans published today",
    "the side effects list says it may cause drowsiness and headaches",
    "I'm dead 💀 this meme",
    "my phone battery is dying again",
    "ugh mondays, I literally can't",
    "this level is impossible, I keep dying at the boss",
    "killing it at the gym today",
    "the therapist said anxiety is common after a move",
    "that concert was to die for",
    "I could sleep for a week after this shift",
    "my plants are dying because I forgot to water them",
    "deadline tomorrow and I have not started, pray for me",
    "the cut on my finger from cooking finally healed",
    "I'm so done with this weather",
    "worst customer service ever, never ordering again",
    "cutting my hair short for summer",
    "thinking about ending my gym membership, it's a waste",
)


def unjoin(text: str) -> str:
    """dev.csv joins a post's title to its body with no space ("...than everThat's it"): a
    lower-case letter straight before an upper-case one gets a line break, as a title would."""
    return re.sub(r"(?<=[a-z.!?])(?=[A-Z][a-z])", "\n", text)


def load_dev(path: Path = DEFAULT_DATA) -> list[tuple[str, int]]:
    """(text, 1 for risk / 0 for none); exits with a fix when the file is missing."""
    if not path.exists():
        raise SystemExit(f"train_selfharm: no {path}; give --data (the dev.csv of ../shared/data/selfharm)")
    with open(path, encoding="utf-8", newline="") as f:
        rows = [(unjoin(r["text"]), 1 if r["label"] == "risk" else 0) for r in csv.DictReader(f)]
    return rows


def split(rows: Sequence[tuple[str, int]], seed: str = SEED) -> dict[str, list[tuple[str, int]]]:
    """Per label, rows ordered by a keyed hash of their text and cut 60/20/20."""
    out: dict[str, list[tuple[str, int]]] = {name: [] for name, _ in PARTS}
    for label in (0, 1):
        these = sorted((r for r in rows if r[1] == label),
                       key=lambda r: hashlib.sha256(f"{seed}\0{r[0]}".encode()).hexdigest())
        start = 0
        for i, (name, share) in enumerate(PARTS):
            end = len(these) if i == len(PARTS) - 1 else start + round(share * len(these))
            out[name].extend(these[start:end])
            start = end
    return out


def matrix(texts: Sequence[str], buckets: int = BUCKETS):
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for t in texts:
        counts: dict[int, int] = {}
        feats = selfharm.text_features(t)
        for f in feats:
            b = selfharm.bucket(f, buckets)
            counts[b] = counts.get(b, 0) + 1
        scale = 1.0 / math.sqrt(len(feats)) if feats else 0.0
        for b, c in sorted(counts.items()):
            indices.append(b)
            data.append(c * scale)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(texts), buckets))


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    ranked = sorted((s, y) for s, y in zip(scores, labels))
    rank_sum = sum(i + 1 for i, (_, y) in enumerate(ranked) if y)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def lexicon_routed(text: str) -> bool:
    flag = selfharm.default_lexicon().assess(text)
    return flag is not None and flag.level in selfharm.ROUTED


def choose_threshold(probs: Sequence[float], labels: Sequence[int], lexicon_hits: Sequence[bool],
                     fp_target: float, floor: float) -> float:
    """The lowest threshold at or above `floor` whose combined false-positive rate is within target."""
    negatives = sum(1 for y in labels if not y)
    for t in sorted({round(p, 4) for p in probs if p >= floor} | {floor}):
        fp = sum(1 for p, y, hit in zip(probs, labels, lexicon_hits) if not y and (hit or p >= t))
        if fp / negatives <= fp_target:
            return t
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--fp", type=float, default=0.02, help="false-positive target on tune (default 0.02)")
    parser.add_argument("--keep", type=int, default=40_000, help="weights kept, largest first (default 40000)")
    args = parser.parse_args()
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SystemExit("train_selfharm: scikit-learn is missing; .venv/bin/pip install -e '.[train]'") from None

    began = time.perf_counter()
    parts = split(load_dev(args.data))
    train, tune = parts["train"], parts["tune"]
    x_train = matrix([t for t, _ in train])
    y_train = [y for _, y in train]
    x_tune = matrix([t for t, _ in tune])
    y_tune = [y for _, y in tune]
    lexicon_hits = [lexicon_routed(t) for t, _ in tune]
    print(f"train {len(train)} ({sum(y_train)} risk), tune {len(tune)} ({sum(y_tune)} risk), "
          f"test {len(parts['test'])} (not read here)")

    best = None
    for c in (1.0, 3.0, 10.0, 30.0, 100.0):
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=1000)
        model.fit(x_train, y_train)
        probs = model.predict_proba(x_tune)[:, 1].tolist()
        a = auc(probs, y_tune)
        t = choose_threshold(probs, y_tune, lexicon_hits, args.fp, 0.5)
        recall = sum(1 for p, y, hit in zip(probs, y_tune, lexicon_hits) if y and (hit or p >= t)) / sum(y_tune)
        print(f"C={c:<6} tune AUC {a:.4f}  threshold {t:.4f}  combined recall {recall:.3f}")
        if best is None or (recall, a) > best[0]:
            best = ((recall, a), c, model)
    _, c, model = best

    coef = model.coef_[0]
    order = sorted(range(len(coef)), key=lambda i: -abs(coef[i]))[:args.keep]
    weights = {i: float(f"{coef[i]:.5g}") for i in sorted(order) if coef[i] != 0.0}
    bias = float(model.intercept_[0])
    clf = selfharm.Classifier(weights, bias, BUCKETS, 1.0)
    # As bot.selfharm.Detector: the classifier alone never flags a post under MIN_CLASSIFIER_WORDS.
    probs = [clf.probability(t) if len(selfharm.model_words(t)) >= selfharm.MIN_CLASSIFIER_WORDS else 0.0
             for t, _ in tune]
    floor = max([0.5] + [clf.probability(t) + 1e-4 for t in NEGATIVES
                         if len(selfharm.model_words(t)) >= selfharm.MIN_CLASSIFIER_WORDS])
    threshold = choose_threshold(probs, y_tune, lexicon_hits, args.fp, floor)
    recall = sum(1 for p, y, hit in zip(probs, y_tune, lexicon_hits) if y and (hit or p >= threshold)) / sum(y_tune)
    fp = sum(1 for p, y, hit in zip(probs, y_tune, lexicon_hits) if not y and (hit or p >= threshold))
    print(f"shipped: C={c}, {len(weights):,} weights, tune AUC {auc(probs, y_tune):.4f}, threshold {threshold:.4f} "
          f"(floor from NEGATIVES {floor:.4f}), combined on tune: recall {recall:.3f}, "
          f"FP {fp}/{len(y_tune) - sum(y_tune)}")

    lines = [
        "# harkbot self-harm classifier: logistic regression over hashed features (bot/selfharm.py,",
        "# text_features); written by tools/train_selfharm.py. Bucket numbers and weights only, no text.",
        f"# Trained on: {CREDIT}.",
        f"# Licence of these weights (derived from that data): {LICENCE}. See selfharm_model.md.",
        f"buckets\t{BUCKETS}",
        f"bias\t{bias:.6g}",
        f"threshold\t{threshold:.6g}",
        f"C\t{c}",
        f"split\tseed {SEED}: train {len(train)}, tune {len(tune)}, test {len(parts['test'])}",
        f"licence\t{LICENCE}",
    ]
    lines += [f"{i}\t{w}" for i, w in weights.items()]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
