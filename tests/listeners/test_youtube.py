"""YouTube listener: payload mapping, query translation, cursor and error mapping (all offline)."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.youtube import YouTubeListener, html_to_text, youtube_error, youtube_query
from listeners.youtube_cursor import (Mark, State, Thread, dump_state, followed, kept_threads, load_cursor, load_state,
                                      waiting_longest)
from listeners.youtube_replies import as_reply, note_threads
from listeners.youtube_quota import seconds_until_quota_reset

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

# A commentThreads#list item as textFormat=plainText sends it: no tags, but entities still
# escaped; textOriginal is absent, as it is for anyone but the comment's author.
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
                "textDisplay": "Switched from Calm &amp; never looked back\nتطبيق رائع 👍 &lt;3 at 0:42 &lt;b&gt;",
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


def test_to_mention_maps_a_plain_text_comment_thread_and_decodes_its_entities():
    m = YouTubeListener.to_mention(THREAD)
    assert m is not None
    assert m.id == "UgzDE2tasfmrYLyNkGt4AaABAg"
    assert m.kind == "comment"
    assert m.text == "Switched from Calm & never looked back\nتطبيق رائع 👍 <3 at 0:42 <b>"  # nothing stripped
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


def t(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 11, 12, 14, minute, second, tzinfo=UTC)


def test_a_mark_keeps_the_ids_of_its_newest_second():
    mark = Mark().advanced([("a", t(1)), ("b", t(3)), ("c", t(3))])
    assert mark.after == t(3) and set(mark.seen) == {"b", "c"}
    assert not mark.is_new("b", t(3))  # publishedAfter is inclusive: YouTube sends b again
    assert mark.is_new("d", t(3)) and mark.is_new("e", t(4))
    assert not mark.is_new("a", t(1))  # older than the mark
    assert mark.advanced([("d", t(3))]).seen.keys() == {"b", "c", "d"}
    assert mark.advanced([("e", t(4))]).seen.keys() == {"e"}
    assert Mark().is_new("x", t(0)) and not Mark().is_new("", t(0)) and not Mark().is_new("x", None)


def test_a_window_keeps_the_ids_of_its_last_hour_but_never_more_than_a_hundred():
    hour = timedelta(hours=1)
    mark = Mark().advanced([("old", t(0) - hour - timedelta(seconds=1)), ("a", t(0)), ("b", t(50))], hour)
    assert set(mark.seen) == {"a", "b"}
    assert mark.is_new("late", t(10), hour) and not mark.is_new("a", t(0), hour)
    crowd = Mark().advanced([(f"v{n}", t(0, n % 60) + timedelta(minutes=n // 60)) for n in range(150)], hour)
    assert len(crowd.seen) == 100 and "v149" in crowd.seen and "v0" not in crowd.seen


def test_is_older_says_where_a_newest_first_listing_may_stop():
    mark = Mark(after=t(3))
    assert mark.is_older(t(2)) and not mark.is_older(t(3)) and not Mark().is_older(t(0))


def test_the_state_round_trips_and_forgets_brands_no_longer_configured():
    state = State(
        search={"mindful": Mark().advanced([("v1", t(1))]), "gone": Mark(after=t(0))},
        videos={"v1": Mark(published=t(1)).advanced([("c1", t(5))])},
        channels={"UC1": Mark()},
    )
    back = load_state(dump_state(state, ["mindful"]))
    assert back.search == {"mindful": state.search["mindful"]}
    assert back.videos == state.videos and back.channels == state.channels
    assert json.loads(dump_state(state, ["mindful"]))["videos"]["v1"] == {
        "after": "2024-11-12T14:05:00Z", "published": "2024-11-12T14:01:00Z",
        "seen": {"c1": "2024-11-12T14:05:00Z"}}


def test_an_unreadable_cursor_starts_afresh_with_a_warning(caplog):
    for garbage in ("[", "[]", '"x"', '{"search": 3, "videos": {"v": 7}}'):
        assert load_state(garbage).search == {}
    assert "ignoring an unreadable cursor" in caplog.text
    odd = load_state('{"search": {"m": {"after": "soon", "seen": {"a": "never", "b": "2024-11-12T14:00:00Z"}}}}')
    assert odd.search["m"] == Mark(None, {"b": t(0)})


def test_followed_videos_are_the_newest_within_the_window():
    videos = {f"v{d}": Mark(published=NOW - timedelta(days=d)) for d in range(10)}
    videos["unknown"] = Mark()
    assert list(followed(videos, NOW, days=7, limit=20)) == [f"v{d}" for d in range(8)]
    assert list(followed(videos, NOW, days=7, limit=3)) == ["v0", "v1", "v2"]
    assert followed(videos, NOW, days=7, limit=0) == {}


def test_load_cursor_normalises_times_and_ignores_garbage():
    cursor = json.dumps({"published_after": {"mindful": "2024-11-12T14:03:27.000+00:00"}})
    assert load_cursor(cursor) == {"mindful": "2024-11-12T14:03:27Z"}
    assert load_cursor(None) == {}
    assert load_cursor("[") == {}
    assert load_cursor('{"published_after": {"mindful": "later"}}') == {}


def test_a_video_resource_is_plain_text_and_a_search_result_is_escaped():
    resource = {"kind": "youtube#video", "id": "v", "snippet": {
        "publishedAt": "2024-11-12T14:03:27Z", "title": "R&amp;D: 5 &lt; 6", "description": "a &amp; b",
        "channelTitle": "A &amp; B"}}
    m = YouTubeListener.to_mention(resource)
    assert m is not None and (m.title, m.text, m.author) == ("R&amp;D: 5 &lt; 6", "a &amp; b", "A &amp; B")
    m = YouTubeListener.to_mention({**VIDEO, "snippet": {**VIDEO["snippet"], "title": "R&amp;D: 5 &lt; 6"}})
    assert m is not None and m.title == "R&D: 5 < 6"


def test_a_comment_by_a_deleted_account_has_no_author():
    comment = THREAD["snippet"]["topLevelComment"]
    snippet = {k: v for k, v in comment["snippet"].items() if not k.startswith("author")}
    thread = {**THREAD, "snippet": {**THREAD["snippet"], "topLevelComment": {**comment, "snippet": snippet}}}
    m = YouTubeListener.to_mention(thread)
    assert m is not None and m.author == ""


# ---- quota plan -----------------------------------------------------------------------------


def brands(n: int) -> list[Brand]:
    return [Brand(f"b{i}", f"B{i}", "brand", parse(f"brand{i}")) for i in range(n)]


def test_the_defaults_fit_three_brands_in_the_daily_quota():
    plan = YouTubeListener.plan(YouTubeListener.Options(), brands(3))
    # 3 brands x 24 walks x 1 page x 100 + 2 x 72 statistics + 24 walks x 20 videos x 1 page
    # + 24 walks x 20 reply pages
    assert plan.used == 7_200 + 144 + 480 + 480 == 8_304
    assert plan.budget == 10_000 and plan.unit == "quota units" and plan.fits
    assert plan.detail == ("3 brands x 24 walks x 1 pages x 100 (search) + 144 (statistics)"
                           " + 24 walks x 20 videos and channels x 1 pages (comments)"
                           " + 24 walks x 20 comments.list pages (replies)")
    assert not YouTubeListener.plan(YouTubeListener.Options(), brands(4)).fits  # 10,912


def test_the_old_half_hour_default_does_not_fit_three_brands():
    plan = YouTubeListener.plan({"every": "30m"}, brands(3))
    assert plan.used == 14_400 + 288 + 960 + 960 and not plan.fits


def test_the_plan_counts_pages_channels_statistics_and_the_budget():
    options = {"every": "2h", "max_pages": 2, "channels": ["UC1", "UC2"], "max_followed_videos": 10,
               "max_comment_pages": 2, "statistics": False, "max_reply_pages": 5, "daily_quota": 50_000}
    plan = YouTubeListener.plan(options, brands(5))
    assert plan.used == 5 * 12 * 2 * 100 + 12 * 12 * 2 + 12 * 5 == 12_348
    assert plan.budget == 50_000 and plan.fits
    assert YouTubeListener.plan({"every": "7m"}, []).used == 206 * (20 + 20)  # ceil(1440 / 7) walks
    assert YouTubeListener.plan({"max_reply_pages": 0}, brands(3)).used == 7_824  # replies a thread carries only


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
    assert not err.retryable and "enable the YouTube Data API v3" in str(err) and "YOUTUBE_API_KEY" in str(err)
    assert not youtube_error(401, "", NOW).retryable and "YOUTUBE_API_KEY" in str(youtube_error(401, "", NOW))


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


# ---- replies (offline) ----------------------------------------------------------------------


def reply(n: int, minute: int, video: str | None = "dQw4w9WgXcQ") -> dict:
    snippet = {"textDisplay": f"reply &amp; {n}", "authorDisplayName": f"@r{n}", "likeCount": n,
               "publishedAt": t(minute).strftime("%Y-%m-%dT%H:%M:%SZ"), "parentId": THREAD["id"]}
    if video:
        snippet["videoId"] = video
    return {"kind": "youtube#comment", "id": f"{THREAD['id']}.r{n}", "snippet": snippet}


def thread(total: int, *replies: dict) -> dict:
    item = {**THREAD, "snippet": {**THREAD["snippet"], "totalReplyCount": total}}
    return {**item, "replies": {"comments": list(replies)}} if replies else item


def test_a_reply_is_a_comment_that_links_to_itself_and_counts_its_likes():
    m = YouTubeListener.to_mention(as_reply(reply(3, 5, video=None), THREAD["id"], "dQw4w9WgXcQ"))
    assert m is not None and (m.kind, m.id, m.author, m.text) == ("comment", f"{THREAD['id']}.r3", "@r3", "reply & 3")
    assert m.url == f"https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc={THREAD['id']}.r3"  # the video from its thread
    assert (m.engagement, m.metrics) == (3, {"likeCount": 3})
    assert m.raw["snippet"]["parentId"] == THREAD["id"] and m.created_at == t(5)


def test_note_threads_reads_a_thread_that_carries_all_its_replies_and_leaves_the_rest_pending():
    threads: dict[str, Thread] = {}
    new = note_threads(threads, [thread(2, reply(1, 1), reply(2, 2))])
    assert [r["id"] for r in new] == [f"{THREAD['id']}.r1", f"{THREAD['id']}.r2"]
    done = threads[THREAD["id"]]
    assert (done.read, done.total, done.pending, done.mark.after) == (2, 2, False, t(2))
    assert note_threads(threads, [thread(2, reply(1, 1), reply(2, 2))]) == []  # nothing new the second time

    grown = note_threads(threads, [thread(7, *(reply(n, n) for n in range(1, 6)))])
    assert [r["id"] for r in grown] == [f"{THREAD['id']}.r{n}" for n in (3, 4, 5)]
    pending = threads[THREAD["id"]]
    assert (pending.read, pending.total, pending.pending, pending.mark) == (2, 7, True, done.mark)  # mark unmoved
    note_threads(threads, [thread(1, reply(1, 1))])  # replies deleted: it carries all there are now
    assert threads[THREAD["id"]].pending is False and threads[THREAD["id"]].read == 1
    assert note_threads(threads, [{**thread(0), "id": "no-replies"}]) == [] and "no-replies" not in threads


def test_threads_round_trip_in_the_cursor_and_are_bounded():
    mark = Mark(published=t(0)).advanced([("a.1", t(4))])
    state = State(threads={"a": Thread("v1", read=3, total=3, mark=mark),
                           "b": Thread("v2", read=0, total=120, token="tok", mark=Mark(published=t(1)))})
    back = load_state(dump_state(state, []))
    assert back.threads == state.threads
    assert json.loads(dump_state(state, []))["threads"]["b"] == {
        "video": "v2", "read": 0, "total": 120, "token": "tok", "published": "2024-11-12T14:01:00Z", "seen": {}}
    many = {f"t{n:03}": Thread("v", 1, 1, mark=Mark(published=t(0) + timedelta(minutes=n))) for n in range(600)}
    many["waiting"] = Thread("v", 0, 9, mark=Mark(published=t(0)))
    kept = kept_threads(many, 500)
    assert len(kept) == 500 and "waiting" in kept and "t599" in kept and "t000" not in kept
    assert load_state('{"threads": {"x": {"read": "junk", "total": [1], "token": 5}}}').threads == {"x": Thread("")}


def test_the_thread_waiting_longest_is_read_first():
    threads = {"new": Thread("v", 0, 9, mark=Mark(published=t(30))),
               "held": Thread("v", 2, 9, token="p2", mark=Mark(after=t(5), published=t(1))),
               "done": Thread("v", 9, 9, mark=Mark(after=t(0)))}
    assert waiting_longest(threads) == ["held", "new"]
