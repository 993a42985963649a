"""bot.selfharm's speed-ups say exactly what the detector said before them.

* Frozen outputs: tests/data/selfharm_expected.jsonl holds ~4,800 varied texts (every case file,
  each lexicon pattern and concept rule instantiated, mutations, hostile Unicode, word salads,
  random code points, Reddit-length posts; see tests/selfharm_corpus.py) with what assess,
  assess_cues, assess_lexicon, may_be_at_risk and the classifier said about each, written by the
  detector as it was before the speed work (commit 90cc9dc). Every field must match exactly.
* Live: hypothesis texts through this detector and the one at BASELINE, loaded from git (skipped
  where the clone has no such history; the frozen file needs none).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import selfharm
from bot.text import Text
from tests.selfharm_corpus import EXPECTED, describe, read

REPO = Path(__file__).resolve().parent.parent
BASELINE = "90cc9dc"  # the detector before the speed work (#14): what the frozen file was written by


def _outputs(text: str, reasons: dict[str, int]) -> dict:
    from tests.selfharm_corpus import outputs

    return outputs(selfharm, Text, text, reasons)


def test_every_frozen_text_gets_the_frozen_outputs() -> None:
    frozen_reasons, rows = read()
    reasons = {r: i for i, r in enumerate(frozen_reasons)}
    wrong = []
    for row in rows:
        want = {k: v for k, v in row.items() if k != "text"}
        got = _outputs(row["text"], reasons)
        if got != want:
            wrong.append((row["text"][:120], {k: (want.get(k), got.get(k)) for k in got.keys() | want.keys()
                                              if want.get(k) != got.get(k)}))
    assert len(reasons) == len(frozen_reasons), f"new reasons: {list(reasons)[len(frozen_reasons):][:5]}"
    assert not wrong, f"{len(wrong)} of {len(rows)} texts differ (frozen, now); first: {wrong[:3]}"


def test_the_frozen_corpus_is_varied_enough_to_mean_something() -> None:
    """A frozen file of ordinary posts would pass whatever the detector did."""
    _, rows = read()
    levels = Counter(row["assess"][0] if row["assess"] else None for row in rows)
    sources = Counter(row["assess"][4] if row["assess"] else None for row in rows)
    assert len(rows) >= 2000
    assert all(levels[level] >= 30 for level in ("intent", "ideation", "self-harm", "risk", "none", None)), levels
    assert all(sources[s] >= 20 for s in ("lexicon", "lexicon+classifier", "classifier")), sources
    assert sum(not row["gate"] for row in rows) >= 200  # posts the gate keeps from the cue pass
    assert sum(not row["text"].isascii() for row in rows) >= 500
    assert sum(len(row["text"]) >= 1000 for row in rows) >= 80
    assert sum(row["cues"] != row["lexicon"] for row in rows) >= 200  # the concepts matter somewhere
    assert any(row["assess"] and len(row["assess"][1]) == selfharm.MAX_CUES for row in rows)


# --------------------------------------------------------------------------- live, against git


def _baseline():
    try:
        known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{BASELINE}^{{commit}}"],
                               capture_output=True).returncode == 0
    except FileNotFoundError:
        known = False
    if not known:
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("harkbot_bench_selfharm_speed", REPO / "bench" / "selfharm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.load_round1(BASELINE)


@pytest.fixture(scope="module")
def baseline():
    module = _baseline()
    if module is None:
        pytest.skip(f"no git history with {BASELINE} here; the frozen-output test still runs")
    return module


_WORDS = sorted(set(selfharm.default_lexicon().vocabulary) | set(selfharm.default_concepts().vocabulary)
                | set(selfharm._EXPAND) | {"lol", "song", "\"", "“", "”", "’", "i", "my", "he", "not", "never"})
_PIECES = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(_WORDS).map(lambda w: w.upper()),
    st.sampled_from((".", ",", "!", "?", ";", ":", "…", "\n", "-", "*", "'", "$", "@", "|", "😂", "🎵", "🪦",
                     "\u200b", "\u00ad", "İ", "\u0301", "ｋ", "\u2028", "\r\n", "\t", "1", "3", "500mg"))
    | st.text(min_size=1, max_size=6),
)
_TEXTS = st.one_of(
    st.lists(_PIECES, max_size=60).flatmap(
        lambda parts: st.lists(st.sampled_from((" ", "", "  ", "\n")), min_size=len(parts), max_size=len(parts)).map(
            lambda seps: "".join(p + s for p, s in zip(parts, seps)))),
    st.text(max_size=200),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS)
def test_hypothesis_texts_get_what_the_baseline_said(baseline, text: str) -> None:
    reasons: dict[str, int] = {}
    for name in ("assess", "assess_cues", "assess_lexicon"):
        assert describe(getattr(selfharm, name)(text), reasons) == describe(getattr(baseline, name)(text), reasons), name
    assert selfharm.may_be_at_risk(text) == baseline.may_be_at_risk(text)
    assert selfharm.default_classifier().probability(text) == baseline.default_classifier().probability(text)

