"""The demo stream: deterministic, well-formed, paged like a listener, and shaped so that
the planted crisis and launch stand out while nothing else looks like an event."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from bot.models import Batch, Mention, iso, parse_iso
from bot.query import parse, tokenize
from listeners.base import ListenerOptions
from listeners.demo import (
    BODIES,
    CRISIS_BODIES,
    CRISIS_HEADLINES,
    LAUNCH_BODIES,
    NOISE,
    DemoListener,
    fill,
    events,
    generate,
)

UTC = timezone.utc
START = datetime(2026, 11, 18, tzinfo=UTC)  # midnight, so hours of the day line up with offsets
DAYS = 3
QUERIES = {  # as in the demo config.yaml: (query, exclude)
    "mindful": ('"mindful health" OR mindfulhealth OR "mindful app"', '"mindful eating" OR "be mindful"'),
    "theranow": ("theranow", None),
    "haven": ('"haven therapy" OR haventherapy', None),
}
BRANDS = {key: (parse(q), parse(x) if x else None) for key, (q, x) in QUERIES.items()}
BRAND_NAME = re.compile(r"mindful\s*health|mindful app|thera\s*now|haven\s*therapy", re.I)
CRISIS_TERMS = re.compile(r"\b(leak\w*|breach\w*|hipaa|class action|exposed)\b", re.I)
LAUNCH_TERMS = re.compile(r"\b(launch\w*|introducing|now available)\b", re.I)


def brands_of(text: str) -> list[str]:
    tokens = tokenize(text)
    return [k for k, (q, x) in BRANDS.items() if q.match(tokens) and not (x and x.match(tokens))]


@pytest.fixture(scope="module")
def stream() -> list[Mention]:
    return generate(START, days=DAYS, seed=7)


@pytest.fixture(scope="module")
def by_event() -> dict:
    return {e.name: e for e in events(START)}


def about(stream: list[Mention], brand: str, since: datetime, until: datetime) -> list[Mention]:
    return [m for m in stream if since <= m.created_at < until and brand in brands_of(m.full_text)]


def per_hour(mentions: list[Mention]) -> Counter:
    return Counter(m.created_at.replace(minute=0, second=0) for m in mentions)


# ------------------------------------------------------------------ determinism and shape


def fingerprint(mentions: list[Mention]) -> list[tuple]:
    return [(m.key, m.text, m.title, m.author, m.created_at, m.engagement) for m in mentions]


def test_same_seed_same_stream(stream):
    assert fingerprint(generate(START, days=DAYS, seed=7)) == fingerprint(stream)


def test_other_seed_other_stream(stream):
    other = generate(START, days=DAYS, seed=8)
    assert fingerprint(other) != fingerprint(stream)
    assert [m.text for m in other[:50]] != [m.text for m in stream[:50]]


def test_size_and_ids(stream):
    assert 4000 <= len(stream) <= 8000
    assert len({m.key for m in stream}) == len(stream)
    assert len({m.text for m in stream}) > 500  # many templates and fills, not a loop of a few


def test_times_are_aware_utc_sorted_and_in_range(stream):
    end = START + timedelta(days=DAYS)
    assert all(m.created_at.utcoffset() == timedelta(0) for m in stream)
    assert all(START <= m.created_at < end for m in stream)
    assert [m.created_at for m in stream] == sorted(m.created_at for m in stream)


def test_fewer_days_stop_early():
    one_day = generate(START, days=1)
    assert one_day and all(m.created_at < START + timedelta(days=1) for m in one_day)


def test_platform_shares(stream):
    shares = {k: v / len(stream) for k, v in Counter(m.platform for m in stream).items()}
    assert 0.55 <= shares["x"] <= 0.70
    assert 0.18 <= shares["reddit"] <= 0.30
    assert 0.10 <= shares["youtube"] <= 0.20


@pytest.mark.parametrize(
    "platform, kind, id_pattern, url_pattern",
    [
        ("x", "post", r"\d{19}", r"https://x\.com/\w+/status/\d{19}"),
        ("reddit", "post", r"t3_[0-9a-z]{7}", r"https://www\.reddit\.com/r/\w+/comments/[0-9a-z]+/\w+/"),
        ("reddit", "comment", r"t1_[0-9a-z]{7}",
         r"https://www\.reddit\.com/r/\w+/comments/[0-9a-z]+/\w+/[0-9a-z]{7}/"),
        ("youtube", "video", r"[\w-]{11}", r"https://www\.youtube\.com/watch\?v=[\w-]{11}"),
        ("youtube", "comment", r"Ug[\w-]+", r"https://www\.youtube\.com/watch\?v=[\w-]{11}&lc=Ug[\w-]+"),
    ],
)
def test_platform_shapes(stream, platform, kind, id_pattern, url_pattern):
    items = [m for m in stream if m.platform == platform and m.kind == kind]
    assert len(items) > 50
    for m in items:
        assert re.fullmatch(id_pattern, m.id), m.id
        assert re.fullmatch(url_pattern, m.url), m.url
        assert m.author and m.text
        assert m.engagement >= 0 and m.author_reach >= 0
    if kind in ("post", "video") and platform != "x":
        assert all(m.title for m in items)


def test_x_reach_is_heavy_tailed(stream):
    reach = sorted(m.author_reach for m in stream if m.platform == "x")
    median = reach[len(reach) // 2]
    assert 50 <= median <= 2000
    assert sum(r >= 100_000 for r in reach) >= 10


def test_text_is_plain_not_html_entities(stream):
    assert not any("&amp;" in m.text or "&lt;" in m.text for m in stream)
    assert any("&" in m.text for m in stream) and any("<3" in m.text for m in stream)
    assert any("&amp;" in m.raw["text"] for m in stream if m.platform == "x")  # as X sends it


# ------------------------------------------------------------------ brand matching


def test_every_template_matches_its_brand():
    rng = random.Random(0)
    for brand in BRANDS:
        for template in [t for ts in BODIES.values() for t in ts]:
            for _ in range(10):
                text = fill(rng, template, brand)
                assert brand in brands_of(text), text
    for template in CRISIS_BODIES + CRISIS_HEADLINES:
        assert brands_of(fill(rng, template, "mindful")) == ["mindful"]
    for template in LAUNCH_BODIES:
        assert brands_of(fill(rng, template, "theranow")) == ["theranow"]


def test_noise_matches_no_brand():
    rng = random.Random(0)
    for template in NOISE:
        for _ in range(5):
            assert brands_of(fill(rng, template, None)) == []


def test_stream_unmatched_posts_are_noise_and_decoys(stream):
    unmatched = [m for m in stream if not brands_of(m.full_text)]
    assert 0.03 <= len(unmatched) / len(stream) <= 0.12
    assert not any(BRAND_NAME.search(m.full_text) for m in unmatched)
    decoys = [m for m in unmatched if re.search(r"\b(mindful|haven)\b", m.text, re.I)]
    assert len(decoys) >= 20  # look-alikes the matcher has to drop


# ------------------------------------------------------------------ rhythm and sentiment


def test_daily_rhythm(stream):
    normal = [m for m in stream if m.created_at < START + timedelta(days=1)]
    hours = Counter(m.created_at.hour for m in normal)
    peak = sum(hours[h] for h in range(15, 20)) / 5
    trough = sum(hours[h] for h in range(6, 10)) / 4
    assert peak >= 3 * trough


def test_ordinary_sentiment_mix(stream):
    from bot.sentiment import VaderScorer

    scorer = VaderScorer()
    day_one = [m for m in stream if m.created_at < START + timedelta(days=1) and brands_of(m.full_text)]
    labels = Counter(scorer.score(m.full_text).label for m in day_one)
    share = {k: v / len(day_one) for k, v in labels.items()}
    assert 0.35 <= share["neutral"] <= 0.55
    assert 0.25 <= share["positive"] <= 0.45
    assert 0.12 <= share["negative"] <= 0.28


def test_trigger_words_only_inside_their_events(stream, by_event):
    crisis, launch = by_event["privacy-leak"], by_event["competitor-launch"]
    for m in stream:
        if CRISIS_TERMS.search(m.full_text):
            assert m.created_at >= crisis.start and brands_of(m.full_text) == ["mindful"], m.full_text
        if LAUNCH_TERMS.search(m.full_text):
            assert launch.start <= m.created_at < crisis.start, m.full_text
            assert brands_of(m.full_text) == ["theranow"], m.full_text


# ------------------------------------------------------------------ planted events


def test_events_api(by_event):
    assert set(by_event) == {"privacy-leak", "competitor-launch", "spam-burst"}
    crisis, launch, spam = by_event["privacy-leak"], by_event["competitor-launch"], by_event["spam-burst"]
    assert (crisis.brand, crisis.start, crisis.expect_alert) == ("mindful", START + timedelta(days=2, hours=12), True)
    assert (launch.brand, launch.start, launch.expect_alert) == ("theranow", START + timedelta(days=1, hours=14), True)
    assert (spam.brand, spam.start, spam.expect_alert) == ("mindful", START + timedelta(days=1, hours=3), False)
    assert all(e.start < e.end <= START + timedelta(days=DAYS) for e in by_event.values())


def test_crisis_is_a_negative_spike(stream, by_event):
    from bot.sentiment import VaderScorer

    crisis = by_event["privacy-leak"]
    usual = len(about(stream, "mindful", START, START + timedelta(days=2))) / 48
    plateau = about(stream, "mindful", crisis.start + timedelta(hours=1), crisis.start + timedelta(hours=6))
    assert len(plateau) / 5 >= 7 * usual  # ~9x the usual hourly volume
    assert max(per_hour(plateau).values()) >= 8 * usual
    assert sum(bool(CRISIS_TERMS.search(m.full_text)) for m in plateau) >= 0.75 * len(plateau)
    scorer = VaderScorer()
    negative = sum(scorer.score(m.full_text).label == "negative" for m in plateau)
    assert negative >= 0.8 * len(plateau)


def test_crisis_comes_from_a_crowd_with_big_accounts(stream, by_event):
    crisis = by_event["privacy-leak"]
    posts = about(stream, "mindful", crisis.start, crisis.end)
    assert len({m.author for m in posts}) >= 0.8 * len(posts)
    assert sum(m.author_reach >= 100_000 for m in posts if m.platform == "x") >= 5
    assert sum(m.text.startswith("RT @") for m in posts) >= 50
    story = [m for m in posts if m.created_at == crisis.start and CRISIS_TERMS.search(m.text)]
    assert story and story[0].author_reach >= 100_000  # a journalist breaks it


def test_launch_is_a_theranow_surge(stream, by_event):
    launch = by_event["competitor-launch"]
    usual = len(about(stream, "theranow", START, START + timedelta(days=1))) / 24
    during = about(stream, "theranow", launch.start, launch.start + timedelta(hours=3))
    assert len(during) / 3 >= 4 * usual
    assert sum(bool(LAUNCH_TERMS.search(m.full_text)) for m in during) >= 0.6 * len(during)
    assert len({m.author for m in during}) >= 0.8 * len(during)
    official = [m for m in during if m.author == "TheraNow"]
    assert len(official) >= 3 and all(m.author_reach >= 40_000 for m in official)


def test_spam_burst_is_few_accounts_and_not_negative(stream, by_event):
    from bot.sentiment import VaderScorer

    spam = by_event["spam-burst"]
    burst = [m for m in about(stream, "mindful", spam.start, spam.end) if "crypto giveaway" in m.text]
    assert 20 <= len(burst) <= 30
    assert len({m.author for m in burst}) <= 3
    scorer = VaderScorer()  # negative spam would be a (false) negative spike
    assert not any(scorer.score(m.full_text).label == "negative" for m in burst)


# ------------------------------------------------------------------ listener


@pytest.fixture(scope="module")
def listener() -> DemoListener:
    return DemoListener(START, days=DAYS, seed=7)


def test_listener_serves_the_generated_stream(listener, stream):
    assert fingerprint(listener.mentions) == fingerprint(stream)


def test_fetch_walk_yields_every_mention_once(listener, stream):
    cursor, seen = None, []
    now = START
    while now <= START + timedelta(days=DAYS):
        batches = list(listener.fetch([], cursor, now))
        assert batches and all(len(b.mentions) <= 100 for b in batches)
        assert [b.cursor for b in batches] == [None] * (len(batches) - 1) + [iso(now)]
        since = parse_iso(cursor) if cursor else START
        for b in batches:
            assert all(since <= m.created_at <= now for m in b.mentions)
            seen += [m.key for m in b.mentions]
        cursor = batches[-1].cursor
        now += timedelta(minutes=5)
    assert seen == [m.key for m in stream]


def test_fetch_pages_a_big_catch_up(listener, stream):
    batches = list(listener.fetch([], None, START + timedelta(days=DAYS)))
    assert len(batches) == -(-len(stream) // 100)
    assert all(len(b.mentions) == 100 for b in batches[:-1])
    assert [b.cursor is None for b in batches] == [True] * (len(batches) - 1) + [False]


def test_fetch_with_nothing_new_still_moves_the_cursor(listener):
    now = START - timedelta(hours=1)
    assert list(listener.fetch([], None, now)) == [Batch((), iso(now))]


def test_fetch_includes_the_second_of_now():
    # created_at has whole seconds; a `now` with microseconds must not lose that second
    listener = DemoListener(START, days=1)
    m = listener.mentions[10]
    now = m.created_at + timedelta(microseconds=500)
    first = [x.key for b in listener.fetch([], None, now) for x in b.mentions]
    rest = [x.key for b in listener.fetch([], iso(now), START + timedelta(days=1)) for x in b.mentions]
    assert m.key in first and m.key not in rest
    assert first + rest == [x.key for x in listener.mentions]


# ------------------------------------------------------------------ to_mention and config


def test_to_mention_round_trips_every_payload(stream):
    for m in stream:
        again = DemoListener.to_mention(m.raw)
        assert again == m
        assert again.metrics == m.metrics and again.raw == m.raw


@pytest.mark.parametrize("payload", [None, "text", {}, {"foo": 1}, {"kind": "youtube#video"},
                                     {"subreddit": "therapy"}])
def test_to_mention_rejects_what_it_cannot_read(payload):
    assert DemoListener.to_mention(payload) is None


def test_to_mention_rejects_a_broken_x_payload(stream):
    tweet = next(m for m in stream if m.platform == "x").raw
    assert DemoListener.to_mention({k: v for k, v in tweet.items() if k != "author"}) is None


def test_options_and_from_config():
    assert issubclass(DemoListener.Options, ListenerOptions)
    assert DemoListener.name == "demo"
    with pytest.raises(ValidationError):
        DemoListener.Options(sede=3)
    options = DemoListener.Options(seed=3, days=1, start="2026-11-18T00:00:00Z")
    listener = DemoListener.from_config(options, {})
    assert (listener.start, listener.days, listener.seed) == (START, 1, 3)
    assert fingerprint(listener.mentions) == fingerprint(generate(START, days=1, seed=3))


def test_from_config_defaults_to_days_ago_on_the_hour():
    before = datetime.now(UTC)
    listener = DemoListener.from_config(DemoListener.Options(days=1), {})
    assert listener.start.minute == listener.start.second == listener.start.microsecond == 0
    assert listener.start.tzinfo is not None
    assert before - timedelta(days=1, hours=1) < listener.start <= before - timedelta(days=1)


def test_the_stream_speaks_for_mastodon_and_news_too(stream, by_event):
    """Every offline-showable listener kind appears, read back by that listener's own to_mention."""
    by_platform = {m.platform for m in stream}
    assert by_platform == {"x", "reddit", "youtube", "mastodon", "rss"}
    toots = [m for m in stream if m.platform == "mastodon"]
    assert all(m.url.startswith("https://") and "@" in m.author for m in toots)
    news = [m for m in stream if m.platform == "rss"]
    assert news and all(m.kind == "article" and m.title and m.author for m in news)
    # The crisis is in the news while it runs, and only then.
    leak = by_event["privacy-leak"]
    covered = [m for m in news if "leak" in m.title.lower() or "breach" in m.title.lower()]
    assert covered and all(leak.start <= m.created_at <= leak.end for m in covered)
