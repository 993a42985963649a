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

What: an L2 logistic regression (liblinear, balanced classes) over bot.selfharm.text_features
of the words the lexicons read (bot.selfharm.model_words: normalised, sentence marks kept):
hashed (CRC-32, BUCKETS slots) words and word pairs in one block, in-word character 3-5-grams in
another, each block's counts divided by the square root of its size, each feature scaled by its
inverse document frequency on train (folded into the shipped weights, so inference is a plain
sum). Training on sentence windows of the posts as well (for short text) was tried and lost
recall on tune at every C (weak labels: most sentences of a SuicideWatch post are not risk), so
short posts get a threshold of their own instead. Only the weights ship (bucket<TAB>weight, the smallest pruned), never text; as a work derived
from CC BY-SA data they carry that licence (see the header of the file and
bot/lexicon/selfharm_model.md).

Two thresholds, both chosen on tune, never on test: for posts of bot.selfharm.SHORT_WORDS words
or more, and for shorter ones (with the detector's negation guard on short posts). Each is the
lowest P(risk) at which the whole detector (patterns, concepts or classifier) keeps its false
positives on tune's `none` posts of that length at or under --fp (default 2%, the target:
recall comes first, so test may land a little over it); the short one is also above every
NEGATIVES text (figurative and ordinary one-liners written for harkbot). Deterministic: the same
data gives the same file.
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
    # round 2: more one-liners of the kinds a brand sees, written for harkbot (not from any case file)
    "ugh this commute is the worst part of my day",
    "I'd rather die than sit through another budget meeting",
    "killing myself trying to get this thesis done by friday",
    "warning label on my new meds lists suicidal thoughts as a rare side effect",
    "the pharmacist said to watch for mood changes in the first month",
    "my grandad died last spring and I still miss him every day",
    "new podcast episode on suicide prevention in rural areas, link below",
    "crisis text line volunteers are heroes honestly",
    "how do I talk to my friend about going to therapy",
    "what's the best way to support a partner with anxiety",
    "that horror movie ending killed me, I screamed",
    "dying to know what happens next season",
    "this game is so hard, died like 50 times on the first boss",
    "my phone died and I missed the bus, great start",
    "I'm so tired of this weather, when is spring",
    "honestly just want this week to be over",
    "I could sleep for days after that exam",
    "gonna cut my hair short, wish me luck",
    "relapsed on sugar again, the cake was right there",
    "my streak on the meditation app is 200 days!!",
    "sad song recommendations for a rainy day?",
    "goodbye old laptop, you served me well",
    "last post of the year, thank you all for following",
    "took my meds and went to bed early, feeling better",
    "my therapist asked me to keep a mood journal",
    "bought a new knife set for the kitchen",
    "the side effects made me so sleepy I skipped class",
    "can't wait for the weekend, this week is killing me",
    "my cat knocked everything off the shelf again",
    "why is the app so slow today",
    "dead serious, this is the best pizza in town",
    "I'm dead, this video is hilarious",
    "the documentary about the bridge was beautifully shot",
    "mental health awareness week starts monday, be kind",
    "feeling hopeless about this job market tbh",
    "no point arguing with my brother about football",
    "I hate mondays so much",
    "sick of being stuck inside all day",
    "my anxiety is through the roof before this presentation",
    "I just want to disappear under a blanket and watch movies",
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


def matrix(word_lists: Sequence[list[str]], buckets: int = BUCKETS, idf=None):
    """Rows as bot.selfharm.Classifier reads them: each block's counts / sqrt(block size), times idf."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for words in word_lists:
        row: dict[int, float] = {}
        for block in selfharm.text_features(words):
            if not block:
                continue
            scale = 1.0 / math.sqrt(len(block))
            for f in block:
                b = selfharm.bucket(f, buckets)
                row[b] = row.get(b, 0.0) + scale
        for b in sorted(row):
            indices.append(b)
            data.append(row[b] * (idf[b] if idf is not None else 1.0))
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(word_lists), buckets))


def inverse_document_frequency(word_lists: Sequence[list[str]], buckets: int = BUCKETS):
    import numpy as np

    df = np.zeros(buckets)
    for words in word_lists:
        seen = {selfharm.bucket(f, buckets) for block in selfharm.text_features(words) for f in block}
        df[list(seen)] += 1
    return np.log((1 + len(word_lists)) / (1 + df)) + 1.0


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    ranked = sorted((s, y) for s, y in zip(scores, labels))
    rank_sum = sum(i + 1 for i, (_, y) in enumerate(ranked) if y)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def lexicon_routed(text: str) -> bool:
    """Whether the patterns or the concepts (no classifier) flag the text at a routed level."""
    flag = selfharm.assess_cues(text)
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


def _curve(probs, labels, hits, floor):
    """For each candidate threshold (at or above floor, highest first): (threshold, false
    positives, true positives) of the detector (lexicon or classifier) on these rows."""
    base_fp = sum(1 for y, h in zip(labels, hits) if h and not y)
    base_tp = sum(1 for y, h in zip(labels, hits) if h and y)
    extra = sorted(((p, y) for p, y, h in zip(probs, labels, hits) if not h and p >= floor), reverse=True)
    out = [(2.0, base_fp, base_tp)]  # 2.0: the classifier never flags alone
    fp, tp = base_fp, base_tp
    for i, (p, y) in enumerate(extra):
        fp += not y
        tp += y
        if i + 1 == len(extra) or extra[i + 1][0] < p:
            out.append((p, fp, tp))
    return out


def choose_thresholds(probs, labels, hits, short, fp_target, floor_long, floor_short):
    """(long threshold, short threshold, recall): the pair that flags the most risk posts while
    the whole detector's false positives on all none posts stay within fp_target."""
    negatives = sum(1 for y in labels if not y)
    budget = int(fp_target * negatives + 1e-9)
    groups = [[(p, y, h) for p, y, h, s in zip(probs, labels, hits, short) if s == want] for want in (False, True)]
    long_curve = _curve(*zip(*groups[0]), floor_long) if groups[0] else [(2.0, 0, 0)]
    short_curve = _curve(*zip(*groups[1]), floor_short) if groups[1] else [(2.0, 0, 0)]
    best = None
    for t_s, fp_s, tp_s in short_curve:
        for t_l, fp_l, tp_l in long_curve:
            if fp_s + fp_l <= budget and (best is None or tp_s + tp_l > best[0]):
                best = (tp_s + tp_l, t_l, t_s)
    if best is None:
        return 2.0, 2.0, sum(1 for y, h in zip(labels, hits) if y and h) / max(1, sum(labels))
    return best[1], best[2], best[0] / max(1, sum(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--fp", type=float, default=0.02, help="false-positive target on tune (default 0.02)")
    parser.add_argument("--keep", type=int, default=60_000, help="weights kept, largest first (default 60000)")
    args = parser.parse_args()
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SystemExit("train_selfharm: scikit-learn is missing; .venv/bin/pip install -e '.[train]'") from None

    began = time.perf_counter()
    parts = split(load_dev(args.data))
    train, tune = parts["train"], parts["tune"]
    rows = list(train)
    train_words = [selfharm.model_words(t) for t, _ in rows]
    y_train = [y for _, y in rows]
    idf = inverse_document_frequency([selfharm.model_words(t) for t, _ in train])
    x_train = matrix(train_words, idf=idf)
    tune_words = [selfharm.model_words(t) for t, _ in tune]
    x_tune = matrix(tune_words, idf=idf)
    y_tune = [y for _, y in tune]
    lexicon_hits = [lexicon_routed(t) for t, _ in tune]
    short = [len(w) < selfharm.SHORT_WORDS for w in tune_words]
    detector = selfharm.default_detector()

    def quiet(text: str, words: list[str]) -> bool:
        """As bot.selfharm.Detector: on a short post a negation, a `none` phrase or a song keeps the classifier quiet."""
        reader_words, quoted = detector.reader.words(text)
        return detector._short_negated(reader_words) or detector._cue_pass(text, reader_words, quoted)[1]

    guarded = [s and quiet(t, w) for s, (t, _), w in zip(short, tune, tune_words)]
    print(f"train {len(train)} posts ({sum(y for _, y in train)} risk), "
          f"tune {len(tune)} ({sum(y_tune)} risk, {sum(short)} short), test {len(parts['test'])} (not read here)")

    def thresholds(probs: list[float], floor_short: float) -> tuple[float, float, float]:
        return choose_thresholds([0.0 if g else p for p, g in zip(probs, guarded)], y_tune, lexicon_hits, short,
                                 args.fp, 0.5, floor_short)

    x_negatives = matrix([selfharm.model_words(t) for t in NEGATIVES], idf=idf)
    best = None
    for c in (3.0, 10.0):
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000)
        model.fit(x_train, y_train)
        probs = model.predict_proba(x_tune)[:, 1].tolist()
        floor = max([0.5] + [p + 1e-4 for p in model.predict_proba(x_negatives)[:, 1]])
        long_t, short_t, recall = thresholds(probs, floor)
        print(f"C={c:<5} tune AUC {auc(probs, y_tune):.4f}  thresholds long {long_t:.4f} short {short_t:.4f}  "
              f"combined recall {recall:.3f}")
        if best is None or recall > best[0]:
            best = (recall, c, model)
    _, c, model = best

    coef = model.coef_[0] * idf  # the idf folded in: the classifier sums weights of raw counts
    order = sorted(range(len(coef)), key=lambda i: -abs(coef[i]))[:args.keep]
    weights = {i: float(f"{coef[i]:.5g}") for i in sorted(order) if coef[i] != 0.0}
    bias = float(model.intercept_[0])
    clf = selfharm.Classifier(weights, bias, BUCKETS, 1.0)
    probs = [clf.probability_of(w) for w in tune_words]
    floor = max([0.5] + [clf.probability(t) + 1e-4 for t in NEGATIVES])
    long_t, short_t, recall = thresholds(probs, floor)
    hits = [h or (p >= (short_t if s else long_t) and not g) for p, s, g, h in zip(probs, short, guarded, lexicon_hits)]
    fp = sum(1 for hit, y in zip(hits, y_tune) if not y and hit)
    print(f"shipped: C={c}, {len(weights):,} weights, tune AUC {auc(probs, y_tune):.4f}, thresholds long {long_t:.4f} "
          f"short {short_t:.4f} (floor from NEGATIVES {floor:.4f}); combined on tune: recall {recall:.3f}, "
          f"FP {fp}/{len(y_tune) - sum(y_tune)}")

    lines = [
        "# harkbot self-harm classifier: logistic regression over hashed features (bot/selfharm.py,",
        "# text_features); written by tools/train_selfharm.py. Bucket numbers and weights only, no text.",
        f"# Trained on: {CREDIT}.",
        f"# Licence of these weights (derived from that data): {LICENCE}. See selfharm_model.md.",
        f"features\t{selfharm.FEATURES}",
        f"buckets\t{BUCKETS}",
        f"bias\t{bias:.6g}",
        f"threshold\t{long_t:.6g}",
        f"short_threshold\t{short_t:.6g}",
        f"C\t{c}",
        f"split\tseed {SEED}: train {len(train)}, tune {len(tune)}, test {len(parts['test'])}",
        f"licence\t{LICENCE}",
    ]
    lines += [f"{i}\t{w}" for i, w in weights.items()]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
