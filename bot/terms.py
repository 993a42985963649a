"""The words and hashtags driving a window: frequent now, rare before. Pure."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

from bot.models import ScoredMention
from bot.query import fold

_CLAUSE = re.compile(r"[.,;:!?()\[\]\"“”\n]+")
_WORD = re.compile(r"#?\w[\w'’-]*\w|#?\w")
STOPWORDS = frozenset(
    """a about above after against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could did do does doing don't down during each
    few for from further had has have having he her here hers herself him himself his how i i'm i've
    if in into is isn't it it's its itself just let's me more most my myself no nor not of off on once
    only or other ought our ours ourselves out over own same she should so some such than that that's
    the their theirs them themselves then there these they they're this those through to too under
    until up very was we we're were what when where which while who whom why will with would you
    you're your yours yourself yourselves get got im dont cant amp https http www com co rt via
    also really like one just now new still even much many us u ur lol""".split()
)


def _features(text: str, exclude: frozenset[str]) -> set[str]:
    """The words, #hashtags and two-word phrases of a text, minus stopwords and brand words.

    Phrases do not cross punctuation, and neither of their words may be a stopword.
    """
    features: set[str] = set()
    for clause in _CLAUSE.split(fold(text)):
        words = [w for w in _WORD.findall(clause) if not w.isdigit() and not w.startswith("@")]
        useful = [len(w) > 2 and w not in STOPWORDS and w.lstrip("#") not in exclude for w in words]
        features.update(w for w, ok in zip(words, useful) if ok)
        features.update(
            f"{a} {b}" for (a, ok_a), (b, ok_b) in zip(zip(words, useful), zip(words[1:], useful[1:]))
            if ok_a and ok_b and not a.startswith("#") and not b.startswith("#")
        )
    return features


def driving_terms(window: Sequence[str], before: Sequence[str], *, exclude: Iterable[str] = (),
                  n: int = 5) -> tuple[str, ...]:
    """Terms in at least a few window texts whose document share rose the most."""
    if not window:
        return ()
    excluded = frozenset(fold(e) for e in exclude)
    now = Counter(f for text in window for f in _features(text, excluded))
    then = Counter(f for text in before for f in _features(text, excluded))
    floor = max(3, math.ceil(0.05 * len(window)))
    ranked = []
    for term, count in now.items():
        if count < floor:
            continue
        lift = (count / len(window)) / ((then[term] + 1) / (len(before) + 1))
        if lift >= 2:
            ranked.append((lift * math.log1p(count), term))
    ranked.sort(reverse=True)
    chosen: list[str] = []
    for _score, term in ranked:
        # A bigram already says what its words say; keep the more specific one only.
        if any(term in kept.split() or kept in term.split() for kept in chosen if " " in kept or " " in term):
            continue
        chosen.append(term)
        if len(chosen) == n:
            break
    return tuple(chosen)


def tone_terms(scored: Iterable[ScoredMention], n: int = 5, min_count: int = 2) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The terms the sentiment scorer cited most often for negative and for positive mentions.

    A term must move at least `min_count` mentions, so one angry post does not speak for
    the window (unless the window holds only one such post).
    """
    counts: dict[str, Counter[str]] = {"negative": Counter(), "positive": Counter()}
    posts: Counter[str] = Counter()
    for sm in scored:
        label = sm.score.label
        if label in counts:
            posts[label] += 1
            counts[label].update(dict.fromkeys(sm.score.terms, 1))
    out = []
    for label in ("negative", "positive"):
        need = min(min_count, posts[label])
        top = tuple(t for t, c in counts[label].most_common(n * 2) if c >= need)[:n]
        if top:
            out.append((label, top))
    return tuple(out)
