"""Every output of the pure ingest stages, one JSON line per input, for diffing two checkouts.

    .venv/bin/python bench/stage_outputs.py --out /tmp/after.jsonl
    .venv/bin/python bench/stage_outputs.py --root /tmp/base --out /tmp/before.jsonl
    cmp /tmp/before.jsonl /tmp/after.jsonl            # or diff, to see where

A speed-up of normalise, brand matching or the scorers must leave their outputs byte-identical;
this writes all of them, so two checkouts (`--root`: the one imported, default this one) can be
compared in full:

* for each mention of the demo stream (bench/ingest.py's, --n of them): the normalised mention
  (every field, the raw payload too), the brands it matches under the demo config, its fold and
  word tokens, the sentiment rules' cased tokens, and the scores (label, polarity, terms) of
  `harkbot`, `harkbot-rules` and both again with a domain lexicon (extra and neutral terms);
* the same text outputs for every text of the labelled sets in ../shared/data (sentiment: all
  of them, UMSAB's seven languages too; selfharm dev.csv) when present, tests/data's texts, and
  generated odd texts (invisibles, combining marks, emoji, emoticons, capitals, elongation).

`--sample` writes the small set tests/test_sentiment_outputs.py checks, inputs beside outputs
(no ../shared, no generator needed to read it): tests/data's texts, the odd texts and the first
300 demo mentions. Write it again (tests/data/stage_outputs.jsonl) only when an output is meant
to change, and say so in the commit.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SHARED = HERE.parent / "shared" / "data"
DOMAIN = {"extra": {"waitlist": -1.5, "no show": -1.2, "on hold": -1.0}, "neutral": ["depression", "side effects", "pain"]}


def odd_texts(n: int = 400, seed: int = 15) -> list[str]:
    """Texts built to reach the tokenisers' corners."""
    rng = random.Random(seed)
    pieces = ["good", "GOOD", "goooood", "baaad", "not", "never", "so", "very", "but", "kinda", "no", "least",
              "thanks", "Thanks", "for", "the", "3", "hour", "hours", "45mins", "2h", "hold", "delayed", "cancelled",
              "again", "anxiety", "is", "back", "pain", "subsided", "went", "away", "reduced", "my", "depression",
              ":)", ":(", "<3", ":-D", ":'(", "😀", "😡", "❤️", "🙏🏽", "#MindfulApp", "#mindful", "#CALM", "@Mindful",
              "@calm_app", "https://x.co/a", "www.e.com", "Mind\u200bful", "İstanbul", "café", "cafe\u0301", "नमस्ते",
              "สวัสดี", "مَرْحَبًا", "ﬁne", "Ｗｉｄｅ", "don't", "don’t", "can't", "isn't", "it's", "wait!", "why??",
              "really?!", "ok.", "fine;", "(great)", "\"bad\"", "***", "...", "\n", "\t", "side", "effects", "waitlist",
              "no show", "kiss of death", "yeah right", "to die for", "12", "three", "hours", "ΣΊΣΥΦΟΣ", "ß", "ǅ",
              "\r\n", "\r", "\x00", "\x07", "\x1c", "\x7f", "\u00a0", "\ud800", "\udfff\ud83d", "\ud83d\ude00", "   ",
              "\n\n\n", "\x0b", "\x0c"]
    out = []
    for _ in range(n):
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 30))]
        out.append(rng.choice([" ", " ", "", "  "]).join(words) if rng.random() < 0.9 else " ".join(words))
    return out


def tests_data_texts() -> list[str]:
    out = []
    for line in (HERE / "tests" / "data" / "selfharm_cases.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and not line.startswith("text\t"):
            out.append(line.split("\t")[0])
    return out


def shared_texts() -> list[tuple[str, str]]:
    """(set, text) for every labelled text in ../shared/data, or [] when it is absent."""
    root = SHARED / "sentiment"
    if not root.is_dir():
        return []
    sys.path.insert(0, str(HERE / "bench"))
    import sentiment as bench_sentiment  # bench/sentiment.py's loaders

    out = [(key, ex.text) for key in bench_sentiment.LOADERS for ex in bench_sentiment.LOADERS[key][1](root)]
    for lang in sorted(p.name for p in (root / "umsab").iterdir() if p.is_dir()):
        for name in ("train_text.txt", "val_text.txt"):
            path = root / "umsab" / lang / name
            if path.exists():
                out += [(f"umsab/{lang}", t) for t in path.read_text(encoding="utf-8").split("\n") if t.strip()]
    dev = SHARED / "selfharm" / "dev.csv"
    if dev.exists():
        with open(dev, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            col = next(c for c in reader.fieldnames or () if c in ("text", "post", "body"))
            out += [("selfharm/dev", row[col]) for row in reader]
    return out


def jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def stage_fns() -> dict:
    """The stages of the `bot` importable now, and the scorers and brands they run with."""
    from bot.demo.replay import demo_config
    from bot.normalise import clean, normalise, one_line, storable_json
    from bot.pipeline import match_brands
    from bot.sentiment import DomainLexicon, HarkbotRulesScorer, HarkbotScorer, base_lexicon
    from bot.text import Text, cased_tokens, fold, tokenize

    domain = DomainLexicon(DOMAIN["extra"], frozenset(DOMAIN["neutral"]))
    lex = base_lexicon()
    return {"normalise": normalise, "clean": clean, "one_line": one_line, "storable_json": storable_json,
            "match_brands": match_brands, "Text": Text, "fold": fold, "tokenize": tokenize,
            "cased": lambda text: cased_tokens(text, lex.emoji, lex.emoticons), "brands": demo_config().brands,
            "scorers": [HarkbotScorer(), HarkbotRulesScorer(), HarkbotScorer(lexicon=domain),
                        HarkbotRulesScorer(lexicon=domain)]}


def text_record(fns: dict, text: str) -> dict:
    """What matching and the scorers give for one text (every other scorer is handed the
    Text the matching cut, as prepare_one does; the others a plain str)."""
    t = fns["Text"](text)
    tok = fns["tokenize"](t)
    assert fns["tokenize"](str(text)) == tok, "a Text and a str must cut the same"
    return jsonable({"clean": fns["clean"](text), "one_line": fns["one_line"](text, 200),
                     "json": fns["storable_json"]({"t": text, text[:300]: [text, 1, None, True, 2.5]}),
                     "fold": fns["fold"](text), "words": tok.words, "tags": sorted(tok.hashtags),
                     "handles": sorted(tok.handles), "cased": fns["cased"](text),
                     "brands": fns["match_brands"](t, fns["brands"]),
                     "scores": [[s.label, repr(s.polarity), s.scorer, s.terms]
                                for s in (scorer.score(t if i % 2 else text) for i, scorer in enumerate(fns["scorers"]))]})


def mention_record(fns: dict, mention) -> dict:
    norm = fns["normalise"](mention)
    rec = {"normalised": None if norm is None else {f.name: jsonable(getattr(norm, f.name)) for f in fields(norm)}}
    if norm is not None:
        rec.update(text_record(fns, norm.full_text))
    return rec


def mention_input(mention) -> dict:
    return {f.name: jsonable(getattr(mention, f.name)) for f in fields(mention)}


def mention_from(fields_: dict):
    from bot.models import Mention

    return Mention(**{**fields_, "created_at": datetime.fromisoformat(fields_["created_at"])})


def line(record: dict) -> str:
    # ASCII escapes: a lone surrogate in an input (the odd texts have some) must not stop the write
    return json.dumps(record, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to import (default: this one)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=20_000, help="demo mentions (default 20000)")
    parser.add_argument("--sample", action="store_true",
                        help="the small set the test checks, inputs with outputs (tests/data/stage_outputs.jsonl)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.root.resolve()))
    fns = stage_fns()
    from listeners.demo import generate

    assert Path(sys.modules["bot.sentiment"].__file__).is_relative_to(args.root.resolve()), "imported the wrong tree"
    n = SAMPLE_MENTIONS if args.sample else args.n
    mentions = []
    i = 0
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    while len(mentions) < n:
        mentions += generate(start + timedelta(weeks=i), days=3, seed=7 + i)
        i += 1
    texts: list[tuple[str, str]] = [("tests/data", t) for t in tests_data_texts()] + [("odd", t) for t in odd_texts()]
    if not args.sample:
        texts += shared_texts()
    with open(args.out, "w", encoding="utf-8") as out:
        for m in mentions[:n]:
            if args.sample:
                out.write(line({"mention": mention_input(m), "expect": mention_record(fns, m)}))
            else:
                out.write(line({"id": m.key, **mention_record(fns, m)}))
        for where, text in texts:
            if args.sample and json.loads(json.dumps(text)) != text:
                continue  # two lone halves that JSON would read back as one pair: not the same input
            if args.sample:
                out.write(line({"text": text, "expect": text_record(fns, text)}))
            else:
                out.write(line({"set": where, "text": text, **text_record(fns, text)}))
    print(f"{n} mentions and {len(texts)} texts -> {args.out}", file=sys.stderr)
    return 0


SAMPLE_MENTIONS = 300

if __name__ == "__main__":
    sys.exit(main())
