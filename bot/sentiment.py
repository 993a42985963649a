"""Sentiment scorers behind one interface: score(text) -> Score.

Each Score names its scorer, so stored scores stay comparable when the default changes, and
carries the few terms that moved it, so an alert can say which words drove it.

Scorers:

* ``harkbot``: harkbot's own. A VADER-style lexicon and rules (negation, intensifiers, "but",
  capitals, exclamation) over VADER's lexicon plus harkbot's terms (bot/lexicon/terms.tsv):
  complaints that read polite ("thanks for the 3 hour hold"), service-failure vocabulary,
  clinical and side-effect words as topics rather than sentiment, supportive replies as
  positive. A small learned linear layer (bot/lexicon/weights.tsv, made by
  tools/train_sentiment.py, see bot/lexicon/NOTES.md) turns the rule features and words into
  three class probabilities; polarity = P(positive) - P(negative).
* ``harkbot-rules``: the same lexicon and rules without the learned layer; polarity is the
  rules' compound score. Every weight in it was written by hand.
* ``vader`` and ``textblob``: as shipped, for comparison and for deployments that want them.

A deployment can add or neutralise terms with a YAML domain lexicon (`load_domain_lexicon`):

    extra:              # term: valence on VADER's scale, -4 (most negative) .. +4
      waitlist: -1.5
      "no show": -1.2
    neutral:            # topic words here, not sentiment
      - depression
      - "side effects"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar, Protocol, Sequence

from bot.models import Score
from bot.text import BOUNDARY, CasedCutter

_WORD = re.compile(r"[a-z][a-z'’-]*")
LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
TERMS_FILE = LEXICON_DIR / "terms.tsv"
WEIGHTS_FILE = LEXICON_DIR / "weights.tsv"
VALENCE_LIMIT = 4.0  # VADER's scale: -4 .. +4


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


def _refuse_lexicon(name: str, lexicon: object) -> None:
    if lexicon is not None:
        raise ValueError(f"the {name} scorer does not read a domain lexicon; use harkbot or harkbot-rules")


def file_version(path: Path) -> str:
    """A learned scorer's version: its weights file's name and the start of its SHA-256, so a
    score can be traced to the exact file that made it (a team that retrains on its own
    corrections gets a new one)."""
    import hashlib

    return f"{path.name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


class VaderScorer:
    """VADER's compound score (Hutto and Gilbert, 2014): a lexicon and rules tuned on tweets."""

    name: ClassVar[str] = "vader"
    default_thresholds: ClassVar[Thresholds] = Thresholds()

    @property
    def version(self) -> str:
        return package_version("vaderSentiment")

    def __init__(self, thresholds: Thresholds | None = None, lexicon: object = None):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _refuse_lexicon(self.name, lexicon)
        self._analyzer = SentimentIntensityAnalyzer()
        self._lexicon = self._analyzer.lexicon
        self.thresholds = thresholds or self.default_thresholds

    def score(self, text: str) -> Score:
        polarity = float(self._analyzer.polarity_scores(text)["compound"])
        label = self.thresholds.label(polarity)
        words = _WORD.findall(text.lower())
        weighted = [(w, self._lexicon[w]) for w in words if w in self._lexicon]
        return Score(label, round(polarity, 4), self.name, _top_terms(weighted, label))


class TextBlobScorer:
    """TextBlob's pattern-based polarity: adjectives with intensifiers and negation."""

    name: ClassVar[str] = "textblob"
    default_thresholds: ClassVar[Thresholds] = Thresholds(negative_below=-1e-9, positive_above=1e-9)

    @property
    def version(self) -> str:
        return package_version("textblob")

    def __init__(self, thresholds: Thresholds | None = None, lexicon: object = None):
        from textblob import TextBlob

        _refuse_lexicon(self.name, lexicon)
        self._blob = TextBlob
        self.thresholds = thresholds or self.default_thresholds

    def score(self, text: str) -> Score:
        assessed = self._blob(text).sentiment_assessments
        polarity = max(-1.0, min(1.0, float(assessed.polarity)))
        label = self.thresholds.label(polarity)
        weighted = [(" ".join(words), float(pol)) for words, pol, *_ in assessed.assessments]
        return Score(label, round(polarity, 4), self.name, _top_terms(weighted, label))


# =========================================================================== harkbot's scorer
#
# Constants below are VADER's (vaderSentiment 3.3.2, MIT), so the rules behave as VADER's do
# unless a comment says otherwise.

B_INCR, B_DECR = 0.293, -0.293  # an intensifier's (dampener's) step
C_INCR = 0.733  # a word in CAPITALS among lower-case words
N_SCALAR = -0.74  # a negated term
ALPHA = 15  # compound = s / sqrt(s^2 + ALPHA)
BUT_BEFORE, BUT_AFTER = 0.5, 1.5  # weight of terms before and after "but"
SARCASM = -0.6  # a polite word aimed at a service failure ("thanks for the 3 hour hold")
RELIEF = 1.0  # a symptom that went away ("the pain subsided")
RELIEF_BEFORE = frozenset(
    "less fewer reduced reduces reduce reducing relieved relieves relieve relieving eliminated eliminates "
    "eliminate decreased decreases decrease lowered lowers eased eases alleviated alleviates alleviate "
    "controlled controls cured cures treats".split())
RELIEF_AFTER = frozenset(
    "subsided subsides disappeared disappear away gone lifted decreased reduced eased improved lessened "
    "vanished resolved".split())
FLARE = -1.2  # a clinical word getting worse ("my anxiety is back")
FLARE_BEFORE = frozenset(
    "increased increasing worse worsening worsened constant severe unbearable terrible horrible awful extreme "
    "crippling debilitating relentless nonstop".split())
FLARE_AFTER = frozenset("back returned returning worse worsened worsening increased flared spiked spiking roof".split())
CONTRAST = frozenset("but although though however yet".split())
DURATION_VALENCE = -0.9  # "3 hours", "45 mins": in a brand mention, mostly a wait
HAND_KINDS = frozenset({"complaint", "service", "sarcasm", "empathy", "relief", "flare", "domain"})
WITHHELD = HAND_KINDS | {"clinical", "neutral"}  # kinds whose words get no learned weight
CUE_WEIGHT = 0.6  # logit per unit of hand-cue valence (see probabilities)
EXPLAIN_VALENCE = 0.5  # a hit's valence against a learned word's logit push, when ranking terms
EXPLAIN_MIN_PUSH = 0.35  # a learned word shows in Score.terms only when it pushed at least this much
LONG_TEXT = 40  # words: above it, a text is a review or long post, calibrated on its own
NEGATORS = frozenset([
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't", "aren't", "can't",
    "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt", "hasnt", "havent", "isnt", "mightnt",
    "mustnt", "neither", "don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't", "neednt",
    "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere", "oughtnt", "shant", "shouldnt",
    "uhuh", "wasnt", "werent", "oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't", "without",
    "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite", "no",
])
BOOSTERS: dict[str, float] = {
    **{w: B_INCR for w in (
        "absolutely amazingly awfully completely considerable considerably decidedly deeply effing enormous "
        "enormously entirely especially exceptional exceptionally extreme extremely fabulously flipping flippin "
        "frackin fracking fricking frickin frigging friggin fully fuckin fucking fuggin fugging greatly hella "
        "highly hugely incredible incredibly intensely major majorly more most particularly purely quite really "
        "remarkably so substantially thoroughly total totally tremendous tremendously uber unbelievably "
        "unusually utter utterly very super").split()},
    **{w: B_DECR for w in (
        "almost barely hardly kinda kindof kind-of less little marginal marginally occasional occasionally "
        "partly scarce scarcely slight slightly somewhat sorta sortof sort-of").split()},
}
DURATION_UNITS = frozenset("h hr hrs hour hours min mins minute minutes day days wk wks week weeks".split())
_DURATION_TOKEN = re.compile(r"^\d+(?:h|hr|hrs|hour|hours|min|mins|minutes|days?)$")
_NUMBER_WORDS = frozenset("an a one two three four five six seven eight nine ten twelve several few".split())
_ELONGATED = re.compile(r"(.)\1{2,}")
STOP_TERMS = frozenset(
    "a an the and or to of in on at for with from by is are was were be been am i me my you your it its this that "
    "we our they them he she his her just so as if then than there here what which who when how do does did "
    "have has had will would can could should not no but".split())


@dataclass
class Lexicon:
    """VADER's lexicon with harkbot's terms on top, and a deployment's domain terms on top of those."""

    valence: dict[str, float]  # term (one word or several, space-separated) -> valence
    kind: dict[str, str]  # term -> harkbot kind (complaint, service, polite, clinical, empathy, ...)
    muted: frozenset[str] = frozenset()  # words of terms a deployment neutralised: no learned weight either
    emoji: dict[str, float] = field(default_factory=dict)  # emoji character -> valence of its description
    starts: dict[str, list[tuple[tuple[str, ...], str]]] = field(init=False)  # multiword terms, longest first
    emoticons: frozenset[str] = field(init=False)  # ":)", "<3", ...: kept whole by the tokenizer
    cut: CasedCutter = field(init=False, repr=False)  # the cased tokens, with these emoji and emoticons
    _elongated: dict[str, str | None] = field(init=False, repr=False, default_factory=dict)
    _inert: dict[str, bool] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.emoticons = frozenset(t for t in self.valence if t and not t[0].isalnum() and " " not in t)
        self.cut = CasedCutter(self.emoji, self.emoticons)
        starts: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for term in self.valence:
            words = tuple(term.split(" "))
            if len(words) > 1:
                starts.setdefault(words[0], []).append((words, term))
        for entries in starts.values():
            entries.sort(key=lambda e: -len(e[0]))
        self.starts = starts

    def elongated(self, word: str) -> str | None:
        """The lexicon term an elongated word stands for ("goooood" -> "good"), or None."""
        known = self._elongated.get(word, False)
        if known is not False:
            return known
        found = None
        if len(word) > 3:
            for alt in _collapse(word):
                if alt in self.valence:
                    found = alt
                    break
        if len(self._elongated) < 100_000:  # a bounded memo: most unknown words recur
            self._elongated[word] = found
        return found

    def __getstate__(self) -> dict:
        # Pickled (to a prepare worker) without the memos: they fill again in a few pages.
        return {**self.__dict__, "_elongated": {}, "_inert": {}}

    def inert(self, token: str) -> bool:
        """Whether the rules pass over `token` wherever it stands: it starts no phrase, is no
        negator, and is a booster or names no term, emoji or wait (alone or with the token after
        it). Most tokens are; each is found out once (a bounded memo) and then skipped at the cost
        of one lookup. BOUNDARY is inert."""
        known = self._inert.get(token)
        if known is not None:
            return known
        inert = token == BOUNDARY or (
            token not in self.starts and token not in NEGATORS and (token in BOOSTERS or (
                token not in self.valence and token not in self.emoji and not token.isdigit()
                and token not in _NUMBER_WORDS and not (token[0].isdigit() and _DURATION_TOKEN.match(token))
                and self.elongated(token) is None)))
        if len(self._inert) >= 200_000:
            self._inert.clear()
        self._inert[token] = inert
        return inert

    def with_domain(self, domain: DomainLexicon) -> Lexicon:
        valence, kind = dict(self.valence), dict(self.kind)
        for term, v in domain.extra.items():
            valence[term] = v
            kind[term] = "domain"
        for term in domain.neutral:
            valence[term] = 0.0
            kind[term] = "neutral"
        muted = self.muted | {w for term in domain.neutral for w in term.split(" ")}
        return Lexicon(valence, kind, frozenset(muted), emoji=self.emoji)


def _read_vader_file(name: str) -> str:
    return resources.files("vaderSentiment").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def base_lexicon() -> Lexicon:
    """VADER's lexicon (from the vaderSentiment package) with bot/lexicon/terms.tsv on top."""
    valence: dict[str, float] = {}
    for line in _read_vader_file("vader_lexicon.txt").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            valence[parts[0].strip()] = float(parts[1])
    for special, v in {"yeah right": -2.0, "kiss of death": -1.5, "to die for": 3.0, "the bomb": 3.0,
                       "bad ass": 1.5, "the shit": 3.0, "bus stop": 0.0}.items():
        valence[special] = float(v)
    kind: dict[str, str] = {}
    for number, line in enumerate(TERMS_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        term, v, k = line.split("\t")
        term = normalise_term(term)
        if v != "keep":
            valence[term] = float(v)
        elif term not in valence:
            raise ValueError(f"{TERMS_FILE}:{number}: '{term}' says keep but VADER has no valence for it")
        kind[term] = k
    emoji: dict[str, float] = {}
    for line in _read_vader_file("emoji_utf8_lexicon.txt").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            s = sum(valence.get(w, 0.0) for w in parts[1].lower().split())
            if s:
                emoji[parts[0]] = max(-3.0, min(3.0, s))
    return Lexicon(valence, kind, emoji=emoji)


def normalise_term(term: str) -> str:
    return " ".join(term.lower().replace("’", "'").split())


# --------------------------------------------------------------------------- tokens


def tokenize(text: str, lex: Lexicon) -> tuple[list[str], list[bool]]:
    """The cased tokens the rules read (`bot.text.cased_tokens`) with the lexicon's emoji and
    emoticons kept whole."""
    return lex.cut(text)


# --------------------------------------------------------------------------- analysis


@dataclass
class Hit:
    term: str
    start: int
    end: int
    valence: float
    kind: str


@dataclass
class Analysis:
    """What the rules found in one text: the lexicon hits and the features the learned layer reads."""

    hits: list[Hit]
    words: list[str]
    compound: float  # the rules' compound score over every hit
    cue: float  # the summed valence of harkbot's hand-made cues (HAND_KINDS)
    features: dict[str, float]


def _collapse(word: str) -> tuple[str, ...]:
    two = _ELONGATED.sub(r"\1\1", word)
    one = _ELONGATED.sub(r"\1", word)
    return (two, one) if two != one else (two,)


def _frame_cue(toks: list[str], start: int, end: int, before: frozenset[str], after: frozenset[str]) -> str | None:
    """A frame word up to 3 tokens before or 4 after toks[start:end], in the same sentence."""
    for p in range(start - 1, max(-1, start - 4), -1):
        t = toks[p]
        if t == BOUNDARY:
            break
        if t in before:
            return t
        if t == "more" and p > 0 and toks[p - 1] == "no" and "less" in before:
            return "no more"
    for p in range(end, min(len(toks), end + 5)):
        t = toks[p]
        if t == BOUNDARY:
            break
        if t in after:
            if t == "away":
                if toks[p - 1] not in ("went", "go", "goes", "gone", "going"):
                    continue
                return "went away"
            return t
    return None


def _sentence(toks: list[str], i: int) -> tuple[int, int]:
    """[start, end) of the sentence holding token i."""
    start = i
    while start > 0 and toks[start - 1] != BOUNDARY:
        start -= 1
    end = i
    while end < len(toks) and toks[end] != BOUNDARY:
        end += 1
    return start, end


def _aimed_at_complaint(h: Hit, complaints: list[Hit], toks: list[str]) -> bool:
    for c in complaints:
        if c.start >= h.end:  # "thanks for the 3 hour hold"
            if c.start - h.end <= 10 and BOUNDARY not in toks[h.end:c.start]:
                return True
        elif c.end <= h.start:  # "on hold for 40 minutes, love it" (not "delayed, but the crew was great")
            between = toks[c.end:h.start]
            if h.start - c.end <= 10 and BOUNDARY not in between and not CONTRAST.intersection(between):
                return True
    start, end = _sentence(toks, h.start)  # "... cancelled again. Thanks Mindful."
    if end - start <= 4 and start > 0:
        prev_start, _ = _sentence(toks, start - 2) if start >= 2 else (0, 0)
        return any(prev_start <= c.start < start for c in complaints)
    return False


def analyse(text: str, lex: Lexicon) -> Analysis:
    """Run harkbot's rules over a text: lexicon hits (words and phrases, with VADER's negation,
    intensifier, capitals and "but" rules), then harkbot's frames (sarcastic politeness, worsening
    and relief around clinical words), then the features the learned layer reads."""
    toks, caps = tokenize(text, lex)
    n_words = len(toks) - toks.count(BOUNDARY)
    hits, negations = _lexicon_hits(toks, caps, lex, n_words)
    _mark_sarcasm(hits, toks)
    _mark_flares(hits, toks)
    _mark_relief(hits, toks)
    _weigh_contrast(hits, toks)
    emphasis, questions = _punctuation(text)
    compound = _compound(sum(h.valence for h in hits), emphasis)
    cue, features = _layer_features(hits, text, n_words, negations, emphasis, questions)
    return Analysis(hits, _layer_words(toks, hits), compound, cue, features)


def _lexicon_hits(toks: list[str], caps: list[bool], lex: Lexicon, n_words: int) -> tuple[list[Hit], int]:
    """Every lexicon term (longest phrase first), emoji and wait ("3 hours") in the tokens, each
    valence moved by VADER's rules; and how many negators the text holds."""
    n = len(toks)
    valence = lex.valence
    cap_diff = 0 < sum(caps) < n_words
    hits: list[Hit] = []
    negations = 0
    floor = 0  # modifiers are looked for back to here: a phrase's words modify nothing after it
    known = lex._inert
    i = 0
    while i < n:
        t = toks[i]
        inert = known.get(t)
        if inert or (inert is None and lex.inert(t)):  # BOUNDARY too
            i += 1
            continue
        found = _phrase_at(toks, i, lex.starts)
        if found is None:
            if t in NEGATORS:
                negations += 1
                if t != "no" or (i + 1 < n and toks[i + 1] in valence):
                    i += 1
                    continue
            if t in BOOSTERS:
                i += 1
                continue
            found = _word_at(toks, i, lex)
            if found is None:
                i += 1
                continue
            if isinstance(found, Hit):  # an emoji or a wait: no modifier applies
                hits.append(found)
                i = found.end
                continue
        term, end = found
        v, negator = _modified(valence[term], toks, caps, i, floor, cap_diff, valence)
        hits.append(Hit(term if negator is None else f"{negator} {term}", i, end, v, lex.kind.get(term, "")))
        if end - i > 1:
            floor = end
        i = end
    return hits, negations


def _phrase_at(toks: list[str], i: int, starts: dict[str, list[tuple[tuple[str, ...], str]]]) -> tuple[str, int] | None:
    """The longest multiword lexicon term starting at toks[i], and where it ends."""
    for words, phrase in starts.get(toks[i], ()):
        size = len(words)
        if tuple(toks[i:i + size]) == words:
            return phrase, i + size
    return None


def _word_at(toks: list[str], i: int, lex: Lexicon) -> tuple[str, int] | Hit | None:
    """What the one token toks[i] is: a lexicon term (term, end) to be modified, a finished
    Hit (an emoji, or a duration such as "3 hours" / "45mins", read as a wait), or None."""
    t = toks[i]
    n = len(toks)
    if t in lex.valence:
        return t, i + 1
    if t in lex.emoji:
        return Hit(t, i, i + 1, lex.emoji[t], "emoji")
    if t.isdigit() and i + 1 < n and toks[i + 1] in DURATION_UNITS or (
            t in _NUMBER_WORDS and i + 1 < n and toks[i + 1] in ("hour", "hours")):
        return Hit(f"{t} {toks[i + 1]}", i, i + 2, DURATION_VALENCE, "complaint")
    if t[0].isdigit() and _DURATION_TOKEN.match(t):
        return Hit(t, i, i + 1, DURATION_VALENCE, "complaint")
    term = lex.elongated(t)
    return None if term is None else (term, i + 1)


def _modified(v: float, toks: list[str], caps: list[bool], i: int, floor: int, cap_diff: bool,
              valence: dict[str, float]) -> tuple[float, str | None]:
    """VADER's rules on the valence of the term at toks[i]: capitals among lower case, the
    intensifiers and dampeners up to three words before it, and a negator there (or "least");
    returns the valence and the negator that flipped it, if any."""
    negator = None
    if not v:
        return v, negator
    if caps[i] and cap_diff:
        v += C_INCR if v > 0 else -C_INCR
    for d in range(3):
        p = i - 1 - d
        if p < floor or toks[p] == BOUNDARY:
            break
        prev = toks[p]
        if prev in BOOSTERS and prev not in valence:
            step = BOOSTERS[prev] * (1.0, 0.95, 0.9)[d]
            v += step if v > 0 else -step
        if negator is None and (prev in NEGATORS or prev.endswith("n't")):
            if not (d >= 1 and prev == "never" and toks[p + 1] in ("so", "this")):
                v *= N_SCALAR
                negator = prev
    if negator is None and i > 0 and toks[i - 1] == "least" and (i < 2 or toks[i - 2] not in ("at", "very")):
        v *= N_SCALAR
        negator = "least"
    return v, negator


def _mark_sarcasm(hits: list[Hit], toks: list[str]) -> None:
    """A polite word aimed at a service failure is sarcasm ("thanks for the 3 hour hold", "on hold
    for 40 minutes, love it", "... cancelled again. Thanks Mindful.")."""
    complaints = [h for h in hits if h.kind == "complaint" and h.valence < 0]
    if complaints:
        for h in hits:
            if h.kind == "polite" and h.valence > 0 and _aimed_at_complaint(h, complaints, toks):
                h.valence *= SARCASM
                h.term = f"{h.term} (sarcastic)"
                h.kind = "sarcasm"


def _mark_flares(hits: list[Hit], toks: list[str]) -> None:
    """A clinical word in a worsening frame ("my anxiety is back", "constant nausea") is bad news."""
    for h in hits:
        if h.kind == "clinical" and not h.valence:
            cue = _frame_cue(toks, h.start, h.end, FLARE_BEFORE, FLARE_AFTER)
            if cue:
                h.valence = FLARE
                shown = "through the roof" if cue == "roof" else cue
                h.term = f"{cue} {h.term}" if cue in FLARE_BEFORE else f"{h.term} {shown}"
                h.kind = "flare"


def _mark_relief(hits: list[Hit], toks: list[str]) -> None:
    """Relief: a symptom or bad term that goes away is good news ("the pain subsided", "reduced my
    anxiety", "less anxious"): the term turns mildly positive."""
    for h in hits:
        if (h.valence < 0 and h.kind in ("", "general")) or (h.kind == "clinical" and not h.valence):
            cue = _frame_cue(toks, h.start, h.end, RELIEF_BEFORE, RELIEF_AFTER)
            if cue:
                h.valence = max(RELIEF, -h.valence * 0.6)
                h.term = f"{cue} {h.term}" if cue in RELIEF_BEFORE or cue == "no more" else f"{h.term} {cue}"
                h.kind = "relief"


def _weigh_contrast(hits: list[Hit], toks: list[str]) -> None:
    """VADER's "but": what comes after the first one counts more, what comes before less."""
    if "but" in toks:
        b = toks.index("but")
        for h in hits:
            h.valence *= BUT_BEFORE if h.start < b else BUT_AFTER


def _punctuation(text: str) -> tuple[float, int]:
    """VADER's emphasis from "!" and "?" (added to the compound's size), and the "?" count."""
    bangs = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    qm = 0.0 if questions <= 1 else (questions * 0.18 if questions <= 3 else 0.96)
    return bangs + qm, questions


def _layer_features(hits: list[Hit], text: str, n_words: int, negations: int, emphasis: float,
                    questions: int) -> tuple[float, dict[str, float]]:
    """The hand-made cues' summed valence, and the rule features the learned layer reads.

    The learned layer reads VADER's words (and harkbot's general overrides); harkbot's hand-made
    cues (complaints, sarcasm, empathy, relief, a deployment's terms) reach it as one sum, `cue`,
    with a fixed hand-set weight: no licensed training set has brand complaints to learn them from."""
    # One pass; each sum starts at 0 and adds in hit order, as sum() would, so the same floats.
    cue = pos = negative = 0
    clinical = 0
    general_hit = False
    for h in hits:
        v, kind = h.valence, h.kind
        if kind in HAND_KINDS:
            cue += v
            continue
        if v > 0:
            pos += v
        elif v < 0:
            negative += v
        if v:
            general_hit = True
        if kind == "clinical":
            clinical += 1
    neg = -negative
    general_compound = _compound(pos - neg, emphasis)
    features = {
        "bias": 1.0,
        "compound": general_compound,
        "abs_compound": abs(general_compound),
        "pos": math.log1p(pos),
        "neg": math.log1p(neg),
        "mixed": math.log1p(min(pos, neg)),
        "pos_rate": pos / math.sqrt(n_words + 1),
        "neg_rate": neg / math.sqrt(n_words + 1),
        "clinical": math.log1p(clinical),
        "question": 1.0 if questions else 0.0,
        "exclaim": min(text.count("!"), 3),
        "length": math.log1p(n_words),
        "negation": min(negations, 3),
        "no_hits": 0.0 if general_hit or cue else 1.0,
    }
    if n_words > LONG_TEXT:  # reviews and long posts get their own calibration
        features.update({"long:" + k: v for k, v in list(features.items())})
    return cue, features


def _layer_words(toks: list[str], hits: list[Hit]) -> list[str]:
    """The words the learned layer weighs. Words inside a hand-made cue reach it through the cue
    alone ("sorry" in "sorry you're going through this" is not the learned "sorry"); clinical
    words are topics, so none."""
    covered = {i for h in hits if h.kind in WITHHELD for i in range(h.start, h.end)}
    return [t for i, t in enumerate(toks) if t != BOUNDARY and not t.isdigit() and i not in covered]


def _compound(s: float, emphasis: float) -> float:
    if s > 0:
        s += emphasis
    elif s < 0:
        s -= emphasis
    return max(-1.0, min(1.0, s / math.sqrt(s * s + ALPHA)))


# --------------------------------------------------------------------------- learned layer


@dataclass(frozen=True)
class Weights:
    """A multinomial logistic layer: weights[feature] = (negative, neutral, positive)."""

    weights: dict[str, tuple[float, float, float]]
    thresholds: Thresholds

    @classmethod
    def read(cls, path: Path) -> Weights:
        weights: dict[str, tuple[float, float, float]] = {}
        thresholds = Thresholds()
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                if line.startswith("#thresholds\t"):
                    _, low, high = line.split("\t")
                    thresholds = Thresholds(float(low), float(high))
                continue
            name, a, b, c = line.split("\t")
            if name == "feature":
                continue
            weights[name] = (float(a), float(b), float(c))
        return cls(weights, thresholds)


@lru_cache(maxsize=4)
def _weights(path: Path) -> Weights:
    return Weights.read(path)


@dataclass(frozen=True)
class _Layer:
    """A Weights' rows split by what they weigh, so a text's words are looked up as they are
    ("good") and not as built names ("w:good"); `logits` adds exactly what `probabilities`
    adds, in the same order, so the sums are the same to the last bit."""

    features: dict[str, tuple[float, float, float]]
    words: dict[str, tuple[float, float, float]]  # "w:" rows
    long_words: dict[str, tuple[float, float, float]]  # "lw:" rows
    pairs: dict[str, tuple[float, float, float]]  # "lb:" rows, "a b"

    @classmethod
    def of(cls, weights: dict[str, tuple[float, float, float]]) -> _Layer:
        split: dict[str, dict[str, tuple[float, float, float]]] = {"": {}, "w": {}, "lw": {}, "lb": {}}
        for name, row in weights.items():
            kind, colon, term = name.partition(":")
            if colon and kind in ("w", "lw", "lb"):
                split[kind][term] = row
            else:
                split[""][name] = row  # a rule feature, "long:..." ones too
        return cls(split[""], split["w"], split["lw"], split["lb"])

    def logits(self, analysis: Analysis, muted: frozenset[str]) -> tuple[float, float, float, list]:
        """(negative, neutral, positive) logits over `layer_inputs(analysis, muted)` plus the
        cues' push, and the weighed terms in that order as (term, row), for `_explain`."""
        zn, zu, zp = cue_push(analysis.cue)
        features = analysis.features
        table = self.features
        for name, x in features.items():
            if x:
                w = table.get(name)
                if w:
                    zn += w[0] * x
                    zu += w[1] * x
                    zp += w[2] * x
        found: list[tuple[str, tuple[float, float, float]]] = []
        words = analysis.words
        unique = dict.fromkeys([w for w in words if w not in muted] if muted else words)
        groups: list[tuple[dict, dict]] = [(self.words, unique)]
        if features.get("long:bias"):
            pairs = dict.fromkeys(a + " " + b for a, b in zip(words, words[1:])
                                  if not muted or (a not in muted and b not in muted))
            groups += [(self.long_words, unique), (self.pairs, pairs)]
        for table, terms in groups:  # in this order: the floats add up as they always did
            for term in terms:
                w = table.get(term)
                if w:  # x is 1.0 for a word: w * 1.0 is w exactly
                    zn += w[0]
                    zu += w[1]
                    zp += w[2]
                    found.append((term, w))
        return zn, zu, zp, found


@lru_cache(maxsize=4)
def _layer(path: Path) -> _Layer:
    return _Layer.of(_weights(path).weights)


def layer_inputs(analysis: Analysis, muted: frozenset[str] = frozenset()) -> dict[str, float]:
    """What the learned layer reads: the rule features, each word ("w:"), and for a long text
    (a review, a long post) its words and word pairs again ("lw:", "lb:"), which the layer
    weighs separately. Words of a deployment's neutral terms are left out."""
    x = {k: v for k, v in analysis.features.items() if v}
    words = [w for w in analysis.words if w not in muted] if muted else analysis.words
    for w in words:
        x["w:" + w] = 1.0
    if "long:bias" in x:
        for w in words:
            x["lw:" + w] = 1.0
        ws = analysis.words
        for i in range(len(ws) - 1):
            a, b = ws[i], ws[i + 1]
            if not muted or (a not in muted and b not in muted):
                x["lb:" + a + " " + b] = 1.0
    return x


def cue_push(cue: float, cue_weight: float = CUE_WEIGHT) -> tuple[float, float, float]:
    """The hand-made cues' fixed push on the (negative, neutral, positive) logits."""
    return (-cue_weight * cue if cue < 0 else 0.0, 0.0, cue_weight * cue if cue > 0 else 0.0)


def probabilities(analysis: Analysis, weights: dict[str, tuple[float, float, float]],
                  muted: frozenset[str] = frozenset()) -> tuple[float, float, float]:
    """P(negative), P(neutral), P(positive): the learned weights over `layer_inputs`, plus the
    hand-made cues' fixed push (a complaint raises the negative logit, empathy the positive)."""
    zn, zu, zp = cue_push(analysis.cue)
    for name, x in layer_inputs(analysis, muted).items():
        w = weights.get(name)
        if w:
            zn += w[0] * x
            zu += w[1] * x
            zp += w[2] * x
    return _softmax(zn, zu, zp)


def _softmax(zn: float, zu: float, zp: float) -> tuple[float, float, float]:
    top = max(zn, zu, zp)
    en, eu, ep = math.exp(zn - top), math.exp(zu - top), math.exp(zp - top)
    total = en + eu + ep
    return en / total, eu / total, ep / total


class HarkbotRulesScorer:
    """harkbot's lexicon and rules alone: the compound score, every weight written by hand."""

    name: ClassVar[str] = "harkbot-rules"
    default_thresholds: ClassVar[Thresholds] = Thresholds(-0.05, 0.25)
    learned: ClassVar[bool] = False

    def __init__(self, thresholds: Thresholds | None = None, lexicon: Path | DomainLexicon | None = None):
        self.lexicon = _with_domain(base_lexicon(), lexicon)
        self.thresholds = thresholds or self.default_thresholds

    def score(self, text: str) -> Score:
        a = analyse(text, self.lexicon)
        label = self.thresholds.label(a.compound)
        return Score(label, round(a.compound, 4), self.name, _explain_found(a, (), label))


class HarkbotScorer:
    """harkbot's lexicon and rules, read by a small learned layer: polarity = P(pos) - P(neg)."""

    name: ClassVar[str] = "harkbot"
    learned: ClassVar[bool] = True

    def __init__(self, thresholds: Thresholds | None = None, lexicon: Path | DomainLexicon | None = None,
                 weights: Path = WEIGHTS_FILE):
        self.lexicon = _with_domain(base_lexicon(), lexicon)
        self.version = file_version(weights)
        learned = _weights(weights)
        self._weights = learned.weights
        self._layer = _layer(weights)
        self.thresholds = thresholds or learned.thresholds

    @classmethod
    def defaults(cls) -> Thresholds:
        return _weights(WEIGHTS_FILE).thresholds

    def probabilities(self, text: str) -> tuple[float, float, float]:
        return probabilities(analyse(text, self.lexicon), self._weights, self.lexicon.muted)

    def score(self, text: str) -> Score:
        a = analyse(text, self.lexicon)
        # The layer's sums and the terms it weighed, once, for the probabilities and for
        # explaining them (probabilities() and _explain() would each build the inputs again).
        zn, zu, zp, found = self._layer.logits(a, self.lexicon.muted)
        pn, _pu, pp = _softmax(zn, zu, zp)
        polarity = max(-1.0, min(1.0, pp - pn))
        label = self.thresholds.label(polarity)
        return Score(label, round(polarity, 4), self.name, _explain_found(a, found, label))


def _explain(a: Analysis, weights: dict[str, tuple[float, float, float]], label: str,
             muted: frozenset[str]) -> tuple[str, ...]:
    """The terms that moved the score, strongest first: lexicon hits (after the rules) and, with a
    learned layer, the words (and, in long texts, word pairs) whose learned weights pushed hardest."""
    found = []
    if weights:
        for name in layer_inputs(a, muted):
            kind, _, term = name.partition(":")
            if kind in ("w", "lw", "lb") and weights.get(name) is not None:
                found.append((term, weights[name]))
    return _explain_found(a, found, label)


def _explain_found(a: Analysis, found: Sequence[tuple[str, tuple[float, float, float]]], label: str) -> tuple[str, ...]:
    """`_explain`, given the learned layer's weighed terms in input order (`_Layer.logits`)."""
    moved: dict[str, float] = {}
    covered: dict[str, str] = {}
    for h in a.hits:
        if h.valence:
            moved[h.term] = moved.get(h.term, 0.0) + h.valence * EXPLAIN_VALENCE
            for word in h.term.split(" "):
                covered.setdefault(word, h.term)
    if found:
        pushes: dict[str, float] = {}
        for term, w in found:
            pushes[term] = pushes.get(term, 0.0) + w[2] - w[0]
        for term, push in pushes.items():
            if term in covered:
                moved[covered[term]] += push
            elif abs(push) >= EXPLAIN_MIN_PUSH and not all(w in STOP_TERMS or len(w) < 3 for w in term.split(" ")):
                moved[term] = push
    return _top_terms(list(moved.items()), label)


# --------------------------------------------------------------------------- domain lexicon


@dataclass(frozen=True)
class DomainLexicon:
    """A deployment's own terms: extra ones with a valence, and ones to treat as neutral topics."""

    extra: dict[str, float] = field(default_factory=dict)
    neutral: frozenset[str] = frozenset()
    source: str = ""


def _with_domain(lex: Lexicon, domain: Path | str | DomainLexicon | None) -> Lexicon:
    if domain is None:
        return lex
    if not isinstance(domain, DomainLexicon):
        domain = load_domain_lexicon(Path(domain))
    return lex.with_domain(domain)


def load_domain_lexicon(path: Path) -> DomainLexicon:
    """Read a YAML domain lexicon (`extra: {term: valence}`, `neutral: [term, ...]`), safely.

    Raises ConfigError whose problems point at file:line:col.
    """
    from bot.errors import ConfigError
    from bot.yamlsrc import load, suggest

    source, problems = load(Path(path))
    if source is None:
        raise ConfigError(problems)
    root = source.root
    if root is None:
        return DomainLexicon(source=str(path))
    if not isinstance(root, dict):
        raise ConfigError([source.problem((), "a domain lexicon is a mapping with 'extra' and/or 'neutral'")])
    extra: dict[str, float] = {}
    neutral: set[str] = set()
    for key in root:
        if key not in ("extra", "neutral"):
            problems.append(source.problem((key,), f"unknown key '{key}'", suggest(str(key), ["extra", "neutral"]),
                                           key=True))
    block = root.get("extra")
    if block is not None and not isinstance(block, dict):
        problems.append(source.problem(("extra",), "'extra' maps terms to valences, e.g. 'waitlist: -1.5'"))
    elif block:
        for term, v in block.items():
            loc = ("extra", term)
            if not isinstance(term, str) or not normalise_term(term):
                problems.append(source.problem(loc, "a term must be a word or phrase", key=True))
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append(source.problem(loc, f"'{term}': the valence must be a number from -4 to 4"))
            elif not -VALENCE_LIMIT <= float(v) <= VALENCE_LIMIT:
                problems.append(source.problem(loc, f"'{term}': valence {v} is outside -4 .. 4",
                                               "VADER's scale: -4 most negative, +4 most positive"))
            else:
                extra[normalise_term(term)] = float(v)
    block = root.get("neutral")
    if block is not None and not isinstance(block, list):
        problems.append(source.problem(("neutral",), "'neutral' is a list of terms, e.g. '- depression'"))
    elif block:
        for i, term in enumerate(block):
            if not isinstance(term, str) or not normalise_term(term):
                problems.append(source.problem(("neutral", i), "a neutral term must be a word or phrase"))
            elif normalise_term(term) in extra:
                problems.append(source.problem(("neutral", i), f"'{term}' is also under 'extra'",
                                               "keep it in one of the two"))
            else:
                neutral.add(normalise_term(term))
    if problems:
        raise ConfigError(problems)
    return DomainLexicon(extra, frozenset(neutral), str(path))


# --------------------------------------------------------------------------- registry


SCORERS: dict[str, type] = {}


def register(cls: type) -> type:
    SCORERS[cls.name] = cls
    return cls


register(VaderScorer)
register(TextBlobScorer)
register(HarkbotScorer)
register(HarkbotRulesScorer)


def make_scorer(name: str, negative_below: float | None = None, positive_above: float | None = None,
                lexicon: Path | str | None = None) -> Scorer:
    """A scorer by name; thresholds override its own defaults when given; `lexicon` is a YAML
    domain lexicon file (harkbot scorers only)."""
    cls = SCORERS[name]
    kwargs = {} if lexicon is None else {"lexicon": Path(lexicon)}
    if negative_below is None and positive_above is None:
        return cls(**kwargs)
    defaults = cls.defaults() if hasattr(cls, "defaults") else getattr(cls, "default_thresholds", Thresholds())
    return cls(Thresholds(
        defaults.negative_below if negative_below is None else negative_below,
        defaults.positive_above if positive_above is None else positive_above,
    ), **kwargs)

from bot.sentiment_multi import MultiScorer  # noqa: E402  (it reads this module lazily: no cycle)

register(MultiScorer)
