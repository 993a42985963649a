"""The YouTube listener over real HTTP: the discovery-built googleapiclient against the fake
Data API in tests/fakes/youtube.py, through the real pipeline and a real SQLite file."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.models import Brand, iso
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.youtube import YouTubeListener
from listeners.youtube_cursor import load_state
from listeners.youtube_quota import seconds_until_quota_reset
from tests.fakes.youtube import KEY, FakeYouTube, parameter_problems, schema_problems, METHODS

UTC = timezone.utc
NOW = datetime(2024, 11, 12, 15, 0, tzinfo=UTC)  # 07:00 in Los Angeles
REPO = Path(__file__).resolve().parents[2]
CHANNEL = "UCmindfulHealthOfficial01"
BRANDS = {
    "mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health" OR mindfulhealth')),
    "theranow": Brand("theranow", "TheraNow", "competitor", parse("theranow")),
}
# The keys harkbot reads, per discovery schema: the fake must send them.
READS = {
    "SearchListResponse": ["items", "pageInfo"],
    "SearchResult": ["kind", "id", "snippet"],
    "ResourceId": ["kind", "videoId"],
    "SearchResultSnippet": ["publishedAt", "channelId", "title", "description", "channelTitle"],
    "CommentThreadListResponse": ["items"],
    "CommentThread": ["kind", "id", "snippet"],
    "CommentThreadSnippet": ["videoId", "topLevelComment", "totalReplyCount"],
    "Comment": ["kind", "id", "snippet"],
    "CommentSnippet": ["videoId", "textDisplay", "publishedAt", "likeCount"],
    "CommentThreadReplies": ["comments"],
    "CommentListResponse": ["items"],
    "VideoListResponse": ["items"],
    "Video": ["id", "snippet", "statistics"],
    "VideoStatistics": ["viewCount", "likeCount", "commentCount"],
    "ChannelListResponse": ["items"],
    "Channel": ["id", "statistics"],
    "ChannelStatistics": ["hiddenSubscriberCount"],
}


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Any name lookup but the loopback one fails the test: nothing may leave 127.0.0.1."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def guard(host, *args, **kwargs):
        looked_up.append(str(host))
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1"):
            raise AssertionError(f"a request tried to reach {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guard)
    yield looked_up
    assert all(h in ("127.0.0.1", "localhost", b"127.0.0.1") for h in looked_up)


@pytest.fixture
def fake():
    with FakeYouTube() as yt:
        yield yt
        # Every request and answer kept to the discovery document.
        assert yt.problems == []


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "h.db")
    yield s
    s.close()


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


def listen(fake: FakeYouTube, key: str = KEY, **options) -> YouTubeListener:
    return YouTubeListener.from_config(YouTubeListener.Options(base_url=fake.url, **options), {"YOUTUBE_API_KEY": key})


def poll(listener, store, scorer, now=NOW, brands=BRANDS):
    return poll_once(listener, brands, scorer, store, now)


def stored(store: Store, kind: str | None = None) -> dict[str, dict]:
    sql = "SELECT * FROM mentions" + (" WHERE kind = ?" if kind else "")
    return {r["native_id"]: dict(r) for r in store.conn.execute(sql, (kind,) if kind else ())}


def cursor(store: Store):
    return load_state(store.cursor("youtube"))


def at(minutes: int) -> str:
    """A publishedAt `minutes` after 12:00 on NOW's day."""
    return iso(NOW.replace(hour=12) + timedelta(minutes=minutes))


def assert_counted_once(store: Store) -> None:
    """No mention is linked or rolled up twice: re-reads must not inflate the counts."""
    links = store.conn.execute("SELECT count(*) FROM mention_brands").fetchone()[0]
    rolled = store.conn.execute("SELECT sum(count) FROM buckets").fetchone()[0] or 0
    assert links == rolled


# ---- a walk ---------------------------------------------------------------------------------


def test_a_walk_stores_videos_and_comments_with_their_counts(fake, store, scorer, caplog):
    fake.add_channel(CHANNEL, "Mindful Health", subscribers=48_200)
    vid = fake.add_video("Mindful Health: 30 days in", "What the app did for my sleep", channel_id=CHANNEL,
                         published_at=at(10), likes=512, views=10_234)
    comment = fake.add_comment(vid, "mindful health changed my mornings", author="@mira", published_at=at(20),
                               likes=14, replies=2)
    fake.add_comment(vid, "nice video", published_at=at(25))  # no brand term: matched out by the pipeline
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        result = poll(listen(fake), store, scorer)
    assert result.error is None and result.new == 2
    video, thread = stored(store)[vid], stored(store)[comment]
    assert (video["title"], video["author"], video["author_reach"]) == ("Mindful Health: 30 days in", "Mindful Health",
                                                                         48_200)
    assert json.loads(video["metrics"]) == {"viewCount": 10_234, "likeCount": 512, "favoriteCount": 0,
                                            "commentCount": 2}
    assert (thread["kind"], thread["author"], thread["engagement"]) == ("comment", "@mira", 16)
    assert thread["url"] == f"https://www.youtube.com/watch?v={vid}&lc={comment}"
    assert [r.resource for r in fake.requests] == ["search", "videos", "channels", "search", "commentThreads"]
    assert fake.units_used() == 2 * 100 + 3  # two brand searches, statistics once, one comment page
    lines = [r.getMessage() for r in caplog.records if r.name == "listeners.youtube"]
    assert lines == ["youtube: 2 searches, 2 pages, 1 videos; 1 comment sources, 1 pages, 2 comments, 2 replies, "
                     "0 reply pages; 203 quota units"]  # the 2 replies carried by the thread, not matched


def test_search_asks_for_new_videos_by_date_and_reads_every_page(fake, store, scorer):
    videos = [fake.add_video(f"Mindful Health tip {n}", published_at=at(n)) for n in range(7)]
    result = poll(listen(fake, max_results=3, max_pages=3, statistics=False, max_followed_videos=0), store, scorer)
    assert result.error is None and set(stored(store)) == set(videos)
    searches = [r.params for r in fake.calls("search") if "mindful" in r.params["q"]]
    assert [(p["type"], p["order"], p["maxResults"]) for p in searches] == [("video", "date", "3")] * 3
    assert [p.get("pageToken") is not None for p in searches] == [False, True, True]
    assert "publishedAfter" not in searches[0]  # a first walk reads the newest


def test_a_walk_that_hits_max_pages_says_so(fake, store, scorer, caplog):
    for n in range(5):
        fake.add_video(f"Mindful Health tip {n}", published_at=at(n))
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        poll(listen(fake, max_results=2, max_pages=2, statistics=False), store, scorer)
    assert len(stored(store)) == 4  # newest first: the oldest one was not reached
    assert "max_pages reached for mindful (older new videos skipped)" in caplog.text


# ---- cursors ------------------------------------------------------------------------------------


def test_the_next_walk_starts_where_the_last_ended_without_repeats(fake, store, scorer):
    first = [fake.add_video("Mindful Health vlog", published_at=at(m)) for m in (0, 30, 30)]
    listener = listen(fake)
    assert poll(listener, store, scorer).fetched == 3
    mark = cursor(store).search["mindful"]
    assert mark.after == datetime.fromisoformat(at(30)) and set(mark.seen) == set(first)

    boundary = fake.add_video("Mindful Health, same second", published_at=at(30))
    late = fake.add_video("Mindful Health, indexed late", published_at=at(5))  # within the hour's overlap
    newer = fake.add_video("Mindful Health, new", published_at=at(90))
    fake.add_video("Mindful Health, too old to be searched for", published_at=at(-31))
    second = poll(listener, store, scorer, NOW + timedelta(hours=1))
    assert second.error is None and second.fetched == 3  # the read ones are not sent on again
    assert set(stored(store)) == {*first, boundary, late, newer}
    search = [r.params for r in fake.calls("search") if "mindful" in r.params["q"]]
    assert search[1]["publishedAfter"] == at(30 - 60)  # the newest read, less search_overlap
    mark = cursor(store).search["mindful"]
    assert mark.after == datetime.fromisoformat(at(90)) and set(mark.seen) == {newer, *first[1:], boundary}

    third = poll(listener, store, scorer, NOW + timedelta(hours=2))
    assert third.fetched == 0 and search_params(fake)[-1]["publishedAfter"] == at(90 - 60)
    assert_counted_once(store)


def search_params(fake, q="mindful"):
    return [r.params for r in fake.calls("search") if q in r.params["q"]]


def test_a_video_found_twice_or_shifted_onto_the_next_page_is_stored_once(fake, store, scorer):
    both = fake.add_video("Mindful Health vs TheraNow", published_at=at(50))  # both brands' searches find it
    rest = [fake.add_video(f"Mindful Health part {n}", published_at=at(n)) for n in range(3)]

    class AddsAVideoAfterPageOne:
        """While the walk reads page 1, a video is published: page 2 starts with a repeat."""

        name = "youtube"

        def __init__(self, inner):
            self.inner = inner

        def fetch(self, brands, cursor, now):
            for n, batch in enumerate(self.inner.fetch(brands, cursor, now)):
                yield batch
                if n == 0:
                    self.newcomer = fake.add_video("Mindful Health breaking", published_at=at(100))

    listener = AddsAVideoAfterPageOne(listen(fake, max_results=2, max_pages=5))
    first = poll(listener, store, scorer)
    assert first.error is None and set(stored(store)) == {both, *rest}
    assert first.fetched == 4  # neither the second brand's find nor page 2's repeat is sent on
    mindful_pages = [r.params.get("pageToken") for r in fake.calls("search") if "mindful" in r.params["q"]]
    assert len(mindful_pages) == 3  # 4 videos then 5, two a page
    again = poll(listen(fake), store, scorer, NOW + timedelta(hours=1))
    assert again.fetched == 1 and set(stored(store)) == {both, *rest, listener.newcomer}
    links = store.conn.execute("SELECT brand FROM mention_brands WHERE mention_key = ?", (f"youtube:{both}",))
    assert sorted(r[0] for r in links) == ["mindful", "theranow"]
    assert_counted_once(store)


# ---- comment threads -------------------------------------------------------------------------


def test_comments_are_followed_on_found_videos_and_on_configured_channels(fake, store, scorer):
    fake.add_channel(CHANNEL, "Mindful Health", subscribers=1000)
    found = fake.add_video("Mindful Health review", published_at=at(0))
    on_found = fake.add_comment(found, "mindful health is worth it", published_at=at(10))
    # The channel's own video never says the brand; its comments do.
    own = fake.add_video("Sleep better tonight", channel_id=CHANNEL, published_at=at(5))
    on_channel = fake.add_comment(own, "love mindful health's sleep stories", published_at=at(15), likes=3)
    off_topic = fake.add_video("MindfulHealthy snacks", published_at=at(20))  # q finds it; the brand does not
    closed = fake.add_video("Mindful Health ad", published_at=at(1), comments_disabled=True)

    listener = listen(fake, channels=[CHANNEL, "UCnoSuchChannel0000000000"])
    first = poll(listener, store, scorer)
    assert first.error is None
    assert {on_found, on_channel} <= set(stored(store, "comment"))
    followed = [r.params.get("videoId") or r.params["allThreadsRelatedToChannelId"] for r in fake.calls("commentThreads")]
    assert followed == [closed, found, CHANNEL, "UCnoSuchChannel0000000000"]  # newest first; not off_topic
    assert all(r.params["textFormat"] == "plainText" for r in fake.calls("commentThreads"))
    state = cursor(store)
    assert set(state.videos) == {found}  # comments turned off: no longer followed
    assert set(state.channels) == {CHANNEL, "UCnoSuchChannel0000000000"}
    assert off_topic not in stored(store)

    newer = fake.add_comment(found, "mindful health update: still using it", published_at=at(70))
    second = poll(listener, store, scorer, NOW + timedelta(hours=1))
    assert second.error is None and second.fetched == 1
    assert newer in stored(store, "comment")
    assert_counted_once(store)


def test_comment_pages_stop_at_what_an_earlier_walk_read(fake, store, scorer):
    vid = fake.add_video("Mindful Health AMA", published_at=at(0))
    for n in range(150):
        fake.add_comment(vid, f"mindful health question {n}", published_at=at(1 + n // 60))
    listener = listen(fake, max_comment_pages=3)
    poll(listener, store, scorer)
    assert len(stored(store, "comment")) == 150
    assert len(fake.calls("commentThreads")) == 2  # 100 a page
    fresh = [fake.add_comment(vid, f"mindful health follow-up {n}", published_at=at(200)) for n in range(3)]
    before = len(fake.calls("commentThreads"))
    second = poll(listener, store, scorer, NOW + timedelta(hours=1))
    assert second.fetched == 3 and set(fresh) <= set(stored(store, "comment"))
    assert len(fake.calls("commentThreads")) == before + 1  # the first page reached the old ones


def test_only_recent_videos_are_followed_and_only_so_many(fake, store, scorer):
    old = fake.add_video("Mindful Health, last month", published_at=iso(NOW - timedelta(days=30)))
    recent = [fake.add_video(f"Mindful Health {n}", published_at=at(n)) for n in range(5)]
    poll(listen(fake, follow_days=7, max_followed_videos=3), store, scorer)
    assert old in stored(store)
    assert [r.params["videoId"] for r in fake.calls("commentThreads")] == recent[:-4:-1]  # the newest three
    assert set(cursor(store).videos) == set(recent[-3:])


def test_deleted_authors_emoji_right_to_left_zero_width_and_entities(fake, store, scorer):
    title = "Mindful Health & \"Calm\": Tom's <honest> take"
    vid = fake.add_video(title, "R&D, 5 > 3 &amp; it's fine", published_at=at(0))
    texts = {
        "ghost": ("mindful health helped, from a deleted account", None),
        "emoji": ("mindful health 👩‍💻🧘🏽‍♀️ family: 👨‍👩‍👧 flags: 🇯🇵", "@emoji"),
        "rtl": ("mindful health تطبيق رائع جدا ‏עברית‏", "@رائع"),
        "zero-width": ("mindful health works\u200b\u200c\u2060 fine", "@zw"),
        "entities": ("mindful health <3 & it's \"great\" &amp; then some", "@ent"),
    }
    ids = {name: fake.add_comment(vid, text, author=author, published_at=at(n + 1))
           for n, (name, (text, author)) in enumerate(texts.items())}
    assert poll(listen(fake), store, scorer).error is None
    rows = stored(store)
    assert rows[vid]["title"] == title and rows[vid]["text"] == "R&D, 5 > 3 &amp; it's fine"
    for name, (text, author) in texts.items():
        row = rows[ids[name]]
        assert row["text"] == text, name
        assert row["author"] == (author or "")
    assert store.search('"mindful health"')  # the full-text index takes them all


# ---- limits and failures -------------------------------------------------------------------------


def test_quota_used_up_mid_walk_keeps_what_was_read_and_rests_until_midnight_pacific(store, scorer):
    with FakeYouTube({KEY: 250}) as fake:
        videos = [fake.add_video(f"Mindful Health {n}", published_at=at(n)) for n in range(6)]
        listener = listen(fake, max_results=2, max_pages=5, max_followed_videos=0)
        failed = poll(listener, store, scorer, brands={"mindful": BRANDS["mindful"]})
        # search 100 + statistics 2, twice; the third page's search would pass 250.
        assert failed.error and "daily quota used up" in failed.error
        assert fake.units_used() == 204
        assert set(stored(store)) == set(videos[-4:])  # the two pages read are kept
        assert store.cursor("youtube") is None  # not moved past the page not read
        reset = NOW + timedelta(seconds=seconds_until_quota_reset(NOW))
        assert store.retry_at("youtube") == reset == datetime(2024, 11, 13, 8, 0, tzinfo=UTC)
        assert poll(listener, store, scorer, NOW + timedelta(hours=3)).skipped

        fake.reset_quota()
        fake.quota[KEY] = 1000  # a new day; the whole walk again costs 306 units
        done = poll(listener, store, scorer, reset, brands={"mindful": BRANDS["mindful"]})
        assert done.error is None and set(stored(store)) == set(videos)
        assert cursor(store).search["mindful"].after == datetime.fromisoformat(at(5))
        assert fake.problems == []
    assert_counted_once(store)


def test_a_server_error_is_retried_and_the_walk_then_completes(fake, store, scorer):
    fake.add_video("Mindful Health news", published_at=at(0))
    fake.fail_next(1, 503, message="upstream failed for {url}", resource="search")
    listener = listen(fake)
    failed = poll(listener, store, scorer)
    assert failed.error.startswith("youtube: server error (503): upstream failed for /youtube/v3/search?")
    assert KEY not in failed.error and "key=***" in failed.error
    health = store.health_of("youtube")
    assert health["failures"] == 1 and health["retry_at"] == iso(NOW + timedelta(minutes=1))
    assert store.cursor("youtube") is None
    done = poll(listener, store, scorer, NOW + timedelta(minutes=2))
    assert done.error is None and len(stored(store)) == 1 and store.cursor("youtube")


def test_a_request_that_times_out_is_retried(fake, store, scorer):
    fake.add_video("Mindful Health news", published_at=at(0))
    listener = listen(fake, timeout=timedelta(seconds=0.3))
    fake.delay_next(1, 1.0)
    failed = poll(listener, store, scorer)
    assert failed.error == "youtube: timed out; will retry"
    assert store.health_of("youtube")["retry_at"] == iso(NOW + timedelta(minutes=1))
    done = poll(listener, store, scorer, NOW + timedelta(minutes=2))  # the same client, a new connection
    assert done.error is None and len(stored(store)) == 1


def test_a_malformed_answer_is_retried_and_never_touches_the_cursor(fake, store, scorer):
    fake.add_video("Mindful Health news", published_at=at(0))
    listener = listen(fake)
    poll(listener, store, scorer)
    before = store.cursor("youtube")
    fake.add_video("Mindful Health more news", published_at=at(30))
    fake.malformed_next(1, resource="videos")
    failed = poll(listener, store, scorer, NOW + timedelta(hours=1))
    assert failed.error == "youtube: the API sent an unreadable answer (not a JSON object); will retry"
    assert store.cursor("youtube") == before
    assert poll(listener, store, scorer, NOW + timedelta(hours=2)).error is None
    assert len(stored(store)) == 2 and store.cursor("youtube") != before


def test_an_invalid_key_is_not_retried_and_never_shown(fake, store, scorer, caplog):
    wrong = "AIzaSyWrongKeyWrongKeyWrongKey-98765432"
    caplog.set_level(logging.DEBUG)
    failed = poll(listen(fake, key=wrong), store, scorer)
    assert failed.error == "youtube: the API key was refused (400); check YOUTUBE_API_KEY"
    assert fake.requests[0].key == wrong  # it did go out (to the fake)
    assert store.health_of("youtube")["retry_at"] == iso(NOW + timedelta(hours=1))  # not retryable: the hour
    assert "URL being requested" in caplog.text  # googleapiclient logged the URL...
    assert wrong not in caplog.text  # ...without the key


def test_the_key_never_reaches_the_logs_of_a_walk(fake, store, scorer, caplog):
    fake.add_video("Mindful Health news", published_at=at(0))
    caplog.set_level(logging.DEBUG)
    assert poll(listen(fake), store, scorer).error is None
    assert "key=***" in caplog.text and KEY not in caplog.text


# ---- the discovery document ---------------------------------------------------------------------


def test_the_fakes_answers_follow_the_discovery_schemas(fake):
    vid = fake.add_video("Mindful Health review", "long " * 100, published_at=at(0), likes=1, views=2)
    fake.add_video("Mindful Health review, part 2", published_at=at(1))
    thread = fake.add_comment(vid, "mindful health!", author=None, published_at=at(1), replies=7)
    fake.add_channel("UChidden00000000000000001", "Hidden", hidden=True)
    yt = listen(fake).youtube
    answers = {
        "SearchListResponse": yt.search().list(part="snippet", q="mindful", type="video", maxResults=1).execute(),
        "CommentThreadListResponse": yt.commentThreads().list(part="snippet,replies", videoId=vid,
                                                              textFormat="plainText").execute(),
        "CommentListResponse": yt.comments().list(part="snippet", parentId=thread, maxResults=5,
                                                  textFormat="plainText").execute(),
        "VideoListResponse": yt.videos().list(part="snippet,statistics", id=vid).execute(),
        "ChannelListResponse": yt.channels().list(part="statistics", id="UChidden00000000000000001").execute(),
    }
    for name, body in answers.items():
        assert body["items"], name
        assert schema_problems(body, {"$ref": name}, required=READS) == [], name
    assert answers["SearchListResponse"]["nextPageToken"]  # one a page, so there is another
    assert answers["VideoListResponse"]["items"][0]["statistics"]["likeCount"] == "1"  # counts are strings
    carried = answers["CommentThreadListResponse"]["items"][0]
    assert carried["snippet"]["totalReplyCount"] == 7 and len(carried["replies"]["comments"]) == 5
    assert answers["CommentListResponse"]["nextPageToken"]  # 7 replies, 5 a page
    assert all(r["snippet"]["parentId"] == thread for r in answers["CommentListResponse"]["items"])


def test_the_schema_and_parameter_checks_are_not_vacuous():
    search = METHODS["youtube/v3/search"][1]
    assert parameter_problems(search, {"part": ["snippet"], "q": ["x"], "maxResults": ["50"]}) == []
    assert parameter_problems(search, {"q": ["x"]}) == ["youtube.search.list: missing required parameter part"]
    problems = parameter_problems(search, {"part": ["snippet"], "maxResults": ["51"], "order": ["newest"],
                                           "publishedAfter": ["yesterday"], "textFormat": ["plainText"]})
    assert len(problems) == 4 and "undeclared parameter textFormat" in problems[-1]
    good = {"kind": "youtube#videoListResponse", "items": [{"id": "x", "statistics": {"likeCount": "3"}}]}
    assert schema_problems(good, {"$ref": "VideoListResponse"}) == []
    bad = {"kind": "youtube#video", "items": [{"id": 1, "statistics": {"likeCount": 3, "shares": "1"}}]}
    assert len(schema_problems(bad, {"$ref": "VideoListResponse"})) == 4
    assert schema_problems({}, {"$ref": "Video"}, required=READS) == [
        "$: Video lacks id", "$: Video lacks snippet", "$: Video lacks statistics"]


def test_base_url_points_every_root_at_the_fake_and_building_reads_no_network(fake, only_localhost):
    yt = listen(fake).youtube
    assert yt._baseUrl == fake.url
    assert yt.new_batch_http_request()._batch_uri == fake.url + "batch"
    YouTubeListener.from_config(YouTubeListener.Options(), {"YOUTUBE_API_KEY": KEY})  # the real API: no lookup
    assert only_localhost == []


# ---- a process killed between pages ---------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys
    from bot.models import Brand, parse_iso
    from bot.pipeline import poll_once
    from bot.query import parse
    from bot.sentiment import make_scorer
    from bot.store import Store
    from listeners.youtube import YouTubeListener

    url, db, now, key = sys.argv[1:5]
    brands = {"mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health" OR mindfulhealth'))}
    listener = YouTubeListener.from_config(
        YouTubeListener.Options(base_url=url, max_results=2, max_pages=5), {"YOUTUBE_API_KEY": key})
    poll_once(listener, brands, make_scorer("vader"), Store(db), parse_iso(now))
""")


def test_a_process_killed_between_pages_loses_and_doubles_nothing(fake, tmp_path, scorer):
    videos = [fake.add_video(f"Mindful Health episode {n}", published_at=at(n)) for n in range(5)]
    comments = [fake.add_comment(videos[-1], f"mindful health ep4 comment {n}", published_at=at(10 + n))
                for n in range(2)]
    db = tmp_path / "killed.db"
    fake.pause_on_page(2)
    child = subprocess.Popen([sys.executable, "-c", CHILD, fake.url, str(db), iso(NOW), KEY], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE)
    try:
        # Seconds normally; a loaded machine can take far longer to import the child.
        deadline = time.monotonic() + 90
        while not fake.paused.wait(0.1):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "page 2 was never asked for"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    fake.release()
    store = Store(db)
    assert set(stored(store)) == set(videos[-2:])  # page 1 was committed before page 2 was asked for
    assert store.cursor("youtube") is None

    result = poll(listen(fake, max_results=2, max_pages=5), store, scorer, NOW + timedelta(minutes=30),
                  brands={"mindful": BRANDS["mindful"]})
    assert result.error is None
    assert set(stored(store)) == {*videos, *comments}
    assert_counted_once(store)
    state = cursor(store)
    assert state.search["mindful"].after == datetime.fromisoformat(at(4))
    assert state.videos[videos[-1]].after == datetime.fromisoformat(at(11))
    store.close()
