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
import re
from dataclasses import dataclass
from importlib import resources
from itertools import product
from typing import Iterable

from bot.query import fold
from bot.spans import merge, overlaps

LEVELS = ("risk", "ideation", "intent")  # least to most urgent
_RANK = {level: i for i, level in enumerate(LEVELS)}
NEGATION_REACH = 3  # tokens before a cue that a "not" or "never" still governs
MAX_GAP = 4
SENTENCE_REACH = 30  # words either side of a cue that [fp] looks at for an I, me or my
MAX_CUES = 8  # cues listed in a flag; a post repeating one cue 5,000 times lists it once


@dataclass(frozen=True)
class SafetyFlag:
    level: str  # "intent" | "ideation" | "risk"
    cues: tuple[str, ...]  # the words that matched, as read (normalised)
    reason: str


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
        if level not in LEVELS and level != "none":
            raise ValueError(f"selfharm.tsv:{number}: level {level!r}: use intent, ideation, risk or none")
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
        if level != "risk" and _joking(text, words):
            level = "risk"
            reason += "; joking markers (lol, 😂...) may mean hyperbole, a person should check"
        seen: dict[str, None] = {}
        for cs, ce, _ in sorted(cues, key=lambda c: (c[0], c[1])):
            seen.setdefault(" ".join(words[cs:ce]))
            if len(seen) == MAX_CUES:
                break
        return SafetyFlag(level, tuple(seen), reason)


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


_DEFAULT = default_lexicon()  # read at import: assess() does no I/O


def assess(text: str) -> SafetyFlag | None:
    """The safety flag for a post, or None. Pure: the lexicon was read at import."""
    return _DEFAULT.assess(text)
