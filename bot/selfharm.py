"""Self-harm and suicide cues in post text: a lexicon-based flag, so that a mental-health brand
never handles a person at risk as an ordinary complaint.

`assess(text)` returns a `SafetyFlag` (level, cues, reason) or None. Levels, most urgent first:

* ``intent``: a stated wish, plan, preparation or act ("I want to kill myself", "took all my
  pills", "I've been cutting again");
* ``ideation``: thoughts or passive wishes ("I don't want to be here anymore", "nobody would
  miss me", "thinking about ending it all");
* ``risk``: indirect signs worth a person's look ("this med gave me suicidal thoughts", "the
  app is the only reason I haven't killed myself", a past attempt, a cue in a joking post).

The lexicon is data, bot/lexicon/selfharm.tsv; bot/lexicon/selfharm.md says how it was made,
what it catches and what it misses. This is not a clinical tool, it misses a lot (false
negatives are the dangerous kind), and a person must review every flag.

How a text is read (all linear; a hand-written scanner plus one regex of single character
classes, no nested quantifiers):
1. Folded (NFKC, case, no invisibles) and cut into word tokens and clause breaks (. , ; ! ?
   and line ends). Apostrophes go ("don't" -> "dont"), then contractions and slang expand
   ("dont" -> "do not", "wanna" -> "want to", "im" -> "i am").
2. A token the lexicon does not know is read again as leetspeak ("k1ll", "$uicide"), masked
   ("s*icide"), stretched ("diiieee") or one typo away from a few long cue words ("sucide",
   "myslef").
3. Every pattern whose first token is present is tried there (an index by first token).
4. A cue is dropped when a negation governs it ("I would never hurt myself", "I'm not going
   to kill myself"; not "not ok, I want to die": a new subject ends the negation's reach),
   when its subject is someone else ("he wants to die"), when a `none` pattern overlaps it
   ("suicide prevention", "dying laughing", "may include suicidal thoughts"), when it lies
   inside quotation marks in a post about a song, or when a longer cue contains it (the
   longer one decides the level: "stopped me from killing myself" is risk, not ideation).
5. Joking markers (lol, lmao, 😂, 💀, jk) lower a cue to ``risk``: still flagged, since
   "lol I want to die" is how many people say it for real.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from dataclasses import dataclass, replace
from importlib import resources
from itertools import product
from typing import Iterable

from bot.query import fold
from bot.spans import merge, overlaps

LEVELS = ("risk", "self-harm", "ideation", "intent")  # least to most urgent; all routed by default
ROUTED = LEVELS
FLAG_LEVELS = ("none", *LEVELS)  # "none": a stored flag that is not routed unless config asks (see CARE)
CARE = "care"  # lexicon rows for a past disclosure told in care or recovery: flagged "none"
_RANK = {CARE: -1, **{level: i for i, level in enumerate(LEVELS)}}
# How sure a lexicon cue is that a person is at risk, by level; joking markers multiply it by JOKING.
CONFIDENCE = {"intent": 0.9, "ideation": 0.85, "self-harm": 0.85, "risk": 0.6, CARE: 0.3}
JOKING = 0.6
NEGATION_REACH = 3  # tokens before a cue that a "not" or "never" still governs
MAX_GAP = 4
SENTENCE_REACH = 30  # words either side of a cue that [fp] looks at for an I, me or my
MAX_CUES = 8  # cues listed in a flag; a post repeating one cue 5,000 times lists it once


@dataclass(frozen=True)
class SafetyFlag:
    level: str  # "intent" | "ideation" | "self-harm" | "risk" | "none" (stored, not routed by default)
    cues: tuple[str, ...]  # the evidence: phrases that matched, as read (normalised), or the classifier's words
    reason: str
    confidence: float = 1.0  # 0-1: how sure the detector is that a person is at risk (not a probability)
    source: str = "lexicon"  # "lexicon", "classifier", "lexicon+classifier" or "error"
    probability: float | None = None  # the classifier's P(risk), when it ran

    @property
    def evidence(self) -> tuple[str, ...]:
        return self.cues


# --------------------------------------------------------------------------- tokens

_CHUNK = re.compile(r"[\w$@*!|'’]+|[.?!;,:\n…]")
_BREAK = "|"  # a clause break in the token list
_EXPAND = {
    "im": "i am", "ive": "i have", "id": "i would", "dont": "do not", "doesnt": "does not",
    "didnt": "did not", "cant": "can not", "cannot": "can not", "wont": "will not",
    "wouldnt": "would not", "couldnt": "could not", "shouldnt": "should not", "isnt": "is not",
    "arent": "are not", "wasnt": "was not", "werent": "were not", "havent": "have not",
    "hasnt": "has not", "hadnt": "had not", "aint": "is not", "wanna": "want to",
    "wantto": "want to", "gonna": "going to", "gotta": "got to", "tryna": "trying to",
    "imma": "i am going to", "ima": "i am going to", "u": "you", "ur": "your", "rn": "right now",
    "idk": "i do not know", "idc": "i do not care", "dunno": "do not know", "lemme": "let me",
    "nobody": "no one", "noone": "no one", "everybody": "everyone", "cuz": "because",
    "bc": "because", "coz": "because", "abt": "about", "bout": "about", "tho": "though", "n": "and", "wud": "would",
    "kill": "kill", "myslf": "myself", "meself": "myself", "mself": "myself", "selfharm": "self harm",
    "sewerslide": "sewer slide", "suicidalthoughts": "suicidal thoughts", "unalived": "unalive",
    "unaliving": "unalive", "oded": "overdosed", "odd": "odd",
}
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s",
                       "@": "a", "!": "i", "|": "l"})
_LEET_CHARS = frozenset("0134579$@!|")
_TRIPLE = re.compile(r"(\w)\1\1")
_SPELLED = re.compile(r"(?<!\w)(?:\w[.\-]){2,}\w(?!\w)")  # "k.i.l.l", "d-i-e": one letter a step
# Long, distinctive cue words: one typo away still means them ("sucide", "myslef"). Short or
# common words are left out on purpose: "cutting" one letter off is "putting".
_FUZZY = ("suicide", "suicidal", "myself", "unalive", "overdose", "overdosed", "overdosing")
# Masked spellings ("s*icide", "k*ll"): one or two letters (not the first) starred out.
_MASKABLE = ("suicide", "suicidal", "kill", "killing", "myself", "die", "dead", "self", "harm",
             "cutting", "unalive", "overdose", "dying")
_FIRST_PERSON = frozenset(("i", "me", "my", "mine", "myself"))
_OTHERS = frozenset(("you", "he", "she", "they", "we", "it", "people", "someone", "somebody",
                     "who", "kids", "teens", "patients", "users", "everyone", "anyone", "son",
                     "daughter", "friend", "brother", "sister", "mom", "dad", "mother", "father",
                     "husband", "wife", "partner", "character", "guy", "girl", "man", "woman"))
_ADVERBS = frozenset(("just", "really", "still", "so", "kinda", "literally", "actually",
                      "honestly", "sometimes", "often", "also", "even", "seriously", "lowkey",
                      "always", "almost", "totally", "genuinely"))
_NEGATORS = frozenset(("not", "never", "no", "nor", "neither", "without"))
# A negation does not reach past these: "I can't stop thinking about killing myself", "I'm
# not saying I want to die", "not ok, I want to die" (the clause break), "not ok i want to die".
_SCOPE_BREAKERS = frozenset(("stop", "help", "know", "sure", "saying", "say", "said", "lie",
                             "lying", "but", "because", "though", "believe", "wait", "anymore",
                             "and", "so", "i", "think", "even", "care", "matter", "why", "how",
                             "when", "if", "ok", "okay", "fine", "alright", "anymore"))
_LAUGHTER_WORDS = frozenset(("lol", "lmao", "lmfao", "rofl", "lolol", "lool", "jk", "jkjk",
                             "haha", "hahaha", "hahahaha", "hehe", "xd", "lolz", "kidding",
                             "joking", "lmaoo", "lmaooo"))
_LAUGHTER_MARKS = ("😂", "🤣", "💀", "😹", "/s")
_MUSIC_WORDS = frozenset(("song", "songs", "lyric", "lyrics", "album", "track", "playlist",
                          "singing", "sings", "sang", "listening", "chorus", "verse", "band",
                          "rapper", "singer", "spotify", "film", "movie", "show", "episode",
                          "book", "novel", "title", "titled", "called"))
_MUSIC_MARKS = ("🎵", "🎶", "🎧", "🎤")
_QUOTES = '"“”«»„'


def _word_variants() -> tuple[dict[str, str], dict[str, str]]:
    fuzzy: dict[str, str] = {}
    letters = "abcdefghijklmnopqrstuvwxyz"
    for w in _FUZZY:
        for i in range(len(w) + 1):
            for c in letters:
                fuzzy.setdefault(w[:i] + c + w[i:], w)  # an extra letter
        for i in range(len(w)):
            fuzzy.setdefault(w[:i] + w[i + 1:], w)  # a missing letter
            for c in letters:
                fuzzy.setdefault(w[:i] + c + w[i + 1:], w)  # a wrong letter
        for i in range(len(w) - 1):
            fuzzy.setdefault(w[:i] + w[i + 1] + w[i] + w[i + 2:], w)  # two swapped
    for w in _FUZZY:
        fuzzy[w] = w  # an exact word always means itself
    masked: dict[str, str] = {}
    for w in _MASKABLE:
        for i in range(1, len(w)):
            masked.setdefault(w[:i] + "*" + w[i + 1:], w)
            for j in range(i + 1, len(w)):
                masked.setdefault(w[:i] + "*" + w[i + 1:j] + "*" + w[j + 1:], w)
            masked.setdefault(w[:i] + "*" * (len(w) - i), w)
    return fuzzy, masked


def _squeeze(word: str) -> str:
    """Every run of a repeated letter as one letter: "kiiilll" -> "kil"."""
    out = []
    for c in word:
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


@dataclass(frozen=True)
class _Token:
    word: str
    quoted: bool


class _Reader:
    """Turns text into normalised tokens; knows the lexicon's vocabulary."""

    def __init__(self, vocabulary: frozenset[str]):
        self.vocabulary = vocabulary
        self.fuzzy, self.masked = _word_variants()
        self.squeezed = {_squeeze(w): w for w in sorted(vocabulary)}

    def normal(self, raw: str) -> str:
        w = raw.replace("'", "").replace("’", "")
        if w in self.vocabulary or w in _EXPAND:
            return w
        if "*" in w:
            return self.masked.get(w, w.replace("*", ""))
        if not w.isdigit() and any(c in _LEET_CHARS for c in w) and any(c.isalpha() for c in w):
            leet = w.translate(_LEET).strip("!|")
            if leet in self.vocabulary or leet in _EXPAND or leet in self.fuzzy:
                return self.fuzzy.get(leet, leet)
            w = leet
        if _TRIPLE.search(w):
            squeezed = self.squeezed.get(_squeeze(w))
            if squeezed:
                return squeezed
        if len(w) >= 5:
            return self.fuzzy.get(w, w)
        return w

    def _unspell(self, m: re.Match[str]) -> str:
        joined = m.group()[::2]
        return joined if all(len(p) == 1 for p in re.split(r"[.\-]", m.group())) and (
            joined in self.vocabulary or joined in self.fuzzy) else m.group()

    def tokens(self, text: str) -> list[_Token]:
        folded = fold(text)
        if "." in folded or "-" in folded:
            folded = _SPELLED.sub(self._unspell, folded)
        out: list[_Token] = []
        quoted = False
        # Quotation marks between chunks open or close a quote (lyrics, titles).
        pos = 0
        for m in _CHUNK.finditer(folded):
            if m.start() > pos:
                for ch in folded[pos:m.start()]:
                    if ch in '"„':
                        quoted = not quoted
                    elif ch in "“«":
                        quoted = True
                    elif ch in "”»":
                        quoted = False
            pos = m.end()
            chunk = m.group()
            if len(chunk) == 1 and chunk in ".?!;,:\n…":
                out.append(_Token(_BREAK, quoted))
                continue
            trailing_break = chunk.endswith("!") and not chunk.startswith("!")
            chunk = chunk.strip("!'’")
            if not chunk:
                out.append(_Token(_BREAK, quoted))
                continue
            if chunk.startswith("@"):
                out.append(_Token("@", quoted))  # a handle: never part of a cue
            else:
                word = self.normal(chunk)
                expanded = _EXPAND.get(word)
                if expanded is None:
                    out.append(_Token(word, quoted))
                else:
                    out.extend(_Token(part, quoted) for part in expanded.split())
            if trailing_break:
                out.append(_Token(_BREAK, quoted))
        return out


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class _Element:
    kind: str  # "word", "gap", "num", "end"
    words: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    optional: bool = False
    gap: int = 0
    or_end: bool = False  # "$" among the alternatives: the clause may end here instead

    def accepts(self, word: str) -> bool:
        if self.kind == "num":
            return word.isdigit()
        return word in self.words or any(word.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class Pattern:
    source: str  # as written in the TSV, after macro expansion
    level: str  # "intent" | "ideation" | "risk" | "none"
    note: str
    elements: tuple[_Element, ...]
    first_person: bool  # [fp]: a first-person word must be in the same sentence


def _element(token: str) -> _Element:
    if token.startswith("~"):
        n = int(token[1:])
        if not 1 <= n <= MAX_GAP:
            raise ValueError(f"gap {token}: use ~1 to ~{MAX_GAP}")
        return _Element("gap", gap=n)
    if token == "<num>":
        return _Element("num")
    if token == "$":
        return _Element("end")
    optional = token.endswith("?")
    token = token.rstrip("?")
    words, prefixes = set(), []
    alts = token.split("|")
    or_end = "$" in alts
    for alt in (a for a in alts if a != "$"):
        if not alt:
            raise ValueError(f"empty alternative in {token!r}")
        if alt.endswith("*"):
            prefixes.append(alt[:-1])
        else:
            words.add(alt)
    return _Element("word", frozenset(words), tuple(prefixes), optional, or_end=or_end)


def _expand_macros(source: str, macros: dict[str, list[str]]) -> list[str]:
    parts = re.split(r"(\{\w+\})", source)
    choices = []
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            if part[1:-1] not in macros:
                raise ValueError(f"unknown macro {part} (define it with level '=')")
            choices.append(macros[part[1:-1]])
        else:
            choices.append([part])
    return [" ".join("".join(combo).split()) for combo in product(*choices)]


def parse_lexicon(lines: Iterable[str]) -> list[Pattern]:
    """Rows `pattern<TAB>level<TAB>note`; `#` comments; level `=` defines a macro `{name}`
    whose alternatives (separated by ` ; `) each make a pattern where it is used."""
    macros: dict[str, list[str]] = {}
    patterns: list[Pattern] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 2:
            raise ValueError(f"selfharm.tsv:{number}: want pattern<TAB>level<TAB>note")
        source, level, note = cols[0].strip(), cols[1].strip(), (cols[2].strip() if len(cols) > 2 else "")
        if level == "=":
            name, _, body = source.partition(":")
            macros[name.strip().strip("{}")] = [b.strip() for b in body.split(";") if b.strip()]
            continue
        if level not in LEVELS and level not in ("none", CARE):
            raise ValueError(f"selfharm.tsv:{number}: level {level!r}: use intent, ideation, self-harm, risk, "
                             f"{CARE} or none")
        first_person = source.startswith("[fp]")
        if first_person:
            source = source[4:].strip()
        for expanded in _expand_macros(source, macros):
            try:
                elements = tuple(_element(t) for t in expanded.split())
            except ValueError as e:
                raise ValueError(f"selfharm.tsv:{number}: {e}") from None
            if not elements or elements[0].kind not in ("word", "num") or elements[0].optional or elements[0].prefixes:
                raise ValueError(f"selfharm.tsv:{number}: {expanded!r} must start with a plain word")
            patterns.append(Pattern(expanded, level, note, elements, first_person))
    return patterns


def _match(elements: tuple[_Element, ...], words: list[str], ei: int, ti: int) -> int:
    """The index after the match of elements[ei:] at words[ti:], or -1. Gaps and optional
    words are tried shortest first; both are bounded, so this is bounded too."""
    if ei == len(elements):
        return ti
    el = elements[ei]
    n = len(words)
    if el.kind == "end":
        return ti if ti == n or words[ti] == _BREAK else -1
    if el.kind == "gap":
        for skip in range(el.gap + 1):
            if ti + skip > n or (skip and words[ti + skip - 1] == _BREAK):
                break
            end = _match(elements, words, ei + 1, ti + skip)
            if end >= 0:
                return end
        return -1
    if ti < n and words[ti] != _BREAK and el.accepts(words[ti]):
        end = _match(elements, words, ei + 1, ti + 1)
        if end >= 0:
            return end
    if el.optional or (el.or_end and (ti == n or words[ti] == _BREAK)):
        return _match(elements, words, ei + 1, ti)
    return -1


# --------------------------------------------------------------------------- the lexicon


class Lexicon:
    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns
        self.by_first: dict[str, list[Pattern]] = {}
        self.number_first: list[Pattern] = []
        vocabulary: set[str] = set()
        for p in patterns:
            if p.elements[0].kind == "num":
                self.number_first.append(p)
            for w in p.elements[0].words:
                self.by_first.setdefault(w, []).append(p)
            for el in p.elements:
                vocabulary |= el.words
        self.reader = _Reader(frozenset(vocabulary))

    @classmethod
    def from_text(cls, text: str) -> Lexicon:
        return cls(parse_lexicon(text.splitlines()))

    def assess(self, text: str) -> SafetyFlag | None:
        if not text:
            return None
        tokens = self.reader.tokens(text)
        words = [t.word for t in tokens]
        hits: list[tuple[int, int, Pattern]] = []
        present = set(words)
        feasible: dict[str, bool] = {}
        for i, w in enumerate(words):
            candidates = self.by_first.get(w, ())
            if w.isdigit() and self.number_first:
                candidates = [*candidates, *self.number_first]
            for p in candidates:
                ok = feasible.get(p.source)
                if ok is None:
                    # Every required word of the pattern must be somewhere in the text: one
                    # set lookup per element, once per pattern and text, saves trying a pattern
                    # at each of 25,000 "not"s that it could never match.
                    ok = feasible[p.source] = all(
                        el.kind != "word" or el.optional or el.or_end or el.prefixes or not el.words.isdisjoint(present)
                        for el in p.elements)
                if not ok:
                    continue
                end = _match(p.elements, words, 0, i)
                if end > i:
                    hits.append((i, end, p))
        if not hits:
            return None
        blocks = merge([(s, e) for s, e, p in hits if p.level == "none"])
        cues = []
        for s, e, p in hits:
            if p.level == "none" or overlaps(s, e, blocks):
                continue
            if _negated(words, s) or _someone_else(words, s):
                continue
            if p.first_person and not _first_person_near(words, s, e):
                continue
            cues.append((s, e, p))
        cues = _outermost(cues)
        if cues and _about_a_song(text, words) and all(
                all(tokens[k].quoted for k in range(s, e)) for s, e, _ in cues):
            return None
        if not cues:
            return None
        s, e, top = max(cues, key=lambda c: (_RANK[c[2].level], c[1] - c[0]))
        level = top.level
        reason = top.note or f"matched {top.source!r}"
        confidence = CONFIDENCE[level]
        if _joking(text, words):
            # The level stays: "lol I want to die" is how many people say it and mean it.
            confidence *= JOKING
            reason += "; joking markers (lol, 😂...) may mean hyperbole, a person should check"
        seen: dict[str, None] = {}
        for cs, ce, _ in sorted(cues, key=lambda c: (c[0], c[1])):
            seen.setdefault(" ".join(words[cs:ce]))
            if len(seen) == MAX_CUES:
                break
        return SafetyFlag("none" if level == CARE else level, tuple(seen), reason, round(confidence, 2))


def _outermost(cues: list[tuple[int, int, Pattern]]) -> list[tuple[int, int, Pattern]]:
    """The cues that no longer cue contains: the longer one read more of the context
    ("stopped me from killing myself" is risk, not the ideation of "killing myself")."""
    by_span: dict[tuple[int, int], list[Pattern]] = {}
    for s, e, p in cues:
        by_span.setdefault((s, e), []).append(p)
    kept = []
    reach = -1  # the furthest end of the spans seen so far, which all start at or before this one
    for s, e in sorted(by_span, key=lambda span: (span[0], -span[1])):
        if reach < e:
            kept.extend((s, e, p) for p in by_span[(s, e)])
        reach = max(reach, e)
    return kept


def _negated(words: list[str], start: int) -> bool:
    for k in range(start - 1, max(-1, start - 1 - NEGATION_REACH), -1):
        w = words[k]
        if w == _BREAK or w in _SCOPE_BREAKERS:
            return False
        if w in _NEGATORS:
            return True
    return False


def _someone_else(words: list[str], start: int) -> bool:
    """The cue's subject is another person: "he wants to die", "do you want to die"."""
    k = start - 1
    while k >= 0 and words[k] in _ADVERBS:
        k -= 1
    return k >= 0 and words[k] in _OTHERS


def _first_person_near(words: list[str], start: int, end: int) -> bool:
    """A first-person word in the cue's sentence (at most SENTENCE_REACH words either side)."""
    k = start - 1
    while k >= 0 and start - k <= SENTENCE_REACH and words[k] != _BREAK:
        if words[k] in _FIRST_PERSON:
            return True
        k -= 1
    k = end
    while k < len(words) and k - end < SENTENCE_REACH and words[k] != _BREAK:
        if words[k] in _FIRST_PERSON:
            return True
        k += 1
    return any(w in _FIRST_PERSON for w in words[start:end])


def _joking(text: str, words: list[str]) -> bool:
    return any(w in _LAUGHTER_WORDS or w.startswith("hahah") for w in words) or any(
        m in text for m in _LAUGHTER_MARKS)


def _about_a_song(text: str, words: list[str]) -> bool:
    return any(q in text for q in _QUOTES) and (
        any(w in _MUSIC_WORDS for w in words) or any(m in text for m in _MUSIC_MARKS))


@functools.cache
def default_lexicon() -> Lexicon:
    text = resources.files("bot").joinpath("lexicon/selfharm.tsv").read_text(encoding="utf-8")
    return Lexicon.from_text(text)




# --------------------------------------------------------------------------- the classifier
# A logistic regression over hashed word, word-pair and in-word character n-grams, trained by
# tools/train_selfharm.py (which says on what) and shipped as bot/lexicon/selfharm_model.tsv:
# bucket numbers and weights only, no text. Inference is pure Python: a word's weight (itself
# plus its character n-grams) is summed once and cached, so a post costs about one dict lookup
# per word and one per word pair.

MODEL_FILE = "lexicon/selfharm_model.tsv"
_MODEL_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_CHAR_N = (3, 4, 5)
_LONGEST_WORD = 24  # a longer token is cut: "aaaa..." x 10,000 costs one word
_CACHE_LIMIT = 200_000  # cached words and pairs; cleared when full (bounded memory on hostile input)


def model_words(text: str) -> list[str]:
    """The words the classifier reads: folded, apostrophes dropped, long tokens cut."""
    folded = text.lower() if text.isascii() else fold(text)
    return [w.replace("'", "").replace("’", "")[:_LONGEST_WORD] for w in _MODEL_WORD.findall(folded)]


def word_features(word: str) -> list[str]:
    """The word itself and its character 3- to 5-grams (with < > marking its edges)."""
    out = ["w:" + word]
    marked = f"<{word}>"
    for n in _CHAR_N:
        out.extend("c:" + marked[i:i + n] for i in range(len(marked) - n + 1))
    return out


def pair_feature(a: str, b: str) -> str:
    return f"b:{a} {b}"


def bucket(feature: str, buckets: int) -> int:
    """A feature's weight slot: a stable hash (CRC-32), the same in training as here."""
    return zlib.crc32(feature.encode("utf-8", "surrogatepass")) % buckets


def text_features(text: str) -> list[str]:
    """Every feature occurrence of a text, in order (what training counts)."""
    words = model_words(text)
    out = [f for w in words for f in word_features(w)]
    out.extend(pair_feature(a, b) for a, b in zip(words, words[1:]))
    return out


class Classifier:
    """P(risk) for a text: sigmoid(bias + sum of its feature weights / sqrt(feature count))."""

    def __init__(self, weights: dict[int, float], bias: float, buckets: int, threshold: float,
                 meta: dict[str, str] | None = None):
        self.weights = weights
        self.bias = bias
        self.buckets = buckets
        self.threshold = threshold  # P(risk) at or above which a post is flagged `risk`
        self.meta = meta or {}
        self._word: dict[str, tuple[float, int]] = {}
        self._pair: dict[tuple[str, str], float] = {}

    @classmethod
    def from_text(cls, text: str) -> Classifier:
        meta: dict[str, str] = {}
        weights: dict[int, float] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("\t")
            try:
                if key.isdigit():
                    weights[int(key)] = float(value)
                else:
                    meta[key] = value
            except ValueError:
                raise ValueError(f"{MODEL_FILE}:{number}: want bucket<TAB>weight or key<TAB>value") from None
        for key in ("buckets", "bias", "threshold"):
            if key not in meta:
                raise ValueError(f"{MODEL_FILE}: no '{key}' row; retrain with tools/train_selfharm.py")
        return cls(weights, float(meta["bias"]), int(meta["buckets"]), float(meta["threshold"]), meta)

    def _word_weight(self, word: str) -> tuple[float, int]:
        got = self._word.get(word)
        if got is None:
            if len(self._word) >= _CACHE_LIMIT:
                self._word.clear()
            feats = word_features(word)
            w, n = self.weights, self.buckets
            got = self._word[word] = (sum(w.get(bucket(f, n), 0.0) for f in feats), len(feats))
        return got

    def _pair_weight(self, a: str, b: str) -> float:
        key = (a, b)
        got = self._pair.get(key)
        if got is None:
            if len(self._pair) >= _CACHE_LIMIT:
                self._pair.clear()
            got = self._pair[key] = self.weights.get(bucket(pair_feature(a, b), self.buckets), 0.0)
        return got

    def score(self, words: list[str]) -> tuple[float, list[tuple[float, str]]]:
        """(P(risk), the words and pairs that pushed it most, as (push, text), largest first)."""
        if not words:
            return 1.0 / (1.0 + math.exp(-self.bias)), []
        total = 0.0
        count = 0
        pushes: list[tuple[float, str]] = []
        previous = None
        for word in words:
            w, n = self._word_weight(word)
            total += w
            count += n
            pushes.append((w, word))
            if previous is not None:
                p = self._pair_weight(previous, word)
                total += p
                count += 1
                if p > 0.0:
                    pushes.append((p, f"{previous} {word}"))
            previous = word
        z = self.bias + total / math.sqrt(count)
        prob = 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0
        return prob, pushes

    def probability(self, text: str) -> float:
        return self.score(model_words(text))[0]


@functools.cache
def default_classifier() -> Classifier:
    text = resources.files("bot").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return Classifier.from_text(text)


# --------------------------------------------------------------------------- the prefilter
# Most posts a brand sees hold none of these stems; one search over the lower-cased text (leet
# digits and symbols read as letters, * . - dropped so "s*icide", "k.i.l.l" still show) lets
# them skip the full pass. Every stem is a word start: "die" also admits "diet", which is fine
# (the full pass decides), but a cue with no stem here is never seen: the bench measures what
# this costs in recall on the labelled data.
PREFILTER_STEMS = (
    # suicide and its spellings, slang and euphemisms
    "suic", "sucid", "suisid", "suiside", "sucide", "suicd", "sicid", "uicid", "sewer", "unaliv", "kms", "kys", "ctb", "toaster",
    "neck", "rope", "noose", "self", "delete", "commit", "sudoku",
    # dying, killing, living, existing
    "die", "dy", "dead", "ded", "death", "kill", "kil", "end", "live", "living", "life", "alive", "exist",
    "born", "wake", "sleep", "gone", "disappear", "dissap", "vanish", "cease", "fade", "future", "point",
    "reason", "burden", "better", "happier", "without me", "miss", "worth", "hopeless", "tired", "sick of", "done with",
    "anymore", "any more", "go on", "keep going", "take it", "do this", "give up", "giving up",
    # methods, means, places
    "pill", "med", "tablet", "dose", "overdos", "od", "lethal", "fatal", "painless", "hang", "jump",
    "bridge", "roof", "tallest", "highest", "high enough", "tall enough", "gun", "shoot", "pistol",
    "blade", "razor", "knife", "wrist", "throat", "drown", "train", "tracks", "hit by", "saving", "stockpil",
    "hoard", "stash", "enough", "how many", "how much", "how long", "plan",
    # self-harm
    "cut", "harm", "hurt", "sh ", "scar", "wound", "burn", "scratch", "carv", "bleed", "blood", "relaps",
    "clean", "streak", "sleeve", "hid", "cover", "bruis", "punch", "hitting",
    # farewell
    "goodbye", "bye", "farewell", "letter", "note", "last post", "final", "forgive", "affairs", "sorry",
    "giving away", "gave away", "by the time", "other side", "next life", "nice knowing", "peace",
    "decision", "want to", "wanna", "wish",
)
_LEET_FOLD = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a",
                            "!": "i", "|": "l", "*": None, ".": None, "-": None, "’": "'"})


def _trie(words: Iterable[str]) -> str:
    """A regex for any of the words as a prefix, factored by common prefix so the engine tries
    few branches per word start; each letter may repeat ("diiie")."""
    tree: dict = {}
    for w in words:
        node = tree
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict) -> str:
        if "" in node:
            return ""  # a shorter stem already admits everything below it
        alts = [(re.escape(c) + ("+" if c.isalpha() else "") + emit(node[c])) for c in sorted(node)]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(tree)


PREFILTER = re.compile(r"\b" + _trie(PREFILTER_STEMS))


def may_be_at_risk(text: str) -> bool:
    """False when the text holds no cue stem at all (the full pass would find nothing)."""
    lowered = text.lower() if text.isascii() else fold(text)
    return PREFILTER.search(lowered.translate(_LEET_FOLD)) is not None


# --------------------------------------------------------------------------- the detector

LONG_POST = 40  # words: past this, a "told in care" cue no longer outweighs a classifier flag
# The classifier alone flags only posts of at least this many words: it was trained on Reddit
# posts (median 650 characters) and reads words without their order, so on a one-liner ("I'm
# not going to kill myself, don't worry") it is worse than the lexicon, which reads negation.
MIN_CLASSIFIER_WORDS = 20
EVIDENCE_WORDS = 3  # the classifier's evidence: its strongest words or pairs


class Detector:
    """Lexicon and classifier together, recall first: a post is flagged when either flags it.

    * a lexicon cue gives the level (intent, ideation, self-harm, risk) and its phrase as
      evidence; the classifier agreeing raises the confidence;
    * the classifier alone (P(risk) at or over its threshold) gives ``risk``, with the words
      that pushed it most as evidence;
    * a "told in care" cue alone (a past disclosure to a therapist) is a ``none`` flag: stored,
      kept out of other alerts, routed only when config lists ``none``; unless the classifier
      flags a long post, which is then ``risk``.
    """

    def __init__(self, lexicon: Lexicon, classifier: Classifier | None, prefilter: bool = True):
        self.lexicon = lexicon
        self.classifier = classifier
        self.prefilter = prefilter

    def assess(self, text: str) -> SafetyFlag | None:
        if not text or (self.prefilter and not may_be_at_risk(text)):
            return None
        flag = self.lexicon.assess(text)
        if self.classifier is None:
            return flag
        words = model_words(text)
        prob, pushes = self.classifier.score(words)
        prob = round(prob, 4)
        hit = prob >= self.classifier.threshold and len(words) >= MIN_CLASSIFIER_WORDS
        if flag is not None and (flag.level != "none" or not hit or len(words) <= LONG_POST):
            if not hit:
                return replace(flag, probability=prob)
            return replace(flag, confidence=round(min(1.0, flag.confidence + 0.1), 2),
                           source="lexicon+classifier", probability=prob)
        if not hit:
            return None
        evidence: dict[str, None] = {}
        for push, words_ in sorted(pushes, key=lambda p: -p[0]):
            if push <= 0 or len(evidence) == EVIDENCE_WORDS:
                break
            if len(words_) >= 3:
                evidence.setdefault(words_)
        t = self.classifier.threshold
        confidence = 0.4 + 0.4 * (prob - t) / (1.0 - t) if t < 1.0 else 0.4
        reason = f"the classifier reads it as a post from someone at risk (P {prob:.2f})"
        if _joking(text, words):
            confidence *= JOKING
            reason += "; joking markers (lol, 😂...) may mean hyperbole, a person should check"
        return SafetyFlag("risk", tuple(evidence), reason, round(confidence, 2), "classifier", prob)


@functools.cache
def default_detector() -> Detector:
    return Detector(default_lexicon(), default_classifier())


_DEFAULT = default_detector()  # read at import: assess() does no I/O


def assess(text: str) -> SafetyFlag | None:
    """The safety flag for a post, or None. Pure: the lexicon and the model were read at import."""
    return _DEFAULT.assess(text)


def assess_lexicon(text: str) -> SafetyFlag | None:
    """The lexicon alone (no prefilter, no classifier): the reference the bench compares with."""
    return _DEFAULT.lexicon.assess(text)
