"""bot.selfharm (#14): the families the old lexicon missed, figurative and ordinary posts that
must stay quiet, levels and confidence, the classifier's arithmetic, the prefilter, the model
file, ingest's error path and `harkbot selfharm`. Sentences written for these tests (not the
training script's, not the held-out bench cases)."""

from __future__ import annotations

import json
import logging
from importlib import resources

import pytest
from click.testing import CliRunner

from bot import selfharm
from bot.config import SafetyModel
from bot.selfharm import ROUTED, Classifier, assess, may_be_at_risk
from tests.helpers import mention

FAMILIES = {
    "farewell": [
        "left a goodbye note on my desk for my sister",
        "by the time anyone finds this I'll be gone",
        "this is my final post, thank you all for trying",
        "spent today giving away my stuff, my cat goes to my neighbour",
        "getting my affairs in order this week so nobody has to deal with it",
        "forgive me for what I'm about to do",
    ],
    "method": [
        "been stockpiling my sleeping pills for a month",
        "how many paracetamol would it take to never wake up",
        "what's a lethal dose of insulin",
        "tallest parking garage near me?",
        "most painless way to go, asking for real",
        "tied the noose last night, still here",
        "I have enough pills to end it",
    ],
    "self-harm": [
        "relapsed after 40 days clean, the blade again",
        "wearing long sleeves in july so nobody sees my arms",
        "fresh cuts again tonight",
        "hiding the scars from my mum is exhausting",
        "picked up the razor again",
        "scratched my arm until it bled",
    ],
    "slang": ["kms fr", "wanna unalive tbh", "gonna kms", "lowkey wanna d1e", "ctb soon",
              "i want to self delete", "honestly just wanna sewerslide"],
    "passive": [
        "I just want to stop existing",
        "wish I could disappear and never come back",
        "can't picture myself living past 30",
        "everyone would be happier without me",
        "wouldn't mind if I didn't wake up tomorrow",
        "what's the point of living like this",
        "i dont see a future for me",
    ],
}
EXPECTED_LEVEL = {"self-harm": {"self-harm"}, "method": {"intent"}, "farewell": {"intent", "risk"},
                  "slang": {"intent", "ideation"}, "passive": {"ideation"}}

QUIET = [
    "this exam is killing me", "I'd die for that pizza",
    "988 awareness week: suicide prevention starts with a conversation",
    "new report on teen suicide rates in Ohio",
    "side effects may include suicidal thoughts, talk to your doctor",
    "cutting carbs this month", "my laptop is dying", "dead tired after the night shift",
    "died so many times on that boss lol", "I keep killing myself in this level, the jumps are brutal",
    'the band played "I want to die" live and the crowd sang along 🎶',
    "clinicians screen for suicidal ideation at every intake", "gonna kill it at the interview tomorrow",
    "my hair appointment got cut short", "I could murder a burger rn",
    "screaming, crying, throwing up, this finale", "I'm so done with this app",
    "my therapist helped me set goals for the year", "the Mindful Health app logged me out again, fix it",
    "stocking up on snacks for the weekend", "wrote a thank-you letter to my teacher",
    "I'm not going to kill myself, don't worry, just venting about exams",
]


@pytest.mark.parametrize("family, text", [(f, t) for f, ts in FAMILIES.items() for t in ts])
def test_each_family_flags_at_a_routed_level_with_its_evidence(family: str, text: str) -> None:
    flag = assess(text)
    assert flag is not None and flag.level in EXPECTED_LEVEL[family], (text, flag)
    assert flag.evidence and all(isinstance(e, str) and e for e in flag.evidence)
    assert 0.0 < flag.confidence <= 1.0 and flag.reason


@pytest.mark.parametrize("text", QUIET)
def test_figurative_ordinary_and_clinical_posts_stay_quiet(text: str) -> None:
    flag = assess(text)
    assert flag is None or flag.level not in ROUTED, flag


def test_a_side_effect_in_the_first_person_is_risk_not_a_drug_label() -> None:
    assert assess("this med gave me suicidal thoughts").level == "risk"
    assert assess("side effects may include suicidal thoughts") is None


def test_joking_lowers_confidence_never_the_level() -> None:
    for plain, joking in (("kms", "kms lol"), ("I want to kill myself", "I want to kill myself 😂"),
                          ("been stockpiling my pills", "been stockpiling my pills lmao")):
        a, b = assess(plain), assess(joking)
        assert a.level == b.level and a.level in ROUTED and b.confidence < a.confidence
    # The figurative post with a joking marker is still routed: recall first.
    assert assess("this traffic makes me want to disappear lol").level in ROUTED


def test_a_past_disclosure_told_in_care_is_a_none_flag_that_the_default_does_not_route() -> None:
    flag = assess("suicidal thoughts were scary to admit but my therapist handled it with care")
    assert flag is not None and flag.level == "none" and flag.evidence
    # A present cue beside it still routes.
    assert assess("suicidal thoughts were scary to admit and I am suicidal again tonight").level == "ideation"
    assert SafetyModel().alert_levels == ["intent", "ideation", "self-harm", "risk"]
    assert SafetyModel(alert_levels=["none"]).alert_levels == ["none"]


def test_the_level_order_puts_intent_above_ideation_above_self_harm() -> None:
    assert assess("I've been cutting again and I'm going to kill myself").level == "intent"
    assert assess("I've been cutting again and I want to die").level == "ideation"
    assert assess("I've been cutting again").level == "self-harm"


# Round 2 (#14): the concept lexicon composes classes, so every pairing of a class's words reads
# the same; these sentences were written for these tests, none from the bench's case files.
@pytest.mark.parametrize("verb", ["saving", "stockpiling", "hoarding", "counted", "stashed"])
@pytest.mark.parametrize("means", ["my lithium", "the oxycodone", "sleeping pills", "my insulin"])
def test_counting_any_means_is_a_plan(verb: str, means: str) -> None:
    assert assess(f"{verb} {means} since march").level == "intent"


@pytest.mark.parametrize("text", [
    "how many tramadol does it take",            # a lethality question about a drug
    "what amount of codeine would be fatal",
    "is 30 of my quetiapine enough or not",
    "which car park near me has no fences, tall enough",
    "how high does a roof need to be, asking for me",
    "chose a date. the 9th",                     # a date, no event
    "already picked the spot by the river, going for good",
    "looked up how long it takes to bleed out",
    "finally got hold of some fentanyl",
    "deleting all my accounts now. goodbye",
])
def test_method_and_plan_compose(text: str) -> None:
    assert assess(text).level == "intent", text


@pytest.mark.parametrize("text", [
    "rehoming my hamster this week bc i won't be around after the weekend",
    "to whoever finds me first, im sorry",
    "wrote letters for my mum and my brother, they're in the drawer",
    "sold my bike and paid my rent ahead, everything is in order now. i feel ready",
    "cancel my sessions pls, i won't be alive for them",
])
def test_preparation_and_farewell_compose(text: str) -> None:
    assert assess(text).level == "intent", text


@pytest.mark.parametrize("text", [
    "clean streak broke at 60 days",
    "hiding a razor in my sock drawer",
    "summer again and still in long sleeves",
    "nobody sees the marks on my hips, thats the point",
    "burned my wrist with a lighter, not an accident",
    "day 0 again, sh urges won",
])
def test_relapse_and_concealment_compose(text: str) -> None:
    assert assess(text).level == "self-harm", text


@pytest.mark.parametrize("text", [
    "im so tierd of liveing like this",            # misspellings of long cue words
    "i just wanna dissapear forevr",
    "wanna dye fr",                                 # phonetic slip die/dye
    "been thinking abt unaliving",
    "i dnt wanna b alive",
    "finna kms",
])
def test_misspellings_and_slang_are_read(text: str) -> None:
    assert assess(text).level in ("ideation", "intent"), text


@pytest.mark.parametrize("text", [
    "i'd be happy to just not exist",
    "i hope i never wake up again",
    "my family would be happier without me honestly",
    "no reason to keep going",
    "i keep imagining my own funeral and feeling peaceful",
    "what if i just disappeared one day",
])
def test_passive_ideation_composes(text: str) -> None:
    assert assess(text).level == "ideation", text


@pytest.mark.parametrize("text", [
    "dyeing my hair blue this weekend, wish me luck",   # hair, not death
    "dying my roots tonight",
    "quetiapine side effects: weight gain, drowsiness, in rare cases suicidal thoughts",
    "the leaflet warns about overdose, keep out of reach of children",
    "my dentist asked whether I had thoughts of self harm, on the intake form",
    "relapsed on vaping after 30 days, so annoyed",
    "how do I help my sister, she used to self harm and I want to be supportive",
    "how can i support a coworker whose brother died by suicide",
    "picked a date for the wedding!!",
    "bought new razor blades and shaving cream",
    "check my last post for the details",
])
def test_concept_guards_keep_these_quiet(text: str) -> None:
    flag = assess(text)
    assert flag is None or flag.level not in ROUTED, (text, flag)


def test_someone_else_described_at_risk_is_risk() -> None:
    for text in ("my roommate gave away all her things and said she won't need them",
                 "my brother keeps saying he wants to die and now he's not answering"):
        assert assess(text).level == "risk", text


def test_a_medicine_as_the_cause_is_risk() -> None:
    flag = assess("since starting sertraline i keep thinking about not being here")
    assert flag.level == "risk" and "medicine" in flag.reason


def test_the_concepts_file_errors_name_the_line() -> None:
    from bot.selfharm import Concepts

    with pytest.raises(ValueError, match="selfharm_concepts.tsv:2: unknown concept NOPE"):
        Concepts.from_text("@A\ta b\nA + NOPE\tintent\t3\t-\tx\n")
    with pytest.raises(ValueError, match="selfharm_concepts.tsv:2: level 'urgent'"):
        Concepts.from_text("@A\ta\nA\turgent\t1\t-\tx\n")
    with pytest.raises(ValueError, match="flags"):
        Concepts.from_text("@A\ta\nA\tintent\t1\tzz\tx\n")
    own = Concepts.from_text("@A\tsaving_up hoarding\n@B\tbuttons\nA + B\tintent\t3\t-\tstockpiles buttons\n")
    hits, _, _ = own.scan("i am saving up buttons".split())
    assert [(s, e, r.note) for s, e, r in hits] == [(2, 5, "stockpiles buttons")]


def _explicit(clf: Classifier, text: str) -> float:
    import math

    word_block, char_block = selfharm.text_features(selfharm.model_words(text))
    z = clf.bias
    for block in (word_block, char_block):
        if block:
            z += sum(clf.weights.get(selfharm.bucket(f, clf.buckets), 0.0) for f in block) / math.sqrt(len(block))
    return 1.0 / (1.0 + math.exp(-z))


def test_the_cached_classifier_equals_the_features_training_counts() -> None:
    clf = selfharm.default_classifier()
    for text in ("I can't keep going, I've been so tired of everything for months now",
                 "Mindful Health app keeps crashing", "a a a a a", "Ünïcode 😭 text k1ll"):
        assert clf.probability(text) == pytest.approx(_explicit(clf, text), abs=1e-9)
    clf.probability("again")  # cached now
    assert clf.probability("again") == pytest.approx(_explicit(clf, "again"))


def test_the_classifier_reads_the_lexicons_normalised_words() -> None:
    # "dont" and "don't" are one word to it, as to the lexicons; a misspelling is read as meant.
    assert selfharm.model_words("I dont wanna, im tierd") == ["i", "do", "not", "want", "to", ",", "i", "am", "tired"]


def _toy_detector(short_threshold: float | None) -> selfharm.Detector:
    weights = {selfharm.bucket(f, 64): 5.0 for f in selfharm.word_features("hopeless")}
    clf = Classifier(weights, -1.0, 64, 0.9, short_threshold=short_threshold)
    return selfharm.Detector(selfharm.Lexicon.from_text("killing me\tnone\tfigurative\n"), clf, prefilter=False)


def test_the_classifier_alone_flags_long_posts_and_says_which_words() -> None:
    detector = _toy_detector(None)
    long = "i feel hopeless " + "and the days go on and on " * 6
    flag = detector.assess(long)
    assert flag.level == "risk" and flag.source == "classifier" and flag.evidence[0] == "hopeless"
    assert detector.assess("i feel hopeless") is None  # no short threshold: silent under SHORT_WORDS


def test_on_short_posts_the_classifier_has_its_own_threshold_and_a_negation_guard() -> None:
    detector = _toy_detector(0.5)
    assert detector.assess("i feel hopeless").level == "risk"
    assert detector.assess("i feel hopeless, this exam is killing me") is None  # a `none` phrase: figurative
    assert detector.assess("not going to do anything hopeless, do not worry") is None


def test_the_model_file_holds_weights_and_its_licence_not_text() -> None:
    text = resources.files("bot").joinpath(selfharm.MODEL_FILE).read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in text and "Suicide and Depression Detection" in text
    keys = {line.split("\t")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert {k for k in keys if not k.isdigit()} <= {"features", "buckets", "bias", "threshold", "short_threshold",
                                                    "C", "split", "licence"}
    with pytest.raises(ValueError, match="selfharm_model.tsv: no 'threshold' row"):
        Classifier.from_text("buckets\t8\nbias\t0\n")
    with pytest.raises(ValueError, match="selfharm_model.tsv:3"):
        Classifier.from_text("features\tv2\nbuckets\t8\n12\tnot-a-number\n")
    with pytest.raises(ValueError, match="features 'v1'.*retrain"):
        Classifier.from_text("buckets\t8\nbias\t0\nthreshold\t0.5\n")


def test_the_prefilter_admits_every_cue_here_and_skips_ordinary_posts() -> None:
    for text in [t for ts in FAMILIES.values() for t in ts] + ["I w4nt to k1ll mys3lf", "s*icide", "k.i.l.l myself",
                                                               "diiiie", "ｋｍｓ"]:
        assert may_be_at_risk(text), text
    for text in ("Mindful Health app keeps crashing", "switched my sessions to Tuesdays",
                 "great podcast episode about teletherapy"):
        assert not may_be_at_risk(text)


def test_a_detector_error_flags_the_post_risk_and_logs_no_text(monkeypatch, caplog) -> None:
    from bot import intake

    def broken(text: str):
        raise RuntimeError("boom " + text)

    monkeypatch.setattr(intake, "assess", broken)
    m = mention(1, "a private post about my week")
    with caplog.at_level(logging.ERROR, logger="harkbot"):
        flag = intake.Intake().flag(m)
    assert flag.level == "risk" and flag.source == "error" and "RuntimeError" in flag.reason
    (record,) = caplog.records
    assert "RuntimeError" in record.getMessage() and m.key in record.getMessage()
    assert "private post" not in record.getMessage() and "boom" not in record.getMessage()


def test_harkbot_selfharm_prints_one_json_object_per_line() -> None:
    from bot.cli import main

    result = CliRunner().invoke(main, ["selfharm"], input="been stockpiling my pills\nthis exam is killing me\n\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 3
    assert rows[0]["level"] == "intent" and rows[0]["evidence"] and rows[0]["routed"] is True
    assert rows[1] == {"level": "none", "confidence": 0.0, "evidence": [], "flagged": False, "routed": False}
    lexicon = CliRunner().invoke(main, ["selfharm", "--lexicon-only"], input="kms\n")
    assert json.loads(lexicon.output)["source"] == "lexicon"
