"""A seeded, varied corpus of texts for the self-harm detector's same-output tests
(tests/test_selfharm_speed.py), and the writer of its frozen outputs.

The texts and what the detector said about each are frozen together in
tests/data/selfharm_expected.jsonl, so the test needs neither the generator's sources (case files
that may be edited later) nor git history nor ../shared. The corpus mixes:

* every hand-written case (tests/data and bench/data case files) and a sample of demo posts;
* each pattern of bot/lexicon/selfharm.tsv and each rule of selfharm_concepts.tsv instantiated
  with random alternatives, gaps and filler (so every pattern and rule is matched somewhere);
* those mutated the ways people write and the reader undoes: leetspeak, masks, stretches,
  spelled-out letters, typos, curly quotes, quotes in a post about a song, joking markers,
  negations, someone else as subject, recovery and medicine contexts, case, line ends;
* hostile Unicode: invisibles inside words, fullwidth forms, combining marks, Turkish dotted I,
  bidi controls, Unicode spaces and line separators, lone surrogates, emoji sequences;
* word salads of the lexicons' vocabulary with random punctuation, random code points, long
  Reddit-length posts joined from many cases, and a few pathological ones (one cue 3,000 times).

    .venv/bin/python -m tests.selfharm_corpus --write   # regenerate the frozen outputs

Regenerate only when a change is MEANT to change what the detector says (and say so in the
commit): the point of the file is that a speed-up does not.
"""

from __future__ import annotations

import json
import random
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPECTED = REPO / "tests" / "data" / "selfharm_expected.jsonl"
SEED = "harkbot-14-speed"
CASE_FILES = (REPO / "tests" / "data" / "selfharm_cases.tsv", REPO / "bench" / "data" / "selfharm_cases.tsv",
              REPO / "bench" / "data" / "selfharm_cases_v2.tsv", REPO / "bench" / "data" / "selfharm_cases_v3.tsv")

FILLER = ("really", "just", "so", "the", "my", "today", "and", "it", "like", "honestly", "again", "now",
          "i", "not", "never", "he", "she", "you", "friend", "lol", "because", "but", "ok", "tonight",
          "pills", "song", "used", "years", "ago", "proud", "better", "sertraline", "since", "how", "help")
INVISIBLES = ("\u200b", "\u00ad", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\u034f", "\ufe0f")
SPACES = (" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2028", "\u3000", "\n\n", " \n ")
MARKS = (" lol", " lmao", " 😂", " 💀", " /s", " hahahaha", " jk", " xD", " 🤣🤣")
PUNCT = (".", ",", "!", "?", ";", ":", "…", "!!!", "...", " - ", "'", '"', "“", "”", "’", "«", "»")
EMOJI = ("🪦", "🔫", "💊", "🔪", "🎵", "🎶", "👩‍👩‍👧", "🏳️‍🌈", "❤️", "🙃")
CONTEXTS = ("my friend said he wants to {}", "she told me {}", "I would never {}", "I'm not going to {}",
            "not saying {}", "two years ago: {}. today I am proud of my recovery", "since starting sertraline {}",
            "how do I help someone who says {}", "this song \"{}\" is on repeat 🎶", "\"{}\" from the movie",
            "{} lol", "{} 😂😂", "honestly {} rn", "@someone {} #mentalhealth", "{}\n\nedit: thanks everyone",
            "I can't stop thinking about {}", "{}, i dont know", "idk {} tbh", "{}!!!", "{}?")
LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "l": "|1"}


def _case_texts() -> list[str]:
    out = []
    for path in CASE_FILES:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                text = line.split("\t")[0]
                if text.strip() and text.strip().lower() != "text":
                    out.append(text)
    return out


def _demo_texts(rng: random.Random, n: int) -> list[str]:
    from listeners.demo import generate

    mentions = generate(datetime(2024, 1, 1, tzinfo=timezone.utc), days=6)
    texts = sorted({f"{m.title}\n{m.text}" if m.title else m.text for m in mentions})
    return rng.sample(texts, min(n, len(texts)))


def _pattern_texts(rng: random.Random) -> list[str]:
    """Each lexicon pattern, made into a text: random alternatives, gaps filled, optional words
    sometimes, a number for <num>, a clause end for $."""
    from bot import selfharm

    out = []
    for p in selfharm.default_lexicon().patterns:
        for _ in range(1 if p.level in ("none", selfharm.CARE) else 2):
            words = []
            for el in p.elements:
                if el.kind == "gap":
                    words += rng.sample(FILLER, rng.randint(0, el.gap))
                elif el.kind == "num":
                    words.append(str(rng.choice((2, 3, 10, 30, 100, 500))))
                elif el.kind == "end":
                    words.append(rng.choice((".", "!", "\n", "")))
                elif el.optional and rng.random() < 0.5:
                    continue
                elif el.or_end and rng.random() < 0.3:
                    words.append(".")
                else:
                    options = sorted(el.words) + [pre + rng.choice(("", "s", "ing", "ed")) for pre in el.prefixes]
                    words.append(rng.choice(options))
            text = " ".join(words)
            if p.first_person and rng.random() < 0.7:
                text = "I " + text
            out.append(text)
    return out


def _concept_texts(rng: random.Random) -> list[str]:
    """Each concept rule, made into a text: an entry of each class, within the window, with filler."""
    from bot import selfharm

    concepts = selfharm.default_concepts()
    out = []
    for rule in concepts.rules:
        for _ in range(3):
            parts = []
            for name in rule.concepts:
                entry = rng.choice(concepts.classes[name])
                parts.append(entry.rstrip("*").replace("_", " ") + (rng.choice(("", "ing", "s")) if entry.endswith("*") else ""))
            if not rule.ordered:
                rng.shuffle(parts)
            text = ""
            for part in parts:
                text += part + " " + " ".join(rng.sample(FILLER, rng.randint(0, max(0, min(3, rule.window // 4))))) + " "
            if rule.first_person and rng.random() < 0.7:
                text = "i " + text
            out.append(" ".join(text.split()))
    return out


def _mutate_word(rng: random.Random, w: str) -> str:
    if len(w) < 3 or not w.isalpha():
        return w
    kind = rng.randrange(8)
    i = rng.randrange(1, len(w))
    if kind == 0:
        return "".join(rng.choice(LEET[c]) if c in LEET and rng.random() < 0.5 else c for c in w)
    if kind == 1:
        return w[:i] + "*" + w[i + 1:]
    if kind == 2:
        return w[:i] + w[i] * rng.randint(3, 6) + w[i + 1:]
    if kind == 3:
        return rng.choice((".", "-")).join(w)
    if kind == 4:
        return w[:i - 1] + w[i:]  # a letter missing
    if kind == 5:
        return w[:i - 1] + w[i] + w[i - 1] + w[i + 1:] if i < len(w) else w  # two swapped
    if kind == 6:
        return w[:i] + rng.choice(INVISIBLES) + w[i:]
    return w.upper()


def _hostile_unicode(rng: random.Random, text: str) -> str:
    kind = rng.randrange(7)
    if kind == 0:  # fullwidth forms: NFKC folds them back
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.7 else c for c in text)
    if kind == 1:  # combining marks on vowels
        return "".join(c + ("\u0301" if c in "aeiou" and rng.random() < 0.3 else "") for c in text)
    if kind == 2:
        return text.replace("i", "İ", 2).replace("I", "İ", 1)
    if kind == 3:  # bidi controls around the text
        return "\u202e" + text + "\u202c" if rng.random() < 0.5 else "\u2067" + text + "\u2069"
    if kind == 4:
        return "".join(c if c != " " else rng.choice(SPACES) for c in text)
    if kind == 5:
        return text.replace("'", "’").replace('"', "“", 1).replace('"', "”", 1) + rng.choice(("", " ’", " “x”"))
    return text + rng.choice(EMOJI) * rng.randint(1, 3)


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(6)
        if kind == 0:
            words = text.split(" ")
            k = rng.randrange(len(words))
            words[k] = _mutate_word(rng, words[k])
            text = " ".join(words)
        elif kind == 1:
            text = rng.choice(CONTEXTS).format(text)
        elif kind == 2:
            text = _hostile_unicode(rng, text)
        elif kind == 3:
            text += rng.choice(MARKS)
        elif kind == 4:
            words = text.split(" ")
            words.insert(rng.randrange(len(words) + 1), rng.choice(PUNCT))
            text = " ".join(words)
        else:
            text = rng.choice((str.upper, str.lower, str.title, str.capitalize))(text)
    return text


def _vocabulary() -> list[str]:
    from bot import selfharm

    words = set(selfharm.default_lexicon().vocabulary) | set(selfharm.default_concepts().vocabulary)
    words |= set(selfharm._EXPAND) | set(FILLER) | {"lol", "kidding", "song", "lyrics", "\"", "“", "”", "'"}
    return sorted(words)


def _salad(rng: random.Random, vocabulary: list[str]) -> str:
    n = rng.choice((3, 5, 8, 12, 20, 40, 80, 150))
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.75:
            out.append(rng.choice(vocabulary))
        elif r < 0.85:
            out.append(rng.choice(PUNCT))
        elif r < 0.9:
            out.append(rng.choice(SPACES).strip(" ") or "\n")
        else:
            out.append(_mutate_word(rng, rng.choice(vocabulary)))
    return " ".join(out)


_LONE_PAIR = re.compile("([\ud800-\udbff])(?=[\udc00-\udfff])")


def _random_code_points(rng: random.Random) -> str:
    ranges = ((0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F),
              (0xD800, 0xDFFF), (0xE0000, 0xE007F))
    out = []
    for _ in range(rng.choice((1, 5, 20, 80, 300))):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
        if rng.random() < 0.2:
            out.append(" ")
    # A high surrogate just before a low one would come back from the JSON file as one character
    # (another text than the one written): a space between them keeps each one lone.
    return _LONE_PAIR.sub("\\1 ", "".join(out))


def _hostile() -> list[str]:
    return ["die " * 1500, "a" * 8000, "k" + "i" * 3000 + "ll myself", '"' * 500 + "kill myself" + '"' * 500,
            "." * 3000, "\n" * 1000 + "i want to die", "🎵" * 200 + ' "kill myself"', "i want to " * 300 + "die",
            "iwanttodie" * 500, "a" + "\u0301" * 500, "İ" * 300, "\u200b" * 500 + "kms", "lol " * 1000 + "kms",
            "k.i.l.l m.y.s.e.l.f " * 100, "not " * 500 + "kill myself", "s*icide " * 500, "", " ", "\n",
            "I want to kill myself", "\ud800kill myself\udfff", "kill\u2028myself", "kill\x00myself", "ｋｍｓ"]


def build() -> list[str]:
    rng = random.Random(SEED)
    cases = _case_texts()
    base = cases + _demo_texts(rng, 300) + _pattern_texts(rng) + _concept_texts(rng)
    texts = list(base)
    texts += [mutate(rng, rng.choice(base)) for _ in range(800)]
    vocabulary = _vocabulary()
    texts += [_salad(rng, vocabulary) for _ in range(400)]
    texts += [_random_code_points(rng) for _ in range(200)]
    # Reddit-length posts: many cases in one, some mutated, paragraphs (130: with round 4's
    # lexicon the base holds more short pattern texts, so each joined post is a little shorter)
    for _ in range(130):
        parts = [rng.choice(base) if rng.random() < 0.7 else mutate(rng, rng.choice(base)) for _ in range(rng.randint(6, 30))]
        texts.append(rng.choice((". ", "\n\n", " ", "\n", "! ")).join(parts))
    texts += _hostile()
    seen: dict[str, None] = {}
    for t in texts:
        seen.setdefault(t)
    return list(seen)


def describe(flag, reasons: dict[str, int]) -> list | None:
    """Everything a flag says, as JSON: level, evidence, reason (its number in `reasons`, which
    grows: the file holds the list once), confidence, source, P(risk)."""
    if flag is None:
        return None
    return [flag.level, list(flag.cues), reasons.setdefault(flag.reason, len(reasons)), flag.confidence,
            flag.source, flag.probability]


def outputs(selfharm, text_type, text: str, reasons: dict[str, int]) -> dict:
    """What each public entry point says about a text (`selfharm` is the module under test,
    `text_type` its bot.text.Text); "assess_text" (assess on a Text) only when it differs."""
    got = {"assess": describe(selfharm.assess(text), reasons),
           "cues": describe(selfharm.assess_cues(text), reasons),
           "lexicon": describe(selfharm.assess_lexicon(text), reasons),
           "gate": selfharm.may_be_at_risk(text), "p": selfharm.default_classifier().probability(text)}
    on_text = describe(selfharm.assess(text_type(text)), reasons)
    if on_text != got["assess"]:
        got["assess_text"] = on_text
    return got


def read(path: Path = EXPECTED) -> tuple[list[str], list[dict]]:
    """(the reasons, the rows) of the frozen file."""
    with open(path, encoding="utf-8") as f:
        reasons = json.loads(f.readline())["reasons"]
        return reasons, [json.loads(line) for line in f]


def write(path: Path = EXPECTED) -> int:
    from bot import selfharm
    from bot.text import Text

    reasons: dict[str, int] = {}
    rows = [json.dumps({"text": text, **outputs(selfharm, Text, text, reasons)}, ensure_ascii=True)
            for text in build()]
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"reasons": list(reasons)}, ensure_ascii=True) + "\n")
        f.writelines(row + "\n" for row in rows)
    return len(rows)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    print(f"{write()} texts -> {EXPECTED.relative_to(REPO)}")
