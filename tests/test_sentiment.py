import pytest

from bot.sentiment import SCORERS, Thresholds, make_scorer


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_each_scorer_names_itself_and_labels_plain_cases(name):
    scorer = make_scorer(name)
    good = scorer.score("I love my therapist, she is wonderful and so helpful")
    bad = scorer.score("This is the worst, awful service, I hate it")
    assert good.scorer == name and good.label == "positive" and good.polarity > 0
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
