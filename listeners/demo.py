"""A seeded, deterministic synthetic mention stream for `harkbot demo`.

Three fictional brands (mindful, theranow, haven) are mentioned on X, Reddit and YouTube
with a daily rhythm, an ordinary sentiment mix, decoys the brand matcher must drop, and
three planted events (see `events`): a privacy-leak crisis that a negative-spike rule must
catch, a competitor launch that a launch-terms rule must catch, and a spam burst that no
rule should fire on. Words that such rules look for (launch, introducing, leak, breach,
HIPAA...) appear only inside their event, so nothing else fires.

Every mention is built as a platform-shaped payload first and read back with
`DemoListener.to_mention`, so the stream exercises the same kind of mapping as a real
listener. All randomness comes from one `random.Random(seed)`, drawn in a fixed order:
the same (start, days, seed) always gives the identical stream.
"""

from __future__ import annotations

import html
import math
import random
import re
import string
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

from pydantic import Field

from bot.models import UTC, Batch, Brand, Mention, iso, parse_iso, utc
from listeners.base import ListenerOptions, QuotaPlan
from listeners.mastodon import MastodonListener
from listeners.rss import RSSListener

STEP = timedelta(minutes=5)  # arrivals are drawn per step, like the pipeline's buckets
PAGE = 100  # mentions per Batch, as a platform page would hold

# --------------------------------------------------------------------------- volume

PEAK_PER_HOUR = {"mindful": 30.0, "theranow": 15.0, "haven": 10.0}
NOISE_SHARE = 0.15  # off-topic posts and decoys, relative to all brand volume

# Activity by UTC hour: busiest 15:00-20:00 (US afternoon, EU evening), quietest
# 06:00-10:00 (US night) at about a fifth of the peak. Linear between the points.
_RHYTHM = ((0, 0.75), (3, 0.50), (6, 0.24), (10, 0.24), (12, 0.60), (14, 0.90), (15, 1.0),
           (20, 1.0), (22, 0.90), (24, 0.75))


def rhythm(at: datetime) -> float:
    """The share of peak activity at this time of day."""
    hour = at.hour + at.minute / 60
    for (h0, v0), (h1, v1) in zip(_RHYTHM, _RHYTHM[1:]):
        if hour < h1:
            return v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
    return _RHYTHM[-1][1]


_DAY = datetime(2000, 1, 1, tzinfo=UTC)
MEAN_RHYTHM = sum(rhythm(_DAY + i * STEP) for i in range(288)) / 288


def usual_per_hour(brand: str) -> float:
    """A brand's average hourly volume over a whole ordinary day."""
    return PEAK_PER_HOUR[brand] * MEAN_RHYTHM


@dataclass(frozen=True)
class _Surge:
    """Extra volume on top of the usual: a linear ramp, a plateau, an exponential decay."""

    brand: str
    offset: timedelta  # from the stream start
    ramp: timedelta
    hold: timedelta
    half_life: timedelta
    times_usual: float  # extra volume at the plateau, in multiples of usual_per_hour

    @property
    def end(self) -> timedelta:
        """Where the surge stops: four half-lives into the decay, at a sixteenth of its plateau.

        A long thin tail would hover around a rule's threshold and fire it again, or after
        the event; cut while still clearly above, a rule goes quiet once and stays quiet.
        """
        return self.offset + self.ramp + self.hold + 4 * self.half_life

    def per_hour(self, offset: timedelta) -> float:
        t = offset - self.offset
        if t < timedelta(0) or offset >= self.end:
            return 0.0
        if t < self.ramp:
            level = t / self.ramp
        elif t < self.ramp + self.hold:
            level = 1.0
        else:
            level = 0.5 ** ((t - self.ramp - self.hold) / self.half_life)
        return level * self.times_usual * usual_per_hour(self.brand)


CRISIS = _Surge("mindful", timedelta(days=2, hours=12), timedelta(hours=1), timedelta(hours=5),
                timedelta(minutes=45), times_usual=8.5)
LAUNCH = _Surge("theranow", timedelta(days=1, hours=14), timedelta(minutes=15),
                timedelta(hours=2, minutes=45), timedelta(minutes=30), times_usual=4.5)
SPAM_AT, SPAM_FOR = timedelta(days=1, hours=3), timedelta(minutes=20)
# An ordinary busy evening: more of everything, the usual mix; no rule should fire on it.
BUSY_EVENING = (timedelta(hours=19), timedelta(hours=23), 1.35)


@dataclass(frozen=True)
class DemoEvent:
    name: str  # "privacy-leak", "competitor-launch", "spam-burst"
    brand: str  # brand key
    start: datetime  # aware UTC
    end: datetime
    expect_alert: bool  # True for the crisis and the launch, False for the spam burst


def events(start: datetime) -> list[DemoEvent]:
    start = utc(start)
    return [
        DemoEvent("spam-burst", "mindful", start + SPAM_AT, start + SPAM_AT + SPAM_FOR, False),
        DemoEvent("competitor-launch", LAUNCH.brand, start + LAUNCH.offset, start + LAUNCH.end, True),
        DemoEvent("privacy-leak", CRISIS.brand, start + CRISIS.offset, start + CRISIS.end, True),
    ]


# --------------------------------------------------------------------------- words

# How people write each brand; every form matches the brand's query in config.yaml.
BRAND_FORMS = {
    "mindful": ("Mindful Health", "Mindful Health", "@MindfulHealth", "#MindfulHealth",
                "the Mindful app", "MindfulHealth"),
    "theranow": ("TheraNow", "TheraNow", "@TheraNow", "#TheraNow", "Theranow"),
    "haven": ("Haven Therapy", "Haven Therapy", "@HavenTherapy", "#HavenTherapy",
              "the Haven Therapy app"),
}
HASHTAGS = {"mindful": "#MindfulHealth", "theranow": "#TheraNow", "haven": "#HavenTherapy"}
FEATURES = {  # singular, so "the {feature} ... is" reads right
    "mindful": ("video therapy", "mood journal", "medication management", "weekly check-in",
                "sleep program"),
    "theranow": ("text therapy", "same-day booking", "chat feature", "evening schedule",
                 "voice note feature"),
    "haven": ("couples program", "group therapy", "intake quiz", "family therapy",
              "therapist matching"),
}
SLOTS = {
    "therapist": ("therapist", "counselor", "psychiatrist", "LCSW", "clinician"),
    "insurer": ("Aetna", "Cigna", "UnitedHealthcare", "Blue Cross", "Kaiser", "Medicaid",
                "Humana", "Optum"),
    "issue": ("anxiety", "depression", "ADHD", "burnout", "grief", "OCD", "PTSD", "insomnia",
              "panic attacks"),
    "med": ("sertraline", "escitalopram", "bupropion", "fluoxetine", "venlafaxine", "buspirone"),
    "wait": ("3 days", "a week", "two weeks", "10 days", "a month"),
    "price": ("$65", "$90", "$109", "$120", "$79"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "when": ("lunch break", "commute home", "break at work", "Sunday morning", "night shift"),
    "months": ("3 months", "6 months", "8 months", "a year", "two years"),
    "outlet": ("The Verge", "STAT News", "Axios", "Fierce Healthcare", "TechCrunch",
               "the Wall Street Journal", "NPR"),
    "employer": ("Shopify", "a large hospital network", "two state universities", "Target",
                 "a regional bank"),
    "n": ("4", "6", "12", "20", "35"),
    "state": ("Texas", "Ohio", "Florida", "Oregon", "New York", "Georgia"),
    "pos": ("", "", "", " 🙏", " 💙", " <3", " ✨", " !!"),
    "neg": ("", "", "", " 😤", " 🙃", " smh", " …", " 😡"),
    "who": ("my partner", "my sister", "my dad", "a friend", "my roommate", "my teenager"),
}

# Normal-time posts by category. Keep rule trigger words (launch, introducing, "now
# available", leak, breach, HIPAA, "never again", lawsuit) out of these.
BODIES = {
    "praise": (
        "my {therapist} on {b} actually listens{pos}",
        "{months} with {b} and I finally feel like myself again{pos}",
        "shoutout to {b}, booked a session for {day} and my {therapist} was amazing",
        "the {feature} on {b} is genuinely great, worth every penny",
        "honestly {b} has been a lifesaver this year{pos}",
        "matched with a {therapist} on {b} who gets me on the first try. so grateful",
        "love that {b} lets me do sessions on my {when}{pos}",
        "the support team at {b} sorted my account in 10 minutes, impressed",
        "{b} made therapy affordable for me. thank you{pos}",
        "third session on {b} today. feeling lighter{pos}",
        "if you’ve been putting off therapy, {b} made it easy for me{pos}",
        "my {therapist} at {b} helped me set boundaries with my family & it’s working",
        "{b} > every other app I tried. kind, patient, and actually on time",
        "best decision this year: signing up for {b}{pos}",
        "the {feature} on {b} is so good <3",
        "recommended {b} to {who} and they love it too",
        "{b} gave me a {therapist} who actually remembers what we talked about. wonderful",
        "small win: kept my {b} appointment every week for {months}{pos}",
        "really happy with {b} so far, the {feature} helps a lot",
        "“you deserve support” — my {b} {therapist}, and I needed to hear it{pos}",
    ),
    "complaint": (
        "{b} charged me twice this month and support is ignoring me{neg}",
        "been waiting {wait} for a refund from {b}. ridiculous",
        "the {b} app crashed three times during my session today{neg}",
        "{b} cancelled my session 10 minutes before it started. again.{neg}",
        "why does {b} make it so hard to cancel? terrible",
        "{b} billing is a mess, {price} taken without warning{neg}",
        "waited {wait} to get matched on {b} and still nothing. frustrating",
        "{b} video keeps freezing. paying {price} for this is annoying",
        "my {therapist} on {b} left and nobody told me. awful handling",
        "{b} support chat is a bot that goes in circles{neg}",
        "disappointed with {b}, third reschedule in a row{neg}",
        "{b} raised the price to {price} a week with no notice. not ok",
        "the {feature} on {b} has been broken for {wait}. fix it please{neg}",
        "{b} billing & support are both useless, still no answer after {wait}",
        "worst week with {b}: late {therapist}, dropped call, no apology{neg}",
    ),
    "question": (
        "does {b} take {insurer}?",
        "anyone tried {b} for {issue}? how long until you got matched?",
        "how does {b} compare to seeing someone in person?",
        "is {b} covered by HSA/FSA?",
        "can you switch therapists on {b} or are you stuck with the first one?",
        "what does {b} cost without insurance these days?",
        "question for people using {b}: are sessions by video or chat?",
        "does {b} have {therapist}s who speak Spanish?",
        "thinking about {b} for {who}. how does the intake work?",
        "anyone know if {b} works outside the US?",
        "is the {feature} on {b} included or extra?",
        "how far ahead do you book with {b}? is {day} evening realistic?",
        "does {b} do {issue} specialists or is it general?",
        "Q&A: can {b} {therapist}s write notes for work?",
    ),
    "news": (
        "{b} reports {n}k members in its latest investor update",
        "{b} is hiring {therapist}s in {state}",
        "{b} partners with {employer} on employee mental health benefits",
        "read: how teletherapy apps like {b} match patients with clinicians ({outlet})",
        "{b} CEO interviewed about the teletherapy market ({outlet})",
        "{b} updated its iOS app this week, mostly bug fixes",
        "my {therapist} appointment on {b} moved to {day}",
        "switched my {b} sessions to {day}s",
        "podcast episode about {b} and the teletherapy business",
        "{b} added {insurer} to its list of accepted plans in {state}",
        "{b} is sponsoring a mental health walk in {state} this {day}",
        "using {b} for the first time on {day}",
    ),
    # Clinical words read as negative to a lexicon, but these are not complaints.
    "clinical": (
        "{b} helped me manage my depression and anxiety",
        "talked with my {b} psychiatrist about side effects of {med}, very helpful",
        "my {b} {therapist} and I are working on panic attacks and it’s slowly getting better",
        "started {med} through {b} for my {issue}. week 2, some nausea but okay",
        "{b} psychiatrist adjusted my {med} dose after my insomnia got worse",
        "trauma therapy on {b} is hard work but it’s helping",
        "grief counseling through {b} after losing my dad",
        "{b} is where I finally got an ADHD diagnosis at 34",
        "suicidal thoughts were scary to admit but my {b} {therapist} handled it with care",
    ),
    "spam": (
        "DM me for followers {tag} crypto giveaway",
        "🔥 {tag} users: claim your free $500 gift card 👉 bit.ly/gft-{n}",
        "earn $3000/week from home!! {tag} #motivation #hustle",
        "100% guaranteed growth, 10k followers in 24h {tag} {tag2}",
    ),
}
TITLES = {
    "praise": ("Positive experience with {b}", "{b} actually worked for me",
               "Small win thanks to {b}", "{b}: {months} update", "My honest {b} review"),
    "complaint": ("{b} billing problem", "Anyone else having trouble with {b}?",
                  "Frustrated with {b} support", "{b} keeps cancelling sessions"),
    "question": ("{b} and insurance?", "Question about {b}", "Thinking of trying {b}",
                 "{b} vs in-person therapy?"),
    "news": ("{b} in the news", "Teletherapy apps compared: {b}", "{b} business update"),
    "clinical": ("{b} and medication management", "Progress with {issue} ({b})",
                 "Therapy for {issue} through {b}"),
    "spam": ("FREE followers + crypto giveaway {tag}",),
}
# Tuned so VADER labels ordinary brand posts about 45% neutral, 35% positive, 20% negative.
MIX = (("praise", 0.25), ("question", 0.27), ("news", 0.23), ("complaint", 0.15),
       ("clinical", 0.06), ("spam", 0.04))

# Posts the brand matcher must drop: no brand at all, or look-alikes the queries exclude.
NOISE = (
    "be mindful of your breathing when anxiety spikes",
    "mindful eating tips for the holidays 🥗",
    "this shelter is a safe haven for cats 🐈",
    "be mindful with your words today",
    "a mindful walk before work changes my whole day",
    "mindful eating is harder than it sounds",
    "that café is my haven on rainy days",
    "therapy session today was rough but necessary",
    "any teletherapy recommendations that take {insurer}?",
    "reminder to drink water & text your friends",
    "my {therapist} said something today I can’t stop thinking about",
    "week 3 on {med}, sleeping better",
    "online therapy vs in person, what worked for you?",
    "the island is a tax haven, not a paradise",
)
NOISE_TITLES = ("Therapy thoughts", "Quick question", "Small win today", "Venting")

CRISIS_HEADLINES = (
    "Mindful Health exposed therapy session notes in a data leak affecting 1.2M patients ({outlet})",
    "Mindful Health breach: private therapy session notes leaked online, company confirms",
    "Leaked Mindful Health files include session notes and diagnoses; a possible HIPAA violation",
    "Class action filed against Mindful Health over leaked therapy records",
)
CRISIS_BODIES = (
    "{b} leaked my therapy notes. I told my therapist things I never told anyone. cancelling my subscription, never again 😡",
    "just got the breach email from {b}. are my records out there?? I feel sick",
    "{b} exposed session notes and all we get is a vague email. disgusting",
    "how is a HIPAA breach this big even possible. shame on {b}",
    "cancelling {b} today. I want a refund and I want my records deleted",
    "so {b} leaked my therapy notes. I’m done with them, never again 😡",
    "{b} refund my last 3 months. you leaked my session notes, this is awful",
    "my records were in the {b} leak. my diagnosis, my meds, everything. I feel violated",
    "class action against {b} already. good. this breach is horrifying",
    "anyone else scared to check if their {b} notes were leaked? I can’t stop shaking",
    "the {b} data leak is the worst thing that could happen to therapy patients. furious",
    "{b} kept session notes unencrypted?? the breach was inevitable. awful",
    "I talked to my {b} therapist about my abuse. now it’s leaked. I’m devastated",
    "deleted {b}. a leak of therapy notes is unforgivable. never again",
    "lawyers are already lining up over the {b} breach. they deserve every lawsuit",
    "this {b} leak will stop people from getting help. terrible for everyone",
    "{b} users: change your passwords & request your records. this breach is bad",
    "terrible news about {b}, my therapy history leaked. ashamed and angry",
)
CRISIS_TITLES = (
    "{b} data leak megathread", "PSA: {b} leaked therapy session notes",
    "{b} breach: what we know so far", "{b} HIPAA breach explained",
    "I'm cancelling {b} after the leak", "Were your {b} records leaked?",
)
CRISIS_QUOTES = ("this is horrifying", "absolutely unacceptable", "I feel sick reading this",
                 "terrible. cancelling today", "worst case scenario for patients")
CRISIS_STATEMENT = (
    "We are aware of reports of unauthorized access to Mindful Health session notes. We are "
    "investigating with outside experts and will contact every affected member."
)

LAUNCH_OFFICIAL = (
    "Introducing TheraNow Teen: licensed therapists for ages 13-17, with parent-friendly "
    "scheduling. Now available in all 50 states 💙",
    "TheraNow Teen is live! Text and video therapy built with teens, for teens. Now available "
    "on iOS & Android.",
    "Thank you for the amazing response to TheraNow Teen today. We just launched and over "
    "10,000 families have joined 🙌",
)
LAUNCH_BODIES = (
    "TheraNow launches TheraNow Teen, a teletherapy service for teenagers ({outlet})",
    "TheraNow just launched TheraNow Teen, therapy for ages 13-17. wish this existed when I was 15 💙",
    "finally! TheraNow Teen is now available, signing up {who} tonight",
    "introducing TheraNow Teen looks great, love that parents can book but not read the chats",
    "{b} launched a teen plan today. curious how they handle parental consent",
    "so TheraNow Teen is now available... anyone know the price?",
    "big day for {b}: TheraNow Teen just launched in all 50 states",
    "the TheraNow Teen launch is a smart move, teens need this so much",
    "TheraNow Teen launched today and my school counselor already recommended it. amazing",
    "{b} is launching into teen therapy with TheraNow Teen. interesting market",
    "excited to see TheraNow Teen launch, this will help so many kids 🙏",
    "TheraNow Teen just launched. does it take {insurer}?",
)
LAUNCH_TITLES = ("TheraNow launches TheraNow Teen", "Introducing TheraNow Teen",
                 "TheraNow Teen is now available: first look",
                 "TheraNow just launched a teen plan, thoughts?")

SPAM_BURST = ("DM me for followers #MindfulHealth crypto giveaway", "DM me for 10k followers "
              "#MindfulHealth crypto giveaway", "DM me for followers fast #MindfulHealth crypto giveaway")
SPAM_TAILS = ("", " 🚀", " 🚀🚀", "!!", " 💰", " 📈")  # not 🔥: VADER reads "fire" as negative

# News (the RSS stream): a few articles a day per brand, more when something happens.
NEWS_PER_DAY = {"mindful": 2.0, "theranow": 1.5, "haven": 1.0}
PUBLISHERS = ("Health Tech Daily", "Digital Health Wire", "The Care Ledger", "Mind & Market",
              "Telehealth Today", "The Morning Chart")
NEWS = (
    ("{b} expands insurance coverage for online therapy",
     "The teletherapy provider now accepts two more regional insurers, its spokesperson said."),
    ("{b} adds evening sessions as demand for teletherapy grows",
     "The company says evening and weekend slots are its most requested."),
    ("Teletherapy apps compared: {b} and its rivals on price and wait times",
     "We compared monthly plans, therapist availability and cancellation terms."),
    ("{b} names a new chief clinical officer",
     "The appointment follows a year of growth in the company's psychiatry service."),
    ("What employers should ask before offering {b} as a benefit",
     "Privacy terms, clinical oversight and outcomes data top the list."),
)
CRISIS_NEWS = (
    ("Mindful Health confirms leak of therapy session notes",
     "The company said an exposed storage bucket held notes and diagnoses of about 1.2 million patients."),
    ("Patients demand answers after Mindful Health data leak",
     "Users describe anger and fear after learning their therapy records may be online."),
    ("Regulators look into Mindful Health breach; possible HIPAA violation",
     "Privacy lawyers say the exposure of session notes could bring penalties."),
)
LAUNCH_NEWS = (
    ("TheraNow launches TheraNow Teen, therapy for 13 to 17 year olds",
     "The plan pairs teens with licensed therapists and gives parents a separate check-in."),
    ("TheraNow Teen: what parents should know about the new plan",
     "Pricing, consent and how sessions are matched."),
)

# --------------------------------------------------------------------------- accounts

PLATFORMS = (("x", 0.55), ("reddit", 0.23), ("youtube", 0.14), ("mastodon", 0.08))
# Fediverse servers the demo's Mastodon accounts live on; the listener reads the first.
SERVERS = ("mastodon.social", "mstdn.science", "toot.community", "mastodon.ie")
SUBREDDITS = ("therapy", "mentalhealth", "anxiety", "depression", "Teletherapy", "privacy")
THREADS = ("Weekly vent thread", "Teletherapy recommendations?", "Is online therapy worth it?",
           "Insurance and therapy apps", "Share a small win", "Switching therapists")
_FIRST = ("sam", "jess", "maya", "noor", "theo", "lena", "omar", "priya", "kai", "ella", "marco",
          "zoe", "dev", "ines", "luca", "amara", "jules", "nina", "ravi", "tess", "ben", "aisha",
          "finn", "rosa", "yuki", "caleb", "hana", "leo", "mira", "owen", "sofia", "ada")
_SECOND = ("writes", "reads", "runs", "bakes", "codes", "draws", "in_nyc", "in_la", "atx", "uk",
           "tries", "lifts", "sings", "hikes", "knits", "plays", "thinks", "notes")
_ADJECTIVES = ("Quiet", "Brave", "Sleepy", "Gentle", "Rusty", "Curious", "Lucky", "Tired",
               "Sunny", "Odd", "Calm", "Wild")
_NOUNS = ("Lantern", "Otter", "Maple", "Comet", "Pebble", "Falcon", "Teacup", "Harbor", "Fern",
          "Badger", "Moth", "River")
_CHANNEL_WORDS = (("Therapy", "Calm", "Mind", "Healing", "Honest", "Anxious", "Soft", "Brain"),
                  ("Talk", "Corner", "Notes", "Journal", "Lab", "Diaries", "Hour", "Club"))
_ALPHANUM = string.ascii_letters + string.digits
_YT_ID = _ALPHANUM + "-_"
_BASE36 = string.digits + string.ascii_lowercase
_TWITTER_EPOCH_MS = 1288834974657


@dataclass(frozen=True)
class _Account:
    name: str  # handle, username or channel title
    id: str
    reach: int  # followers or subscribers


@dataclass(frozen=True)
class _Draft:
    """A post before it is shaped for a platform."""

    at: datetime
    body: str
    title: str
    platform: str | None = None  # None: drawn by PLATFORMS
    author: _Account | None = None  # only with a platform; None: drawn from its crowd
    heat: float = 1.0  # engagement multiplier: event posts travel further


class _World:
    """The seeded random source and everything drawn from it once: the crowds of accounts."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.taken: set[str] = set()
        self.x_crowd = [self._x_account(self._x_handle()) for _ in range(4000)]
        self.redditors = [self._redditor() for _ in range(2000)]
        self.commenters = [
            _Account("@" + self._x_handle(), self._channel_id(), self._small_reach())
            for _ in range(1500)
        ]
        self.channels = [self._channel() for _ in range(60)]
        # All spam comes from a few accounts, as it does in life; the spam burst uses them too.
        self.spammers = [self._x_account(h, self.rng.randint(20, 300)) for h in
                         ("crypto_gains_4u", "followers_boost", "free_giftz_now")]
        self.journalists = [self._x_account(h, self.rng.randint(100_000, 480_000)) for h in
                            ("ana_ruiz_news", "mkessler_tech", "privacywatch", "healthbeat_jo",
                             "sarahkimreports", "dataleaks_desk")]
        self.fedi = [_Account(f"{self._x_handle()}@{self.rng.choice(SERVERS)}", "", self._small_reach() * 10)
                     for _ in range(600)]
        self.mindful_official = self._x_account("MindfulHealth", 128_300)
        self.theranow_official = self._x_account("TheraNow", 86_400)
        self.theranow_channel = _Account("TheraNow", self._channel_id(), 41_200)

    def unique(self, make: Callable[[], str]) -> str:
        """A fresh id or name; redrawn on the rare collision so ids stay unique."""
        while (value := make()) in self.taken:
            pass
        self.taken.add(value)
        return value

    def token(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def _x_handle(self) -> str:
        rng = self.rng
        forms = (
            lambda: f"{rng.choice(_FIRST)}_{rng.choice(_SECOND)}",
            lambda: f"{rng.choice(_FIRST)}{rng.choice(string.ascii_lowercase)}{rng.randint(1, 99)}",
            lambda: f"{rng.choice(_FIRST)}{rng.choice(_SECOND)}{rng.randint(1980, 2006)}",
        )
        return self.unique(lambda: rng.choice(forms)())

    def _x_account(self, handle: str, reach: int | None = None) -> _Account:
        user_id = self.unique(lambda: str(self.rng.randrange(10**9, 10**19)))
        return _Account(handle, user_id, self._x_followers() if reach is None else reach)

    def _x_followers(self) -> int:
        # Heavy-tailed: most accounts have hundreds of followers, a few have a big audience.
        if self.rng.random() < 0.03:
            return int(10_000 * 50 ** self.rng.random())
        return max(3, int(self.rng.lognormvariate(math.log(350), 0.85)))

    def _small_reach(self) -> int:
        return int(self.rng.lognormvariate(math.log(4), 1.3))

    def _redditor(self) -> _Account:
        rng = self.rng
        name = self.unique(lambda: rng.choice((
            f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}_{rng.randint(10, 9999)}",
            f"throwaway_{rng.choice(_FIRST)}{rng.randint(100, 9999)}",
            f"{rng.choice(_FIRST)}-{rng.choice(_NOUNS).lower()}",
        )))
        return _Account(name, "", 0)  # Reddit listings show no follower count

    def _channel_id(self) -> str:
        return self.unique(lambda: "UC" + self.token(_YT_ID, 22))

    def _channel(self) -> _Account:
        rng = self.rng
        title = self.unique(lambda: rng.choice((
            f"{rng.choice(_CHANNEL_WORDS[0])} {rng.choice(_CHANNEL_WORDS[1])}",
            f"{rng.choice(_CHANNEL_WORDS[0])} {rng.choice(_CHANNEL_WORDS[1])} with Dr. "
            f"{rng.choice(_FIRST).title()}",
        )))
        big = rng.random() < 0.1
        subscribers = int(100_000 * 8 ** rng.random()) if big else int(rng.lognormvariate(math.log(6000), 1.0))
        return _Account(title, self._channel_id(), subscribers)


# --------------------------------------------------------------------------- drafting


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def fill(rng: random.Random, template: str, brand: str | None) -> str:
    """Fill {slots} left to right, so the draw order (and the stream) is fixed."""

    def slot(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "b":
            return rng.choice(BRAND_FORMS[brand])
        if key == "feature":
            return rng.choice(FEATURES[brand])
        if key == "tag":
            return HASHTAGS[brand]
        if key == "tag2":
            return rng.choice([t for k, t in HASHTAGS.items() if k != brand])
        return rng.choice(SLOTS[key])

    return re.sub(r"\{(\w+)\}", slot, template)


def _arrivals(rng: random.Random, t: datetime, per_hour: float) -> list[datetime]:
    """Random arrivals within one step, at whole seconds."""
    n = _count(rng, per_hour * (STEP / timedelta(hours=1)))
    return [t + timedelta(seconds=rng.randrange(int(STEP.total_seconds()))) for _ in range(n)]


def _count(rng: random.Random, mean: float) -> int:
    """A Poisson-like count with half the Poisson variance: binomial over 2*mean trials.

    With full Poisson noise, an ordinary peak hour of a small brand now and then reaches 3x
    its usual level and trips a volume rule; the demo must show only its planted events.
    """
    trials = math.ceil(2 * mean)
    return sum(rng.random() < mean / trials for _ in range(trials))


def _casual(rng: random.Random, text: str) -> str:
    return text.lower() if rng.random() < 0.12 else text  # many people post in lower case


def _ordinary(world: _World, brand: str, at: datetime) -> _Draft:
    rng = world.rng
    category = _pick(rng, MIX)
    body = _casual(rng, fill(rng, rng.choice(BODIES[category]), brand))
    title = fill(rng, rng.choice(TITLES[category]), brand)
    if category == "spam":
        return _Draft(at, body, title, "x", rng.choice(world.spammers))
    return _Draft(at, body, title)


def _noise(world: _World, at: datetime) -> _Draft:
    rng = world.rng
    return _Draft(at, fill(rng, rng.choice(NOISE), None), rng.choice(NOISE_TITLES))


def _crisis(world: _World, at: datetime) -> _Draft:
    rng = world.rng
    headline = fill(rng, rng.choice(CRISIS_HEADLINES), "mindful")
    kind = rng.random()
    if kind < 0.06:  # a journalist breaks or follows up the story
        return _Draft(at, headline, headline, "x", rng.choice(world.journalists), heat=8)
    if kind < 0.16:
        return _Draft(at, f"RT @{rng.choice(world.journalists).name}: {headline}", headline, "x")
    if kind < 0.24:  # quote-like: a reaction on top of the story
        return _Draft(at, f"{rng.choice(CRISIS_QUOTES)} → “{headline}”", headline, "x", heat=2)
    body = _casual(rng, fill(rng, rng.choice(CRISIS_BODIES), "mindful"))
    return _Draft(at, body, fill(rng, rng.choice(CRISIS_TITLES), "mindful"), heat=3)


def _launch(world: _World, at: datetime) -> _Draft:
    rng = world.rng
    body = _casual(rng, fill(rng, rng.choice(LAUNCH_BODIES), "theranow"))
    return _Draft(at, body, rng.choice(LAUNCH_TITLES), heat=2)


def _planted(world: _World, start: datetime) -> list[_Draft]:
    """Posts at fixed times: the story that starts the crisis, official posts, spam burst."""
    rng = world.rng
    crisis, launch = start + CRISIS.offset, start + LAUNCH.offset
    first = fill(rng, CRISIS_HEADLINES[0], "mindful")
    drafts = [
        _Draft(crisis, first, first, "x", world.journalists[0], heat=10),
        _Draft(crisis + timedelta(hours=2), CRISIS_STATEMENT, "", "x", world.mindful_official, heat=6),
        _Draft(launch, LAUNCH_OFFICIAL[0], "", "x", world.theranow_official, heat=6),
        _Draft(launch + timedelta(minutes=2), LAUNCH_OFFICIAL[1], LAUNCH_TITLES[1], "youtube",
               world.theranow_channel, heat=6),
        _Draft(launch + timedelta(hours=2, minutes=30), LAUNCH_OFFICIAL[2], "", "x",
               world.theranow_official, heat=4),
    ]
    burst = start + SPAM_AT
    for _ in range(rng.randint(23, 27)):
        at = burst + timedelta(seconds=rng.randrange(int(SPAM_FOR.total_seconds())))
        body = rng.choice(SPAM_BURST) + rng.choice(SPAM_TAILS)
        drafts.append(_Draft(at, body, "", "x", rng.choice(world.spammers), heat=0.1))
    return drafts


def _busy(offset: timedelta) -> float:
    since, until, factor = BUSY_EVENING
    return factor if since <= offset < until else 1.0


def _news(world: _World, start: datetime, end: datetime) -> Iterator[_Draft]:
    """Articles: a few a day per brand at office hours, and coverage of the two events."""
    rng = world.rng
    t = start
    while t < end:
        offset, level = t - start, rhythm(t + STEP / 2)
        for brand, per_day in NEWS_PER_DAY.items():
            for at in _arrivals(rng, t, per_day / 24 / MEAN_RHYTHM * level):
                title, body = rng.choice(NEWS)
                yield _article(world, at, fill(rng, title, brand), body)
        for surge, stories in ((CRISIS, CRISIS_NEWS), (LAUNCH, LAUNCH_NEWS)):
            # About one article per 150 posts while the story runs.
            for at in _arrivals(rng, t, surge.per_hour(offset) / 150):
                yield _article(world, at, *rng.choice(stories))
        t += STEP


def _article(world: _World, at: datetime, title: str, body: str) -> _Draft:
    return _Draft(at, body, title, "rss", _Account(world.rng.choice(PUBLISHERS), "", 0))


def _timeline(world: _World, start: datetime, end: datetime) -> Iterator[_Draft]:
    """Poisson arrivals step by step: ordinary posts per brand, noise, and the two surges."""
    rng = world.rng
    noise_peak = NOISE_SHARE * sum(PEAK_PER_HOUR.values())
    t = start
    while t < end:
        offset, level = t - start, rhythm(t + STEP / 2)
        for brand, peak in PEAK_PER_HOUR.items():
            for at in _arrivals(rng, t, peak * level * _busy(offset)):
                yield _ordinary(world, brand, at)
        for at in _arrivals(rng, t, noise_peak * level):
            yield _noise(world, at)
        for at in _arrivals(rng, t, CRISIS.per_hour(offset)):
            yield _crisis(world, at)
        for at in _arrivals(rng, t, LAUNCH.per_hour(offset)):
            yield _launch(world, at)
        t += STEP


# --------------------------------------------------------------------------- shaping


def _x(world: _World, d: _Draft) -> dict[str, Any]:
    rng = world.rng
    user = d.author or rng.choice(world.x_crowd)
    ms = int(d.at.timestamp() * 1000) + rng.randrange(1000)
    tweet_id = world.unique(lambda: str(((ms - _TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22)))
    likes = int(user.reach * rng.uniform(0.002, 0.02) * d.heat * rng.lognormvariate(0, 0.7))
    reposts = int(likes * rng.uniform(0.05, 0.3))
    return {
        "id": tweet_id,
        "text": html.escape(d.body, quote=False),  # the X API sends &amp; &lt; &gt;
        "author_id": user.id,
        "conversation_id": tweet_id,
        "created_at": d.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lang": "en",
        "public_metrics": {
            "like_count": likes,
            "retweet_count": reposts,
            "reply_count": int(likes * rng.uniform(0.03, 0.2)),
            "quote_count": int(reposts * rng.uniform(0, 0.3)),
        },
        # The expanded user from the response's includes.users, joined in by the listener.
        "author": {"id": user.id, "username": user.name,
                   "public_metrics": {"followers_count": user.reach}},
    }


def _reddit(world: _World, d: _Draft) -> dict[str, Any]:
    rng = world.rng
    sub, user = rng.choice(SUBREDDITS), rng.choice(world.redditors)
    post_id = world.unique(lambda: "1" + world.token(_BASE36, 6))
    common = {"subreddit": sub, "author": user.name, "created_utc": d.at.timestamp()}
    score = int(rng.lognormvariate(math.log(6), 1.0) * d.heat)
    if rng.random() < 0.4:
        slug = re.sub(r"[^a-z0-9]+", "_", d.title.lower()).strip("_")[:50]
        return {**common, "id": post_id, "name": f"t3_{post_id}", "title": d.title,
                "selftext": d.body, "score": score,
                "num_comments": int(rng.lognormvariate(math.log(5), 0.9) * d.heat),
                "upvote_ratio": round(rng.uniform(0.6, 1.0), 2),
                "permalink": f"/r/{sub}/comments/{post_id}/{slug}/"}
    thread = rng.choice(THREADS)
    slug = re.sub(r"[^a-z0-9]+", "_", thread.lower()).strip("_")
    comment_id = world.unique(lambda: rng.choice("lm") + world.token(_BASE36, 6))
    return {**common, "id": comment_id, "name": f"t1_{comment_id}", "body": d.body,
            "score": score, "link_id": f"t3_{post_id}", "parent_id": f"t3_{post_id}",
            "link_title": thread,
            "permalink": f"/r/{sub}/comments/{post_id}/{slug}/{comment_id}/"}


def _youtube(world: _World, d: _Draft) -> dict[str, Any]:
    rng = world.rng
    published = iso(d.at)
    if d.author or rng.random() < 0.35:
        channel = d.author or rng.choice(world.channels)
        views = int(channel.reach * rng.uniform(0.05, 0.6) * d.heat) + rng.randint(20, 400)
        likes = int(views * rng.uniform(0.01, 0.05))
        return {
            "kind": "youtube#video",
            "id": world.unique(lambda: world.token(_YT_ID, 11)),
            "snippet": {"publishedAt": published, "channelId": channel.id,
                        "channelTitle": channel.name, "title": d.title, "description": d.body,
                        "defaultAudioLanguage": "en"},
            "statistics": {"viewCount": str(views), "likeCount": str(likes),
                           "commentCount": str(int(likes * rng.uniform(0.05, 0.3)))},
            # From channels.list, joined in by the listener for the author's reach.
            "channel": {"id": channel.id, "statistics": {"subscriberCount": str(channel.reach)}},
        }
    user = rng.choice(world.commenters)
    comment_id = world.unique(lambda: "Ug" + rng.choice("wxyz") + world.token(_ALPHANUM, 16) + "4AaABAg")
    return {
        "kind": "youtube#comment",
        "id": comment_id,
        "snippet": {"videoId": world.token(_YT_ID, 11), "textOriginal": d.body,
                    "textDisplay": html.escape(d.body, quote=False),
                    "authorDisplayName": user.name, "authorChannelId": {"value": user.id},
                    "likeCount": int(rng.lognormvariate(math.log(3), 1.2) * d.heat),
                    "publishedAt": published, "updatedAt": published},
        "channel": {"id": user.id, "statistics": {"subscriberCount": str(user.reach)}},
    }


def _mastodon(world: _World, d: _Draft) -> dict[str, Any]:
    """A status as the server the listener reads (SERVERS[0]) serves it: HTML content, its
    remote accounts' `acct` with their domain, the origin's URI and web link."""
    rng = world.rng
    user = d.author or rng.choice(world.fedi)
    name, _, home = user.name.partition("@")
    local_id = world.unique(lambda: str((int(d.at.timestamp() * 1000) << 16) | rng.getrandbits(16)))
    favourites = int(max(user.reach, 20) * rng.uniform(0.005, 0.03) * d.heat * rng.lognormvariate(0, 0.7))
    return {
        "instance": SERVERS[0],
        "id": local_id,
        "uri": f"https://{home}/users/{name}/statuses/{local_id}",
        "url": f"https://{home}/@{name}/{local_id}",
        "created_at": d.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "content": "<p>" + html.escape(d.body, quote=False).replace("\n", "<br>") + "</p>",
        "spoiler_text": "", "visibility": "public", "language": "en", "in_reply_to_id": None,
        "replies_count": int(favourites * rng.uniform(0.05, 0.3)),
        "reblogs_count": int(favourites * rng.uniform(0.1, 0.4)), "favourites_count": favourites,
        "account": {"acct": user.name if home != SERVERS[0] else name, "followers_count": user.reach},
        "tags": [],
    }


def _rss(world: _World, d: _Draft) -> dict[str, Any]:
    """An entry as listeners/rss_entries.py copies it out of feedparser's parse."""
    slug = re.sub(r"[^a-z0-9]+", "-", d.title.lower()).strip("-")[:60]
    link = f"https://news.example/{d.at:%Y/%m/%d}/{slug}-{world.unique(lambda: world.token(_BASE36, 6))}"
    feed = "https://news.google.com/rss/search?q=demo"
    return {
        "id": link, "feed": feed, "feed_title": {"type": "text/plain", "value": "Demo news search"},
        "feed_link": None, "language": "en",
        "title": {"type": "text/plain", "value": d.title},
        "body": {"type": "text/html", "value": f"<p>{html.escape(d.body, quote=False)}</p>"},
        "link": link, "byline": None, "source": {"title": d.author.name if d.author else None, "href": None},
        "published": iso(d.at), "updated": None, "fetched_at": iso(d.at + timedelta(minutes=10)), "tags": [],
    }


_SHAPERS = {"x": _x, "reddit": _reddit, "youtube": _youtube, "mastodon": _mastodon, "rss": _rss}


def generate(start: datetime, *, days: int = 3, seed: int = 7) -> list[Mention]:
    """The whole stream, sorted by created_at; deterministic for (start, days, seed)."""
    start = utc(start)
    end = start + timedelta(days=days)
    world = _World(seed)
    drafts = [*_timeline(world, start, end), *_planted(world, start), *_news(world, start, end)]
    drafts = sorted((d for d in drafts if start <= d.at < end), key=lambda d: d.at)
    mentions = []
    for d in drafts:
        platform = d.platform or _pick(world.rng, PLATFORMS)
        mention = DemoListener.to_mention(_SHAPERS[platform](world, d))
        assert mention is not None, "a generated payload must read back"
        mentions.append(mention)
    return mentions


# --------------------------------------------------------------------------- reading


def _x_mention(p: dict[str, Any]) -> Mention:
    metrics = {k: int(v) for k, v in p["public_metrics"].items()}
    user = p["author"]
    return Mention(
        platform="x", id=p["id"], text=html.unescape(p["text"]), author=user["username"],
        url=f"https://x.com/{user['username']}/status/{p['id']}",
        created_at=parse_iso(p["created_at"]),
        author_reach=int(user["public_metrics"]["followers_count"]),
        engagement=metrics["like_count"] + metrics["retweet_count"] + metrics["reply_count"],
        language=p.get("lang"), kind="post", metrics=metrics, raw=p,
    )


def _reddit_mention(p: dict[str, Any]) -> Mention:
    submission = p["name"].startswith("t3_")
    metrics = {"score": int(p["score"]), "num_comments": int(p.get("num_comments", 0))}
    return Mention(
        platform="reddit", id=p["name"], text=p["selftext"] if submission else p["body"],
        author=p["author"], url="https://www.reddit.com" + p["permalink"],
        created_at=datetime.fromtimestamp(p["created_utc"], UTC), author_reach=0,
        engagement=metrics["score"] + metrics["num_comments"],
        title=p["title"] if submission else "", kind="post" if submission else "comment",
        metrics=metrics, raw=p,
    )


def _youtube_mention(p: dict[str, Any]) -> Mention:
    s = p["snippet"]
    reach = int(p["channel"]["statistics"]["subscriberCount"])
    if p["kind"] == "youtube#video":
        metrics = {k: int(v) for k, v in p["statistics"].items()}
        return Mention(
            platform="youtube", id=p["id"], text=s["description"], author=s["channelTitle"],
            url=f"https://www.youtube.com/watch?v={p['id']}", created_at=parse_iso(s["publishedAt"]),
            author_reach=reach, engagement=metrics["likeCount"] + metrics["commentCount"],
            language=s.get("defaultAudioLanguage"), title=s["title"], kind="video",
            metrics=metrics, raw=p,
        )
    metrics = {"likeCount": int(s["likeCount"])}
    return Mention(
        platform="youtube", id=p["id"], text=s["textOriginal"], author=s["authorDisplayName"],
        url=f"https://www.youtube.com/watch?v={s['videoId']}&lc={p['id']}",
        created_at=parse_iso(s["publishedAt"]), author_reach=reach,
        engagement=metrics["likeCount"], kind="comment", metrics=metrics, raw=p,
    )


def _mastodon_mention(p: dict[str, Any]) -> Mention | None:
    # The listener keeps a few ids as raw; the demo keeps the whole status it drew, so a stored
    # demo mention reads back as itself.
    mention = MastodonListener.to_mention(p)
    return None if mention is None else replace(mention, raw=p)


def _reader(payload: Any) -> Callable[[dict[str, Any]], Mention] | None:
    """Which platform a payload is from, by its shape."""
    if not isinstance(payload, dict):
        return None
    if "public_metrics" in payload and "author_id" in payload:
        return _x_mention
    if "subreddit" in payload:
        return _reddit_mention
    if payload.get("kind") in ("youtube#video", "youtube#comment"):
        return _youtube_mention
    # The two newest platforms are read by their own listeners' pure to_mention.
    if "account" in payload and "content" in payload:
        return _mastodon_mention
    if "fetched_at" in payload and "feed" in payload:
        return RSSListener.to_mention
    return None


# --------------------------------------------------------------------------- listener


class DemoListener:
    """Replays the synthetic stream as if it arrived live: `fetch` returns what is due by `now`."""

    name: ClassVar[str] = "demo"

    class Options(ListenerOptions):
        seed: int = 7
        days: int = Field(3, ge=1)
        start: datetime | None = None  # None: `days` days ago, floored to the hour

    def __init__(self, start: datetime, *, days: int = 3, seed: int = 7):
        self.start = utc(start)
        self.days = days
        self.seed = seed
        self.mentions = generate(self.start, days=days, seed=seed)
        self._times = [m.created_at for m in self.mentions]

    @classmethod
    def from_config(cls, options: DemoListener.Options, env: Mapping[str, str]) -> DemoListener:
        start = options.start
        if start is None:
            start = (datetime.now(UTC) - timedelta(days=options.days)).replace(
                minute=0, second=0, microsecond=0)
        return cls(start, days=options.days, seed=options.seed)

    @classmethod
    def plan(cls, options: DemoListener.Options, brands: Sequence[Brand]) -> QuotaPlan:
        return QuotaPlan(cls.name, 0, None, "requests", "offline: the stream is generated in memory")

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        """Mentions with cursor < created_at <= now, in pages; the last page carries `now`.

        `brands` is ignored: the stream is fixed and the pipeline matches brands afterwards.
        """
        lo = bisect_right(self._times, parse_iso(cursor)) if cursor else 0
        due = self.mentions[lo : bisect_right(self._times, utc(now))]
        pages = [due[i : i + PAGE] for i in range(0, len(due), PAGE)] or [[]]
        for n, page in enumerate(pages, 1):
            yield Batch(tuple(page), iso(now) if n == len(pages) else None)

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        reader = _reader(payload)
        if reader is None:
            return None
        try:
            return reader(payload)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
            return None  # OverflowError: int(inf); OSError: fromtimestamp past the platform's range
