"""The RSS listener over real HTTP: requests and feedparser against the fake feeds in
tests/fakes/rss.py, through the real pipeline and a real SQLite file. Nothing is mocked."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.rss import RSSListener
from tests.fakes.rss import START, FakeFeeds

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BRANDS = {
    "mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health" OR mindfulhealth')),
    "theranow": Brand("theranow", "TheraNow", "competitor", parse("theranow"), exclude=parse('"theranow ltd"')),
}
NEWS = "/rss/search?q=%22mindful+health%22&hl=en-US&gl=US&ceid=US:en"
GOOGLE = "https://news.google.com" + NEWS  # as configured; base_url sends it to the fake
BLOG = "https://blog.example/feed.atom"


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


@pytest.fixture
def fake():
    with FakeFeeds() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    db = Store(tmp_path / "h.db")
    yield db
    db.close()


def listener(fake: FakeFeeds, feeds: list[str] | None = None, **options) -> RSSListener:
    return RSSListener.from_config(RSSListener.Options(feeds=feeds or [GOOGLE], base_url=fake.url, **options), {})


def poll(rss: RSSListener, store: Store, scorer, at: datetime = NOW):
    return poll_once(rss, BRANDS, scorer, store, at)


def stored(store: Store) -> list[tuple[str, str, str, str, str]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT native_id, title, text, author, url FROM mentions ORDER BY created_at, native_id")]


def titles(store: Store) -> list[str]:
    return sorted(r[1] for r in stored(store))


def brands_of(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for title, brand in store.conn.execute(
            "SELECT m.title, b.brand FROM mention_brands b JOIN mentions m ON m.key = b.mention_key"):
        out.setdefault(title, []).append(brand)
    return out


def feed_state(store: Store, url: str = GOOGLE) -> dict:
    return json.loads(store.cursor("rss") or "{}").get("feeds", {}).get(url, {})


def news(fake: FakeFeeds, n: int = 3, path: str = NEWS, **kw):
    feed = fake.feeds.get(path) or fake.add_feed(path, title='"mindful health" - Google News', **kw)
    for i in range(n):
        feed.add_entry(f"Mindful Health story {len(feed.entries) + 1}", f"<p>Report {i} on <b>Mindful Health</b>.</p>",
                       source="Reuters")
    return feed


# ---- the happy path ----------------------------------------------------------------------


def test_entries_that_match_a_brand_are_stored_with_publisher_link_and_utc_time(fake, store, scorer):
    feed = fake.add_feed(NEWS, title='"mindful health" - Google News')
    feed.add_entry("Mindful Health raises $20M - Reuters", '<a href="https://r.example/x">Mindful Health raises '
                   '$20M</a>&nbsp;&nbsp;<font color="#6f6f6f">Reuters</font>', source="Reuters",
                   source_url="https://www.reuters.com", link="https://news.google.com/rss/articles/CBMiabc?oc=5",
                   id="CBMiabc", published=datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2))))
    feed.add_entry("Weather today", "Rain, then sun.")  # names no brand: dropped
    result = poll(listener(fake), store, scorer)
    assert result.error is None and (result.fetched, result.new) == (1, 1)
    ((native_id, title, text, author, url),) = stored(store)
    assert native_id == "news.google.com#CBMiabc"  # a bare guid, scoped by the feed's host
    assert title == "Mindful Health raises $20M - Reuters"
    assert text == "Mindful Health raises $20M Reuters"  # the HTML as text, &nbsp; as a space
    assert author == "Reuters" and url == "https://news.google.com/rss/articles/CBMiabc?oc=5"
    (created,) = store.conn.execute("SELECT created_at FROM mentions").fetchone()
    assert created.startswith("2026-03-02T08:30:00")  # +02:00 read as UTC
    assert brands_of(store) == {"Mindful Health raises $20M - Reuters": ["mindful"]}
    (call,) = fake.calls()
    assert call.path == NEWS and "harkbot" in call.headers["user-agent"]
    assert "application/rss+xml" in call.headers["accept"]


def test_atom_and_rss_feeds_in_one_walk_each_matched_against_every_brand(fake, store, scorer):
    news(fake, 1)
    blog = fake.add_feed("/feed.atom", kind="atom", title="Therapy Tech Blog")
    blog.add_entry("TheraNow vs Mindful Health", "Comparing the two apps.", body_type="text", author="Ann Lee")
    blog.add_entry("TheraNow Ltd annual report", "Filed today.", body_type="text")  # excluded by the brand
    result = poll(listener(fake, [GOOGLE, BLOG]), store, scorer)
    assert result.error is None and result.new == 2
    assert {k: sorted(v) for k, v in brands_of(store).items()} == {
        "Mindful Health story 1": ["mindful"], "TheraNow vs Mindful Health": ["mindful", "theranow"]}
    authors = {r[1]: r[3] for r in stored(store)}
    assert authors["TheraNow vs Mindful Health"] == "Therapy Tech Blog"  # the publisher, not the byline
    raw = json.loads(store.conn.execute("SELECT raw FROM mentions WHERE title LIKE 'TheraNow vs%'").fetchone()[0])
    assert raw["byline"] == "Ann Lee" and raw["feed"] == BLOG


def test_one_feed_per_page_and_only_the_last_batch_carries_the_cursor(fake, scorer):
    news(fake, 2)
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    batches = list(listener(fake, [GOOGLE, BLOG]).fetch(list(BRANDS.values()), None, NOW))
    assert [len(b.mentions) for b in batches] == [2, 1, 0]
    assert [b.cursor is not None for b in batches] == [False, False, True]
    assert set(json.loads(batches[-1].cursor)["feeds"]) == {GOOGLE, BLOG}


# ---- cursors across runs -----------------------------------------------------------------


def test_an_unchanged_feed_is_a_304_by_etag_and_costs_nothing(fake, store, scorer):
    news(fake, 3)
    rss = listener(fake)
    assert poll(rss, store, scorer).new == 3
    tag = feed_state(store)["etag"]
    result = poll(rss, store, scorer, NOW + timedelta(minutes=15))
    assert result.error is None and (result.fetched, result.new) == (0, 0)
    first, second = fake.calls()
    assert "if-none-match" not in first.headers and first.status == 200
    assert second.headers["if-none-match"] == tag and second.status == 304
    assert feed_state(store)["etag"] == tag  # a 304 keeps the validators


def test_last_modified_alone_makes_the_request_conditional(fake, store, scorer):
    news(fake, 2, etag=False)
    rss = listener(fake)
    poll(rss, store, scorer)
    poll(rss, store, scorer, NOW + timedelta(minutes=15))
    first, second = fake.calls()
    assert "if-none-match" not in second.headers
    assert second.headers["if-modified-since"] == "Mon, 02 Mar 2026 09:02:00 GMT" and second.status == 304


def test_without_validators_every_read_is_full_and_seen_ids_keep_it_to_what_is_new(fake, store, scorer):
    feed = news(fake, 3, etag=False, last_modified=False)
    rss = listener(fake)
    assert poll(rss, store, scorer).new == 3
    news(fake, 2)
    result = poll(rss, store, scorer, NOW + timedelta(minutes=15))
    assert (result.fetched, result.new) == (2, 2)  # the 3 read before are not even offered again
    assert [c.status for c in fake.calls()] == [200, 200]
    assert len(titles(store)) == 5 and len(feed.entries) == 5


def test_a_republished_entry_with_a_new_date_is_not_doubled(fake, store, scorer):
    feed = news(fake, 2)
    rss = listener(fake)
    poll(rss, store, scorer)
    old = feed.entries[-1]
    feed.remove(old)
    feed.entries.insert(0, old)  # the publisher bumps it to the top, re-dated
    old.published = START + timedelta(hours=2)
    feed.touch(old.published)
    result = poll(rss, store, scorer, NOW + timedelta(minutes=15))
    assert fake.calls()[-1].status == 200  # the document changed: a full read
    assert (result.fetched, result.new) == (0, 0)
    assert len(stored(store)) == 2


def test_a_new_entry_between_runs_is_stored_and_nothing_is_lost_or_doubled(fake, store, scorer):
    feed = news(fake, 2)
    rss = listener(fake)
    for run in range(4):
        feed.add_entry(f"Mindful Health update {run}", "More.")
        poll(rss, store, scorer, NOW + timedelta(minutes=15 * run))
        poll(rss, store, scorer, NOW + timedelta(minutes=15 * run + 5))  # unchanged: a 304
    assert len(stored(store)) == 6 == len(set(titles(store)))
    assert [c.status for c in fake.calls()] == [200, 304] * 4


def test_the_seen_list_is_bounded_but_keeps_everything_the_feed_still_holds(fake, store, scorer):
    feed = news(fake, 60, etag=False, last_modified=False)
    rss = listener(fake, max_seen=50)
    poll(rss, store, scorer)
    assert len(feed_state(store)["seen"]) == 60  # the feed holds 60: all are remembered
    for entry in feed.entries[10:]:
        feed.remove(entry)  # the feed keeps its newest 10
    news(fake, 5)
    poll(rss, store, scorer, NOW + timedelta(minutes=15))
    seen = feed_state(store)["seen"]
    assert len(seen) == 50  # 15 in the feed, then the 35 newest of the rest
    assert len(stored(store)) == 65


def test_a_crash_before_the_cursor_refetches_and_stores_nothing_twice(fake, store, scorer):
    news(fake, 3)
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    rss = listener(fake, [GOOGLE, BLOG])
    walk = rss.fetch(list(BRANDS.values()), None, NOW)
    first = next(walk)  # the first feed's page; then the process dies
    from bot.pipeline import prepare_page
    scored, rejected = prepare_page(first.mentions, BRANDS, scorer, store, listener="rss")
    store.ingest_page("rss", scored, first.cursor, NOW, rejected=rejected)
    assert store.cursor("rss") is None and len(stored(store)) == 3
    result = poll(rss, store, scorer, NOW + timedelta(minutes=1))
    assert result.error is None and result.new == 1 and len(stored(store)) == 4


def test_a_feed_removed_from_the_config_leaves_the_cursor(fake, store, scorer):
    news(fake, 1)
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    poll(listener(fake, [GOOGLE, BLOG]), store, scorer)
    poll(listener(fake, [GOOGLE]), store, scorer, NOW + timedelta(minutes=15))
    assert set(json.loads(store.cursor("rss"))["feeds"]) == {GOOGLE}


def test_the_same_article_in_two_google_news_searches_is_one_mention_for_both_brands(fake, store, scorer):
    other = "/rss/search?q=theranow"
    for path in (NEWS, other):
        fake.add_feed(path).add_entry("Mindful Health and TheraNow merge", "Big news.", id="CBMiSAME",
                                      source="AP")
    result = poll(listener(fake, [GOOGLE, "https://news.google.com" + other]), store, scorer)
    assert result.new == 1
    assert {k: sorted(v) for k, v in brands_of(store).items()} == {
        "Mindful Health and TheraNow merge": ["mindful", "theranow"]}


def test_an_old_archive_is_not_news(fake, store, scorer):
    feed = fake.add_feed(NEWS)
    feed.add_entry("Mindful Health in 2019", "Old.", published=datetime(2019, 5, 1, tzinfo=UTC))
    feed.add_entry("Mindful Health today", "New.", published=NOW - timedelta(hours=1))
    assert poll(listener(fake), store, scorer).new == 1
    assert titles(store) == ["Mindful Health today"]


def test_an_entry_dated_in_the_future_is_stored_at_the_time_it_was_read(fake, store, scorer):
    fake.add_feed(NEWS).add_entry("Mindful Health tomorrow", "x", published=NOW + timedelta(days=1))
    poll(listener(fake), store, scorer)
    (created,) = store.conn.execute("SELECT created_at FROM mentions").fetchone()
    assert created.startswith("2026-03-02T12:00:00")


# ---- redirects -----------------------------------------------------------------------------


def test_a_permanent_redirect_is_followed_and_logged_once(fake, store, scorer, caplog):
    news(fake, 2, path="/new/feed.xml")
    fake.redirect(NEWS, "https://news.google.com/new/feed.xml", status=301)
    rss = listener(fake)
    with caplog.at_level(logging.WARNING, logger="listeners.rss"):
        assert poll(rss, store, scorer).new == 2
        poll(rss, store, scorer, NOW + timedelta(minutes=15))
    moved = [r.getMessage() for r in caplog.records if "moved permanently" in r.getMessage()]
    assert len(moved) == 1 and "news.google.com/new/feed.xml" in moved[0] and "listeners.rss.feeds" in moved[0]
    # The second walk sent the ETag again, through the redirect, and got a 304.
    assert [(c.path, c.status) for c in fake.calls()] == [(NEWS, 301), ("/new/feed.xml", 200),
                                                          (NEWS, 301), ("/new/feed.xml", 304)]
    assert fake.calls()[-1].headers.get("if-none-match")


@pytest.mark.parametrize("status", [302, 307])
def test_a_temporary_redirect_is_followed_silently(fake, store, scorer, caplog, status):
    news(fake, 1, path="/mirror")
    fake.redirect(NEWS, "/mirror", status=status)
    with caplog.at_level(logging.WARNING, logger="listeners.rss"):
        assert poll(listener(fake), store, scorer).new == 1
    assert not [r for r in caplog.records if "moved" in r.getMessage()]


def test_a_redirect_loop_is_a_clear_error_that_is_not_retried_soon(fake, store, scorer):
    fake.redirect(NEWS, "/b", status=302)
    fake.redirect("/b", NEWS, status=302)
    result = poll(listener(fake), store, scorer)
    assert "redirects more than 5 times" in result.error and "listeners.rss.feeds" in result.error
    assert len(fake.calls()) == 6  # the first request and 5 redirects, then it stops


# ---- faults ---------------------------------------------------------------------------------


def test_a_429_with_retry_after_rests_that_long_then_recovers(fake, store, scorer):
    news(fake, 2)
    fake.fail_next(NEWS, 429, retry_after="900")
    rss = listener(fake)
    result = poll(rss, store, scorer)
    assert "slow down (429)" in result.error and "900s" in result.error
    assert store.retry_at("rss") == NOW + timedelta(seconds=900)
    assert poll(rss, store, scorer, NOW + timedelta(minutes=10)).skipped
    assert len(fake.calls()) == 1
    result = poll(rss, store, scorer, NOW + timedelta(minutes=16))
    assert result.error is None and result.new == 2


def test_a_429_with_an_http_date_and_one_without_retry_after(fake, store, scorer):
    fake.fail_next(NEWS, 429, retry_after="Mon, 02 Mar 2026 12:30:00 GMT")
    rss = listener(fake)
    poll(rss, store, scorer)
    assert store.retry_at("rss") == NOW + timedelta(minutes=30)
    fake.fail_next(NEWS, 429)
    later = NOW + timedelta(minutes=31)
    poll(rss, store, scorer, later)
    assert store.retry_at("rss") == later + timedelta(seconds=60)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_retryable_and_asked_once_a_poll(fake, store, scorer, status):
    news(fake, 1)
    fake.fail_next(NEWS, status)
    rss = listener(fake)
    result = poll(rss, store, scorer)
    assert f"server error ({status})" in result.error and "will retry" in result.error
    assert "news.google.com/rss/search" in result.error  # names the feed
    assert store.retry_at("rss") == NOW + timedelta(minutes=1)
    assert len(fake.calls()) == 1  # no retries of our own: the pipeline's backoff spaces them
    assert poll(rss, store, scorer, NOW + timedelta(minutes=2)).new == 1


@pytest.mark.parametrize(("status", "says"), [(404, "no feed (404)"), (410, "gone for good (410)"),
                                              (403, "forbidden (403)"), (401, "wants a login (401)")])
def test_a_missing_or_refused_feed_is_not_retried_soon(fake, store, scorer, status, says):
    fake.fail_next(NEWS, status)
    result = poll(listener(fake), store, scorer)
    assert says in result.error and "news.google.com" in result.error
    assert store.retry_at("rss") == NOW + timedelta(hours=1)


def test_a_path_the_fake_does_not_serve_is_a_404(fake, store, scorer):
    result = poll(listener(fake, ["https://publisher.example/no-such-feed"]), store, scorer)
    assert "no feed (404) at https://publisher.example/no-such-feed" in result.error


def test_a_slow_feed_times_out_as_a_retryable_error(fake, store, scorer):
    news(fake, 1)
    fake.delay_next(NEWS, 2.0)
    rss = listener(fake, timeout=0.3)
    started = time.monotonic()
    result = poll(rss, store, scorer)
    assert time.monotonic() - started < 1.5
    assert "did not answer within 0.3s" in result.error and "will retry" in result.error
    assert store.retry_at("rss") == NOW + timedelta(minutes=1)
    assert poll(rss, store, scorer, NOW + timedelta(minutes=2)).new == 1


def test_a_feed_that_drips_its_body_is_cut_at_the_timeout_overall(fake, store, scorer):
    news(fake, 30)  # some KB, sent 16 bytes every 50 ms: each read is quick, the whole is not
    fake.drip(NEWS, 0.05)
    started = time.monotonic()
    result = poll(listener(fake, timeout=0.5), store, scorer)
    assert time.monotonic() - started < 2.0
    assert "did not answer within 0.5s" in result.error


@pytest.mark.parametrize(("body", "content_type"), [
    (b"<html><head><title>Before you continue to Google</title></head><body>consent</body></html>", "text/html"),
    (b"<?xml version='1.0'?><rss><channel><title>broken", "application/rss+xml"),
    (b"\x00\xff\xfe garbage", "application/octet-stream"),
    (b"", "application/rss+xml"),
])
def test_a_malformed_feed_is_a_clear_error_naming_the_feed(fake, store, scorer, body, content_type):
    fake.serve_raw(NEWS, body, content_type)
    result = poll(listener(fake), store, scorer)
    assert "news.google.com/rss/search" in result.error and "not a readable RSS or Atom feed" in result.error
    assert "will retry" in result.error


def test_a_malformed_feed_does_not_stop_the_other_feeds(fake, store, scorer):
    fake.serve_raw(NEWS, b"<rss><channel><title>cut off", "application/rss+xml")
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    third = fake.add_feed("/third")
    third.add_entry("Mindful Health elsewhere", "y")
    rss = listener(fake, [GOOGLE, BLOG, "https://third.example/third"])
    result = poll(rss, store, scorer)
    assert result.new == 2 and titles(store) == ["Mindful Health elsewhere", "Mindful Health on the blog"]
    assert "1 feed failed" in result.error and "the others were read" in result.error
    assert "news.google.com/rss/search" in result.error
    # The others' progress is in the cursor; the broken feed rests on its own.
    assert feed_state(store, BLOG)["etag"] and feed_state(store)["failures"] == 1
    assert store.retry_at("rss") == NOW + timedelta(minutes=1)  # the listener itself hardly rests
    assert poll(rss, store, scorer, NOW + timedelta(seconds=30)).skipped  # the listener's minute
    fake.clear_faults(NEWS)
    news(fake, 1)
    result = poll(rss, store, scorer, NOW + timedelta(minutes=2))
    assert result.error is None and result.new == 1 and feed_state(store).get("failures") is None


def test_a_feed_resting_after_a_429_is_skipped_while_the_others_carry_on(fake, store, scorer):
    fake.fail_next(NEWS, 429, retry_after="3600")
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    rss = listener(fake, [GOOGLE, BLOG])
    result = poll(rss, store, scorer)
    assert result.new == 1 and "slow down (429)" in result.error
    assert store.retry_at("rss") == NOW + timedelta(minutes=1)  # not the hour: the blog is fine
    blog.add_entry("Mindful Health again", "y", body_type="text")
    result = poll(rss, store, scorer, NOW + timedelta(minutes=15))
    assert result.error is None and result.new == 1
    assert [c.path for c in fake.calls()] == [NEWS, "/feed.atom", "/feed.atom"]  # the 429ed feed rested
    news(fake, 1)
    result = poll(rss, store, scorer, NOW + timedelta(minutes=61))
    assert result.error is None and result.new == 1


def test_a_429_beside_an_unchanged_feed_does_not_rest_the_listener_for_the_hour(fake, store, scorer):
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    news(fake, 1)
    rss = listener(fake, [GOOGLE, BLOG])
    poll(rss, store, scorer)
    fake.fail_next(NEWS, 429, retry_after="3600")
    later = NOW + timedelta(minutes=15)
    result = poll(rss, store, scorer, later)  # the blog answers 304, the news search 429
    assert "slow down (429)" in result.error and "the others were read" in result.error
    assert store.retry_at("rss") == later + timedelta(minutes=1)
    assert feed_state(store)["retry_at"] == "2026-03-02T13:15:00Z"


def test_every_feed_failing_with_429_rests_the_listener_as_the_shortest_says(fake, store, scorer):
    fake.fail_next(NEWS, 429, retry_after="600")
    fake.fail_next("/feed.atom", 429, retry_after="300")
    result = poll(listener(fake, [GOOGLE, BLOG]), store, scorer)
    assert "2 feeds failed" in result.error
    assert store.retry_at("rss") == NOW + timedelta(seconds=300)


def test_a_feed_larger_than_max_feed_bytes_is_refused_and_the_walk_goes_on(fake, store, scorer):
    feed = fake.add_feed(NEWS)
    feed.add_entry("Mindful Health huge", "x" * 30_000)
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health on the blog", "x", body_type="text")
    result = poll(listener(fake, [GOOGLE, BLOG], max_feed_bytes=20_000), store, scorer)
    assert "larger than max_feed_bytes (20,000 bytes)" in result.error and result.new == 1


def test_a_gzip_bomb_stops_at_max_feed_bytes(store, scorer):
    with FakeFeeds(gzip_answers=True) as fake:
        fake.serve_raw(NEWS, b"<rss>" + b" " * 5_000_000 + b"</rss>")
        result = poll(listener(fake, max_feed_bytes=100_000), store, scorer)
    assert "larger than max_feed_bytes" in result.error


def test_gzip_answers_are_read(store, scorer):
    with FakeFeeds(gzip_answers=True) as fake:
        news(fake, 2)
        assert poll(listener(fake), store, scorer).new == 2
        assert fake.calls()[0].headers["accept-encoding"].startswith("gzip")


def test_a_huge_entry_is_cut_at_max_entry_chars_not_fatal(fake, store, scorer):
    feed = fake.add_feed(NEWS)
    feed.add_entry("Mindful Health, the long read", "<p>" + "word " * 400_000 + "</p>")  # 2 MB
    feed.add_entry("Mindful Health, short", "fine")
    started = time.monotonic()
    result = poll(listener(fake, max_entry_chars=5_000), store, scorer)
    assert time.monotonic() - started < 20  # generous: CI is shared; it takes ~2 s
    assert result.error is None and result.new == 2
    text = store.conn.execute("SELECT text FROM mentions WHERE title LIKE '%long read'").fetchone()[0]
    assert len(text) <= 5_000 and text.endswith("\u2026") and text.startswith("word word")


# ---- hostile and foreign text --------------------------------------------------------------


def test_script_markup_and_slack_mrkdwn_arrive_as_plain_text(fake, store, scorer):
    feed = fake.add_feed(NEWS)
    feed.add_entry("<!channel> Mindful Health *recall* <@U123>",  # an RSS title is HTML: <!channel> is markup
                   '<script>alert("x")</script><style>p{}</style><p onclick="evil()">Mindful Health &lt;!here&gt; '
                   '&lt;https://evil.example|click me&gt; <img src=x onerror=alert(1)>`code` ~strike~</p>'
                   '<iframe src="https://evil.example"></iframe>',
                   link="javascript:alert(1)")
    poll(listener(fake), store, scorer)
    ((_, title, text, _, url),) = stored(store)
    assert "script" not in text and "alert" not in text and "onclick" not in text and "<p" not in text
    assert "<!here>" in text and "<https://evil.example|click me>" in text  # text, left for Slack to escape
    assert "`code` ~strike~" in text
    assert "*recall*" in title and "<@U123>" in title
    assert url == "https://publisher.example/"  # never a javascript: link; the feed's site instead


def test_atom_text_content_keeps_angle_brackets_as_characters(fake, store, scorer):
    blog = fake.add_feed("/feed.atom", kind="atom")
    blog.add_entry("Mindful Health <!channel>", "1 < 2 and <b>not bold</b> <!everyone>", body_type="text")
    blog.add_entry("Mindful Health xhtml", "<p>Para <em>one</em></p><script>bad()</script><p>two</p>",
                   body_type="xhtml")
    poll(listener(fake, [BLOG]), store, scorer)
    rows = {r[1]: r[2] for r in stored(store)}
    assert rows["Mindful Health <!channel>"] == "1 < 2 and <b>not bold</b> <!everyone>"
    assert rows["Mindful Health xhtml"] == "Para one\n\ntwo"


def test_rtl_emoji_and_zero_width_text_survive_and_match(fake, store, scorer):
    feed = fake.add_feed(NEWS, language="ar")
    feed.add_entry("\u202eMindful\u200b Health \u0645\u0631\u062d\u0628\u0627 \U0001f9d8\u200f",
                   "<p>\u05e9\u05dc\u05d5\u05dd \u2014 \u062a\u0637\u0628\u064a\u0642 \u0631\u0627\u0626\u0639 "
                   "\U0001f468\u200d\U0001f469\u200d\U0001f467</p>", source="\u0627\u0644\u062c\u0632\u064a\u0631\u0629")
    result = poll(listener(fake), store, scorer)
    assert result.new == 1
    ((_, title, text, author, _),) = stored(store)
    assert "\u0645\u0631\u062d\u0628\u0627" in title and "\U0001f9d8" in title
    assert "\u05e9\u05dc\u05d5\u05dd" in text and "\U0001f468\u200d\U0001f469\u200d\U0001f467" in text
    assert author == "\u0627\u0644\u062c\u0632\u064a\u0631\u0629"
    (language,) = store.conn.execute("SELECT language FROM mentions").fetchone()
    assert language == "ar"


def test_a_feed_in_another_charset_is_decoded_as_http_says(fake, store, scorer):
    doc = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Caf\xe9 News</title>'
           "<item><title>Mindful Health au caf\xe9</title><guid>1</guid><description>tr\xe8s bien</description>"
           "<pubDate>Mon, 02 Mar 2026 10:00:00 GMT</pubDate></item></channel></rss>").encode("iso-8859-1")
    fake.serve_raw(NEWS, doc, "application/rss+xml; charset=iso-8859-1")
    poll(listener(fake), store, scorer)
    ((_, title, text, author, _),) = stored(store)
    assert (title, text, author) == ("Mindful Health au caf\xe9", "tr\xe8s bien", "Caf\xe9 News")


def test_entity_expansion_in_a_doctype_does_not_blow_up(fake, store, scorer):
    lol = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
           + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
           + ']><rss version="2.0"><channel><title>t</title><item><title>Mindful Health &i;</title><guid>1</guid>'
           "</item></channel></rss>").encode()
    fake.serve_raw(NEWS, lol)
    started = time.monotonic()
    poll(listener(fake), store, scorer)
    assert time.monotonic() - started < 10
    ((title,),) = store.conn.execute("SELECT title FROM mentions").fetchall()
    assert title.startswith("Mindful Health") and len(title) < 1_000  # 10^9 a's were asked for


# ---- the quota plan -----------------------------------------------------------------------


def test_plan_is_feeds_times_runs_without_a_budget():
    plan = RSSListener.plan({"feeds": [GOOGLE, BLOG], "every": "15m"}, list(BRANDS.values()))
    assert (plan.used, plan.budget, plan.unit, plan.fits) == (192, None, "requests", True)
    assert "2 feeds x 96 runs" in plan.detail


def test_secrets_in_a_feed_url_never_reach_the_error(fake, store, scorer):
    fake.fail_next("/private?key=s3cr3t&q=mindful", 500)
    result = poll(listener(fake, ["https://user:pw@paid.example/private?key=s3cr3t&q=mindful"]), store, scorer)
    assert "s3cr3t" not in result.error and "pw" not in result.error
    assert "paid.example/private?key=***&q=mindful" in result.error
    assert "s3cr3t" not in (store.health_of("rss") or {}).get("last_error", "")


def test_listener_errors_keep_their_kind(fake):
    fake.fail_next(NEWS, 429, retry_after="120")
    with pytest.raises(RateLimited) as limited:
        list(listener(fake).fetch(list(BRANDS.values()), None, NOW))
    assert limited.value.retry_after == 120
    fake.fail_next(NEWS, 410)
    with pytest.raises(ListenerError) as gone:
        list(listener(fake).fetch(list(BRANDS.values()), None, NOW))
    assert not gone.value.retryable and not isinstance(gone.value, RateLimited)
    fake.fail_next(NEWS, 503)
    with pytest.raises(ListenerError) as busy:
        list(listener(fake).fetch(list(BRANDS.values()), None, NOW))
    assert busy.value.retryable

