"""A deployment's own vocabulary: a YAML domain lexicon of extra and neutralised terms."""

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.sentiment import DomainLexicon, load_domain_lexicon, make_scorer

CLINIC = """\
# Mindful Health's own words
extra:              # term: valence, -4 .. +4
  waitlist: -2.0
  "no show": -2.5
  telehealth: 0.5
neutral:            # service names that read as sentiment
  - crisis line
  - Urgent Care
  - hope center
"""


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(CLINIC, encoding="utf-8")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_loads_into_normalised_terms(clinic):
    lex = load_domain_lexicon(clinic)
    assert lex.extra == {"waitlist": -2.0, "no show": -2.5, "telehealth": 0.5}
    assert lex.neutral == frozenset({"crisis line", "urgent care", "hope center"})


@pytest.mark.parametrize("name", ["harkbot", "harkbot-rules"])
def test_extra_terms_move_the_score_and_show_in_the_terms(clinic, name):
    text = "The waitlist at Mindful is now 6 weeks long"
    plain = make_scorer(name).score(text)
    domain = make_scorer(name, lexicon=clinic).score(text)
    assert domain.polarity < plain.polarity
    assert domain.label == "negative" and domain.terms[0] == "waitlist"
    assert make_scorer(name, lexicon=clinic).score("My therapist was a no show again").terms[0] == "no show"


@pytest.mark.parametrize("name", ["harkbot", "harkbot-rules"])
@pytest.mark.parametrize("text", [
    "Our Crisis Line is staffed around the clock",
    "Hope Center opens a new clinic in Austin on Monday",
])
def test_neutral_terms_stop_reading_as_sentiment(clinic, name, text):
    assert make_scorer(name).score(text).label != "neutral"  # what the plain lexicon does
    score = make_scorer(name, lexicon=clinic).score(text)
    assert score.label == "neutral", score
    assert not {"crisis", "hope"} & set(score.terms)


def test_neutral_terms_leave_the_rest_of_the_text_alone(clinic):
    scorer = make_scorer("harkbot", lexicon=clinic)
    assert scorer.score("The crisis line was awful, nobody answered for an hour").label == "negative"
    assert scorer.score("The crisis line counsellor was wonderful, thank you").label == "positive"


def test_a_domain_lexicon_object_can_be_passed_directly():
    from bot.sentiment import HarkbotRulesScorer

    scorer = HarkbotRulesScorer(lexicon=DomainLexicon(extra={"waitlist": -3.0}))
    assert scorer.score("waitlist").label == "negative"


def test_an_empty_file_is_an_empty_lexicon(tmp_path):
    assert load_domain_lexicon(write(tmp_path, "# nothing yet\n")) == DomainLexicon(source=str(tmp_path / "lexicon.yaml"))


def test_textblob_and_vader_refuse_a_domain_lexicon(clinic):
    for name in ("vader", "textblob"):
        with pytest.raises(ValueError, match="domain lexicon"):
            make_scorer(name, lexicon=clinic)


def problems_of(path: Path) -> list:
    with pytest.raises(ConfigError) as info:
        load_domain_lexicon(path)
    return info.value.problems


@pytest.mark.parametrize("text, line, words", [
    ("extra:\n  waitlist: -2\n  refund: lots\n", 3, "must be a number"),
    ("extra:\n  waitlist: -9\n", 2, "outside -4 .. 4"),
    ("extra:\n  waitlist: true\n", 2, "must be a number"),
    ("extras:\n  waitlist: -2\n", 1, "unknown key 'extras'"),
    ("neutral: crisis line\n", 1, "list of terms"),
    ("neutral:\n  - crisis line\n  - 3\n", 3, "word or phrase"),
    ("extra: [waitlist]\n", 1, "maps terms to valences"),
    ("extra:\n  waitlist: -2\nneutral:\n  - waitlist\n", 4, "also under 'extra'"),
    ("extra:\n  waitlist: -2\n   refund: -1\n", 3, "YAML syntax"),
    ("- waitlist\n", 1, "a mapping"),
])
def test_a_bad_file_says_where(tmp_path, text, line, words):
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert any(words in p.message for p in problems), problems
    first = next(p for p in problems if words in p.message)
    assert first.file == str(path) and first.line == line
    assert f"{path}:{line}:" in str(ConfigError(problems))


def test_an_unknown_key_gets_a_suggestion(tmp_path):
    problems = problems_of(write(tmp_path, "neutrals:\n  - crisis line\n"))
    assert "neutral" in problems[0].hint


def test_python_tags_are_refused_not_run(tmp_path):
    path = write(tmp_path, "extra: !!python/object/apply:os.system ['echo pwned']\n")
    problems = problems_of(path)
    assert problems and problems[0].line == 1


def test_a_missing_file_is_a_clear_error(tmp_path):
    problems = problems_of(tmp_path / "nope.yaml")
    assert "cannot read" in problems[0].message
