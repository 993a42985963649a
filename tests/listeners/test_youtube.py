"""YouTube listener: payload mapping, query translation, cursor and error mapping (all offline)."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timezone

import pytest

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.youtube import (
    YouTubeListener,
    html_to_text,
    load_cursor,
    seconds_until_quota_reset,
    youtube_error,
    youtube_query,
)

UTC = timezone.utc
NOW = datetime(2024, 11, 12, 15, 0, tzinfo=UTC)


def brand(query: str, exclude: str | None = None) -> Brand:
    return Brand("mindful", "Mindful Health", "brand", parse(query), parse(exclude) if exclude else None)


# A search#list item (part=snippet) as documented, with the statistics of videos#list and
# channels#list that fetch merges in (counts are strings on the wire).
VIDEO = {
    "kind": "youtube#searchResult",
    "etag": "q4lD0mZ3Ah2MC6oXn3pCk1Gm7tI",
    "id": {"kind": "youtube#video", "videoId": "dQw4w9WgXcQ"},
    "snippet": {
        "publishedAt": "2024-11-12T14:03:27Z",
        "channelId": "UC38IQsAvIsxxjztdMZQtwHA",
        "title": "Mindful App Review: Is It Worth It? | Tom&#39;s Take",
        "description": "I tested the Mindful app for 30 days &amp; here&#39;s what happened &lt;3",
        "thumbnails": {"default": {"url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/default.jpg", "width": 120, "height": 90}},
        "channelTitle": "Tom &amp; Friends",
        "liveBroadcastContent": "none",
        "publishTime": "2024-11-12T14:03:27Z",
    },
    "statistics": {"viewCount": "10234", "likeCount": "512", "favoriteCount": "0", "commentCount": "87"},
    "_channel": {"viewCount": "9912345", "subscriberCount": "48200", "hiddenSubscriberCount": False, "videoCount": "210"},
}

# A commentThreads#list item; textOriginal is absent, as it is for anyone but the author.
THREAD = {
    "kind": "youtube#commentThread",
    "etag": "Jx8mQf2T0cGk3pL1aVbN9yZx0Qc",
    "id": "UgzDE2tasfmrYLyNkGt4AaABAg",
    "snippet": {
        "channelId": "UC38IQsAvIsxxjztdMZQtwHA",
        "videoId": "dQw4w9WgXcQ",
        "topLevelComment": {
            "kind": "youtube#comment",
            "etag": "3e9YcU0dQ6nqgS3xHhXv7yZ9bPk",
            "id": "UgzDE2tasfmrYLyNkGt4AaABAg",
            "snippet": {
                "channelId": "UC38IQsAvIsxxjztdMZQtwHA",
                "videoId": "dQw4w9WgXcQ",
                "textDisplay": "Switched from Calm &amp; never looked back<br>تطبيق رائع 👍 <a href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ&amp;t=42\">0:42</a>",
                "authorDisplayName": "@mira",
                "authorProfileImageUrl": "https://yt3.ggpht.com/abc=s48-c-k-c0x00ffffff-no-rj",
                "authorChannelUrl": "http://www.youtube.com/@mira",
                "authorChannelId": {"value": "UCa1b2c3d4e5f6g7h8i9j0k"},
                "canRate": True,
                "viewerRating": "none",
                "likeCount": 14,
                "publishedAt": "2024-11-12T16:20:00Z",
                "updatedAt": "2024-11-12T16:20:00Z",
            },
        },
        "canReply": True,
        "totalReplyCount": 2,
        "isPublic": True,
    },
}


# ---- to_mention ----------------------------------------------------------------------------


def test_to_mention_maps_a_search_result_and_unescapes_entities():
    m = YouTubeListener.to_mention(VIDEO)
    assert m is not None
    assert m.platform == "youtube"
    assert m.id == "dQw4w9WgXcQ"
    assert m.title == "Mindful App Review: Is It Worth It? | Tom's Take"
    assert m.text == "I tested the Mindful app for 30 days & here's what happened <3"
    assert m.author == "Tom & Friends"
    assert m.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert m.created_at == datetime(2024, 11, 12, 14, 3, 27, tzinfo=UTC)
    assert m.author_reach == 48200
    assert m.engagement == 512 + 87
    assert m.metrics["viewCount"] == 10234
    assert m.kind == "video"


def test_a_video_resource_with_a_string_id_and_its_language():
    item = {
        "kind": "youtube#video",
        "id": "dQw4w9WgXcQ",
        "snippet": {**VIDEO["snippet"], "defaultAudioLanguage": "en-US"},
        "statistics": VIDEO["statistics"],
    }
    m = YouTubeListener.to_mention(item)
    assert m is not None and m.id == "dQw4w9WgXcQ" and m.language == "en-US"
    assert m.author_reach == 0  # no channel statistics merged in


def test_hidden_subscriber_counts_are_no_reach():
    m = YouTubeListener.to_mention({**VIDEO, "_channel": {"subscriberCount": "100", "hiddenSubscriberCount": True}})
    assert m is not None and m.author_reach == 0


def test_to_mention_maps_a_comment_thread_from_its_html():
    m = YouTubeListener.to_mention(THREAD)
    assert m is not None
    assert m.id == "UgzDE2tasfmrYLyNkGt4AaABAg"
    assert m.kind == "comment"
    assert m.text == "Switched from Calm & never looked back\nتطبيق رائع 👍 0:42"
    assert m.author == "@mira"
    assert m.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgzDE2tasfmrYLyNkGt4AaABAg"
    assert m.created_at == datetime(2024, 11, 12, 16, 20, tzinfo=UTC)
    assert m.engagement == 14 + 2


def test_a_bare_comment_and_text_original():
    comment = THREAD["snippet"]["topLevelComment"]
    bare = {**comment, "snippet": {**comment["snippet"], "textOriginal": "Plain & simple"}}
    m = YouTubeListener.to_mention(bare)
    assert m is not None and m.text == "Plain & simple" and m.engagement == 14


def test_html_to_text():
    assert html_to_text("a<br/>b<BR>c &quot;d&quot; <b>e</b>") == 'a\nb\nc "d" e'


@pytest.mark.parametrize(
    "payload",
    [
        {**VIDEO, "id": {"kind": "youtube#channel", "channelId": "UC38IQsAvIsxxjztdMZQtwHA"}},
        {k: v for k, v in VIDEO.items() if k != "id"},
        {**VIDEO, "snippet": {**VIDEO["snippet"], "title": "", "description": ""}},
        {**VIDEO, "snippet": {k: v for k, v in VIDEO["snippet"].items() if k != "publishedAt"}},
        {**THREAD, "snippet": {**THREAD["snippet"], "topLevelComment": {}}},
        {"kind": "youtube#commentThread", "id": "x"},
        {},
        None,
    ],
)
def test_to_mention_returns_none_without_the_essentials(payload):
    assert YouTubeListener.to_mention(payload) is None


# ---- query translation -----------------------------------------------------------------------


def test_or_is_a_pipe_and_phrases_are_quoted():
    assert youtube_query(brand('mindful OR "mindful app"')) == 'mindful|"mindful app"'


def test_not_of_terms_and_of_an_or():
    assert youtube_query(brand("mindful -spam")) == "mindful -spam"
    assert youtube_query(brand("mindful -(spam OR scam)")) == "mindful -spam -scam"


def test_not_of_an_and_cannot_be_said_and_is_left_out():
    assert youtube_query(brand("mindful -(free trial)")) == "mindful"


def test_tags_handles_prefixes_and_exclude():
    assert youtube_query(brand("#calm @mindfulapp calm*")) == "#calm mindfulapp calm"
    assert youtube_query(brand("mindful OR calm", exclude="job OR hiring")) == "mindful|calm -job -hiring"


# ---- cursor ------------------------------------------------------------------------------


def test_load_cursor_normalises_times_and_ignores_garbage():
    cursor = json.dumps({"published_after": {"mindful": "2024-11-12T14:03:27.000+00:00"}})
    assert load_cursor(cursor) == {"mindful": "2024-11-12T14:03:27Z"}
    assert load_cursor(None) == {}
    assert load_cursor("[") == {}
    assert load_cursor('{"published_after": {"mindful": "later"}}') == {}


# ---- errors ------------------------------------------------------------------------------


def error_body(status: int, reason: str, message: str, domain: str = "youtube.quota") -> str:
    """A Google API error response body in its documented shape."""
    return json.dumps(
        {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason}]}}
    )


QUOTA = error_body(
    403,
    "quotaExceeded",
    'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
)


def test_quota_exceeded_waits_until_midnight_pacific():
    err = youtube_error(403, QUOTA, NOW)  # 07:00 PST: 17 hours to go
    assert isinstance(err, RateLimited)
    assert err.retry_after == 17 * 3600
    assert "<a" not in str(err)


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (datetime(2024, 11, 12, 15, 0, tzinfo=UTC), 17 * 3600),  # PST, UTC-8
        (datetime(2024, 7, 1, 6, 30, tzinfo=UTC), 30 * 60),  # PDT, UTC-7: 23:30 local
        (datetime(2024, 7, 1, 6, 59, 30, tzinfo=UTC), 60),  # 30 s left: never less than a minute
        (datetime(2024, 3, 10, 8, 0, tzinfo=UTC), 23 * 3600),  # DST starts: a 23-hour day
    ],
)
def test_seconds_until_quota_reset(now, seconds):
    assert seconds_until_quota_reset(now) == seconds


def test_rate_limit_is_a_short_wait():
    err = youtube_error(403, error_body(403, "rateLimitExceeded", "Rate limit exceeded", "youtube"), NOW)
    assert isinstance(err, RateLimited) and err.retry_after == 60
    assert isinstance(youtube_error(429, "", NOW), RateLimited)


def test_invalid_key_is_not_retryable_and_names_the_variable():
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "errors": [{"message": "API key not valid. Please pass a valid API key.", "domain": "global", "reason": "badRequest"}],
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}],
            }
        }
    )
    err = youtube_error(400, body, NOW)
    assert not err.retryable and not isinstance(err, RateLimited)
    assert "YOUTUBE_API_KEY" in str(err)


def test_api_not_enabled_is_not_retryable():
    body = error_body(403, "accessNotConfigured", "YouTube Data API v3 has not been used in project 123", "usageLimits")
    err = youtube_error(403, body, NOW)
    assert not err.retryable and "enable the YouTube Data API v3" in str(err)


def test_server_errors_and_unreadable_bodies():
    assert youtube_error(503, "<html>Service Unavailable</html>", NOW).retryable
    assert not youtube_error(400, error_body(400, "invalidSearchFilter", "Bad filter", "youtube.search"), NOW).retryable


# ---- transport ------------------------------------------------------------------------------


def test_network_failure_is_retryable_and_never_leaves_the_machine():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listener = YouTubeListener.from_config(
        YouTubeListener.Options(base_url=f"http://127.0.0.1:{port}"), {"YOUTUBE_API_KEY": "AIzaSekritKey3"}
    )
    with pytest.raises(ListenerError) as info:
        list(listener.fetch([brand("mindful")], None, NOW))
    assert info.value.retryable
    assert "AIzaSekritKey3" not in str(info.value)


def test_request_url_logs_do_not_show_the_key(caplog):
    YouTubeListener.from_config(YouTubeListener.Options(), {"YOUTUBE_API_KEY": "AIzaSekritKey4"})
    with caplog.at_level(logging.DEBUG, logger="googleapiclient.discovery"):
        logging.getLogger("googleapiclient.discovery").debug(
            "URL being requested: GET %s", "https://youtube.googleapis.com/youtube/v3/search?q=x&key=AIzaSekritKey4"
        )
    assert "AIzaSekritKey4" not in caplog.text
    assert "key=***" in caplog.text
