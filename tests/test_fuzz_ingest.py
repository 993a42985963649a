"""Fuzz over the ingest edge (#20 item 4): arbitrary unicode (lone surrogates included),
control characters, huge and empty strings and odd JSON types in every payload field.

- each listener's `to_mention` never raises, and what it returns normalises to a mention
  every backend stores (every string encodes as UTF-8, no NUL, counts fit 64 bits, raw JSON
  without NaN);
- poll_once over arbitrary mentions, on both backends: every mention normalise keeps is
  either stored or set aside as a dead letter, the cursor moves, nothing is lost silently.

Derandomized with a fixed number of examples, so CI runs the same cases every time.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import Mention
from bot.normalise import MAX_INT, normalise
from bot.pipeline import poll_once
from bot.sentiment import make_scorer
from bot.store.deadletters import ascii_text
from listeners.demo import DemoListener
from listeners.reddit import RedditListener
from listeners.twitter import TwitterListener
from listeners.youtube import YouTubeListener
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.helpers import ScriptedListener, brand

UTC = timezone.utc
FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# What strangers and broken clients send: lone surrogate halves, NUL and other controls,
# zero-width and BOM, a combining mark with nothing to combine, entities, astral characters.
NASTY = ["\ud800", "\udfff", "\udbff\udc00", "\x00", "\x07", "\x1b[2J", "\x7f", "\r", "\n\n\n\n", "\t",
         "\u200b", "\ufeff", "\u0301", "\U0001F600", "\ufffd", "\uffff", "&amp;", "&lt;b&gt;", "<b>", "'", '"']
chars = st.one_of(st.sampled_from(NASTY), st.characters(exclude_categories=()))
text = st.one_of(
    st.lists(chars, max_size=20).map("".join),
    st.just(""),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "\ud800", "é ", "\x00"]), st.integers(40_000, 45_000)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.just(10**400),
                    st.floats(allow_nan=True, allow_infinity=True), text)
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                           st.dictionaries(text, kids, max_size=4)), max_leaves=12)


def either(valid):
    """A field as the platform documents it (three times in four), or anything at all."""
    return st.one_of(valid, valid, valid, json_values)


def payload(required: dict, optional: dict):
    return st.one_of(
        st.fixed_dictionaries({k: either(v) for k, v in required.items()},
                              optional={k: either(v) for k, v in optional.items()}),
        json_values,  # not even a mapping
    )


def obj(required: dict, optional: dict | None = None):
    """A nested JSON object with these fields, each either valid or anything."""
    return st.fixed_dictionaries({k: either(v) for k, v in required.items()},
                                 optional={k: either(v) for k, v in (optional or {}).items()})


snowflakes = st.integers(1, 2**63 - 1).map(str)
ident = st.lists(chars, min_size=1, max_size=12).map("".join)  # an id: odd, but there
brandy = text.map(lambda t: f"mindful {t}")  # mostly matching text, so the deep paths run
when = st.just("2024-11-12T14:00:00Z")
EDGES = [float("inf"), float("-inf"), float("nan"), 1e308, -1, 10**400, "12", "1e3", "", None, [], {}]
counts = st.one_of(st.integers(0, 10**6), st.integers(0, 10**6).map(str), st.sampled_from(EDGES), json_values)

x_payloads = payload(
    {"id": snowflakes, "text": brandy, "created_at": st.just("2024-11-12T14:00:00.000Z")},
    {"_author": obj({"username": text}, {"public_metrics": obj({"followers_count": counts})}),
     "public_metrics": st.dictionaries(st.sampled_from(["like_count", "retweet_count", "reply_count",
                                                        "quote_count", "repost_count"]), counts),
     "lang": st.sampled_from(["en", "und", "de"]), "note_tweet": obj({"text": brandy}),
     "note_post": json_values, "author_id": text})

reddit_payloads = payload(
    {"name": st.just("t3_1gq0ab"), "created_utc": st.floats(0, 4e9)},
    {"title": brandy, "selftext": text, "body": brandy, "id": text, "author": text, "score": counts,
     "num_comments": counts, "subreddit_subscribers": counts, "permalink": text, "subreddit": text,
     "link_id": text})

video = obj({"kind": st.sampled_from(["youtube#searchResult", "youtube#video"]),
             "id": st.one_of(ident, obj({"videoId": ident})),
             "snippet": obj({"title": brandy, "publishedAt": when},
                            {"description": text, "channelTitle": text, "channelId": text,
                             "defaultLanguage": st.sampled_from(["en", "fr"]), "defaultAudioLanguage": text})},
            {"statistics": st.dictionaries(st.sampled_from(["likeCount", "commentCount"]), counts),
             "_channel": obj({}, {"subscriberCount": counts, "hiddenSubscriberCount": st.booleans()})})
comment_snippet = obj({"textDisplay": brandy, "publishedAt": when, "videoId": ident},
                      {"textOriginal": brandy, "authorDisplayName": text, "likeCount": counts})
thread = obj({"kind": st.just("youtube#commentThread"),
              "snippet": obj({"topLevelComment": obj({"id": ident, "snippet": comment_snippet})},
                             {"videoId": text, "totalReplyCount": counts})},
             {"_channel": json_values})
bare_comment = obj({"kind": st.just("youtube#comment"), "id": ident, "snippet": comment_snippet})
youtube_payloads = st.one_of(video, thread, bare_comment, json_values)

demo_payloads = st.one_of(
    obj({"public_metrics": st.dictionaries(st.sampled_from(["like_count", "retweet_count", "reply_count"]), counts,
                                           min_size=3),
         "author_id": text, "id": snowflakes, "text": brandy, "created_at": when,
         "author": obj({"username": text, "public_metrics": obj({"followers_count": counts})})}, {"lang": text}),
    obj({"subreddit": text, "name": st.sampled_from(["t3_ab", "t1_cd"]), "selftext": brandy, "body": brandy,
         "title": text, "author": text, "permalink": text, "created_utc": st.floats(0, 4e9), "score": counts}),
    obj({"kind": st.sampled_from(["youtube#video", "youtube#comment"]), "id": ident,
         "snippet": obj({"description": brandy, "textOriginal": brandy, "channelTitle": text, "publishedAt": when,
                         "title": text, "likeCount": counts, "authorDisplayName": text, "videoId": text}),
         "channel": obj({"statistics": obj({"subscriberCount": counts})}),
         "statistics": st.dictionaries(st.sampled_from(["likeCount", "commentCount"]), counts, min_size=2)}),
    json_values,
)


def assert_storable(m: Mention) -> None:
    for value in (m.platform, m.id, m.text, m.title, m.author, m.url, m.kind, m.language or "", *m.metrics):
        assert isinstance(value, str)
        value.encode("utf-8")
        assert "\x00" not in value
    assert 0 <= m.author_reach <= MAX_INT and 0 <= m.engagement <= MAX_INT
    assert all(0 <= v <= MAX_INT for v in m.metrics.values())
    json.dumps(m.raw, ensure_ascii=False, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize("to_mention, payloads", [
    (TwitterListener.to_mention, x_payloads),
    (RedditListener.to_mention, reddit_payloads),
    (YouTubeListener.to_mention, youtube_payloads),
    (DemoListener.to_mention, demo_payloads),
], ids=["x", "reddit", "youtube", "demo"])
def test_to_mention_never_raises_and_what_it_returns_is_storable(to_mention, payloads):
    made = []

    @FUZZ
    @given(payloads)
    def check(payload):
        m = to_mention(payload)
        assert m is None or isinstance(m, Mention)
        if m is not None:
            clean = normalise(m)
            if clean is not None:
                assert_storable(clean)
                made.append(clean)

    check()
    assert len(made) >= 10  # the payloads reach the deep paths, not only the early returns


# ---- the store, through poll_once -------------------------------------------------------------

mentions = st.builds(
    Mention,
    platform=st.sampled_from(["x", "reddit", "youtube"]),
    id=st.one_of(snowflakes, text),
    text=brandy,
    author=text,
    url=text,
    created_at=st.datetimes(datetime(1970, 1, 1), datetime(8999, 12, 31), timezones=st.just(UTC)),
    author_reach=st.one_of(st.integers(-(10**30), 10**30), st.just(10**400)),
    engagement=st.integers(-(10**20), 10**20),
    language=st.one_of(st.none(), text),
    title=text,
    kind=st.sampled_from(["post", "comment", "video"]),
    metrics=st.dictionaries(text, st.integers(-(10**30), 10**30), max_size=3),
    raw=st.dictionaries(text, json_values, max_size=4),
)
BRANDS = {"mindful": brand("mindful", "mindful")}
SCORER = make_scorer("vader")


def test_poll_once_stores_or_sets_aside_every_mention_on_both_backends(store):
    cursors = count()

    @settings(FUZZ, max_examples=30)
    @given(st.lists(mentions, min_size=1, max_size=6))
    def check(page):
        cursor = f"c{next(cursors)}"
        result = poll_once(ScriptedListener([page], cursor=cursor), BRANDS, SCORER, store,
                           datetime(2026, 3, 2, tzinfo=UTC))
        assert result.error is None and store.cursor("scripted") == cursor
        kept = {m.key for m in map(normalise, page) if m is not None}
        stored = {r[0] for r in sql(store, "SELECT key FROM mentions")}
        dead = {d.key for d in store.dead_letters(limit=100_000)}
        assert all(key in stored or ascii_text(key) in dead for key in kept)  # nothing lost silently
        assert result.dead == 0  # and in fact normalise leaves nothing for the store to refuse

    check()
    assert store.count("mentions") >= 10  # pages were stored (keys repeat across examples), not dropped early


def test_the_fuzzed_values_really_are_nasty():
    """A fuzz that never sent a lone surrogate, NUL, NaN or a 400-digit number proves nothing."""
    seen = {"surrogate": False, "nul": False, "nan": False, "huge": False}

    @settings(FUZZ, max_examples=150)
    @given(json_values)
    def look(value):
        flat = json.dumps(value, default=str) if not isinstance(value, str) else value
        seen["surrogate"] |= any("\ud800" <= c <= "\udfff" for c in flat) or "\\ud" in flat
        seen["nul"] |= "\x00" in flat or "\\u0000" in flat
        seen["nan"] |= (isinstance(value, float) and math.isnan(value)) or "NaN" in flat
        seen["huge"] |= isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64

    look()
    assert all(seen.values()), seen
