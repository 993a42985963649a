"""#14 round 3: a crisis told in the past beside a present recovery is a recovery story (a stored
`none` flag, not routed); a present-tense statement never is."""

import pytest

from bot.selfharm import ROUTED, assess


def routed(text: str) -> bool:
    flag = assess(text)
    return flag is not None and flag.level in ROUTED


@pytest.mark.parametrize("text", [
    "Three years ago I wrote a goodbye note. Tonight I'm at my sister's wedding and so glad I stayed",
    "I used to believe my family would be better off without me. Therapy helped me see it was a lie",
    "back when I was self harming every week I never thought I'd see 30. turned 31 today, proud of me",
])
def test_a_crisis_told_in_the_past_beside_a_recovery_is_not_routed(text):
    flag = assess(text)
    assert flag is not None and flag.level == "none", flag  # stored, kept out of other alerts


@pytest.mark.parametrize("text", [
    "I used to be proud of my recovery. I want to kill myself again",
    "five years clean and I relapsed last night, I cut again",
    "broke my clean streak after 2 years, I hurt myself last night and hate myself",
    "therapy helped for a while but I wrote a goodbye letter and I am going to do it tonight",
    "I'm glad you stayed. I want to die",
])
def test_present_or_relapse_statements_keep_their_level(text):
    assert routed(text)
