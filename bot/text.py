"""The text tokens harkbot reads, in one place: folding, word tokens, the cased tokens the
sentiment rules read, and `Text`, a text with those cuts made once. Pure.

Two cuts, because two kinds of reader:

* word tokens (`tokenize` -> `Tokens`): folded (NFKC, case-folded, no invisibles), whole
  words with combining marks kept, #hashtags and @handles marked. Brand queries, search,
  the history's term index and the platform listeners' local filters read these.
* cased tokens (`cased_tokens`): the words as written, each with whether it was in
  capitals, emoji and emoticons kept whole, URLs and @handles dropped, #CamelCase split,
  sentence ends marked. The sentiment rules read these (capitals, "!", ":)" move a score).

`Text(s)` is `s` (a str: any stage that wants plain text takes it as it is) carrying its
cuts, each made on first use: ingest makes one Text per mention, and matching every brand,
scoring and anything else that reads words share the same cuts. `Text.folded` and
`Text.words` are what a word-level reader such as the self-harm pass needs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Invisible characters let "Mind\u200bful" dodge a word match; drop them all. These are
# Unicode's default-ignorable code points: zero-width spaces and joiners, soft hyphen, bidi
# controls (embeddings, overrides, and the isolates U+2066-2069 that current editors insert),
# the Arabic letter mark, invisible operators, variation selectors, Hangul fillers, tag chars.
_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
INVISIBLE = {cp: None for low, high in _IGNORABLE for cp in range(low, high + 1)}  # for str.translate


@functools.cache
def mark_class() -> str:
    """The combining marks (Mn, Mc, Me) as the inside of a regex character class, in ranges.
    Built once, on first use: scanning the code points takes ~50 ms."""
    marks: list[list[int]] = []
    for cp in range(0x0300, 0x1F000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if marks and marks[-1][1] == cp - 1:
                marks[-1][1] = cp
            else:
                marks.append([cp, cp])
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in marks)


@functools.cache
def word_pattern() -> re.Pattern[str]:
    r"""A word is a \w followed by \w or combining marks: `\w` alone leaves marks out, which
    would cut "नमस्ते", "สวัสดี" or "مَرْحَبًا" into fragments (and make `#नमस्ते` "not one
    word"). Groups: the # or @ before it (or ""), the word."""
    return re.compile(rf"([#@]?)(\w+(?:[{mark_class()}]+\w*)*)")  # marks only tried at a \w run's end: fast


_ASCII_WORD = re.compile(r"([#@]?)(\w+)")


def fold(text: str) -> str:
    """The form both queries and texts are compared in: NFKC, case-folded, no invisibles."""
    # Invisibles go first, so "e\u200b\u0301" still composes to "é". casefold() turns the
    # Turkish "İ" into "i" + a combining dot, which would make "İstanbul" miss "istanbul".
    folded = unicodedata.normalize("NFKC", text.translate(INVISIBLE)).casefold()
    return folded.replace("i\u0307", "i") if "\u0307" in folded else folded


def folded_of(text: str) -> str:
    """`fold(text)`, by the fast path where it gives the same: ASCII folds to lower case."""
    return text.lower() if text.isascii() else fold(text)


@dataclass(frozen=True)
class Tokens:
    """A text's word tokens: what queries look at."""

    words: tuple[str, ...]  # every token without its # or @, in order (for phrases)
    hashtags: frozenset[str]
    handles: frozenset[str]

    @property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.words)

    @functools.cached_property
    def spaced(self) -> str:
        """The words joined by single spaces, with one before and after: no word holds a space,
        so `" side effects "` is in it exactly when the phrase is in the words, and `" calm"`
        exactly when a word starts with "calm". Phrase and prefix queries look here, in C."""
        return " " + " ".join(self.words) + " "


def tokenize(text: str) -> Tokens:
    """The word tokens of `text` (a Text's own, made once, when it is one)."""
    if isinstance(text, Text):
        return text.tokens
    return _word_tokens(text, folded_of(text))


def _word_tokens(text: str, folded: str) -> Tokens:
    # ASCII needs no normalising (folding is lower-casing) and holds no combining marks, so the
    # plain pattern gives the same tokens: most posts take this fast path.
    found = (_ASCII_WORD if text.isascii() else word_pattern()).findall(folded)
    words = tuple([word for _prefix, word in found])
    if "#" not in folded and "@" not in folded:  # most posts: no tag or handle to pick out
        return Tokens(words, _NONE, _NONE)
    hashtags: set[str] = set()
    handles: set[str] = set()
    for prefix, word in found:
        if prefix == "#":
            hashtags.add(word)
        elif prefix == "@":
            handles.add(word)
    return Tokens(words, frozenset(hashtags), frozenset(handles))


_NONE: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- cased tokens

BOUNDARY = "\x00"  # a sentence boundary in the cased token list
_CHUNK_WORDS = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
_CAMEL = re.compile(r"[A-Z][a-z]+|[a-z]+|[A-Z]+(?![a-z])|\d+")
_SENTENCE_END = ".!?;"
_TRAILING = "\"')]}*”’"


def cased_tokens(text: str, emoji: dict[str, float] | frozenset[str],
                 emoticons: frozenset[str]) -> tuple[list[str], list[bool]]:
    """Lower-case tokens (words, emoticons, the characters of `emoji`, BOUNDARY at sentence
    ends) and, for each, whether it was written in capitals. URLs and @handles are dropped;
    #CamelCase tags split. `emoji` and `emoticons` are what the reader's lexicon knows.
    (A reader that cuts many texts keeps a `CasedCutter`: the same cut, remembered per chunk.)"""
    toks: list[str] = []
    caps: list[bool] = []
    for chunk in text.split():
        chunk_toks, chunk_caps = _cut_chunk(chunk, emoji, emoticons)
        toks += chunk_toks
        caps += chunk_caps
    return toks, caps


def _cut_chunk(chunk: str, emoji: dict[str, float] | frozenset[str],
               emoticons: frozenset[str]) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The cased tokens of one whitespace-separated chunk: they depend on nothing else."""
    first = chunk[0]
    if first == "@" or chunk.startswith(("http", "www.")):
        return ((BOUNDARY,), (False,)) if chunk.rstrip(_TRAILING)[-1:] in _SENTENCE_END else ((), ())
    toks: list[str] = []
    caps: list[bool] = []
    if not chunk.isascii():
        found = [ch for ch in chunk if ch in emoji]
        if found:
            toks.extend(found)
            caps.extend([False] * len(found))
        chunk = chunk.replace("’", "'")
    if len(chunk) <= 4 and not chunk[0].isalnum() and (chunk in emoticons or chunk.lower() in emoticons):
        toks.append(chunk if chunk in emoticons else chunk.lower())
        caps.append(False)
        return tuple(toks), tuple(caps)
    if first == "#" and len(chunk) > 2 and not chunk.isupper() and any(c.isupper() for c in chunk[2:]):
        words = _CAMEL.findall(chunk[1:])
    else:
        words = _CHUNK_WORDS.findall(chunk)
    for w in words:
        toks.append(w.lower())
        caps.append(len(w) > 1 and w.isupper() and not w.isdigit())
    if chunk.rstrip(_TRAILING)[-1:] in _SENTENCE_END:
        toks.append(BOUNDARY)
        caps.append(False)
    return tuple(toks), tuple(caps)


class CasedCutter:
    """`cased_tokens` for one reader's emoji and emoticons, each chunk's cut remembered.

    A chunk ("thanks", "GREAT!", "#NeverAgain") cuts the same wherever it stands, and the
    chunks of social text recur (Zipf), so most chunks cost one dict lookup instead of the
    regex and the per-word case tests. The memo is bounded: when full it starts over."""

    LIMIT = 100_000  # chunks remembered; ~15 MB at the most

    def __init__(self, emoji: dict[str, float] | frozenset[str], emoticons: frozenset[str]):
        self.emoji = emoji
        self.emoticons = emoticons
        self._memo: dict[str, tuple[tuple[str, ...], tuple[bool, ...]]] = {}

    def __reduce__(self):
        # Sent to a prepare worker without the memo: it fills again in a few pages.
        return (CasedCutter, (self.emoji, self.emoticons))

    def __call__(self, text: str) -> tuple[list[str], list[bool]]:
        memo = self._memo
        toks: list[str] = []
        caps: list[bool] = []
        for chunk in text.split():
            cut = memo.get(chunk)
            if cut is None:
                cut = _cut_chunk(chunk, self.emoji, self.emoticons)
                if len(memo) >= self.LIMIT:
                    memo.clear()
                memo[chunk] = cut
            toks += cut[0]
            caps += cut[1]
        return toks, caps


# --------------------------------------------------------------------------- Text


class Text(str):
    """A str that keeps its cuts: each made on first use, then read by every stage.

    Build one per mention (`Text(mention.full_text)`) and hand the same object to brand
    matching, the scorer and any other reader; a stage given a plain str cuts it itself.
    """

    @functools.cached_property
    def folded(self) -> str:
        """`fold(self)`: NFKC, case-folded, no invisibles."""
        return folded_of(self)

    @functools.cached_property
    def tokens(self) -> Tokens:
        """The word tokens (`tokenize`)."""
        return _word_tokens(self, self.folded)

    @property
    def words(self) -> tuple[str, ...]:
        """The folded words in order, without their # or @."""
        return self.tokens.words

    def __reduce__(self):
        # Sent to a worker process as plain text: the cuts are cheaper to make again than to pickle.
        return (Text, (str(self),))


def as_text(text: str) -> Text:
    """`text` as a Text (itself when it already is one)."""
    return text if isinstance(text, Text) else Text(text)
