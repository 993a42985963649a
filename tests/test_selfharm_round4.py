"""#14 round 4 (tuned on v3): each new mechanism, in sentences written for these tests (not from
v3, v2, v1 or the training data). A recovery told in the present, news and third-person framing,
frames with slots for oblique farewells, passive ideation and method or plan; and the guards
that keep each frame off ordinary posts. Every flag still gives its evidence, and a joking
marker never drops a post below the routed levels."""

from __future__ import annotations

import pytest

from bot import selfharm
from bot.selfharm import ROUTED, assess


def routed(text: str) -> bool:
    flag = assess(text)
    return flag is not None and flag.level in ROUTED


# --------------------------------------------------------------------------- recovery told in the present

@pytest.mark.parametrize("text", [
    # a streak of days, weeks or years clean, free or without (no pronoun needed)
    "eighteen months free of cutting today. still get the itch some evenings but it passes",
    "two years without self harm and i finally wore short sleeves to work",
    # then and now: a past crisis, then a sentence that starts in the present
    "last spring i spent every night thinking about killing myself. today i signed the lease on my first flat",
    "i used to hide my wrists under plasters all the time. this summer i went swimming with my nieces",
    # "do not ... anymore", a crisis told as faded
    "back in sixth form i wanted to die most mornings. i don't feel that anymore and i wanted someone to know",
    # a plain past (years ago, a year) outweighs the future words of its own sentence
    "In 2021 I was going to end my life. Therapy helped, and I am glad I stayed",
    "six years ago i planned to kill myself. now i coach the under-12s on saturdays and i'm proud of it",
    # an act in a distant past: an age, "back then"
    "i started cutting at 13 and stopped at 19. these days the scars are just part of me and i'm proud",
])
def test_a_recovery_told_in_the_present_is_not_routed(text: str) -> None:
    flag = assess(text)
    assert flag is None or flag.level not in ROUTED, flag


@pytest.mark.parametrize("text", [
    # a recent act is the present, even in a post that talks of recovery
    "i was doing so much better and proud of it, but yesterday i tried to kill myself",
    "two years clean and last night i cut again",
    # the present beside the past
    "years ago i tried to end my life and i think i am going to try again tonight",
    # "better off", "worse, not better": no recovery told
    "i used to think everyone would be better off without me. i still do",
    "i started new meds a month ago and i feel worse, not better. i want to die",
    # an act or a plan told in a plain past is how a preparation or a relapse is told today: it
    # needs a distant past ("years ago", "at 14") to be a recovery
    "wrote letters for my mum and my brother tonight and i'm grateful for them both",
    "i'm proud i lasted so long but i cut myself after work",
])
def test_a_present_crisis_beside_a_past_or_a_recovery_word_stays_routed(text: str) -> None:
    assert routed(text), assess(text)


def test_a_recovery_story_keeps_the_classifier_alone_quiet_too() -> None:
    """A long recovery story whose every cue is told in the past: the classifier, which reads
    crisis words without their tense, does not flag it on its own. A classifier that flags every
    post (P 0.99) shows the guard: the same detector flags a long post that is no recovery story."""
    story = ("Three winters ago I attempted suicide and woke up in hospital. I had been suicidal for most of my "
             "twenties and I honestly believed I would never get out of it. What helped was a psychiatrist who "
             "listened, a medication that suited me, and my sister refusing to give up on me. These days I "
             "work at a bakery, I sleep through the night, and I am proud of how far I have come. If you are "
             "where I was, please stay. It gets better, slowly.")
    not_a_story = story.replace("These days I", "Tonight I sit here and I")
    always = selfharm.Classifier({}, 4.6, 1 << 10, threshold=0.5, short_threshold=0.5)
    detector = selfharm.Detector(selfharm.default_lexicon(), always, concepts=selfharm.default_concepts())
    flag = detector.assess(story)
    assert flag is not None and flag.level == "none" and flag.cues, flag  # stored, not routed, with evidence
    assert flag.probability >= 0.99
    other = detector.assess(not_a_story)
    assert other is not None and other.level in ROUTED, other


# --------------------------------------------------------------------------- news and third-person framing

@pytest.mark.parametrize("text", [
    # a subject read through auxiliaries: "they are thinking", "she has been"
    "if a pupil tells you they are thinking about suicide, listen first and then get help",
    # guidance about nobody in particular
    "the course taught us to ask anyone whether they're thinking of killing themselves, plainly",
    # someone else's crisis told as survived
    "the podcast interviews a woman who survived a fall from a bridge and now campaigns for safety nets",
    # a short quoted cue in a post about words
    'the school sent parents a note explaining slang words like "kms" and "unalive" and what they mean',
    # crisis words as topic nouns
    "I am compiling suicide and self harm statistics for the council's annual report",
    "our self harm recovery group meets on thursdays at the library, all welcome",
    # a label's none block covers every clinical word in its window
    "the leaflet warns about dizziness, dry mouth and, in rare cases, suicidal thoughts",
    # laughing so hard someone could die; "die happy"
    "my dad laughed so hard at the panto i honestly thought he would die",
    "this new album is so good i could die happy",
])
def test_news_guidance_and_figurative_posts_are_not_routed(text: str) -> None:
    flag = assess(text)
    assert flag is None or flag.level not in ROUTED, flag


@pytest.mark.parametrize("text", [
    "my flatmate says she is thinking about suicide and she won't answer her door",
    "I keep saying \"I want to die\" as a joke at work but honestly I mean it",
    "someone in my class told me they've been stockpiling pills, what do i do right now",
])
def test_a_person_at_risk_is_still_routed_beside_those_frames(text: str) -> None:
    assert routed(text), assess(text)


# --------------------------------------------------------------------------- frames with slots

FRAMES = {
    "arrangements and finality": [
        "sorted my passwords into an envelope for my sister. i won't need them after this weekend",
        "the rent for february is paid and the bills are set up on direct debits. bye everyone",
    ],
    "not making it to a date": ["dont save me a seat at christmas, i won't make it to december"],
    "a place and not coming back": ["taking the last bus to the quarry on friday and i'm not coming back"],
    "no future self": ["i can't imagine growing old, it's just a blank when i try"],
    "not interested in living": ["i'm not even interested in being alive these days"],
    "no reason to be here": ["there's no reason for me to be here and i know it"],
    "envy of the dead": ["walked past the graveyard on my way to work and felt envious of them all"],
    "hoped-for harm": ["part of me keeps hoping something happens to me on the motorway"],
    "disappointed to be alive": ["opened my eyes this morning and was gutted i'm still alive"],
    "means kept in secret": ["been buying paracetamol at different pharmacies so no one notices"],
    "a ligature tested": ["hung a belt from the loft hatch to see if it would hold"],
    "a combination researched": ["googling which combination of my prescriptions is quickest"],
    "slang with a wink": ["might be graduating early this year if you know what i mean"],
    "not planning to be here": ["after the wedding i'm not planning to be here, so this is me saying thanks"],
}


@pytest.mark.parametrize("frame, text", [(f, t) for f, ts in FRAMES.items() for t in ts])
def test_each_frame_routes_its_post_with_evidence(frame: str, text: str) -> None:
    flag = assess(text)
    assert flag is not None and flag.level in ROUTED, (frame, flag)
    assert flag.cues and all(c.strip() for c in flag.cues), flag


@pytest.mark.parametrize("text", [
    "paid the rent and the bills for january, feeling very organised",
    "i won't make it to the march meeting, sorry all",
    "going to the cliffs on saturday with the walking club, not coming back till late",
    "can't imagine growing old without you babe",
    "tied the tomato plants to the fence to see if it would hold in the wind",
    "which combination of toppings is quickest to make on a weeknight",
    "disappointed i woke up so early on a saturday",
    "the rope arrived for my climbing course",
    "sorted who gets my old records before the move. won't need them in the new flat",
    "graduating early this year, so proud of myself",
    "getting my old scars covered with a tattoo next month, so excited",
])
def test_the_frames_stay_off_ordinary_posts(text: str) -> None:
    flag = assess(text)
    assert flag is None or flag.level not in ROUTED, flag


# --------------------------------------------------------------------------- joking markers and evidence

@pytest.mark.parametrize("text", [
    "lol been buying paracetamol at different pharmacies so no one notices",
    "i won't make it to december anyway 😂",
    "hung a belt from the loft hatch to see if it would hold lmao",
    "haha can't imagine growing old, it's just a blank",
])
def test_a_joking_marker_lowers_confidence_never_the_level(text: str) -> None:
    flag = assess(text)
    plain = assess(text.replace("lol ", "").replace(" 😂", "").replace(" lmao", "").replace("haha ", ""))
    assert flag is not None and flag.level in ROUTED and flag.cues, flag
    assert flag.level == plain.level and flag.confidence < plain.confidence
    assert "joking" in flag.reason
