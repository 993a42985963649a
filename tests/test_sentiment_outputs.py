"""The pure ingest stages give, to the byte, what they gave before they were made faster.

tests/data/stage_outputs.jsonl holds inputs (300 demo mentions, the hand-written self-harm
cases' texts, generated odd texts: invisibles, combining marks, emoji, emoticons, capitals,
elongation, negation, waits) beside every output of normalise, the word and cased tokens,
brand matching under the demo config and the harkbot and harkbot-rules scores (label,
polarity, terms; with and without a domain lexicon), as the code gave them before its
speed-ups (#15). bench/stage_outputs.py wrote it and diffs the full demo stream and every
labelled set the same way; a change meant to move an output writes the file again, in its
own commit that says so.
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "stage_outputs.jsonl"


def _tool():
    spec = importlib.util.spec_from_file_location("stage_outputs", ROOT / "bench" / "stage_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    return _tool()


@pytest.fixture(scope="module")
def fns(tool):
    return tool.stage_fns()


def _records():
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def test_the_sample_covers_mentions_texts_and_every_scorer():
    records = _records()
    mentions = [r for r in records if "mention" in r]
    texts = [r for r in records if "text" in r]
    assert len(mentions) >= 300 and len(texts) >= 500
    assert any(r["expect"]["brands"] for r in mentions) and any(not r["expect"].get("brands") for r in mentions)
    labels = {s[0] for r in records if "scores" in r["expect"] for s in r["expect"]["scores"]}
    assert labels == {"negative", "neutral", "positive"}
    assert any(not t["text"].isascii() for t in texts)


def test_every_output_is_what_it_was(tool, fns):
    differ = []
    for number, record in enumerate(_records(), 1):
        if "mention" in record:
            got = json.loads(tool.line(tool.mention_record(fns, tool.mention_from(record["mention"]))))
            what = record["mention"]["platform"] + ":" + record["mention"]["id"]
        else:
            got = json.loads(tool.line(tool.text_record(fns, record["text"])))
            what = repr(record["text"][:60])
        if got != record["expect"]:
            keys = sorted(k for k in set(got) | set(record["expect"]) if got.get(k) != record["expect"].get(k))
            differ.append(f"{SAMPLE.name}:{number} ({what}): {', '.join(keys)} differ")
    assert not differ, "\n".join(differ[:20]) + (
        "\nan optimisation changed an output; if the change is meant, write the sample again with "
        "bench/stage_outputs.py --sample --out tests/data/stage_outputs.jsonl and say why in the commit")
