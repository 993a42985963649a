"""Sentiment scorers behind one interface: score(text) -> Score.

Each Score names its scorer, so stored scores stay comparable when the default changes, and
carries the few terms that moved it, so an alert can say which words drove it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Protocol

from bot.models import Score

_WORD = re.compile(r"[a-z][a-z'’-]*")


@dataclass(frozen=True)
class Thresholds:
    """Polarity at or below `negative_below` is negative; at or above `positive_above`, positive."""

    negative_below: float = -0.05
    positive_above: float = 0.05

    def label(self, polarity: float) -> str:
        if polarity <= self.negative_below:
            return "negative"
        if polarity >= self.positive_above:
            return "positive"
        return "neutral"


class Scorer(Protocol):
    name: ClassVar[str]

    def score(self, text: str) -> Score: ...


def _top_terms(weighted: list[tuple[str, float]], label: str, n: int = 3) -> tuple[str, ...]:
    """The strongest terms pulling in the direction of the label (both ways for neutral)."""
    sign = {"negative": -1, "positive": 1}.get(label)
    chosen = [(t, w) for t, w in weighted if sign is None or w * sign > 0]
    chosen.sort(key=lambda tw: -abs(tw[1]))
    seen: list[str] = []
    for term, _w in chosen:
        if term not in seen:
            seen.append(term)
    return tuple(seen[:n])


class VaderScorer:
    """VADER's compound score (Hutto and Gilbert, 2014): a lexicon and rules tuned on tweets."""

    name: ClassVar[str] = "vader"

    def __init__(self, thresholds: Thresholds = Thresholds()):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self._lexicon = self._analyzer.lexicon
        self.thresholds = thresholds

    def score(self, text: str) -> Score:
        polarity = float(self._analyzer.polarity_scores(text)["compound"])
        label = self.thresholds.label(polarity)
        words = _WORD.findall(text.lower())
        weighted = [(w, self._lexicon[w]) for w in words if w in self._lexicon]
        return Score(label, round(polarity, 4), self.name, _top_terms(weighted, label))


class TextBlobScorer:
    """TextBlob's pattern-based polarity: adjectives with intensifiers and negation."""

    name: ClassVar[str] = "textblob"

    def __init__(self, thresholds: Thresholds = Thresholds(negative_below=-1e-9, positive_above=1e-9)):
        from textblob import TextBlob

        self._blob = TextBlob
        self.thresholds = thresholds

    def score(self, text: str) -> Score:
        assessed = self._blob(text).sentiment_assessments
        polarity = max(-1.0, min(1.0, float(assessed.polarity)))
        label = self.thresholds.label(polarity)
        weighted = [(" ".join(words), float(pol)) for words, pol, *_ in assessed.assessments]
        return Score(label, round(polarity, 4), self.name, _top_terms(weighted, label))


SCORERS: dict[str, type] = {}


def register(cls: type) -> type:
    SCORERS[cls.name] = cls
    return cls


register(VaderScorer)
register(TextBlobScorer)


def make_scorer(name: str, negative_below: float | None = None, positive_above: float | None = None) -> Scorer:
    """A scorer by name; thresholds override its own defaults when given."""
    cls = SCORERS[name]
    if negative_below is None and positive_above is None:
        return cls()
    defaults = Thresholds()
    return cls(Thresholds(
        defaults.negative_below if negative_below is None else negative_below,
        defaults.positive_above if positive_above is None else positive_above,
    ))
