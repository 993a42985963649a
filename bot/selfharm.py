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

import bisect
import functools
import math
import re
import unicodedata
import zlib
from dataclasses import dataclass, replace
from importlib import resources
from bisect import bisect_left
from functools import reduce
from itertools import compress, count, islice, product, repeat
from operator import is_not, itemgetter, or_
from typing import Iterable

from bot.query import INVISIBLE
from bot.text import Text
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

_CHUNK = re.compile(r"[\w$@*!|'’]+|[.?!;,:\n…]|[🪦🔫]")
_BREAK = "|"  # a sentence break in the token list (. ! ? ; line ends)
_SOFT = ","  # a clause break that does not end a sentence (, :): patterns stop at it, concepts do not
_BREAKS = frozenset((_BREAK, _SOFT))
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
    # more of how people write (#14): contractions without apostrophes, slang, phonetic slips
    "hes": "he is", "shes": "she is", "theyre": "they are", "whats": "what is", "thats": "that is",
    "youre": "you are", "wouldve": "would have", "couldve": "could have", "shouldve": "should have",
    "gona": "going to", "gunna": "going to", "finna": "going to", "wana": "want to", "wanted2": "wanted to",
    "cud": "could", "shud": "should", "wudnt": "would not", "dnt": "do not", "cnt": "can not",
    "b": "be", "rly": "really", "tonite": "tonight", "2nite": "tonight", "nite": "night", "evry": "every",
    "evryone": "everyone", "evrything": "everything", "everythin": "everything", "ppl": "people",
    "plz": "please", "pls": "please", "til": "until", "till": "until", "goodby": "goodbye", "gbye": "goodbye",
    "latley": "lately", "lately": "lately", "tierd": "tired", "tird": "tired", "tiered": "tired",
    "liveing": "living", "livin": "living", "existin": "existing", "exsist": "exist", "exsisting": "existing",
    "dissapear": "disappear", "disapear": "disappear", "dissappear": "disappear", "forevr": "forever",
    "foreva": "forever", "4ever": "forever", "anymre": "anymore", "anymor": "anymore", "nemore": "anymore",
    "relpased": "relapsed", "relaped": "relapsed", "relasped": "relapsed", "relapced": "relapsed",
    "planing": "planning", "dyin": "dying", "killin": "killing", "myslef": "myself", "mysef": "myself",
    "suicidle": "suicidal", "suicidel": "suicidal", "suisidal": "suicidal", "suiside": "suicide",
    "tonights": "tonights", "nobodys": "nobodys",
    "2day": "today", "2morrow": "tomorrow", "tmrw": "tomorrow", "tmr": "tomorrow", "mins": "minutes",
}
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s",
                       "@": "a", "!": "i", "|": "l"})
_LEET_CHARS = frozenset("0134579$@!|")
_TRIPLE = re.compile(r"(\w)\1\1")
_SPELLED = re.compile(r"(?<!\w)(?:\w[.\-]){2,}\w(?!\w)")  # "k.i.l.l", "d-i-e": one letter a step
_SPELLED_HINT = re.compile(r"[.\-]\w[.\-]")  # inside every _SPELLED match; a fast scan (a small class first)
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
_AUXILIARIES = frozenset(("am", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had",
                          "does", "did", "would", "could", "should", "might", "may", "must", "will"))
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
# A post about words ("slang like \"unalive\" and \"ctb\"", "the term \"sewerslide\""): a short cue wholly
# in quotation marks is mentioned, not used. Longer quoted cues ("I keep saying \"I want to die\"") stay.
_MENTION_WORDS = frozenset(("word", "words", "slang", "term", "terms", "phrase", "phrases", "language",
                            "hashtag", "hashtags", "euphemism", "euphemisms", "coded", "acronym", "acronyms",
                            "lingo", "vocabulary", "meaning"))
MENTION_CUE_WORDS = 2  # words: a quoted cue this short, in a post about words, is a mention
_QUOTES = '"“”«»„'
_QUOTE_MARKS = frozenset(_QUOTES)
_CHUNK_CACHE = 100_000  # chunks whose words are cached


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


def _quote_state(gap: str, quoted: bool) -> bool:
    """Whether the text is inside quotation marks after `gap` (text between word chunks)."""
    for ch in gap:
        if ch in '"„':
            quoted = not quoted
        elif ch in "“«":
            quoted = True
        elif ch in "”»":
            quoted = False
    return quoted


def _invisible_class() -> re.Pattern[str]:
    """One character class of bot.query.INVISIBLE's code points (runs as ranges)."""
    runs: list[list[int]] = []
    for cp in sorted(INVISIBLE):
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in runs) + "]")


_INVISIBLE = _invisible_class()


def _fold(text: str) -> str:
    """bot.query.fold(text), without its translate pass (slow on long posts, one dict lookup a
    character) when the text holds no invisible character: that pass would change nothing."""
    if _INVISIBLE.search(text) is not None:
        text = text.translate(INVISIBLE)
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.replace("i\u0307", "i") if "\u0307" in folded else folded


def _folded(text: str) -> str:
    """The text folded: a bot.text.Text (one per mention at ingest) has folded itself once for
    every stage; an ASCII text is its lower case; most non-ASCII posts only curl their quotes and
    apostrophes (no NFKC pass then: str.replace, not a translate table, which is slow)."""
    if isinstance(text, Text):
        return text.folded
    if text.isascii():
        return text.lower()
    plain = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')  # curly made straight
    return plain.lower() if plain.isascii() else _fold(text)


def _unspelled(folded: str, unspell) -> str:
    """Spelled-out words ("k.i.l.l", "d-i-e") joined. Any such word holds "-x-" or ".x." (x a
    word character): a text without one is left as it is at the cost of one quick search."""
    if ("." in folded or "-" in folded) and _SPELLED_HINT.search(folded) is not None:
        return _SPELLED.sub(unspell, folded)
    return folded


@dataclass(frozen=True, slots=True)
class _Token:
    word: str
    quoted: bool


class _Reader:
    """Turns text into normalised tokens; knows the lexicon's vocabulary."""

    def __init__(self, vocabulary: frozenset[str]):
        self.vocabulary = vocabulary
        self.fuzzy, self.masked = _word_variants()
        self.squeezed = {_squeeze(w): w for w in sorted(vocabulary)}
        self._chunks: dict[str, tuple[str, ...]] = {}
        self._tokens: dict[str, tuple[str, ...]] = {}

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
            if not any(c.isdigit() for c in w):
                w = leet  # "$uicide"-like symbols, still to be squeezed; "500mg" stays itself
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

    def chunk_words(self, chunk: str) -> tuple[str, ...]:
        """The normalised words of one chunk of text (cached: most chunks recur across posts)."""
        got = self._chunks.get(chunk)
        if got is not None:
            return got
        if len(chunk) == 1 and chunk in ".?!;\n…":
            got = (_BREAK,)
        elif len(chunk) == 1 and chunk in ",:":
            got = (_SOFT,)
        else:
            trailing_break = chunk.endswith("!") and not chunk.startswith("!")
            word = chunk.strip("!'’")
            if not word:
                got = (_BREAK,)
            elif word.startswith("@"):
                got = ("@",)  # a handle: never part of a cue
            else:
                word = self.normal(word)
                expanded = _EXPAND.get(word)
                got = (word,) if expanded is None else tuple(expanded.split())
            if trailing_break:
                got = (*got, _BREAK)
        if len(self._chunks) >= _CHUNK_CACHE:
            self._chunks.clear()  # bounded memory on hostile input
        self._chunks[chunk] = got
        return got

    def token_words(self, token: str) -> tuple[str, ...]:
        """The words of one whitespace-separated token (cached)."""
        got = tuple(w for chunk in _CHUNK.findall(token) for w in self.chunk_words(chunk))
        if len(self._tokens) >= _CHUNK_CACHE:
            self._tokens.clear()
        self._tokens[token] = got
        return got

    def words(self, text: str) -> tuple[list[str], list[bool] | None]:
        """The text's normalised words (with _BREAK and _SOFT marks) and, only when it holds
        quotation marks, whether each word is inside a quote (lyrics, titles)."""
        folded = _unspelled(_folded(text), self._unspell)
        out = self._words_of(folded)
        if not any(q in folded for q in _QUOTES) or (
                _MUSIC_WORDS.isdisjoint(out) and not any(m in text for m in _MUSIC_MARKS)):
            return out, None  # where a word is quoted matters only in a post about a song (or words: quoted_flags)
        return self._quoted_words(folded)

    def _words_of(self, folded: str) -> list[str]:
        # By whitespace-separated token, each cached with its words: no chunk spans a space,
        # so this is the chunking of the whole text, with one lookup per token. A line end is
        # a sentence break (a title and its body, paragraphs), as the chunk "\n" is.
        out: list[str] = []
        get, make, extend = self._tokens.get, self.token_words, out.extend
        for k, line in enumerate(folded.split("\n")):
            if k:
                out.append(_BREAK)
            for token in line.split():
                extend(get(token) or make(token))
        return out

    def _quoted_words(self, folded: str) -> tuple[list[str], list[bool]]:
        """The words as _words_of reads them, and whether each lies inside quotation marks: a
        straight quote toggles, an opening one opens, a closing one closes, in text order. Token
        by token: only a token holding a quotation mark is read chunk by chunk."""
        out: list[str] = []
        flags: list[bool] = []
        quoted = False
        get, make = self._tokens.get, self.token_words
        for k, line in enumerate(folded.split("\n")):
            if k:
                out.append(_BREAK)
                flags.append(quoted)
            for token in line.split():
                if _QUOTE_MARKS.isdisjoint(token):
                    got = get(token) or make(token)
                    out.extend(got)
                    flags.extend([quoted] * len(got))
                    continue
                pos = 0
                for m in _CHUNK.finditer(token):
                    quoted = _quote_state(token[pos:m.start()], quoted)
                    pos = m.end()
                    got = self.chunk_words(m.group())
                    out.extend(got)
                    flags.extend([quoted] * len(got))
                quoted = _quote_state(token[pos:], quoted)
        return out, flags

    def quoted_flags(self, text: str) -> list[bool]:
        """Whether each of words(text)'s words lies inside quotation marks, whatever the post is
        about: read only when a cue needs it (a post about words, see _MENTION_WORDS)."""
        return self._quoted_words(_unspelled(_folded(text), self._unspell))[1]

    def tokens(self, text: str) -> list[_Token]:
        words, quoted = self.words(text)
        return [_Token(w, bool(quoted and quoted[i])) for i, w in enumerate(words)]


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)  # slots: faster attribute reads in the matchers' loops
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
        return word in self.words or (bool(self.prefixes) and word.startswith(self.prefixes))


@dataclass(frozen=True, slots=True)
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
        return ti if ti == n or words[ti] in _BREAKS else -1
    if el.kind == "gap":
        for skip in range(el.gap + 1):
            if ti + skip > n or (skip and words[ti + skip - 1] in _BREAKS):
                break
            end = _match(elements, words, ei + 1, ti + skip)
            if end >= 0:
                return end
        return -1
    if ti < n and words[ti] not in _BREAKS and el.accepts(words[ti]):
        end = _match(elements, words, ei + 1, ti + 1)
        if end >= 0:
            return end
    if el.optional or (el.or_end and (ti == n or words[ti] in _BREAKS)):
        return _match(elements, words, ei + 1, ti)
    return -1


# --------------------------------------------------------------------------- the lexicon


# Words so common that a pattern is indexed by another of its elements (see Lexicon.__init__).
_COMMON = frozenset(("i", "me", "my", "to", "not", "a", "the", "want", "do", "be", "am", "have", "is",
                     "it", "of", "in", "on", "and", "so", "no", "will", "would", "can", "going", "just",
                     "all", "this", "that", "you", "for", "with", "was", "been", "get", "got", "need",
                     "wanted", "wanting", "ready", "about", "planning", "plan", "decided", "ill", "gotta",
                     "should", "now", "today", "again", "one", "what", "how", "at", "from", "by", "if",
                     "myself", "life", "end", "ending", "own", "gonna", "bus", "there", "like", "feel",
                     # English function words and the commonest verbs: never a pattern's index
                     "about", "above", "after", "again", "against", "an", "any", "are", "as", "because",
                     "before", "being", "below", "between", "both", "but", "could", "did", "does",
                     "doing", "down", "during", "each", "few", "further", "had", "has", "having", "he",
                     "her", "here", "hers", "herself", "him", "himself", "his", "into", "its", "itself",
                     "more", "most", "nor", "off", "once", "only", "or", "other", "our", "ours", "out",
                     "over", "same", "she", "some", "such", "than", "their", "theirs", "them", "then",
                     "these", "they", "those", "through", "too", "under", "until", "up", "very", "we",
                     "were", "when", "where", "which", "while", "who", "whom", "why", "your", "yours",
                     "go", "good", "keep", "keeps", "kept", "make", "put", "see", "still", "take", "time",
                     "think", "know", "thing", "things", "way", "day", "days", "back", "come", "say", "said",
                     "really", "much", "many", "even", "ever", "never", "every", "everyone", "people", "work"))


_VERY_COMMON = frozenset(("i", "me", "my", "to", "a", "the", "it", "of", "in", "on", "and", "is", "be",
                          "am", "do", "have", "not", "no", "so", "this", "that", "you", "for", "with", "by",
                          "about", "can", "will", "when", "how", "what", "their", "here", "at", "if", "all"))


def _positions_of(words: tuple[str, ...], positions: dict[str, list[int]]) -> list[int]:
    """The positions of any of `words`, ascending (each word's own list already is)."""
    if len(words) == 1:
        return positions.get(words[0], [])
    return sorted(i for w in words for i in positions.get(w, ()))


def _commonness(word: str) -> int:
    return 2 if word in _VERY_COMMON else 1 if word in _COMMON else 0


class Lexicon:
    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns
        # Each pattern is indexed by one required element, the least common: a text holding
        # none of that element's words cannot match it, so a post costs a set lookup per
        # distinct word plus the patterns it could match, not every pattern at every word.
        self.by_key: dict[str, list[int]] = {}
        self.unkeyed: list[int] = []  # patterns with no plain required word (a number first)
        self.required: list[tuple[frozenset[str], ...]] = []
        self.keys: dict[int, frozenset[str]] = {}
        # The most words a match can span: a match holds its key, so it starts at most this far before it.
        self.reach = [sum(el.gap if el.kind == "gap" else 1 for el in p.elements) for p in patterns]
        vocabulary: set[str] = set()
        for n, p in enumerate(patterns):
            req = tuple(el.words for el in p.elements
                        if el.kind == "word" and not el.optional and not el.or_end and not el.prefixes)
            self.required.append(req)
            for el in p.elements:
                vocabulary |= el.words
            if not req:
                self.unkeyed.append(n)
                continue
            key = min(req, key=lambda ws: (max(_commonness(w) for w in ws), len(ws)))
            self.keys[n] = key
            for w in key:
                self.by_key.setdefault(w, []).append(n)
        self.vocabulary = frozenset(vocabulary)
        self.reader = _Reader(self.vocabulary)
        self._index_masks()

    def _index_masks(self) -> None:
        """The index as bit masks, so a post's feasible patterns cost a few integer operations:
        each distinct required word set is a bit; a pattern needs the bits of its required sets
        (self.needs) and a word gives the bits of the sets it is in (self.satisfies)."""
        bits: dict[frozenset[str], int] = {}
        self.needs: list[int] = []
        for req in self.required:
            mask = 0
            for ws in req:
                mask |= 1 << bits.setdefault(ws, len(bits))
            self.needs.append(mask)
        self.satisfies: dict[str, int] = {}
        for ws, bit in bits.items():
            for w in ws:
                self.satisfies[w] = self.satisfies.get(w, 0) | 1 << bit
        self._satisfying = frozenset(self.satisfies)
        self._key_words = frozenset(self.by_key)
        # Per pattern: the words whose positions it needs (its first element's, its key's), its
        # first words and key words as tuples, and whether it starts with a number.
        self.num_first = [p.elements[0].kind == "num" for p in self.patterns]
        self.first_words = [tuple(sorted(p.elements[0].words)) for p in self.patterns]
        self.key_words = [tuple(sorted(self.keys.get(n, ()))) for n in range(len(self.patterns))]
        self.position_words = [p.elements[0].words | self.keys.get(n, frozenset()) for n, p in enumerate(self.patterns)]

    @classmethod
    def from_text(cls, text: str) -> Lexicon:
        return cls(parse_lexicon(text.splitlines()))

    def scan(self, words: list[str]) -> tuple[list[tuple[int, int, Pattern]], list[tuple[int, int]]]:
        """(every cue that matched and survived the negation, subject and [fp] guards, the spans
        of `none` patterns). Cues are (start, end, pattern) over `words`."""
        feasible = self._feasible(set(words))
        if not feasible:
            return [], []
        hits = self._hits(words, feasible, self._positions(words, feasible))
        return self._guarded(words, hits)

    def _feasible(self, present: set[str]) -> list[int]:
        """The patterns (in file order) whose key word and every other required word set the
        post holds: the only ones that can match."""
        # The required word sets the post holds a word of (an OR of bit masks, in C).
        have = reduce(or_, map(self.satisfies.__getitem__, self._satisfying.intersection(present)), 0)
        needs, by_key = self.needs, self.by_key
        out = {n for w in self._key_words.intersection(present) for n in by_key[w] if needs[n] & have == needs[n]}
        out.update(n for n in self.unkeyed if needs[n] & have == needs[n])
        return sorted(out)

    def _positions(self, words: list[str], feasible: list[int]) -> dict[str, list[int]]:
        """Where each word the feasible patterns start with or are indexed by occurs (and every
        number, when one starts with <num>), in one pass."""
        needed: set[str] = set()
        for n in feasible:
            needed |= self.position_words[n]
        if any(self.num_first[n] for n in feasible):
            at = [i for i, w in enumerate(words) if w in needed or w.isdigit()]
        else:
            at = [i for i, w in enumerate(words) if w in needed]
        positions: dict[str, list[int]] = {}
        for i in at:
            positions.setdefault(words[i], []).append(i)
        return positions

    def _hits(self, words: list[str], feasible: list[int],
              positions: dict[str, list[int]]) -> list[tuple[int, int, Pattern]]:
        """Every match (start, end, pattern), by pattern then start."""
        hits: list[tuple[int, int, Pattern]] = []
        for n in feasible:
            p = self.patterns[n]
            if self.num_first[n]:
                starts = sorted(i for w, ps in positions.items() if w.isdigit() for i in ps)
            else:
                starts = _positions_of(self.first_words[n], positions)
            key = self.key_words[n]
            if key and len(starts) > 2:
                # Only starts with a key word within reach (a key position in [i, i + reach)): "i"
                # may start 40 times in a long post.
                near = _positions_of(key, positions)
                reach, last = self.reach[n], len(near)
                starts = [i for i in starts if (j := bisect_left(near, i)) < last and near[j] < i + reach]
            for i in starts:
                end = _match(p.elements, words, 0, i)
                if end > i:
                    hits.append((i, end, p))
        return hits

    @staticmethod
    def _guarded(words: list[str], hits: list[tuple[int, int, Pattern]]
                 ) -> tuple[list[tuple[int, int, Pattern]], list[tuple[int, int]]]:
        """(the cues no `none` span overlaps and no negation, other subject or missing first
        person drops, the `none` spans)."""
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
        return cues, blocks

    def assess(self, text: str) -> SafetyFlag | None:
        """The patterns alone (round 1's detector): the reference the bench compares with."""
        if not text:
            return None
        words, quoted = self.reader.words(text)
        cues, _ = self.scan(words)
        cues = _outermost(cues)
        if cues and quoted is not None and _about_a_song(text, words) and all(
                all(quoted[k] for k in range(s, e)) for s, e, _ in cues):
            return None
        if not cues:
            return None
        return _flag(text, words, [(s, e, p.level, p.note or f"matched {p.source!r}") for s, e, p in cues])


def _flag(text: str, words: list[str], cues: list[tuple[int, int, str, str]],
          source: str = "lexicon") -> SafetyFlag:
    """The flag for cues (start, end, level, note): the most urgent level decides, the longer cue
    of that level gives the reason; every cue's words are evidence."""
    s, e, level, note = max(cues, key=lambda c: (_RANK[c[2]], c[1] - c[0]))
    reason = note
    confidence = CONFIDENCE[level]
    if _joking(text, words):
        # The level stays: "lol I want to die" is how many people say it and mean it.
        confidence *= JOKING
        reason += "; joking markers (lol, 😂...) may mean hyperbole, a person should check"
    seen: dict[str, None] = {}
    for cs, ce, _, _ in sorted(cues, key=lambda c: (-_RANK[c[2]], c[0], c[1])):
        seen.setdefault(" ".join(w for w in words[cs:ce] if w not in _BREAKS))
        if len(seen) == MAX_CUES:
            break
    return SafetyFlag("none" if level == CARE else level, tuple(seen), reason, round(confidence, 2), source)


def _with_classifier(flag: SafetyFlag, prob: float, hit: bool) -> SafetyFlag:
    """A cue flag with the classifier's P(risk); more confident when the classifier agrees."""
    if not hit:
        return SafetyFlag(flag.level, flag.cues, flag.reason, flag.confidence, flag.source, prob)
    return SafetyFlag(flag.level, flag.cues, flag.reason, round(min(1.0, flag.confidence + 0.1), 2),
                      flag.source + "+classifier", prob)


def _sentence_span(words: list[str], start: int, end: int) -> tuple[int, int]:
    """The bounds of the sentence (between _BREAK marks) holding words[start:end]."""
    s = start
    while s > 0 and words[s - 1] != _BREAK:
        s -= 1
    e = end
    while e < len(words) and words[e] != _BREAK:
        e += 1
    return s, e


def _outermost(cues: list[tuple]) -> list[tuple]:
    """The cues (start, end, ...) that no longer cue contains: the longer one read more of the
    context ("stopped me from killing myself" is risk, not the ideation of "killing myself")."""
    by_span: dict[tuple[int, int], list] = {}
    for s, e, *p in cues:
        by_span.setdefault((s, e), []).append(tuple(p))
    kept = []
    reach = -1  # the furthest end of the spans seen so far, which all start at or before this one
    for s, e in sorted(by_span, key=lambda span: (span[0], -span[1])):
        if reach < e:
            kept.extend((s, e, *p) for p in by_span[(s, e)])
        reach = max(reach, e)
    return kept


def _negated(words: list[str], start: int) -> bool:
    for k in range(start - 1, max(-1, start - 1 - NEGATION_REACH), -1):
        w = words[k]
        if w in _BREAKS or w in _SCOPE_BREAKERS:
            return False
        if w in _NEGATORS:
            return True
    return False


def _someone_else(words: list[str], start: int) -> bool:
    """The cue's subject is another person: "he wants to die", "do you want to die", "they are
    thinking about suicide" (through adverbs and auxiliaries)."""
    k = start - 1
    while k >= 0 and (words[k] in _ADVERBS or words[k] in _AUXILIARIES):
        k -= 1
    return k >= 0 and words[k] in _OTHERS


def _first_person_near(words: list[str], start: int, end: int) -> bool:
    """A first-person word in the cue's sentence (at most SENTENCE_REACH words either side)."""
    k = start - 1
    while k >= 0 and start - k <= SENTENCE_REACH and words[k] not in _BREAKS:
        if words[k] in _FIRST_PERSON:
            return True
        k -= 1
    k = end
    while k < len(words) and k - end < SENTENCE_REACH and words[k] not in _BREAKS:
        if words[k] in _FIRST_PERSON:
            return True
        k += 1
    return any(w in _FIRST_PERSON for w in words[start:end])


def _joking(text: str, words: list[str]) -> bool:
    return (not _LAUGHTER_WORDS.isdisjoint(words) or any(m in text for m in _LAUGHTER_MARKS)
            or ("hahah" in text.lower() and any(w.startswith("hahah") for w in words)))


def _mentioned(words: list[str], quoted: list[bool], start: int, end: int) -> bool:
    """A short cue wholly inside quotation marks (in a post about words: see _MENTION_WORDS)."""
    span = [w for w in words[start:end] if w not in _BREAKS]
    return len(span) <= MENTION_CUE_WORDS and all(quoted[k] for k in range(start, end))


def _about_a_song(text: str, words: list[str]) -> bool:
    return any(q in text for q in _QUOTES) and (
        any(w in _MUSIC_WORDS for w in words) or any(m in text for m in _MUSIC_MARKS))


# --------------------------------------------------------------------------- concepts
# The compositional lexicon (#14), bot/lexicon/selfharm_concepts.tsv: concept classes (words and
# short phrases: means, counting, lethality questions, places, timing, farewell, relapse, hiding,
# passive wishes...) and rules that want one of each of a few classes near each other in a
# sentence. A rule says what a phrase list would need hundreds of rows for ("saving / counting /
# stockpiling" x "pills / insulin / my sertraline"), and reads the words the pattern lexicon's
# reader normalised (misspellings, leetspeak, contractions). Linear: one pass over the words to
# find concept occurrences, then each rule whose classes all occur tries its few occurrences.

CONCEPTS_FILE = "lexicon/selfharm_concepts.tsv"
MAX_RULE_SPANS = 16
_NOTHING = ((), ())  # a word that starts no concept
_SENTENCE_END = object()  # the entry of a sentence break (compared by identity)
CONCEPT_LEVELS = (*LEVELS, "none")
_FP_SUBJECT = frozenset(("i", "myself", "me"))
# Classes the guards read as occurrences (Detector._who_and_why): a question about how to help,
# something urgent, a medicine and a word saying it caused something.
_GUARD_CLASSES = ("HELP_Q", "URGENT", "MED", "CAUSE")
_OBJECTS = frozenset(("him", "her", "them"))
_ABOUT_OTHER = " (about someone else)"  # a cue's note when its subject is someone else
# Nobody in particular: "asking someone if they are thinking of suicide", "if anyone says they...".
_GENERIC_PEOPLE = frozenset(("someone", "somebody", "anyone", "anybody", "people", "person", "others"))
_CONDITIONAL = frozenset(("if", "whether"))


def _generic_other(words: list[str], start: int) -> bool:
    """A cue about someone else after, in its sentence, a person nobody names ("someone",
    "anyone", "people") and then an "if" or "whether" ("ask someone if they are thinking of
    suicide"): guidance or training, not a person at risk. "If someone already wrote the notes"
    (the "if" first) is a hypothetical, often the poster's own, and stays."""
    k = start - 1
    cond = False
    while k >= 0 and words[k] != _BREAK and start - k <= 16:
        if words[k] in _CONDITIONAL:
            cond = True
        elif cond and words[k] in _GENERIC_PEOPLE:
            return True
        k -= 1
    return False


# Someone else's crisis told as survived (news, a talk, a campaign): not a person at risk now.
_SURVIVED = frozenset(("survived", "survivor", "survivors", "campaigns", "campaigner", "campaigning",
                       "recovered", "advocate"))
_REFLEXIVE = frozenset(("himself", "herself", "themselves"))


def _at(words: list[str], word: str):
    """The positions of `word` in `words` (list.index, in C)."""
    k = -1
    try:
        while True:
            k = words.index(word, k + 1)
            yield k
    except ValueError:
        return


@dataclass(frozen=True, slots=True)
class Rule:
    concepts: tuple[str, ...]
    ordered: bool  # "A > B": B after A
    level: str
    window: int  # words from the first concept's start to each other's start
    first_person: bool  # fp: an I, me, my in the sentence
    reads_negation: bool  # neg: the rule holds its own "not": no negation guard
    across: bool  # x: may reach across sentence ends
    note: str
    line: int


def _others(words: Iterable[str]) -> frozenset[str]:
    """Someone else: the pronouns, and each noun with its plural or possessive ("friends",
    "brother's" read as "brothers")."""
    out = set()
    for w in words:
        out.add(w)
        if len(w) > 3 and w.isalpha():
            out.add(w + "s")
    return frozenset(out)


class Concepts:
    def __init__(self, classes: dict[str, list[str]], rules: list[Rule]):
        self.classes = classes
        self.rules = rules
        self.single: dict[str, tuple[str, ...]] = {}
        self.phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        self.stems: list[tuple[str, str]] = []
        for name, entries in classes.items():
            for entry in entries:
                if entry.endswith("*"):
                    self.stems.append((entry[:-1], name))
                elif "_" in entry:
                    parts = tuple(entry.split("_"))
                    self.phrases.setdefault(parts[0], []).append((parts, name))
                else:
                    self.single[entry] = (*self.single.get(entry, ()), name)
        self._word_cache: dict[str, tuple[str, ...]] = {}
        self._index: dict[str, object] = {}
        self.others = _others(classes.get("OTHER", ()))
        self.first_person = frozenset(classes.get("FP", ()))
        self.negators = frozenset(classes.get("NEG", ()))
        self.help = frozenset(classes.get("HELP_Q", ()))
        # Rule classes, never "who" classes: a word of these starts a concept worth a pass.
        used = {c for r in rules for c in r.concepts}
        self.cue_classes = frozenset(used)
        # The classes whose occurrences anything reads: the rules' and the guards'. FP and OTHER
        # are read as word sets (first_person, others), so occurrences() leaves them out: "i",
        # "my" and "he" are a tenth of a post's words.
        self.read_classes = frozenset(used | set(_GUARD_CLASSES))
        # Phrases of those classes by first word, then by second: "i" and "not" start dozens each.
        self.phrases_after: dict[str, dict[str, list[tuple[tuple[str, ...], str]]]] = {}
        for first, entries in self.phrases.items():
            for parts, name in entries:
                if name in self.read_classes:
                    self.phrases_after.setdefault(first, {}).setdefault(parts[1], []).append((parts, name))
        self.vocabulary = frozenset(
            w for name in self.read_classes for e in classes.get(name, ())
            if not e.endswith("*") for w in e.split("_"))
        self.gate_words = self._gate(rules)
        # Each rule is tried only when its class with the fewest entries occurs (file order kept).
        self.by_trigger: dict[str, list[int]] = {}
        for n, rule in enumerate(rules):
            trigger = min(rule.concepts, key=lambda name: len(classes[name]))
            self.by_trigger.setdefault(trigger, []).append(n)
        self.none_gate = self._gate([replace(r, level="risk") for r in rules if r.level == "none"]) if any(
            r.level == "none" for r in rules) else frozenset()

    def _gate(self, rules: list[Rule]) -> frozenset[str]:
        """For each positive rule, one word of every entry of its rarest class (an entry's least
        common word: a phrase needs all its words): a post holding none of these matches no rule."""
        def key(entry: str) -> str:
            parts = entry.rstrip("*").split("_")
            return max(parts, key=lambda w: (w not in _COMMON and w not in self.first_person, len(w)))

        out: set[str] = set()
        for rule in rules:
            if rule.level == "none":
                continue
            options = []
            for name in rule.concepts:
                entries = self.classes[name]
                if any(e.endswith("*") for e in entries):
                    continue  # a stem is no word to test; another class of the rule will do
                words = {key(e) for e in entries}
                options.append((sum(w in _COMMON or w in self.first_person for w in words), len(words), words))
            if not options:
                raise ValueError(f"{CONCEPTS_FILE}:{rule.line}: a rule needs one class without stems (word*)")
            out |= min(options, key=lambda o: o[:2])[2]
        return frozenset(out)

    @classmethod
    def from_text(cls, text: str) -> Concepts:
        classes: dict[str, list[str]] = {}
        rules: list[Rule] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            where = f"{CONCEPTS_FILE}:{number}"
            if line.startswith("@"):
                if len(cols) != 2 or not cols[1].split():
                    raise ValueError(f"{where}: want @NAME<TAB>words")
                classes[cols[0][1:].strip()] = cols[1].split()
                continue
            if len(cols) != 5:
                raise ValueError(f"{where}: want concepts<TAB>level<TAB>window<TAB>flags<TAB>note")
            source, level, window, flags, note = (c.strip() for c in cols)
            if level not in CONCEPT_LEVELS:
                raise ValueError(f"{where}: level {level!r}: use {', '.join(CONCEPT_LEVELS)}")
            ordered = ">" in source
            if ordered and "+" in source:
                raise ValueError(f"{where}: use either ' > ' (in order) or ' + ' (any order), not both")
            names = tuple(n.strip() for n in source.replace(">", "+").split("+"))
            missing = [n for n in names if n not in classes]
            if missing:
                raise ValueError(f"{where}: unknown concept {missing[0]} (define it above with @{missing[0]})")
            if not window.isdigit():
                raise ValueError(f"{where}: window {window!r} is not a number of words")
            flagset = set() if flags == "-" else {f.strip() for f in flags.split(",")}
            if flagset - {"fp", "neg", "x"}:
                raise ValueError(f"{where}: flags {sorted(flagset - {'fp', 'neg', 'x'})}: use fp, neg, x or -")
            rules.append(Rule(names, ordered, level, int(window), "fp" in flagset, "neg" in flagset,
                              "x" in flagset, note, number))
        return cls(classes, rules)

    def _classes_of(self, word: str) -> tuple[str, ...]:
        got = self._word_cache.get(word)
        if got is None:
            got = self.single.get(word, ())
            for stem, name in self.stems:
                if word.startswith(stem) and name not in got:
                    got = (*got, name)
            if len(self._word_cache) >= _CHUNK_CACHE:
                self._word_cache.clear()
            self._word_cache[word] = got
        return got

    def occurrences(self, words: list[str]) -> dict[str, list[tuple[int, int, int]]]:
        """Class -> its occurrences (start, end, sentence number), for the classes a rule or a
        guard reads (read_classes)."""
        entries = self._entries(words)
        occ: dict[str, list[tuple[int, int, int]]] = {}
        sentence = 0
        n = len(words)
        # Only the words that start an occurrence or end a sentence are visited.
        for i in compress(count(), map(is_not, entries, repeat(_NOTHING))):
            entry = entries[i]
            if entry is _SENTENCE_END:
                sentence += 1
                continue
            classes, after = entry
            for name in classes:
                occ.setdefault(name, []).append((i, i + 1, sentence))
            if after and i + 1 < n:
                for parts, name in after.get(words[i + 1], ()):
                    k = len(parts)
                    if i + k <= n and (k == 2 or tuple(words[i + 2:i + k]) == parts[2:]):
                        occ.setdefault(name, []).append((i, i + k, sentence))
        return occ

    def _entries(self, words: list[str]) -> list:
        """Each word's entry (_entry), from the cache in one pass when all are there."""
        try:
            return list(map(self._index.__getitem__, words))
        except KeyError:
            get = self._index.get
            return [e if (e := get(w)) is not None else self._entry(w) for w in words]

    def _entry(self, word: str):
        """What a word starts, cached: (its read classes, the phrases it begins by their second
        word); _NOTHING for most words, _SENTENCE_END for a sentence break."""
        if word == _BREAK:
            entry = _SENTENCE_END
        else:
            classes = tuple(c for c in self._classes_of(word) if c in self.read_classes)
            after = self.phrases_after.get(word)
            entry = (classes, after) if classes or after else _NOTHING
        if len(self._index) >= _CHUNK_CACHE:
            self._index.clear()
        self._index[word] = entry
        return entry

    def scan(self, words: list[str]) -> tuple[list[tuple[int, int, Rule]], list[tuple[int, int]],
                                              dict[str, list[tuple[int, int, int]]]]:
        """(positive rule hits as (start, end, rule), the spans of `none` rule hits, the
        occurrences of every class)."""
        if self.gate_words.isdisjoint(words) and self.none_gate.isdisjoint(words):
            return [], [], {}
        occ = self.occurrences(words)
        if not occ:
            return [], [], occ
        hits: list[tuple[int, int, Rule]] = []
        blocks: list[tuple[int, int]] = []
        candidates: set[int] = set()
        for name in occ:
            candidates.update(self.by_trigger.get(name, ()))
        for n in sorted(candidates):
            rule = self.rules[n]
            if not all(c in occ for c in rule.concepts):
                continue
            for span in self._match(rule, occ):
                if rule.level == "none":
                    blocks.append(span)
                else:
                    hits.append((*span, rule))
        return hits, merge(blocks), occ

    @staticmethod
    def _match(rule: Rule, occ: dict[str, list[tuple[int, int, int]]]) -> list[tuple[int, int]]:
        """Spans where the rule holds, at most MAX_RULE_SPANS (a post repeating a phrase 5,000
        times needs a few for evidence, not all): each anchor looks at the other classes'
        occurrences within its window only (they are in order), so this stays linear (a `none`
        rule reads the whole window, which is bounded too)."""
        first, rest = rule.concepts[0], rule.concepts[1:]
        ordered, window, across = rule.ordered, rule.window, rule.across
        # A `none` rule takes the last occurrence in its window, not the first: its block then
        # covers every word it explains ("warnings about depression and, rarely, suicidal thoughts").
        widest = rule.level == "none"
        spans = []
        for a in occ[first]:
            chosen = [a]
            for name in rest:
                prev = chosen[-1]
                found = None
                others = occ[name]
                lo = a[0] if ordered else a[0] - window
                for j in range(bisect.bisect_left(others, (lo, -1, -1)), len(others)):
                    o = others[j]
                    if o[0] - a[0] > window:
                        break
                    if not across and o[2] != a[2]:
                        continue
                    if ordered:
                        if o[0] >= prev[1]:
                            found = o
                            if not widest:
                                break
                    elif all(o[1] <= c[0] or o[0] >= c[1] for c in chosen):
                        found = o
                        if not widest:
                            break
                if found is None:
                    break
                chosen.append(found)
            else:
                spans.append((min(c[0] for c in chosen), max(c[1] for c in chosen)))
                if len(spans) == MAX_RULE_SPANS:
                    break
        return spans

    def sentence_of(self, words: list[str], start: int, end: int) -> tuple[int, int]:
        return _sentence_span(words, start, end)

    def subject(self, words: list[str], start: int, end: int) -> str:
        """"self", "other" or "object" (him, her, them inside the cue): the nearest I or someone else before the cue in its sentence ("my
        friend said he bought a rope"), or inside it; "self" when there is none (pronoun-less
        posts are how many people write)."""
        inside = words[start:end]
        for w in inside:
            if w in _FP_SUBJECT:
                return "self"
        if end - start <= 5 and not _OBJECTS.isdisjoint(inside):
            return "object"  # "want her dead", "want him to die": someone else's death, not a risk
        if not _REFLEXIVE.isdisjoint(inside):
            return "other"  # "plans to kill herself"
        k = start - 1
        while k >= 0 and words[k] != _BREAK and start - k <= 16:
            w = words[k]
            if w in _FP_SUBJECT:
                return "self"
            if w in self.others:
                return "other"
            k -= 1
        return "self"


@functools.cache
def default_concepts() -> Concepts:
    text = resources.files("bot").joinpath(CONCEPTS_FILE).read_text(encoding="utf-8")
    return Concepts.from_text(text)


@functools.cache
def default_reader() -> _Reader:
    """The reader every part shares: it knows the patterns' and the concepts' words."""
    return _Reader(default_lexicon().vocabulary | default_concepts().vocabulary)


@functools.cache
def default_lexicon() -> Lexicon:
    text = resources.files("bot").joinpath("lexicon/selfharm.tsv").read_text(encoding="utf-8")
    return Lexicon.from_text(text)




# --------------------------------------------------------------------------- the classifier
# A logistic regression over hashed words, word pairs and in-word character 3- to 5-grams of the
# words the lexicons read (normalised: "dont" -> "do not", "tierd" -> "tired", sentence marks
# kept), trained by tools/train_selfharm.py (which says on what) and shipped as
# bot/lexicon/selfharm_model.tsv: bucket numbers and weights only, no text. Two blocks, each
# divided by the square root of its feature count: words and pairs, characters (a long post has
# many more character n-grams than words). Inverse document frequencies are folded into the
# weights at training. Inference is pure Python: a word's weights (itself, its character n-grams)
# are summed once and cached, so a post costs about two dict lookups per word.

MODEL_FILE = "lexicon/selfharm_model.tsv"
FEATURES = "v2"  # the feature set the model file must have been trained on
_CHAR_N = (3, 4, 5)
_LONGEST_WORD = 24  # a longer token is cut: "aaaa..." x 10,000 costs one word
_CACHE_LIMIT = 200_000  # cached words and pairs; cleared when full (bounded memory on hostile input)


def model_words(text: str) -> list[str]:
    """The words the classifier reads: the lexicons' normalised words (with sentence marks),
    long tokens cut."""
    words, _ = default_reader().words(text)
    return [w if len(w) <= _LONGEST_WORD else w[:_LONGEST_WORD] for w in words]


def word_features(word: str) -> list[str]:
    """The word itself (first) and its character 3- to 5-grams (with < > marking its edges)."""
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


def text_features(words: list[str]) -> tuple[list[str], list[str]]:
    """Every feature occurrence of a text's model words, in order, as (words and pairs,
    characters): what training counts, each block divided by the square root of its length."""
    word_block: list[str] = []
    char_block: list[str] = []
    for w in words:
        feats = word_features(w)
        word_block.append(feats[0])
        char_block.extend(feats[1:])
    word_block.extend(pair_feature(a, b) for a, b in zip(words, words[1:]))
    return word_block, char_block


class Classifier:
    """P(risk) for a text: sigmoid(bias + word and pair weights / sqrt(their count) + character
    weights / sqrt(their count))."""

    def __init__(self, weights: dict[int, float], bias: float, buckets: int, threshold: float,
                 meta: dict[str, str] | None = None, short_threshold: float | None = None):
        self.weights = weights
        self.bias = bias
        self.buckets = buckets
        self.threshold = threshold  # P(risk) at or above which a post of SHORT_WORDS words or more is `risk`
        # A shorter post has a threshold of its own, chosen on the tune part's short posts
        # (and the training script's figurative one-liners); without one it is never flagged alone.
        self.short_threshold = short_threshold
        self.meta = meta or {}
        self._word: dict[str, tuple[float, float, int, dict[str, float]]] = {}
        self._pairs = 0  # pair weights cached (in the word entries)

    def threshold_for(self, words: int) -> float:
        if words >= SHORT_WORDS:
            return self.threshold
        return self.short_threshold if self.short_threshold is not None else 2.0  # 2.0: never

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
        if meta.get("features", "v1") != FEATURES:
            raise ValueError(f"{MODEL_FILE}: features {meta.get('features', 'v1')!r}, this code reads "
                             f"{FEATURES!r}; retrain with tools/train_selfharm.py")
        short = float(meta["short_threshold"]) if "short_threshold" in meta else None
        return cls(weights, float(meta["bias"]), int(meta["buckets"]), float(meta["threshold"]), meta, short)

    def _word_weight(self, word: str) -> tuple[float, float, int, dict[str, float]]:
        """A word's cache entry: its own weight, its character n-grams' weights summed, how many
        n-grams, and the weights of the pairs it starts (filled as they are met: a pair's weight
        is found from the word before it, with no lookup of a (word, word) key)."""
        if len(self._word) >= _CACHE_LIMIT or self._pairs >= _CACHE_LIMIT:
            self._word.clear()  # bounded memory on hostile input (the pairs go with their words)
            self._pairs = 0
        feats = word_features(word)
        w, n = self.weights, self.buckets
        got = self._word[word] = (w.get(bucket(feats[0], n), 0.0),
                                  sum(w.get(bucket(f, n), 0.0) for f in feats[1:]), len(feats) - 1, {})
        return got

    def _pair_weight(self, first: str, second: str, following: dict[str, float]) -> float:
        """The weight of the pair (first, second), kept in `following` (first's pairs)."""
        self._pairs += 1
        got = following[second] = self.weights.get(bucket(pair_feature(first, second), self.buckets), 0.0)
        return got

    def _entry(self, word: str) -> tuple[float, float, int, dict[str, float]]:
        got = self._word.get(word)
        return got if got is not None else self._word_weight(word)

    def probability_of(self, words: list[str]) -> float:
        """P(risk) for model words: one pass, a cached lookup a word and one a pair (in the word
        before's own table); sums added in the order training's formula reads them."""
        if not words:
            return 1.0 / (1.0 + math.exp(-self.bias))
        get = self._word.get
        word_sum, char_sum, chars, following = self._entry(words[0])
        word_sum += 0.0  # as 0.0 + w0 (a -0.0 weight sums to 0.0)
        char_sum += 0.0
        for previous, word in zip(words, islice(words, 1, None)):
            got = get(word)
            if got is None:
                got = self._word_weight(word)
            w, c, n, after = got
            word_sum += w
            char_sum += c
            chars += n
            p = following.get(word)
            word_sum += p if p is not None else self._pair_weight(previous, word, following)
            following = after
        z = self.bias + word_sum / math.sqrt(2 * len(words) - 1) + (char_sum / math.sqrt(chars) if chars else 0.0)
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0

    def pushes(self, words: list[str]) -> list[tuple[float, str]]:
        """The words and pairs that pushed P(risk) up, as (push, text): the evidence of a flag."""
        out: list[tuple[float, str]] = []
        get = self._word.get
        previous = following = None
        for word in words:
            got = get(word)
            if got is None:
                got = self._word_weight(word)
            out.append((got[0] + got[1] / 8.0, word))
            if following is not None:
                p = following.get(word)
                p = p if p is not None else self._pair_weight(previous, word, following)
                if p > 0.0:
                    out.append((p, f"{previous} {word}"))
            previous, following = word, got[3]
        return out

    def strongest(self, words: list[str], k: int) -> tuple[str, ...]:
        """The k distinct words or pairs (3 characters or more) that pushed P(risk) up most:
        pushes() strongest first, ties in text order (reverse=True keeps a sort stable)."""
        out: dict[str, None] = {}
        for push, text in sorted(self.pushes(words), key=itemgetter(0), reverse=True):
            if push <= 0 or len(out) == k:
                break
            if len(text) >= 3 and text not in _BREAKS:
                out.setdefault(text)
        return tuple(out)

    def score(self, words: list[str]) -> tuple[float, list[tuple[float, str]]]:
        """(P(risk), its pushes), for callers that want both."""
        return self.probability_of(words), self.pushes(words)

    def probability(self, text: str) -> float:
        return self.probability_of(model_words(text))


@functools.cache
def default_classifier() -> Classifier:
    text = resources.files("bot").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return Classifier.from_text(text)


# --------------------------------------------------------------------------- the gate
# Most posts a brand sees hold no cue word at all: one set test of the post's normalised words
# against the words some cue needs (Detector.cue_words) lets them skip the cue pass. Exact, not
# a guess: a pattern needs its index element, a concept rule needs one word of each class, and
# the gate holds for each rule the words of one of its classes (the rarest). The classifier
# reads every post.


def may_be_at_risk(text: str) -> bool:
    """False when the text holds no word any cue needs (the cue pass would find nothing)."""
    return not _DEFAULT.cue_words.isdisjoint(_DEFAULT.reader.words(text)[0])



# --------------------------------------------------------------------------- the detector

LONG_POST = 40  # words: past this, a "told in care" cue no longer outweighs a classifier flag
# The classifier alone flags only posts of at least this many words: it was trained on Reddit
# posts (median 650 characters) and reads words without their order, so on a one-liner ("I'm
# not going to kill myself, don't worry") it is worse than the lexicon, which reads negation.
MIN_CLASSIFIER_WORDS = 20  # round 1's cut, kept for the bench's reference only
SHORT_WORDS = 40  # words: a post shorter than this is read with the classifier's short threshold
# Words after which a negation on a short post means "not at risk" to the classifier's guard.
_SHORT_CUES = frozenset(("kill", "killing", "die", "dying", "suicide", "suicidal", "hurt", "hurting",
                         "harm", "cut", "cutting", "end", "ending", "want", "going", "do", "worry"))
EVIDENCE_WORDS = 3  # the classifier's evidence: its strongest words or pairs


class Detector:
    """Patterns, concepts and classifier together, recall first: a post is flagged when any flags it.

    * a pattern or concept cue gives the level (intent, ideation, self-harm, risk) and its phrase
      as evidence; the classifier agreeing raises the confidence;
    * a cue whose subject is someone else ("my friend said he bought a rope") is ``risk``; unless
      the post asks how to help and describes nothing urgent, which is no flag;
    * a cue in a post that names a medicine as its cause ("since starting sertraline I...") is
      ``risk`` (a person at risk, and a drug-safety signal);
    * the classifier alone (P(risk) at or over its threshold for the post's length) gives
      ``risk``, with the words that pushed it most as evidence; on a short post a negation near
      its strongest words keeps it quiet (it reads words without their order);
    * a "told in care" cue alone (a past disclosure to a therapist) is a ``none`` flag: stored,
      kept out of other alerts, routed only when config lists ``none``; unless the classifier
      flags a long post, which is then ``risk``.
    """

    def __init__(self, lexicon: Lexicon, classifier: Classifier | None, prefilter: bool = True,
                 concepts: Concepts | None = None):
        self.lexicon = lexicon
        self.classifier = classifier
        self.prefilter = prefilter
        self.concepts = concepts
        if lexicon is default_lexicon() and concepts in (None, default_concepts()):
            self.reader = default_reader()  # the classifier was trained on this reader's words
        else:
            self.reader = _Reader(lexicon.vocabulary | (concepts.vocabulary if concepts else frozenset()))
        # The words any cue needs one of (a pattern's index words, a concept rule's classes):
        # a post with none of them skips the cue pass.
        self.cue_words = frozenset(lexicon.by_key) | (concepts.gate_words if concepts else frozenset())

    def cues(self, text: str, words: list[str], quoted: list[bool] | None) -> list[tuple[int, int, str, str]]:
        """Every cue (start, end, level, note) of the patterns and the concepts, after the guards."""
        return self._cue_pass(text, words, quoted)[0]

    def _cue_pass(self, text: str, words: list[str],
                  quoted: list[bool] | None) -> tuple[list[tuple[int, int, str, str]], bool]:
        """(the cues, whether a `none` phrase or a song title read part of the text: figurative,
        a label, a quote; the classifier alone then keeps quiet on a short post)."""
        pattern_cues, pattern_blocks = self.lexicon.scan(words)
        concept_hits: list[tuple[int, int, Rule]] = []
        concept_blocks: list[tuple[int, int]] = []
        occ: dict[str, list[tuple[int, int, int]]] = {}
        if self.concepts is not None:
            concept_hits, concept_blocks, occ = self.concepts.scan(words)
        blocks = merge(pattern_blocks + concept_blocks)
        guarded = bool(blocks) or (quoted is not None and _about_a_song(text, words))
        out: list[tuple[int, int, str, str]] = []
        for s, e, p in pattern_cues:
            if not overlaps(s, e, concept_blocks):
                out.append((s, e, p.level, p.note or f"matched {p.source!r}"))
        for s, e, rule in concept_hits:
            if overlaps(s, e, blocks):
                continue
            if not rule.reads_negation and _negated(words, s):
                continue
            if rule.first_person and not self._first_person_in_sentence(words, s, e):
                continue
            out.append((s, e, rule.level, rule.note))
        if not out:
            return out, guarded
        out = _outermost(out)
        if quoted is not None and _about_a_song(text, words) and all(
                all(quoted[k] for k in range(s, e)) for s, e, _, _ in out):
            return [], True
        if (not _MENTION_WORDS.isdisjoint(words) and any(e - s <= MENTION_CUE_WORDS for s, e, _, _ in out)
                and any(q in text for q in _QUOTES)):
            flags = quoted if quoted is not None else self.reader.quoted_flags(text)
            out = [c for c in out if not _mentioned(words, flags, c[0], c[1])]
            if not out:
                return [], True
        return _told_as_past(words, self._who_and_why(words, out, occ)), guarded

    def _first_person_in_sentence(self, words: list[str], start: int, end: int) -> bool:
        s, e = self.concepts.sentence_of(words, start, end)
        return not self.concepts.first_person.isdisjoint(words[s:e])

    def _who_and_why(self, words: list[str], cues: list[tuple[int, int, str, str]],
                     occ: dict[str, list[tuple[int, int, int]]]) -> list[tuple[int, int, str, str]]:
        if self.concepts is None:
            return cues
        c = self.concepts
        out = []
        for s, e, level, note in cues:
            if level == CARE:
                out.append((s, e, level, note))
                continue
            subject = c.subject(words, s, e)
            if subject == "object":
                continue
            if subject == "other":
                if "HELP_Q" in occ and "URGENT" not in occ:
                    continue  # a question about how to help, nobody described at risk now
                if "URGENT" not in occ and not _SURVIVED.isdisjoint(words[slice(*_sentence_span(words, s, e))]):
                    continue  # "a man who survived a jump and now campaigns": a story of survival
                if "URGENT" not in occ and _generic_other(words, s):
                    continue  # "ask someone if they are thinking of suicide": guidance, nobody in particular
                out.append((s, e, "risk", note + _ABOUT_OTHER))
                continue
            if level in ("ideation", "self-harm", "risk"):
                if "MED" in occ and "CAUSE" in occ:
                    out.append((s, e, "risk", note + " (a medicine may be causing it)"))
                    continue
            out.append((s, e, level, note))
        return out

    def assess(self, text: str) -> SafetyFlag | None:
        if not text:
            return None
        words, quoted = self.reader.words(text)
        flag, guarded = self._cue_flag(text, words, quoted)
        if self.classifier is None:
            return flag
        model = words if not words or max(map(len, words)) <= _LONGEST_WORD else [
            w if len(w) <= _LONGEST_WORD else w[:_LONGEST_WORD] for w in words]
        prob = round(self.classifier.probability_of(model), 4)
        threshold = self.classifier.threshold_for(len(model))
        hit = prob >= threshold and not (len(model) < SHORT_WORDS and (guarded or self._short_negated(words)))
        if flag is not None and (flag.level != "none" or not hit or len(model) <= LONG_POST
                                 or _recovery_story(words)):
            return _with_classifier(flag, prob, hit and flag.level != "none")
        if not hit:
            return None
        return self._classifier_flag(text, words, model, prob, threshold)

    def _cue_flag(self, text: str, words: list[str], quoted: list[bool] | None) -> tuple[SafetyFlag | None, bool]:
        """(the patterns' and concepts' flag or None, whether a `none` phrase or a song guarded
        the text); a post holding no cue word (the gate) skips the cue pass."""
        if self.prefilter and self.cue_words.isdisjoint(words):
            return None, False
        cues, guarded = self._cue_pass(text, words, quoted)
        return (_flag(text, words, cues) if cues else None), guarded

    def _classifier_flag(self, text: str, words: list[str], model: list[str], prob: float,
                         threshold: float) -> SafetyFlag:
        """The classifier's own `risk` flag, its strongest words as evidence."""
        evidence = self.classifier.strongest(model, EVIDENCE_WORDS)
        t = threshold
        confidence = 0.4 + 0.4 * (prob - t) / (1.0 - t) if t < 1.0 else 0.4
        reason = f"the classifier reads it as a post from someone at risk (P {prob:.2f})"
        if _joking(text, words):
            confidence *= JOKING
            reason += "; joking markers (lol, 😂...) may mean hyperbole, a person should check"
        return SafetyFlag("risk", evidence, reason, round(confidence, 2), "classifier", prob)

    @staticmethod
    def _short_negated(words: list[str]) -> bool:
        """A short post that says it is not at risk ("not going to kill myself, don't worry",
        "I would never"): a negator followed within NEGATION_REACH words by a cue-ish word."""
        for i, w in enumerate(words):
            if w in _NEGATORS:
                for k in range(i + 1, min(len(words), i + 1 + NEGATION_REACH + 2)):
                    if words[k] in _BREAKS:
                        break
                    if words[k] in _SHORT_CUES:
                        return True
        return False


# --------------------------------------------------------------------------- tense and recovery
# A crisis told in the past beside a present recovery ("Two years ago I wrote a goodbye letter.
# Today I got my degree", "10 years clean from cutting", "the thoughts are rare now") is a recovery
# story: its cues are read as told in care (a stored `none` flag). A cue is read so only when
#   * the post says it is better now (a recovery word: glad, proud, therapy helped, clean, free,
#     "no longer", "not anymore", "made it", "if you are where I was"...);
#   * its own sentence is the poster's own (an I, me, my, a streak: "500 days sh free", or no
#     he, she or they: someone else's crisis is not their recovery) and is told in the past (an
#     act or a plan, intent or self-harm, in a distant past: "years ago", "used to", "at 14") (a past marker: ago, used to, back then, a past verb,
#     "there was a time", a year) or says the crisis has faded ("rare now", "no longer", "less");
#   * and that sentence holds no present or future crisis word (again, tonight, want, going to,
#     relapsed, right now...): "I relapsed again last night", "I used to cut and I want to again"
#     and any present-tense statement keep their level.
# A post whose every cue is read so, that holds no present crisis word anywhere and reads as
# recovery in two ways or more, is not flagged by the classifier alone either: the classifier,
# trained on whole posts, reads the crisis words of a recovery story as risk.

_PAST = frozenset(("used", "ago", "was", "were", "had", "last", "since", "once", "back", "history",
                   "old", "tried", "attempted", "wrote", "kept", "thought", "felt", "clean", "years",
                   "months", "stopped", "lied", "told", "winters", "previously", "formerly",
                   "spent", "woke", "began"))
# A past so plain that the future words of its sentence were the future then ("two years ago I
# was going to", "in 2019 I planned"): ago, used (to), a year.
_STRONG_PAST = frozenset(("ago", "used"))
# Future words a strong past outweighs; the others (again, tonight, relapsed, right now...) never are.
_WEAK_CRISIS = frozenset(("plan", "planning", "going", "will", "want", "wanna", "need", "keep", "can", "help"))
# Words that tell the recovery in the sentence itself ("three years clean from self harm", "a year
# in recovery"): such a sentence is told as recovery, as a past one is.
_RECOVERY_TOLD = frozenset(("recovery", "recovered", "recovering", "healed", "healing", "clean", "free",
                            "milestone", "survived", "survivor"))
# An act or a plan (intent, self-harm) is told in the past only with a distant past in its own
# sentence ("two years ago", "I used to", "in 2019", "back then", "when I was 15", "last year"), a
# streak or a faded crisis: a plain past verb ("I wrote the letters", "I cut") is how a
# preparation or a relapse is told today.
_DISTANT_PAIRS = frozenset((("back", "then"), ("last", "year"), ("at", "the"), ("when", "i"), ("those", "days")))
_DISTANT_LEVELS = frozenset(("intent", "self-harm"))
_THIRD_PERSON = frozenset(("he", "she", "they", "him", "her", "them", "his", "hers", "their", "theirs"))
_STREAK_UNITS = frozenset(("days", "weeks", "months", "years", "day", "week", "month", "year"))
_STREAK_WORDS = frozenset(("clean", "free", "without", "sober"))
# A sentence that starts in the present after a past ("today I got my degree", "this summer I wore a
# vest top"): the then-and-now of a recovery story, when it holds no crisis word.
_NOW_ANCHORS = frozenset(("today", "now", "nowadays", "these", "this"))
_PAST_YEAR = re.compile(r"(19|20)\d\d$")
# The crisis has faded: "the thoughts are rare now".
_FADED = frozenset(("rare", "rarely", "fading", "faded"))
_PRESENT_CRISIS = frozenset(("again", "tonight", "want", "wanna", "going", "will", "plan", "planning",
                             "currently", "relapsed", "right", "cannot", "can", "help", "anymore", "need",
                             "keep", "reset", "broke",
                             "broken", "lost", "ruined", "died", "lately", "tomorrow"))
_RECENT = frozenset(("yesterday", "tonight", "tonite", "earlier"))
_RECENT_AFTER_LAST = frozenset(("night", "nite", "week", "weekend", "nights"))
_NEVER_AGAIN = frozenset(("never", "not", "no"))  # "never again": a recovery word, not a relapse
_RECOVERED = frozenset(("glad", "proud", "recovery", "recovered", "recovering", "saved", "stable", "survivor",
                        "healed", "healing", "volunteer", "better", "stayed", "grateful", "thankful", "helped",
                        "stopped", "possible", "free", "milestone", "qualified", "married"))
_RECOVERED_PAIRS = frozenset((("no", "longer"), ("made", "it"), ("got", "through"), ("got", "help"),
                              ("doing", "better"), ("doing", "well"), ("far", "i"), ("please", "stay"),
                              ("gets", "better"), ("these", "days"), ("am", "ok"), ("am", "okay"),
                              ("still", "here"), ("glad", "to"), ("got", "rid")))
_BETTER_AFTER = frozenset(("feel", "feeling", "felt", "doing", "getting", "got", "gets", "get", "much", "lot",
                           "way", "am", "been", "things", "slowly", "bit"))
# Crisis words of the present anywhere in the post: such a post is never read as recovery alone.
_NOW_WORDS = frozenset(("tonight", "relapsed", "again", "currently", "anymore", "tomorrow", "soon", "weekend"))

RECOVERY_WORDS = 400  # words: a longer post mixes too much to read its tense this simply


def _past_word(w: str) -> bool:
    return w in _PAST or (len(w) == 4 and _PAST_YEAR.match(w) is not None)


def _crisis_now(sentence: list[str]) -> bool:
    """A present or future crisis word in the sentence; "never again" and "do not ... anymore"
    are recovery, "right now" is present only as a pair, "will not" is no plan; in a sentence
    told in a plain past ("years ago", "used to", "in 2019") "plan", "going to", "want" were then."""
    strong_past = not _STRONG_PAST.isdisjoint(sentence) or any(
        len(w) == 4 and _PAST_YEAR.match(w) is not None for w in sentence)
    for k, w in enumerate(sentence):
        if w in _RECENT or (w == "last" and k + 1 < len(sentence) and sentence[k + 1] in _RECENT_AFTER_LAST) or (
                w == "ago" and k and sentence[k - 1] in ("days", "hours", "minutes", "day", "week")):
            return True  # "last week I tried", "yesterday", "two days ago": a recent act is the present
        if w not in _PRESENT_CRISIS or (strong_past and w in _WEAK_CRISIS):
            continue
        before = sentence[k - 1] if k else ""
        after = sentence[k + 1] if k + 1 < len(sentence) else ""
        if w == "again" and before in _NEVER_AGAIN:
            continue
        if w == "right" and after != "now":
            continue
        if w in ("will", "want", "going", "need", "keep") and (after in _NEGATORS or before in _NEGATORS):
            continue  # "will not", "do not want", "not going": no crisis stated
        if w == "want" and after == "to" and k + 2 < len(sentence) and sentence[k + 2] in (
                "share", "say", "thank", "tell", "hug", "post", "mark", "give", "celebrate", "come", "help"):
            continue  # "I want to share what helped"
        if w == "help" and before in ("got", "get", "getting", "for", "asked", "found"):
            continue  # "I got help": how the recovery began
        if w == "can" and after == "not" and k + 2 < len(sentence) and sentence[k + 2] in ("remember", "believe"):
            continue  # "I can't remember the last time"
        if w == "anymore" and _no_longer(sentence, k):
            continue  # "I don't want to die anymore"
        return True
    return False


def _no_longer(words: list[str], k: int) -> bool:
    """words[k] is "anymore" after a "do not" within six words: "I don't live in crisis anymore"."""
    return any(x in ("do", "does", "did") and y == "not"
               for x, y in zip(words[max(0, k - 7):k], words[max(1, k - 6):k]))


def _streak_at(words: list[str], k: int) -> bool:
    """words[k] is a streak unit with "clean", "free" or "without" within three words after it
    ("500 days sh free", "four years without self harm", "2 years clean")."""
    return words[k] in _STREAK_UNITS and not _STREAK_WORDS.isdisjoint(words[k + 1:k + 4])


def _then_and_now(words: list[str]) -> bool:
    """A sentence that starts in the present ("today I", "now I", "these days I", "this summer I")
    and holds no crisis word, in a post that also tells a past."""
    if not any(map(_past_word, words)):
        return False
    start = 0
    n = len(words)
    for k in range(n + 1):
        if k < n and words[k] != _BREAK:
            continue
        sentence = words[start:k]
        start = k + 1
        head = sentence[:4]
        if head and head[0] in _NOW_ANCHORS and not _FIRST_PERSON.isdisjoint(head) and (
                head[0] in ("today", "now", "nowadays") or (len(head) > 1 and head[1] in (
                    "days", "year", "summer", "winter", "christmas", "spring", "autumn", "month", "week"))) and (
                not _crisis_now(sentence)) and "die" not in sentence:
            return True
    return False


def _recovery_marks(words: list[str]) -> int:
    """How many ways the post says it is better now (recovery words, pairs, a streak, "do not ...
    anymore", "worth it", a then-and-now), capped at 3. Set tests first: most posts hold few."""
    present = set(words)
    if "worse" in present:
        return 0  # "I feel worse, not better": no recovery told
    marks = len(_RECOVERED.intersection(present))
    if "better" in present and not any(k and words[k - 1] in _BETTER_AFTER for k in _at(words, "better")):
        marks -= 1  # "better off without me", "deserves better": no recovery; "doing better", "feel better" are
    for a, b in _RECOVERED_PAIRS:
        if marks >= 3:
            return 3
        if a in present and b in present:
            marks += any(k + 1 < len(words) and words[k + 1] == b for k in _at(words, a))
    if marks < 3 and "anymore" in present:
        marks += any(_no_longer(words, k) for k in _at(words, "anymore"))
    if marks < 3 and "worth" in present and "it" in present:
        marks += any(k + 1 < len(words) and words[k + 1] == "it" and _NEGATORS.isdisjoint(words[max(0, k - 3):k])
                     for k in _at(words, "worth"))
    if marks < 3 and not _STREAK_UNITS.isdisjoint(present) and not _STREAK_WORDS.isdisjoint(present):
        marks += any(_streak_at(words, k) for unit in _STREAK_UNITS.intersection(present) for k in _at(words, unit))
    if marks < 3 and not _NOW_ANCHORS.isdisjoint(present):
        marks += _then_and_now(words)
    return min(marks, 3)


def _told_as_past(words: list[str], cues: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Cues (start, end, level, note) with those of a recovery story told in the past as CARE.
    Each cue's sentence is read first (few cues, short sentences); the post's recovery marks only
    when some cue could be told so."""
    if not cues or len(words) > RECOVERY_WORDS:
        return cues
    past: list[bool] = []
    sentences: dict[tuple[int, int, bool], bool] = {}
    for s, e, level, _ in cues:
        span = (*_sentence_span(words, s, e), level in _DISTANT_LEVELS)
        told = sentences.get(span)
        if told is None:
            told = sentences[span] = _told_sentence(words[span[0]:span[1]], span[2])
        past.append(level != CARE and told)
    if not any(past) or not _recovery_marks(words):
        return cues
    return [(s, e, CARE, note + " (told in the past, in a post about recovery)") if p else (s, e, level, note)
            for (s, e, level, note), p in zip(cues, past)]


def _told_sentence(sentence: list[str], distant: bool) -> bool:
    """The poster's own sentence (an I, me, my, or a streak), told in the past (a distant past when
    `distant`: an act or a plan) or as faded or as recovery, with no present crisis word."""
    streak = not _STREAK_UNITS.isdisjoint(sentence) and any(_streak_at(sentence, k) for k in range(len(sentence)))
    if _FIRST_PERSON.isdisjoint(sentence) and not streak and not _THIRD_PERSON.isdisjoint(sentence):
        return False  # "she stopped her meds two weeks ago": someone else's crisis, not a recovery
    faded = not _FADED.isdisjoint(sentence) or any(
        (x, y) == ("no", "longer") for x, y in zip(sentence, islice(sentence, 1, None)))
    if distant:
        told = streak or faded or _distant_past(sentence)
    else:
        told = (streak or faded or not _RECOVERY_TOLD.isdisjoint(sentence) or any(map(_past_word, sentence)))
    return told and not _crisis_now(sentence)


def _distant_past(sentence: list[str]) -> bool:
    """A past far from now in the sentence: ago, used (to), previously, formerly, a year, "back
    then", "last year", "at the time", "when I was", "those days"."""
    if not _STRONG_PAST.isdisjoint(sentence) or "previously" in sentence or "formerly" in sentence or any(
            len(w) == 4 and _PAST_YEAR.match(w) is not None for w in sentence):
        return True
    for k, w in enumerate(sentence[:-1]):  # an age: "at 14", "aged 15", "age 16" ("at 3 in the morning" is no age)
        if w in ("at", "aged", "age") and sentence[k + 1].isdigit() and 5 <= int(sentence[k + 1][:3]) <= 99 and (
                k + 2 >= len(sentence) or sentence[k + 2] not in ("in", "am", "pm", "oclock")):
            return True
    return any((x, y) in _DISTANT_PAIRS and (x, y) != ("at", "the") or (x, y, z) == ("at", "the", "time")
               for x, y, z in zip(sentence, islice(sentence, 1, None), islice(sentence, 2, None)))


def _recovery_story(words: list[str]) -> bool:
    """A post that reads as a recovery story throughout: two recovery marks or more and no crisis
    word of the present anywhere (see _NOW_WORDS); "never again" does not count as "again"."""
    if len(words) > RECOVERY_WORDS or _recovery_marks(words) < 2:
        return False
    for k, w in enumerate(words):
        if w in _NOW_WORDS and not (w == "again" and k and words[k - 1] in _NEVER_AGAIN) and not (
                w == "anymore" and any(x in _NEGATORS for x in words[max(0, k - 5):k])):
            return False
    return True


@functools.cache
def default_detector() -> Detector:
    return Detector(default_lexicon(), default_classifier(), concepts=default_concepts())


def _load_default() -> tuple[Detector, Exception | None]:
    """The default detector, read at import so assess() does no I/O. A model file this code
    cannot read leaves the lexicons working (tools/train_selfharm.py needs them to retrain) and
    makes every assess() raise it: ingest then flags each post `risk` (an error), loudly."""
    try:
        return default_detector(), None
    except ValueError as e:
        return Detector(default_lexicon(), None, concepts=default_concepts()), e


_DEFAULT, _MODEL_ERROR = _load_default()


def assess(text: str) -> SafetyFlag | None:
    """The safety flag for a post, or None. Pure: the lexicon and the model were read at import."""
    if _MODEL_ERROR is not None:
        raise _MODEL_ERROR
    return _DEFAULT.assess(text)


def assess_lexicon(text: str) -> SafetyFlag | None:
    """Round 1's pattern lexicon alone (no concepts, no classifier): the bench's reference."""
    return _DEFAULT.lexicon.assess(text)


def assess_cues(text: str) -> SafetyFlag | None:
    """Patterns and concepts with their guards, no classifier: what the lexicons alone flag."""
    if not text:
        return None
    words, quoted = _DEFAULT.reader.words(text)
    cues = _DEFAULT.cues(text, words, quoted)
    return _flag(text, words, cues) if cues else None
