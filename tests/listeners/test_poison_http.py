"""A poison post from each platform, served by its fake over real HTTP to the real client
library (tweepy, praw, googleapiclient), never stops intake (#20 item 1).

The post carries what a stranger can put in a payload: a lone surrogate (`\\ud800` in the JSON,
which is valid JSON and which no UTF-8 encoder takes), NUL, control characters, a string of
200,000 characters, and fields of the wrong JSON type. The page is stored whole, on both
backends, the cursor moves on, and nothing is set aside: normalise makes every field storable.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone


from bot.models import Brand
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from listeners.reddit import RedditListener
from listeners.twitter import TwitterListener
from listeners.youtube import YouTubeListener
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.fakes.reddit import FakeReddit
from tests.fakes.x import FakeX
from tests.fakes.youtube import KEY, FakeYouTube

UTC = timezone.utc
BRANDS = {"mindful": Brand("mindful", "Mindful Health", "brand", parse('mindful OR "mindful health"'))}
SCORER = make_scorer("vader")
HUGE = "calm " * 40_000  # 200,000 characters
POISON = "Mindful Health \ud800 lone half, NUL\x00 here, bell\x07, escape\x1b[31m red " + HUGE
DEEP: dict = {}
_node = DEEP
for _ in range(200):  # deeper than normalise keeps
    _node["d"] = {}
    _node = _node["d"]


def rows(store) -> dict[str, dict]:
    found = sql(store, "SELECT native_id, text, title, author, url, raw, author_reach, engagement, language"
                       " FROM mentions")
    names = ("text", "title", "author", "url", "raw", "author_reach", "engagement", "language")
    return {r[0]: dict(zip(names, r[1:])) for r in found}


def assert_clean(row: dict) -> None:
    """What a poison post must be once stored: readable, encodable, nothing that breaks a terminal."""
    for name in ("text", "title", "author", "url", "language"):
        value = row[name] or ""
        value.encode("utf-8")  # no lone surrogate survived
        assert not any(ch in value for ch in "\x00\x07\x1b"), name
    assert "\ufffd" in row["text"] + row["title"]  # the lone half was replaced, not dropped silently
    assert len(row["text"]) <= 40_000
    raw = row["raw"] if isinstance(row["raw"], str) else json.dumps(row["raw"])
    json.loads(raw)


def assert_walk_done(result, store, listener: str, new: int) -> None:
    assert (result.error, result.new, result.dead) == (None, new, 0), result
    assert store.cursor(listener) is not None and store.dead_letter_count() == 0


# ---- X via tweepy ---------------------------------------------------------------------------


def test_x_poison_post_is_stored_with_the_rest_of_its_page(store):
    now = datetime(2024, 11, 12, 15, 0, tzinfo=UTC)
    with FakeX(token="t0k3n", clock=lambda: now.timestamp()) as x:
        x.add_post("the mindful app, plainly", author="bo")
        poison = x.add_post(
            POISON, author="ana",
            overrides={"lang": ["en"], "public_metrics": {"like_count": "12", "retweet_count": None,
                                                          "reply_count": 1e308, "quote_count": [1]},
                       "possibly_sensitive": {"odd": "\ud800"}, "context_annotations": DEEP},
            author_overrides={"username": "an\ud800a\x00", "public_metrics": "lots"})
        x.add_post("mindful once more", author="cy")
        listener = TwitterListener.from_config(TwitterListener.Options(base_url=x.url), {"X_BEARER_TOKEN": "t0k3n"})
        result = poll_once(listener, BRANDS, SCORER, store, now)
    assert_walk_done(result, store, "twitter", 3)
    row = rows(store)[poison]
    assert_clean(row)
    assert row["author"] == "an\ufffda" and row["author_reach"] == 0 and row["language"] is None


# ---- Reddit via praw ------------------------------------------------------------------------


def test_reddit_poison_post_is_stored_with_the_rest_of_its_page(store):
    with FakeReddit(client_id="app", client_secret="secret") as reddit:
        reddit.add_submission("Mindful app, plainly", "fine", author="bo")
        poison = reddit.add_submission("Mindful \ud800 title\x00", POISON, author="al\udfffice")
        reddit.override(poison, score="12", num_comments=None, subreddit_subscribers={"a": 1}, permalink=42,
                        over_18="yes", link_flair_richtext=[{"e": "\ud800"}], media=DEEP, ups=10**400)
        reddit.add_submission("mindful once more", "fine", author="cy")
        listener = RedditListener.from_config(
            RedditListener.Options(base_url=reddit.url, subreddits=["Meditation"]),
            {"REDDIT_CLIENT_ID": "app", "REDDIT_CLIENT_SECRET": "secret"})
        result = poll_once(listener, BRANDS, SCORER, store, datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert_walk_done(result, store, "reddit", 3)
    row = rows(store)[poison]
    assert_clean(row)
    assert row["author"] == "al\ufffdice" and row["title"] == "Mindful \ufffd title"


# ---- YouTube via googleapiclient ---------------------------------------------------------------


def test_youtube_poison_video_and_comment_are_stored_with_the_rest(store):
    with FakeYouTube() as yt:
        yt.add_video("Mindful Health, plainly", "a fine review", published_at="2024-11-12T10:00:00Z")
        poison = yt.add_video(
            "Mindful Health \ud800 review\x07", POISON, published_at="2024-11-12T11:00:00Z",
            overrides={"snippet.channelTitle": 12345, "statistics.likeCount": "many",
                       "statistics.commentCount": None, "snippet.defaultLanguage": {"odd": True},
                       "snippet.tags": DEEP})
        comment = yt.add_comment(poison, "mindful health \ud800 comment\x00", author="@\ud800x",
                                 published_at="2024-11-12T12:00:00Z",
                                 overrides={"snippet.topLevelComment.snippet.likeCount": "NaN",
                                            "snippet.totalReplyCount": [1, 2]})
        listener = YouTubeListener.from_config(YouTubeListener.Options(base_url=yt.url), {"YOUTUBE_API_KEY": KEY})
        result = poll_once(listener, BRANDS, SCORER, store, datetime(2024, 11, 12, 15, 0, tzinfo=UTC))
        assert not [p for p in yt.problems if "the fake failed" in p], yt.problems  # odd types are off-schema, not errors
    stored = rows(store)
    assert_walk_done(result, store, "youtube", len(stored))
    assert {poison, comment} <= set(stored) and len(stored) == 3
    assert_clean(stored[poison])
    assert stored[poison]["author"] == "12345" and stored[poison]["engagement"] == 0
    assert stored[comment]["author"] == "@\ufffdx" and stored[comment]["text"] == "mindful health \ufffd comment"
