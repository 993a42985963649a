"""bot.selfharm: the lexicon flag, its hard negatives, and its evaluation cases."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from bot.selfharm import CARE, LEVELS, ROUTED, Lexicon, assess, default_lexicon, parse_lexicon

CASES = Path(__file__).parent / "data" / "selfharm_cases.tsv"


def level(text: str) -> str:
    flag = assess(text)
    return flag.level if flag and flag.level in ROUTED else "none"


@pytest.mark.parametrize("text, expected", [
    ("I want to kill myself", "ideation"),  # a wish: ideation; a plan or a time: intent (#14 round 2)
    ("I'm going to kill myself tonight", "intent"),
    ("i don't want to be here anymore", "ideation"),
    ("thinking about ending it all", "ideation"),
    ("kms", "ideation"),
    ("unalive myself", "ideation"),
    ("I've been cutting again", "self-harm"),
    ("took all my pills", "intent"),
    ("nobody would miss me", "ideation"),
    ("I can't go on", "ideation"),
    ("the @MindfulHealth app is the only reason I haven't killed myself", "risk"),
    ("this med gave me suicidal thoughts", "risk"),
])
def test_the_issue_examples_flag(text: str, expected: str) -> None:
    assert level(text) == expected


@pytest.mark.parametrize("text", [
    "I WANT TO KILL MYSELF",
    "i want to kill myselfffff",
    "I want to k1ll mys3lf",
    "i want to k.i.l.l myself",
    "want to kill myslef",
    "i want to kill myself 😭",
    "i want\u200b to kill myself",
    "ｉ ｗａｎｔ ｔｏ ｋｉｌｌ ｍｙｓｅｌｆ",
])
def test_casing_typos_leetspeak_emoji_and_odd_unicode_still_flag(text: str) -> None:
    assert level(text) == "ideation"


@pytest.mark.parametrize("text", [
    "suicide prevention month starts today",
    "988 is the crisis line, call or text",
    "side effects may include suicidal thoughts",
    "this update is killing me",
    "I'm dying laughing",
    "kill me now, the app logged me out again",
    "I would never hurt myself",
    "I'm not going to kill myself, don't worry",
    "listening to \"i want to die\" by that band on repeat 🎶",
    "drove 300 kms to my appointment",
    "I'm killing myself trying to finish this report",
    "I'd rather die than call their billing line again",
])
def test_hard_negatives_do_not_flag(text: str) -> None:
    assert assess(text) is None


def test_someone_else_at_risk_is_risk_and_a_question_about_helping_is_not() -> None:
    # Round 1 dropped "he wants to kill himself"; a person described at risk now needs a look (#14).
    assert level("he wants to kill himself") == "risk"
    assert level("my cousin said she's been saving up her pills and won't be around much longer") == "risk"
    assert assess("how can I support my brother, he used to self harm in school and still has scars") is None
    assert level("how can I support my brother, he bought blades again last night") == "risk"


def test_negation_has_a_reach() -> None:
    # A "not" governs the cue right after it, but not one in a new clause or after a new subject.
    assert assess("I don't want to die") is None
    assert level("not ok, I want to die") == "ideation"
    assert level("I'm not ok I want to die") == "ideation"
    assert level("I can't stop thinking about killing myself") == "ideation"


def test_hyperbole_choice_self_directed_cues_flag_even_when_joking_at_the_same_level() -> None:
    # Documented choice: "kill me" (about someone else doing it) is never a cue; self-directed
    # cues flag even in a joking post, at their own level (routed), with a lower confidence,
    # since joking is how many people say it and mean it (#14).
    assert assess("kill me, the app crashed again") is None
    joking = assess("lol i want to die, the app crashed again")
    plain = assess("the app crashed again, i want to die")
    assert joking is not None and plain is not None
    assert joking.level == plain.level == "ideation" and "joking" in joking.reason
    assert joking.confidence < plain.confidence


def test_clinical_choice_labels_are_not_flags_but_patients_are() -> None:
    assert assess("Warning: antidepressants can increase suicidal thoughts in young adults") is None
    assert assess("clinicians screen for suicidal ideation at intake") is None
    assert level("sertraline made me suicidal the first two weeks") == "risk"
    assert level("my suicidal thoughts are back after switching meds") == "risk"


def test_a_longer_cue_decides_the_level() -> None:
    flag = assess("my therapist on Mindful talked me out of killing myself")
    assert flag is not None and flag.level == "risk"
    assert "killing myself" in " ".join(flag.cues)


def test_flag_is_frozen_and_says_why() -> None:
    flag = assess("I want to kill myself")
    assert flag is not None and flag.cues == ("want to kill myself",) and flag.reason
    with pytest.raises(AttributeError):
        flag.level = "risk"  # type: ignore[misc]


def test_lexicon_loads_and_every_row_is_valid() -> None:
    lexicon = default_lexicon()
    assert len(lexicon.patterns) > 200
    assert {p.level for p in lexicon.patterns} == {*LEVELS, CARE, "none"}


def test_lexicon_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match="selfharm.tsv:2: level 'urgent'"):
        parse_lexicon(["# c", "want to die\turgent\tx"])
    with pytest.raises(ValueError, match="unknown macro"):
        parse_lexicon(["{nope} now\tintent\tx"])
    own = Lexicon.from_text("{w}: want to ; need to\t=\tm\n{w} scream\tideation\tscreams\n")
    assert own.assess("I need to scream").level == "ideation"


def _cases() -> list[tuple[str, str, str]]:
    with open(CASES, encoding="utf-8", newline="") as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter="\t",
                          quoting=csv.QUOTE_NONE)
        return [(r[0], r[1], r[2]) for r in rows if r and r[0] != "text"]


def test_evaluation_cases_are_many_varied_and_balanced() -> None:
    cases = _cases()
    assert len(cases) >= 150
    flagged = sum(1 for _, e, _ in cases if e != "none")
    assert 0.4 <= flagged / len(cases) <= 0.6
    assert {e for _, e, _ in cases} <= {*LEVELS, "none"} and len({e for _, e, _ in cases}) >= 4
    assert len({c for _, _, c in cases}) >= 10


def test_evaluation_cases_score_well() -> None:
    # These cases are self-written (optimistic); the bound guards against regressions only.
    tp = fp = fn = 0
    for text, expected, _ in _cases():
        got = level(text)
        tp += expected != "none" and got != "none"
        fn += expected != "none" and got == "none"
        fp += expected == "none" and got != "none"
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.93


@pytest.mark.parametrize("hostile", [
    "kill " * 20000, "i want to " * 10000, "not " * 25000, "a" * 100000, "s*icide " * 12000,
    "k.i.l.l " * 12000, "\"" * 100000, "myselfff" * 12000, "i want to kill myself " * 5000,
    "kms lol " * 12000, "suicidal " * 12000, "suicide prevention " * 6000,
])
def test_hostile_long_texts_finish_fast(hostile: str) -> None:
    start = time.perf_counter()
    assess(hostile)
    assert time.perf_counter() - start < 1.0
