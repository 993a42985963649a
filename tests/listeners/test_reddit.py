"""Reddit listener: payload mapping, query translation, cursor and error mapping (all offline)."""

from __future__ import annotations

from datetime import datetime, timezone

import prawcore
import pytest
import requests
from pydantic import ValidationError

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.reddit import (
    RedditListener,
    chunks,
    load_cursor,
    newer_than,
    reddit_error,
    reddit_query,
    reddit_status_error,
    retry_after_seconds,
)

UTC = timezone.utc


def brand(query: str, exclude: str | None = None) -> Brand:
    return Brand("mindful", "Mindful Health", "brand", parse(query), parse(exclude) if exclude else None)


# The attributes fetch copies off a praw Submission (t3) found by search, as Reddit sends
# them with raw_json=1 (so no HTML escaping), author already reduced to the username.
SUBMISSION = {
    "name": "t3_1gq2x7k",
    "id": "1gq2x7k",
    "title": "Mindful app vs Calm — which one actually helps? 🧘",
    "selftext": "I've tried both for a month & honestly <Mindful> wins on sleep stories.",
    "author": "throwaway_42",
    "created_utc": 1731420207.0,
    "permalink": "/r/Meditation/comments/1gq2x7k/mindful_app_vs_calm_which_one_actually_helps/",
    "score": 57,
    "num_comments": 23,
    "subreddit": "Meditation",
    "subreddit_subscribers": 1204311,
    "url": "https://www.reddit.com/r/Meditation/comments/1gq2x7k/mindful_app_vs_calm_which_one_actually_helps/",
    "over_18": False,
}

COMMENT = {
    "name": "t1_lwx9abc",
    "id": "lwx9abc",
    "body": "האפליקציה של Mindful עזרה לי לישון 😴",
    "author": None,  # the account was deleted
    "created_utc": 1731423807.0,
    "permalink": "/r/Meditation/comments/1gq2x7k/comment/lwx9abc/",
    "score": 4,
    "subreddit": "Meditation",
}


# ---- to_mention ----------------------------------------------------------------------------


def test_to_mention_maps_a_submission():
    m = RedditListener.to_mention(SUBMISSION)
    assert m is not None
    assert m.platform == "reddit"
    assert m.id == "t3_1gq2x7k"
    assert m.title == "Mindful app vs Calm — which one actually helps? 🧘"
    # raw_json=1: Reddit sent the characters themselves; nothing is unescaped or mangled.
    assert m.text == "I've tried both for a month & honestly <Mindful> wins on sleep stories."
    assert m.author == "throwaway_42"
    assert m.url == (
        "https://www.reddit.com/r/Meditation/comments/1gq2x7k/mindful_app_vs_calm_which_one_actually_helps/"
    )
    assert m.created_at == datetime(2024, 11, 12, 14, 3, 27, tzinfo=UTC)
    assert m.engagement == 57 + 23
    assert m.author_reach == 1204311
    assert m.metrics == {"score": 57, "num_comments": 23, "subreddit_subscribers": 1204311}
    assert m.kind == "post"
    assert m.language is None


def test_to_mention_maps_a_comment_by_a_deleted_account():
    m = RedditListener.to_mention(COMMENT)
    assert m is not None
    assert m.id == "t1_lwx9abc"
    assert m.kind == "comment"
    assert m.author == ""
    assert m.title == ""
    assert m.text == "האפליקציה של Mindful עזרה לי לישון 😴"
    assert m.engagement == 4
    assert m.url == "https://www.reddit.com/r/Meditation/comments/1gq2x7k/comment/lwx9abc/"


def test_deleted_author_string_is_also_empty():
    m = RedditListener.to_mention({**SUBMISSION, "author": "[deleted]"})
    assert m is not None and m.author == ""


def test_a_link_post_without_selftext_keeps_its_title():
    m = RedditListener.to_mention({**SUBMISSION, "selftext": ""})
    assert m is not None and m.text == "" and m.title == SUBMISSION["title"]


def test_fullname_is_built_from_the_bare_id():
    m = RedditListener.to_mention({k: v for k, v in SUBMISSION.items() if k != "name"})
    assert m is not None and m.id == "t3_1gq2x7k"
    c = RedditListener.to_mention({k: v for k, v in COMMENT.items() if k != "name"})
    assert c is not None and c.id == "t1_lwx9abc"


def test_negative_score_does_not_make_negative_engagement():
    m = RedditListener.to_mention({**SUBMISSION, "score": -40, "num_comments": 3})
    assert m is not None and m.engagement == 0


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in SUBMISSION.items() if k not in ("name", "id")},
        {**COMMENT, "body": "[removed]"},
        {**COMMENT, "body": "[deleted]"},
        {**SUBMISSION, "title": "", "selftext": ""},
        {k: v for k, v in SUBMISSION.items() if k != "created_utc"},
        {**SUBMISSION, "created_utc": "noon"},
        {},
        None,
    ],
)
def test_to_mention_returns_none_without_the_essentials(payload):
    assert RedditListener.to_mention(payload) is None


# ---- query translation -----------------------------------------------------------------------


def test_words_and_phrases_with_or():
    assert reddit_query(brand('mindful OR "mindful app"')) == 'mindful OR "mindful app"'


def test_and_not_and_grouping():
    q = reddit_query(brand("mindful (app OR health) -spam -(free trial)"))
    assert q == 'mindful AND (app OR health) AND NOT spam AND NOT (free AND trial)'


def test_tags_and_handles_become_words_and_prefixes_keep_their_star():
    assert reddit_query(brand("#calm @mindfulapp calm*")) == "calm AND mindfulapp AND calm*"


def test_exclude_is_and_not():
    assert reddit_query(brand("mindful", exclude="job")) == "mindful AND NOT job"
    q = reddit_query(brand("mindful OR calm", exclude="job OR hiring"))
    assert q == "(mindful OR calm) AND NOT (job OR hiring)"


def test_subreddit_names_lose_their_r_prefix():
    options = RedditListener.Options(subreddits=["r/Meditation", "/r/sleep/", "productivity"])
    assert options.subreddits == ["Meditation", "sleep", "productivity"]
    with pytest.raises(ValidationError):
        RedditListener.Options(subreddits=[])
    with pytest.raises(ValidationError):
        RedditListener.Options(subreddits=["r/"])


# ---- cursor and walking ----------------------------------------------------------------------


def test_newer_than_stops_at_the_first_older_post_and_keeps_the_cursors_second():
    posts = [{"created_utc": t} for t in (300.0, 200.0, 200.0, 100.0, 250.0)]
    assert [p["created_utc"] for p in newer_than(posts, 200.0)] == [300.0, 200.0, 200.0]
    assert len(list(newer_than(posts, None))) == 5


def test_chunks():
    assert list(chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunks([], 100)) == []


def test_load_cursor():
    assert load_cursor('{"newest_utc": {"mindful": 1731420207.0}}') == {"mindful": 1731420207.0}
    assert load_cursor(None) == {}
    assert load_cursor("{") == {}
    assert load_cursor('{"newest_utc": {"mindful": "x"}}') == {}


# ---- errors ------------------------------------------------------------------------------


def response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    """A bare requests.Response, which is what prawcore's exceptions are built around."""
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = b""
    return r


def test_too_many_requests_uses_retry_after():
    err = reddit_error(prawcore.exceptions.TooManyRequests(response(429, {"retry-after": "12"})))
    assert isinstance(err, RateLimited) and err.retry_after == 12


def test_retry_after_is_at_least_a_minute_when_missing_or_unusable():
    assert retry_after_seconds(None) == 60
    assert retry_after_seconds("0") == 60
    assert retry_after_seconds("soon") == 60
    assert retry_after_seconds("7.5") == 7.5


def test_bad_credentials_are_not_retryable_and_name_the_variables():
    err = reddit_error(prawcore.exceptions.ResponseException(response(401)))
    assert not err.retryable
    assert "REDDIT_CLIENT_ID" in str(err) and "REDDIT_CLIENT_SECRET" in str(err)
    oauth = reddit_error(prawcore.exceptions.OAuthException(response(400), "invalid_grant"))
    assert not oauth.retryable and "invalid_grant" in str(oauth)


def test_missing_or_private_subreddits_are_not_retryable():
    redirect = response(302, {"location": "https://www.reddit.com/subreddits/search?q=nosuchsub"})
    assert not reddit_error(prawcore.exceptions.Redirect(redirect)).retryable
    assert not reddit_error(prawcore.exceptions.Forbidden(response(403))).retryable
    assert not reddit_status_error(404).retryable


def test_server_and_network_errors_are_retryable():
    assert reddit_error(prawcore.exceptions.ServerError(response(503))).retryable
    network = prawcore.exceptions.RequestException(requests.ConnectionError("refused"), (), {})
    err = reddit_error(network)
    assert isinstance(err, ListenerError) and err.retryable
    assert "ConnectionError" in str(err)
