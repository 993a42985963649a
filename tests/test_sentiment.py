import random

import pytest

from bot.models import LABELS
from bot.sentiment import SCORERS, WEIGHTS_FILE, HarkbotScorer, Thresholds, make_scorer

HARKBOT = ("harkbot", "harkbot-rules")


@pytest.fixture(scope="module", params=HARKBOT)
def harkbot(request):
    return make_scorer(request.param)


ENGLISH_BY = {"harkbot-multi": "harkbot"}  # a scorer that hands English text to another names that one


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_each_scorer_names_itself_and_labels_plain_cases(name):
    scorer = make_scorer(name)
    good = scorer.score("I love my therapist, she is wonderful and so helpful")
    bad = scorer.score("This is the worst, awful service, I hate it")
    assert good.scorer == ENGLISH_BY.get(name, name) and good.label == "positive" and good.polarity > 0
    assert bad.label == "negative" and -1 <= bad.polarity < 0
    assert scorer.score("").label == "neutral"


def test_terms_explain_the_direction():
    score = make_scorer("vader").score("The app is nice, but Mindful Health leaked my notes. Awful.")
    assert score.label == "negative"
    assert score.terms[0] in ("awful", "leaked") and "nice" not in score.terms


def test_thresholds_from_config_override_the_scorer_default():
    assert Thresholds(-0.5, 0.5).label(-0.3) == "neutral"
    lenient = make_scorer("vader", negative_below=-0.9)
    assert lenient.score("I hate it").label == "neutral"


# --------------------------------------------------------------------------- harkbot


def test_harkbot_scorers_are_registered_beside_textblob_and_vader():
    assert {"harkbot", "harkbot-rules", "textblob", "vader"} <= set(SCORERS)
    assert SCORERS["harkbot"] is HarkbotScorer


@pytest.mark.parametrize("text", [
    "thanks for the 3 hour hold",
    "Thanks for the 3 hour hold @Mindful, really appreciate it",
    "Love being on hold for 45 minutes with @AcmeHealth",
    "Great, my appointment got cancelled again. Thanks Mindful.",
    "Still waiting on my refund. Never again.",
    "@MindfulHealth been on hold since 9am, no one picks up",
])
def test_complaints_that_read_polite_are_negative(harkbot, text):
    score = harkbot.score(text)
    assert score.label == "negative", score


def test_vader_reads_those_complaints_as_praise():
    """The failure the harkbot scorers fix: VADER sees only the polite words."""
    vader = make_scorer("vader")
    for text in ("thanks for the 3 hour hold", "Love being on hold for 45 minutes with @AcmeHealth"):
        assert vader.score(text).label == "positive"


def test_sarcastic_thanks_is_named_in_the_terms(harkbot):
    score = harkbot.score("thanks for the 3 hour hold")
    assert "thanks (sarcastic)" in score.terms and "3 hour" in score.terms


def test_genuine_thanks_after_a_contrast_stays_positive(harkbot):
    assert harkbot.score("@acme thank you so much, the nurse was wonderful!").label == "positive"
    assert harkbot.score("My flight was delayed, but the crew was amazing. Thank you!").label == "positive"


@pytest.mark.parametrize("text", [
    "This helped my depression and anxiety a lot. Side effects: some nausea and insomnia the first week, then fine.",
    "Works great for my panic attacks, mild headaches at first but they went away",
    "Zoloft really helped me, the side effects (nausea, dry mouth) were worth it",
    "My anxiety went away after two weeks and I sleep better",
])
def test_clinical_vocabulary_in_satisfied_reviews_is_not_negative(harkbot, text):
    assert harkbot.score(text).label == "positive", harkbot.score(text)


def test_clinical_words_are_topics_unless_the_frame_is_bad(harkbot):
    topic = harkbot.score("Our clinic treats depression, anxiety and insomnia")
    assert topic.label != "negative" and "depression" not in topic.terms
    worse = harkbot.score("my anxiety is through the roof today and I can't sleep")
    assert worse.label == "negative"
    assert harkbot.score("I'm depressed and nothing helps").label == "negative"


@pytest.mark.parametrize("text", [
    "I'm so sorry you're going through this. You're not alone, sending love.",
    "Hope you feel better soon! Hang in there.",
    "Sorry for your loss, thinking of you",
    "You've got this. Be gentle with yourself today.",
])
def test_empathetic_replies_are_positive(harkbot, text):
    assert harkbot.score(text).label == "positive", harkbot.score(text)


def test_terms_are_the_few_that_moved_the_score_strongest_first(harkbot):
    score = harkbot.score("Mindful Health leaked my therapy notes. Awful. I want a refund, never again.")
    assert score.label == "negative"
    assert 1 <= len(score.terms) <= 3
    assert set(score.terms) <= {"leaked", "awful", "never again", "refund"}
    assert "never again" in score.terms or "leaked" in score.terms


def test_terms_show_negation_and_relief(harkbot):
    assert "not good" in make_scorer("harkbot-rules").score("The food was not good").terms
    assert "pain subsided" in harkbot.score("The pain subsided after a week").terms


def test_neutral_news_is_neutral(harkbot):
    assert harkbot.score("The new clinic opens on Monday at 9am.").label == "neutral"


def test_polarity_stays_in_range_and_labels_are_known(harkbot):
    rng = random.Random(7)
    words = ("good bad awful love hate not never but very !!! ??? :) :( 😀 😡 thanks hold delayed pain "
             "anxiety helped refund sending love you're not alone SO GREAT #NotHappy @brand http://x.y").split()
    texts = ["", " ", "!!!", "a" * 500, "no no no no", "\u2019\u2019"]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 80))) for _ in range(300)]
    for text in texts:
        score = harkbot.score(text)
        assert -1.0 <= score.polarity <= 1.0 and score.label in LABELS
        assert isinstance(score.terms, tuple) and len(score.terms) <= 3


def test_harkbot_thresholds_come_from_the_weights_file_and_config_overrides_them():
    default = make_scorer("harkbot")
    assert default.thresholds == HarkbotScorer.defaults()
    strict = make_scorer("harkbot", negative_below=-1.0)
    assert strict.thresholds.negative_below == -1.0
    assert strict.thresholds.positive_above == HarkbotScorer.defaults().positive_above
    assert strict.score("This is the worst, awful service, I hate it").label == "neutral"


def test_the_learned_weights_say_what_they_were_trained_on():
    header = [line for line in WEIGHTS_FILE.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "tools/train_sentiment.py" in text
    for licence in ("MIT", "Apache-2.0", "CC BY 4.0"):
        assert licence in text
    assert "Not trained on: airline tweets" in text and "TweetEval" in text
    assert any(line.startswith("#thresholds\t") for line in header)


def test_a_scorer_pickles_without_its_memos_and_scores_the_same():
    import pickle

    scorer = make_scorer("harkbot")
    text = "thanks for the 3 hour hold, soooo GOOD :( #NeverAgain"
    first = scorer.score(text)
    assert scorer.lexicon._inert and scorer.lexicon.cut._memo
    back = pickle.loads(pickle.dumps(scorer))
    assert back.lexicon._inert == {} and back.lexicon._elongated == {} and back.lexicon.cut._memo == {}
    assert back.score(text) == first and scorer.lexicon._inert  # the original keeps its memos
