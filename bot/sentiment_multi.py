"""Sentiment in eight languages: English by harkbot's own scorer, seven more by a small linear
model each, and `unknown` (never a guess) for any other language.

    scorer = MultiScorer()
    scorer.score("Esto de estar feliz mola")            # detects "es": Score(positive, ..., "harkbot-es/1")
    scorer.score("Ótimo atendimento", lang="pt")        # the caller knows the language
    scorer.score("Ez nagyon jó", lang="hu")             # Score("unknown", 0.0, "none-hu")

Which scorer reads a text:

* English: `bot.sentiment.HarkbotScorer`, unchanged (its Score says "harkbot", as before).
* ar de es fr hi it pt, those whose model reached MIN_CV in cross-validation: a multinomial
  logistic regression (negative / neutral / positive) over the text's words, word pairs, negated
  words, in-word character n-grams, the valence of its emoji and emoticons (and, where
  cross-validation chose them, of English words and of hand-written seed words), in
  bot/lexicon/sentiment_<lang>.tsv (written by tools/train_sentiment.py --umsab; see
  bot/lexicon/sentiment_multi.md). The Score's `scorer`
  is "harkbot-<lang>/<version>", its `terms` the words (or word pairs) that pushed hardest
  towards the label, polarity P(positive) - P(negative), the label the likeliest class.
* Any other language, or one `bot.lang.detect` cannot tell: label UNKNOWN, polarity 0, scorer
  "none-<lang>", no terms. A text with no letters at all (emoji, emoticons, "!!!") is
  language-free and goes to the English scorer, which reads emoji.

`features()` is the reference definition of what a model reads (the trainer calls it);
`LangModel.logits` computes the same sums faster, caching each token's share (words repeat),
and a test holds the two equal. Pure apart from reading the model files once.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterable

from bot.models import LABELS, Score
from bot.text import _IGNORABLE, mark_class

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
MODEL_PATTERN = "sentiment_{lang}.tsv"  # package data: bot/lexicon/sentiment_*.tsv
FEATURES = "m1"  # the feature definition below; a model file names the one it was trained on
UNKNOWN = "unknown"  # the label of a text no scorer here can read (not one of bot.models.LABELS)
UNDETERMINED = "und"

# ISO 639-1 code -> the UMSAB folder its model was trained on.
LANGUAGES = {"ar": "arabic", "de": "german", "es": "spanish", "fr": "french", "hi": "hindi", "it": "italian",
             "pt": "portuguese"}

# Negators per language: the next NEGATION_SCOPE words (up to punctuation) get a negated feature
# of their own ("n:bueno"), so "no es bueno" need not lean on "bueno". Hindi's list is for the
# romanised Hinglish of the training tweets as well as Devanagari.
NEGATORS: dict[str, frozenset[str]] = {
    "ar": frozenset("لا ما لم لن ليس ليست مش مو مب غير بدون ولا".split()),
    "de": frozenset("nicht nich net ned kein keine keinen keinem keiner keines nie niemals nichts ohne weder "
                    "noch".split()),
    "es": frozenset("no nunca jamás jamas ni tampoco nada nadie ningún ningun ninguna sin".split()),
    "fr": frozenset("ne n pas jamais rien aucun aucune sans ni personne guère".split()),
    "hi": frozenset("nahi nahin nhi nai na mat naa bina नहीं नही ना मत न बिना".split()),
    "it": frozenset("non mai niente nulla nessuno nessuna senza né neanche nemmeno neppure".split()),
    "pt": frozenset("não nao nunca jamais nem sem nada ninguém ninguem nenhum nenhuma".split()),
}
NEGATION_SCOPE = 3
# A model is served only if its cross-validated macro-recall on its training split (recorded in
# its file as #cv) reaches this; chance is 1/3. Below it a label would be little better than a
# guess, and the language gets UNKNOWN instead (MultiScorer(languages=...) can still ask for it).
MIN_CV = 0.45
EXPLAIN_MIN_PUSH = 0.15  # a term shows in Score.terms only when it pushed the label's logit this much
MEMO_LIMIT = 200_000  # tokens remembered per model (their summed weights), then forgotten

# ------------------------------------------------------------------------------- the tokens

_DROPPED = r"https?://\S+|www\.\S+|@\w+|&(?:amp|lt|gt|quot);"  # links, @handles, HTML entities: matched to be dropped
_EMOJI = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2190-\u21FF\u203C\u2049\u3030\u303D"
_EMOTICON = r"[:;=8][\-'^o]?[)(\]\[dpo/*|3]|<3|\^_?\^|[)(][\-']?[:;=]"
_ELONGATED = re.compile(r"(.)\1{2,}")
BREAKS = frozenset(".,;:…")  # a boundary: no word pair across it, and the end of a negation's scope
SHOUTS = frozenset("!?")  # features of their own, and the end of a negation's scope
# Arabic: diacritics and tatweel off, alef / yeh / teh marbuta variants folded, as usual in
# Arabic text classification; skin-tone modifiers off every emoji.
_ARABIC = {**{cp: None for cp in range(0x064B, 0x0653)}, 0x0640: None, 0x0670: None,
           ord("أ"): "ا", ord("إ"): "ا", ord("آ"): "ا", ord("ى"): "ي", ord("ة"): "ه", ord("ؤ"): "و", ord("ئ"): "ي",
           **{cp: None for cp in range(0x1F3FB, 0x1F400)}}


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    # A word is \w followed by \w or combining marks (bot.text.word_pattern's reason: Devanagari
    # vowel signs are marks, and \w alone would cut "बहुत" into pieces).
    return re.compile(rf"{_DROPPED}|\w+(?:[{mark_class()}]+\w*)*|{_EMOTICON}|[{_EMOJI}]|[!?]|[.,;:…]")


_ASCII_TOKEN = re.compile(rf"{_DROPPED}|\w+|{_EMOTICON}|[!?]|[.,;:]")
_NORMAL: dict[str, str] = {}  # raw token -> its normal form ("" to drop it): most tokens recur
_INVISIBLE = re.compile("[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in _IGNORABLE) + "]")


def _folded(text: str) -> str:
    """bot.text.folded_of, to the character (a test holds them equal), three times faster on
    non-ASCII text: a regex drops the invisibles where str.translate looks up every character."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).casefold()
    return folded.replace("i\u0307", "i") if "\u0307" in folded else folded


def tokens(text: str) -> list[str]:
    """The tokens a model reads: folded words (digits-only ones dropped; a letter repeated three
    times or more cut to two: "buenooooo" -> "buenoo"; Arabic letter variants folded), emoji and
    emoticons, "!" and "?", and the punctuation in BREAKS. Links, @handles, HTML entities and the
    # of a hashtag are dropped."""
    folded = _folded(text)
    found = (_ASCII_TOKEN if folded.isascii() else _token_pattern()).findall(folded)
    normal = _NORMAL
    out = []
    for t in found:
        n = normal.get(t)
        if n is None:
            n = _normal(t)
        if n:
            out.append(n)
    return out


def _normal(t: str) -> str:
    if t.isdigit() or "_" in t or t == "http" or t[0] in "@&" or t.startswith(("http", "www.")) and len(t) > 4:
        n = ""
    else:
        n = _ELONGATED.sub(r"\1\1", t.translate(_ARABIC) if not t.isascii() else t)
    if len(_NORMAL) >= MEMO_LIMIT:
        _NORMAL.clear()
    _NORMAL[t] = n
    return n


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] == "_"


def char_grams(word: str, low: int, high: int) -> list[str]:
    """In-word character n-grams of " word " (the spaces mark its start and end), low <= n <= high."""
    padded = " " + word + " "
    size = len(padded)
    return [padded[i:i + n] for n in range(low, high + 1) for i in range(size - n + 1)]


@functools.cache
def emoji_valence() -> dict[str, float]:
    """Valence (VADER's scale, -4..4) of emoji and emoticons, from VADER's lexicons as harkbot's
    English scorer reads them: the same in every language, so a model needs no examples of them."""
    from bot.sentiment import base_lexicon

    lex = base_lexicon()
    out = {e: v for e, v in lex.emoji.items() if len(e) == 1}
    for term, v in lex.valence.items():
        if term and not term[0].isalnum() and " " not in term:
            out.setdefault(term.lower(), v)
    return out


# ------------------------------------------------------------------------------- the features


@dataclass(frozen=True)
class Spec:
    """What a model reads, beyond words and word pairs (each model file records its own)."""

    char: tuple[int, int] | None = (2, 4)  # in-word character n-gram lengths, or None
    negation: bool = True
    emoji: bool = True
    english: bool = False  # the VADER valence of English words (tweets mix languages, Hinglish most)
    seeds: bool = False  # counts of the language's hand-written seed words (bot/lexicon/seeds.tsv)


def features(toks: list[str], lang: str, spec: Spec) -> dict[str, float]:
    """The reference definition of a model's inputs, as (feature name, value):

    * the word block: each token ("w:"), each pair of adjacent tokens not split by a BREAKS mark
      ("b:a b"), each word in a negation's scope ("n:"); counts over sqrt(number of them);
    * the character block ("c:"): in-word n-grams of each word, counts over sqrt(number);
    * "d:emo+", "d:emo-": the summed positive / negative valence of emoji and emoticons, over 4;
    * with spec.english, "d:en+", "d:en-": the same for English words in VADER's lexicon;
    * with spec.seeds, "d:seed+", "d:seed-": how many of the language's seed words (SEEDS_FILE)
      of each polarity the text holds, over 2, a negated one counting on the other side.
    """
    negators = NEGATORS.get(lang, frozenset())
    block: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    pos = neg = en_pos = en_neg = 0.0
    valence = emoji_valence() if spec.emoji else {}
    english = english_valence() if spec.english else {}
    seeds = seed_words().get(lang, {}) if spec.seeds else {}
    seed_pos = seed_neg = 0
    scope = 0
    prev = None
    for t in toks:
        if t in BREAKS:
            scope, prev = 0, None
            continue
        block["w:" + t] += 1
        if prev is not None:
            block["b:" + prev + " " + t] += 1
        prev = t
        if t in SHOUTS:
            scope = 0
            continue
        word = _is_word(t)
        if word:
            negated = scope > 0
            if negated:
                scope -= 1
                if spec.negation:
                    block["n:" + t] += 1
            polarity = seeds.get(t, 0) * (-1 if negated else 1)
            if polarity > 0:
                seed_pos += 1
            elif polarity < 0:
                seed_neg += 1
            if t in negators:
                scope = NEGATION_SCOPE
            if spec.char:
                chars.update("c:" + g for g in char_grams(t, *spec.char))
            v = english.get(t, 0.0)
            if v > 0:
                en_pos += v
            else:
                en_neg -= v
        else:
            v = valence.get(t, 0.0)
            if v > 0:
                pos += v
            else:
                neg -= v
    x: dict[str, float] = {}
    for counts in (block, chars):
        if counts:
            norm = math.sqrt(sum(counts.values()))
            for k, n in counts.items():
                x[k] = n / norm
    if pos:
        x["d:emo+"] = pos / 4
    if neg:
        x["d:emo-"] = neg / 4
    if en_pos:
        x["d:en+"] = en_pos / 4
    if en_neg:
        x["d:en-"] = en_neg / 4
    if seed_pos:
        x["d:seed+"] = seed_pos / 2
    if seed_neg:
        x["d:seed-"] = seed_neg / 2
    return x


SEEDS_FILE = LEXICON_DIR / "seeds.tsv"


@functools.cache
def seed_words(path: Path = SEEDS_FILE) -> dict[str, dict[str, int]]:
    """lang -> seed word (as `tokens` folds it) -> +1 or -1."""
    out: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        lang, sign, words = line.split("\t")
        if sign not in "+-" or len(sign) != 1:
            raise ValueError(f"{path}:{number}: the polarity is + or -, not {sign!r}")
        for word in words.split():
            folded = tokens(word)
            if len(folded) != 1:
                raise ValueError(f"{path}:{number}: {word!r} is not one token ({folded})")
            out.setdefault(lang, {})[folded[0]] = 1 if sign == "+" else -1
    return out


@functools.cache
def english_valence() -> dict[str, float]:
    """VADER's valence of single English words (harkbot's English lexicon, bot.sentiment)."""
    from bot.sentiment import base_lexicon

    return {t: v for t, v in base_lexicon().valence.items() if t and t[0].isalpha() and " " not in t and v}


# ------------------------------------------------------------------------------- a model

Row = tuple[float, float, float]
_ZERO: Row = (0.0, 0.0, 0.0)


@dataclass
class LangModel:
    """One language's weights: feature name -> (negative, neutral, positive) logit weights."""

    lang: str
    version: str
    spec: Spec
    weights: dict[str, Row]
    source: str = ""
    cv: float | None = None  # the trainer's cross-validated macro-recall on train

    def __post_init__(self) -> None:
        # Adding one number to a feature's three weights leaves every probability as it was
        # (softmax), so each row is centred on load: a row's entry for a class is then its push
        # towards that class against the other two, which is what `explain` ranks by.
        self.weights = {k: _centred(r) for k, r in self.weights.items()}
        self.bias = self.weights.get("bias", _ZERO)
        self.pairs = {k[2:]: v for k, v in self.weights.items() if k.startswith("b:")}
        self.chars = {k[2:]: v for k, v in self.weights.items() if k.startswith("c:")}
        self.negators = NEGATORS.get(self.lang, frozenset())
        self.valence = emoji_valence() if self.spec.emoji else {}
        self.emo = (self.weights.get("d:emo+", _ZERO), self.weights.get("d:emo-", _ZERO),
                    self.weights.get("d:en+", _ZERO), self.weights.get("d:en-", _ZERO))
        self.english = english_valence() if self.spec.english else {}
        self.seeds = seed_words().get(self.lang, {}) if self.spec.seeds else {}
        self.seed_rows = (self.weights.get("d:seed+", _ZERO), self.weights.get("d:seed-", _ZERO))
        self._memo: dict[str, tuple] = {}
        self.prefill()

    def prefill(self) -> None:
        """Work out every trained word's share now (~50 ms), so live text meets few words cold:
        only those the training tweets did not have, each once, until MEMO_LIMIT is reached."""
        self._memo.clear()
        for name in self.weights:
            if name.startswith("w:"):
                self._token(name[2:])

    @property
    def name(self) -> str:
        return f"harkbot-{self.lang}/{self.version}"

    def _token(self, t: str) -> tuple:
        """A token's share, once: (word row, negated row or None, summed char n-gram row,
        n-gram count, is a word, valence)."""
        w = self.weights
        word = _is_word(t)
        crow, nchar = _ZERO, 0
        if word and self.spec.char:
            # char_grams(t, low, high), without building the list: a new word costs this once
            low, high = self.spec.char
            padded = " " + t + " "
            size = len(padded)
            get = self.chars.get
            cn = cu = cp = 0.0
            for n in range(low, high + 1):
                nchar += max(0, size - n + 1)
                for i in range(size - n + 1):
                    r = get(padded[i:i + n])
                    if r:
                        cn += r[0]
                        cu += r[1]
                        cp += r[2]
            crow = (cn, cu, cp)
        entry = (w.get("w:" + t, _ZERO), w.get("n:" + t) if word else None, crow, nchar, word,
                 self.english.get(t, 0.0) if word else self.valence.get(t, 0.0))
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[t] = entry
        return entry

    def logits(self, toks: list[str]) -> tuple[Row, list[tuple[str, Row, Row | None]], tuple[float, float]]:
        """(negative, neutral, positive) logits of `features(toks)` against the weights; the terms
        that carried them, each as (token or word pair, word-block row, char-block row), or (seed
        word, its share, None); and the two blocks' scales (for `explain`)."""
        memo, pairs, negators, negation = self._memo, self.pairs, self.negators, self.spec.negation
        parts: list[tuple[str, Row, Row | None]] = []
        wn = wu = wp = cn = cu = cp = 0.0  # the word block's and the char block's sums, unscaled
        nblock = nchar = 0
        pos = neg = en_pos = en_neg = 0.0
        seed_pos = seed_neg = 0
        seeds = self.seeds
        scope = 0
        prev = negator = ""
        for t in toks:
            if t in BREAKS:
                scope, prev = 0, ""
                continue
            entry = memo.get(t) or self._token(t)
            wrow, nrow, crow, nc, word, v = entry
            nblock += 1
            if prev:
                nblock += 1
                pair = prev + " " + t
                r = pairs.get(pair)
                if r:
                    wn += r[0]
                    wu += r[1]
                    wp += r[2]
                    parts.append((pair, r, _ZERO))
            prev = t
            if t in SHOUTS:
                scope = 0
                if wrow is not _ZERO:
                    wn += wrow[0]
                    wu += wrow[1]
                    wp += wrow[2]
                    parts.append((t, wrow, _ZERO))
                continue
            if word:
                negated = scope > 0
                if negated:
                    scope -= 1
                    if negation:
                        nblock += 1
                        if nrow:
                            wn += nrow[0]
                            wu += nrow[1]
                            wp += nrow[2]
                            parts.append((negator + " " + t, nrow, _ZERO))
                if seeds:
                    polarity = seeds.get(t, 0)
                    if polarity:
                        if negated:
                            polarity = -polarity
                        if polarity > 0:
                            seed_pos += 1
                        else:
                            seed_neg += 1
                        r = self.seed_rows[0 if polarity > 0 else 1]
                        parts.append((negator + " " + t if negated else t, (r[0] / 2, r[1] / 2, r[2] / 2), None))
                if t in negators:
                    scope, negator = NEGATION_SCOPE, t
                nchar += nc
                cn += crow[0]
                cu += crow[1]
                cp += crow[2]
                if v > 0:
                    en_pos += v
                elif v < 0:
                    en_neg -= v
            elif v > 0:
                pos += v
            elif v < 0:
                neg -= v
            wn += wrow[0]
            wu += wrow[1]
            wp += wrow[2]
            parts.append((t, wrow, crow))
        sw = 1 / math.sqrt(nblock) if nblock else 0.0
        sc = 1 / math.sqrt(nchar) if nchar else 0.0
        bn, bu, bp = self.bias
        z = [bn + wn * sw + cn * sc, bu + wu * sw + cu * sc, bp + wp * sw + cp * sc]
        if seed_pos or seed_neg:
            for amount, r in ((seed_pos / 2, self.seed_rows[0]), (seed_neg / 2, self.seed_rows[1])):
                z[0] += r[0] * amount
                z[1] += r[1] * amount
                z[2] += r[2] * amount
        emo = self.emo
        for amount, r in ((pos / 4, emo[0]), (neg / 4, emo[1]), (en_pos / 4, emo[2]), (en_neg / 4, emo[3])):
            if amount:
                z[0] += r[0] * amount
                z[1] += r[1] * amount
                z[2] += r[2] * amount
        return (z[0], z[1], z[2]), parts, (sw, sc)

    def score(self, text: str) -> Score:
        (zn, zu, zp), parts, scales = self.logits(tokens(text))
        top = max(zn, zu, zp)
        en, eu, ep = math.exp(zn - top), math.exp(zu - top), math.exp(zp - top)
        best = 0 if zn >= zu and zn >= zp else (2 if zp > zu else 1)
        polarity = max(-1.0, min(1.0, (ep - en) / (en + eu + ep)))
        return Score(LABELS[best], round(polarity, 4), self.name, explain(parts, scales, best))


def _centred(r: Row) -> Row:
    mean = (r[0] + r[1] + r[2]) / 3
    return (r[0] - mean, r[1] - mean, r[2] - mean)


def explain(parts: Iterable[tuple[str, Row, Row | None]], scales: tuple[float, float], label_index: int,
            n: int = 3) -> tuple[str, ...]:
    """The terms that pushed hardest towards the label (its logit against the mean of the other
    two), each word's pieces (the word, its n-grams, every time it occurs) summed; punctuation and
    one-letter words left out."""
    sw, sc = scales
    push: dict[str, float] = {}
    for term, w, c in parts:  # centred rows: w[label] is the push (x 2/3) against the other two
        # c None: a seed word's share, which neither block's scale applies to
        d = 1.5 * (w[label_index] if c is None else sw * w[label_index] + sc * c[label_index])
        push[term] = push.get(term, 0.0) + d
    ranked = sorted(((d, t) for t, d in push.items() if d >= EXPLAIN_MIN_PUSH and _explains(t)), reverse=True)
    return tuple(t for _d, t in ranked[:n])


def _explains(term: str) -> bool:
    return term not in SHOUTS and (not _is_word(term) or len(term) > 2 or " " in term)


def model_path(lang: str, folder: Path = LEXICON_DIR) -> Path:
    return folder / MODEL_PATTERN.format(lang=lang)


@functools.lru_cache(maxsize=16)
def load_model(path: Path) -> LangModel:
    """Read a model file (tools/train_sentiment.py --umsab writes them); errors name the line."""
    meta: dict[str, list[str]] = {}
    weights: dict[str, Row] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or (line.startswith("# ") or line == "#"):
                continue
            parts = line.split("\t")
            if line.startswith("#"):
                meta[parts[0][1:]] = parts[1:]
                continue
            if parts[0] == "feature":
                continue
            if len(parts) != 4:
                raise ValueError(f"{path}:{number}: expected feature and three weights, got {len(parts)} fields")
            weights[parts[0]] = (float(parts[1]), float(parts[2]), float(parts[3]))
    if meta.get("features", [""])[0] != FEATURES:
        raise ValueError(f"{path}: features {meta.get('features')} but this harkbot reads {FEATURES}; "
                         "retrain with tools/train_sentiment.py --umsab")
    if tuple(meta.get("labels", ())) != LABELS:
        raise ValueError(f"{path}: labels {meta.get('labels')} are not {LABELS}")
    char = meta.get("char", ["none"])
    spec = Spec(char=None if char[0] == "none" else (int(char[0]), int(char[1])),
                negation=meta.get("negation", ["1"])[0] == "1", emoji=meta.get("emoji", ["1"])[0] == "1",
                english=meta.get("english", ["0"])[0] == "1", seeds=meta.get("seeds", ["0"])[0] == "1")
    cv = float(meta["cv"][0]) if "cv" in meta else None
    return LangModel(meta["lang"][0], meta.get("version", ["1"])[0], spec, weights, str(path), cv)


def model_cv(path: Path) -> float | None:
    """The #cv figure in a model file's header, without reading its weights."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#cv\t"):
                return float(line.split("\t")[1])
            if line.startswith("feature\t"):
                return None
    return None


def available(folder: Path = LEXICON_DIR) -> tuple[str, ...]:
    """The languages with a model file in `folder`, besides English."""
    return tuple(sorted(lang for lang in LANGUAGES if model_path(lang, folder).is_file()))


def served(folder: Path = LEXICON_DIR, min_cv: float = MIN_CV) -> tuple[str, ...]:
    """The languages whose model is good enough to label with (its #cv reaches `min_cv`)."""
    return tuple(lang for lang in available(folder) if (model_cv(model_path(lang, folder)) or 0.0) >= min_cv)


def base_language(code: str | None) -> str | None:
    """"pt-BR" -> "pt", "EN" -> "en"; None or "" or "auto" -> None (detect it)."""
    if not code or code.lower() == "auto":
        return None
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0] or None


# ------------------------------------------------------------------------------- the scorer


class MultiScorer:
    """English by HarkbotScorer, ar/de/es/fr/hi/it/pt by their models, anything else UNKNOWN."""

    name: ClassVar[str] = "harkbot-multi"
    learned: ClassVar[bool] = True
    reads_lang: ClassVar[bool] = True  # the ingest pipeline passes the language it resolved

    def __init__(self, thresholds=None, lexicon=None, folder: Path = LEXICON_DIR,
                 languages: Iterable[str] | None = None, english=None):
        from bot.sentiment import HarkbotScorer

        # Thresholds and a domain lexicon are the English scorer's: the other models take the
        # likeliest class, and their vocabulary is their training data's. `english` may be any
        # other Scorer (`harkbot score --scorer vader --lang auto`).
        self.english = english if english is not None else HarkbotScorer(thresholds, lexicon)
        self.folder = folder
        self.languages = frozenset(served(folder) if languages is None else languages)
        missing = [lang for lang in self.languages if not model_path(lang, folder).is_file()]
        if missing:
            raise ValueError(f"no sentiment model for {', '.join(sorted(missing))} in {folder}")

    @classmethod
    def defaults(cls):
        from bot.sentiment import HarkbotScorer

        return HarkbotScorer.defaults()

    def model(self, lang: str) -> LangModel | None:
        return load_model(model_path(lang, self.folder)) if lang in self.languages else None

    def score(self, text: str, lang: str | None = None) -> Score:
        """Score `text`, written in `lang` (ISO 639-1; None or "auto": detect it)."""
        return self.score_lang(text, lang)[1]

    def score_lang(self, text: str, lang: str | None = None) -> tuple[str, Score]:
        """(the language read, its Score): `lang` itself (its base code) or the detected one."""
        code = base_language(lang)
        if code is None:
            code = self.detect(text)
        if code == "en":
            return code, self.english.score(text)
        model = self.model(code)
        if model is None:
            return code, unknown(code)
        return code, model.score(text)

    def detect(self, text: str) -> str:
        from bot.lang import detect

        code, _confidence = detect(text)
        # Undetermined (emoji, "!!!", or a short text the model is unsure of, "I love it"): the
        # English scorer, as before there were others. `unknown` is for a language told apart
        # that has no model, never for one that could not be told.
        return "en" if code == UNDETERMINED else code


_LETTERS = re.compile(r"[^\W\d_]{2}")


def _has_letters(text: str) -> bool:
    """Whether any word is left once links and @handles are gone (a text of emoji alone has none)."""
    return bool(_LETTERS.search(" ".join(t for t in tokens(text) if _is_word(t))))


def unknown(lang: str) -> Score:
    """What a text in a language with no scorer gets: no label but UNKNOWN, no polarity, no terms."""
    return Score(UNKNOWN, 0.0, f"none-{lang}")
