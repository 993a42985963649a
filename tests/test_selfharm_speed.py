"""bot.selfharm's speed-ups say exactly what the detector said before them.

* Frozen outputs: tests/data/selfharm_expected.jsonl holds ~4,800 varied texts (every case file,
  each lexicon pattern and concept rule instantiated, mutations, hostile Unicode, word salads,
  random code points, Reddit-length posts; see tests/selfharm_corpus.py) with what assess,
  assess_cues, assess_lexicon, may_be_at_risk and the classifier said about each, written by the
  detector as #14's round 4 left it (commit b9f3b3f; the first file was written before the
  speed work, at 90cc9dc, and was regenerated once, on purpose, for round 4's tuning). Every
  field must match exactly.
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
from tests.selfharm_corpus import describe, read

REPO = Path(__file__).resolve().parent.parent
# The detector the frozen file was written by: round 4's (#14), after its tuning changed outputs on
# purpose (the speed work's baseline before it was 90cc9dc).
BASELINE = "b9f3b3f"


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



# --------------------------------------------------------------------------- the cue-word gate
# A post holding none of Detector.cue_words skips the cue pass (the patterns and the concepts);
# the classifier reads every post. These read the lexicon files themselves, so a row added later
# that the gate would not let through fails here, not silently in production.


def _required_sets(pattern) -> list[frozenset[str]]:
    """The word sets a match of the pattern must hold a word of (plain, not optional elements)."""
    return [el.words for el in pattern.elements
            if el.kind == "word" and not el.optional and not el.or_end and not el.prefixes]


def _patterns_the_gate_skips(patterns, gate: frozenset[str]) -> list[str]:
    """Positive patterns with no required word set wholly in the gate: a post matching one could
    hold no gate word."""
    return [p.source for p in patterns if p.level != "none" and not any(ws <= gate for ws in _required_sets(p))]


def _rules_the_gate_skips(concepts, gate: frozenset[str]) -> list[int]:
    """Positive rules (their line numbers) with no class whose every entry needs a gate word (a
    single word, or one word of a phrase; a stem needs none): a rule hit holds an occurrence of
    each of its classes, so one such class is enough."""
    def admitted(name: str) -> bool:
        return all(not e.endswith("*") and any(w in gate for w in e.split("_")) for e in concepts.classes[name])

    return [rule.line for rule in concepts.rules if rule.level != "none" and not any(map(admitted, rule.concepts))]


def test_every_pattern_row_has_a_required_word_the_gate_admits() -> None:
    gate = selfharm.default_detector().cue_words
    text = (REPO / "bot" / "lexicon" / "selfharm.tsv").read_text(encoding="utf-8")
    patterns = selfharm.parse_lexicon(text.splitlines())
    assert len(patterns) == len(selfharm.default_lexicon().patterns) > 500
    missed = _patterns_the_gate_skips(patterns, gate)
    assert not missed, f"patterns the gate would skip (give each a plain required word): {missed[:5]}"


def test_every_concept_rule_has_a_class_the_gate_admits_whole() -> None:
    gate = selfharm.default_detector().cue_words
    text = (REPO / "bot" / "lexicon" / "selfharm_concepts.tsv").read_text(encoding="utf-8")
    concepts = selfharm.Concepts.from_text(text)
    assert len(concepts.rules) > 50
    missed = _rules_the_gate_skips(concepts, gate)
    assert not missed, f"selfharm_concepts.tsv rules the gate would skip, lines {missed[:5]}"


def test_the_completeness_checks_catch_rows_the_gate_does_not_cover() -> None:
    """Rows the checks must reject: a number with only an optional word after it, words outside
    the gate, a rule whose every class has a stem or a word outside the gate."""
    gate = selfharm.default_detector().cue_words
    patterns = selfharm.parse_lexicon(["<num> pills?\tintent\ta number alone", "zzqx blorp\tintent\tnew words",
                                       "kill myself\tintent\tknown"])
    assert _patterns_the_gate_skips(patterns, gate) == ["<num> pills?", "zzqx blorp"]
    concepts = selfharm.Concepts.from_text("@A\tzzqx kill\n@B\tblorp*\n@C\tsuicide\n"
                                           "A + B\tintent\t4\t-\tnew\nA + C\tintent\t4\t-\tknown\n")
    assert _rules_the_gate_skips(concepts, gate) == [4]


def test_the_gate_holds_for_misspelt_masked_and_leet_cues_too() -> None:
    """The gate reads the reader's normalised words, as the patterns do."""
    for text in ("I w4nt to k1ll mys3lf", "I want to commit s*icide", "I want to k*ll myself", "k.i.l.l myself", "i want to diiiie", "ｋｍｓ",
                 "thinking about sucide", "gonna unalive myslef", "I want to kill\u200b myself"):
        assert selfharm.may_be_at_risk(text) and selfharm.assess_cues(text) is not None, text


def test_the_classifier_reads_a_post_the_gate_keeps_from_the_cue_pass() -> None:
    text = " ".join("depression depressed feeling support job work dream".split() * 8)
    assert not selfharm.may_be_at_risk(text) and selfharm.assess_cues(text) is None
    flag = selfharm.assess(text)
    assert flag is not None and flag.source == "classifier" and flag.level == "risk"


# --------------------------------------------------------------------------- the fast paths


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    ("\u200b", "\u00ad", "\ufeff", "\u2066", "İ", "\u0307", "ﬁ", "ｋ", "’", "“", "”", "‘"))))
def test_the_reader_s_fold_is_bot_query_fold(text: str) -> None:
    from bot.query import fold
    from bot.text import folded_of

    assert selfharm._fold(text) == fold(text)
    plain = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))  # the old curly table
    assert selfharm._folded(text) == (folded_of(text) if text.isascii() or not plain.isascii() else plain.lower())


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab1_ .-\u00e9\u0301x\n"), max_size=40))
def test_spelled_out_words_are_joined_whether_or_not_the_hint_search_runs(text: str) -> None:
    reader = selfharm.default_reader()
    assert selfharm._unspelled(text, reader._unspell) == selfharm._SPELLED.sub(reader._unspell, text)
