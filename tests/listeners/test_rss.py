"""RSS listener, offline: options, the plan, entry payloads and Mentions, the cursor, errors.

The entries here are parsed by the real feedparser from XML text (no network); the HTTP half
is tests/listeners/test_rss_http.py.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import feedparser
import pytest
from pydantic import ValidationError

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.base import html_to_text
from listeners.rss import RSSListener, onto
from listeners.rss_errors import retry_after, shown, walk_error
from listeners.rss_entries import (ELLIPSIS, FeedState, as_text, clipped, entry_id, entry_mention, entry_payload,
                                   remembered, seen_hash)

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FEED = "https://news.google.com/rss/search?q=mindful"
# Google News search RSS, as it answers (trimmed to one item).
GOOGLE_NEWS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<generator>NFE/5.0</generator><title>"mindful health" - Google News</title>
<link>https://news.google.com/search?q=%22mindful+health%22&amp;hl=en-US&amp;gl=US&amp;ceid=US:en</link>
<language>en-US</language><webMaster>news-webmaster@google.com</webMaster>
<copyright>2026 Google Inc.</copyright><lastBuildDate>Mon, 02 Mar 2026 11:48:05 GMT</lastBuildDate>
<description>Google News</description>
<item><title>Mindful Health lays off 10% of staff - TechCrunch</title>
<link>https://news.google.com/rss/articles/CBMiWkFVX3lxTE1abc?oc=5</link>
<guid isPermaLink="false">CBMiWkFVX3lxTE1abc</guid>
<pubDate>Mon, 02 Mar 2026 09:15:00 GMT</pubDate>
<description>&lt;a href="https://news.google.com/rss/articles/CBMiWkFVX3lxTE1abc?oc=5" target="_blank"&gt;Mindful Health lays off 10% of staff&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;TechCrunch&lt;/font&gt;</description>
<source url="https://techcrunch.com">TechCrunch</source></item>
</channel></rss>"""


def parsed(xml: bytes, url: str = FEED):
    return feedparser.parse(io.BytesIO(xml), response_headers={"content-type": "application/rss+xml",
                                                               "content-location": url})


def payload_of(xml: bytes, url: str = FEED, i: int = 0) -> dict:
    feed = parsed(xml, url)
    return entry_payload(feed.entries[i], feed.feed, url, NOW)


# ---- options and plan -----------------------------------------------------------------------


def test_options_need_feeds_as_full_http_urls():
    with pytest.raises(ValidationError, match="at least 1 item"):
        RSSListener.Options(feeds=[])
    with pytest.raises(ValidationError, match=r"feeds\[1\]: 'news.google.com/rss' is not an http\(s\) URL"):
        RSSListener.Options(feeds=[FEED, "news.google.com/rss"])
    with pytest.raises(ValidationError, match="not an http"):
        RSSListener.Options(feeds=["file:///etc/passwd"])
    options = RSSListener.Options(feeds=[f" {FEED} ", FEED])
    assert options.feeds == [FEED]  # trimmed, a repeat read once


def test_option_defaults_and_bounds():
    options = RSSListener.Options(feeds=[FEED])
    assert options.every == timedelta(minutes=15) and options.timeout == timedelta(seconds=20)
    assert options.max_age == timedelta(days=7) and options.max_entry_chars == 10_000
    assert RSSListener.Options(feeds=[FEED], timeout=5).timeout == timedelta(seconds=5)  # bare seconds
    for bad in ({"max_entry_chars": 50_000}, {"max_feed_bytes": 1}, {"timeout": "10m"}, {"feed": [FEED]}):
        with pytest.raises(ValidationError):
            RSSListener.Options(feeds=[FEED], **bad)


def test_plan_counts_one_request_per_feed_and_run():
    brands = [Brand("mindful", "Mindful", "brand", parse("mindful"))]
    plan = RSSListener.plan({"feeds": [FEED, "https://a.example/feed", "https://b.example/rss"], "every": "5m"},
                            brands)
    assert (plan.used, plan.budget, plan.fits) == (3 * 288, None, True)
    assert str(plan).startswith("rss: 864 requests a day: 3 feeds x 288 runs")


def test_from_config_needs_no_credentials():
    rss = RSSListener.from_config({"feeds": [FEED]}, {})
    assert rss.name == "rss" and rss.session.max_redirects == 5
    assert "harkbot" in rss.session.headers["User-Agent"]


# ---- Google News, as it is ----------------------------------------------------------------


def test_a_google_news_item_becomes_a_mention_of_its_publisher():
    m = entry_mention(payload_of(GOOGLE_NEWS))
    assert m is not None
    assert m.platform == "rss" and m.id == "news.google.com#CBMiWkFVX3lxTE1abc"
    assert m.title == "Mindful Health lays off 10% of staff - TechCrunch"
    assert m.text == "Mindful Health lays off 10% of staff TechCrunch"
    assert m.author == "TechCrunch"  # the <source>, not '"mindful health" - Google News'
    assert m.url == "https://news.google.com/rss/articles/CBMiWkFVX3lxTE1abc?oc=5"
    assert m.created_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert m.language == "en" and m.kind == "article"
    assert m.raw["source"] == {"title": "TechCrunch", "href": "https://techcrunch.com"}
    json.dumps(m.raw)  # the payload is plain JSON, as the store keeps it


# ---- payload -> Mention ---------------------------------------------------------------------


def payload(**over) -> dict:
    base = {"id": "https://pub.example/a", "feed": FEED, "feed_title": {"type": "text/plain", "value": "Pub Daily"},
            "feed_link": "https://pub.example/", "language": "en-GB",
            "title": {"type": "text/html", "value": "Mindful &amp; calm"},
            "body": {"type": "text/html", "value": "<p>One</p><p>Two <br/>three</p>"},
            "link": "https://pub.example/a", "byline": "Jo Bloggs", "source": {"title": None, "href": None},
            "published": "2026-03-02T10:00:00Z", "updated": "2026-03-02T11:00:00Z",
            "fetched_at": "2026-03-02T12:00:00Z", "tags": []}
    return {**base, **over}


def test_to_mention_reads_html_as_text_and_the_feed_as_publisher():
    m = RSSListener.to_mention(payload())
    assert (m.title, m.text) == ("Mindful & calm", "One\n\nTwo\nthree")
    assert m.author == "Pub Daily" and m.language == "en"
    assert m.created_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # published before updated


@pytest.mark.parametrize(("over", "created"), [
    ({"published": None}, datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
    ({"published": None, "updated": None}, NOW),  # undated: when it was read
    ({"published": "2026-03-09T00:00:00Z"}, NOW),  # the future: when it was read
    ({"published": "not a date"}, datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
])
def test_the_entry_time_falls_back_and_never_lies_ahead(over, created):
    assert RSSListener.to_mention(payload(**over)).created_at == created


@pytest.mark.parametrize(("over", "author"), [
    ({"source": {"title": "Reuters", "href": None}}, "Reuters"),
    ({"feed_title": None}, "Jo Bloggs"),
    ({"feed_title": None, "byline": None}, ""),
])
def test_the_publisher_is_the_source_then_the_feed_then_the_byline(over, author):
    assert RSSListener.to_mention(payload(**over)).author == author


@pytest.mark.parametrize(("over", "url"), [
    ({"link": "javascript:alert(1)"}, "https://pub.example/a"),  # the id is a URL: that
    ({"link": "data:text/html,x", "id": "pub.example#7"}, "https://pub.example/"),  # the site
    ({"link": None, "id": "x#1", "feed_link": "ftp://x"}, ""),
    ({"link": "  https://pub.example/b  "}, "https://pub.example/b"),
])
def test_only_web_links_are_links(over, url):
    assert RSSListener.to_mention(payload(**over)).url == url


@pytest.mark.parametrize("bad", [
    None, [], "text", {}, payload(id=None), payload(fetched_at=None),
    payload(title=None, body=None), payload(title={"type": "text/html", "value": "<script>x</script>"}, body=None),
    payload(title=7, body=["x"]),
])
def test_unreadable_payloads_are_none_not_errors(bad):
    assert RSSListener.to_mention(bad) is None


def test_text_plain_keeps_angle_brackets_and_html_loses_its_tags():
    assert as_text({"type": "text/plain", "value": "  <!channel>  a < b\n\n  <@U1> "}) == "<!channel> a < b\n\n<@U1>"
    assert as_text({"type": "text/html", "value": "<!channel> &lt;!here&gt; <b>x</b>"}) == "<!here> x"
    assert as_text({"type": "application/xhtml+xml", "value": "<div><p>a</p><p>b</p></div>"}) == "a\n\nb"
    assert as_text({"value": 5}) == "" and as_text(None) == ""


def test_html_to_text_drops_what_a_page_never_shows():
    markup = ("<head><title>t</title></head><style>.x{}</style><p>Hello <script>alert(1)</script>"
              "<b>world</b></p><template>hidden</template><svg><text>svg</text></svg><ul><li>one</li>"
              "<li>two</li></ul><!-- a comment --><div>a&nbsp;&amp;&#x1F9D8;</div>")
    assert html_to_text(markup) == "Hello world\n\none\n\ntwo\n\na &\U0001f9d8"
    assert html_to_text("unclosed <script>never shows") == "unclosed"
    assert html_to_text("a < b > c") == "a < b > c"


# ---- ids ------------------------------------------------------------------------------------------


def test_ids_are_scoped_by_host_unless_they_are_uris():
    assert entry_id({"id": "123"}, "https://a.example/feed") == "a.example#123"
    assert entry_id({"id": "123"}, "https://b.example/rss") == "b.example#123"
    assert entry_id({"id": "tag:a.example,2026:1"}, FEED) == "tag:a.example,2026:1"
    assert entry_id({"id": "urn:uuid:1225c695"}, FEED) == "urn:uuid:1225c695"
    assert entry_id({"link": "https://a.example/post"}, FEED) == "https://a.example/post"


def test_an_id_too_long_to_store_is_hashed_and_one_without_id_or_link_is_its_text_hashed():
    long = "https://news.google.com/rss/articles/" + "C" * 300
    assert entry_id({"id": long}, FEED).startswith("sha256:") and len(entry_id({"id": long}, FEED)) <= 200
    assert entry_id({"id": long}, FEED) == entry_id({"id": long}, FEED)
    a = entry_id({"title": "A", "summary": "x"}, FEED)
    assert a.startswith("sha256:") and a != entry_id({"title": "B", "summary": "x"}, FEED)


def test_entry_payload_takes_the_fullest_body_and_caps_markup():
    xml = (b'<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
           b"<channel><title>T</title><item><title>Mindful</title><guid>1</guid><description>short</description>"
           b"<content:encoded><![CDATA[<p>" + b"long " * 100_000 + b"</p>]]></content:encoded>"
           b"<category>health</category><category>apps</category></item></channel></rss>")
    p = payload_of(xml)
    assert p["body"]["type"] == "text/html" and p["body"]["value"].startswith("<p>long")
    assert len(p["body"]["value"]) == 400_000  # MAX_MARKUP
    assert p["tags"] == ["health", "apps"]


def test_relative_links_resolve_against_the_feed_url():
    xml = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>'
           b'<updated>2026-03-02T10:00:00Z</updated><entry><id>urn:a:1</id><title>Mindful</title>'
           b'<updated>2026-03-02T10:00:00Z</updated><link href="/posts/1"/></entry></feed>')
    assert entry_mention(payload_of(xml, "https://blog.example/feed.atom")).url == "https://blog.example/posts/1"


def test_clipped_cuts_at_a_word_with_an_ellipsis_and_says_so():
    m = RSSListener.to_mention(payload(body={"type": "text/plain", "value": "word " * 1000}))
    cut = clipped(m, 200)
    assert len(cut.text) <= 200 and cut.text.endswith("word" + ELLIPSIS) and cut.raw["truncated"]
    assert clipped(m, 10_000) is m


# ---- the cursor ------------------------------------------------------------------------------------


def test_feed_state_round_trips_and_forgives_junk():
    state = FeedState(etag='W/"x"', modified="Mon, 02 Mar 2026 09:00:00 GMT", seen=["a", "b"], failures=2,
                      retry_at=NOW)
    assert FeedState.of(json.loads(json.dumps(state.to_json()))) == state
    assert FeedState.of({"etag": 5, "seen": "abc", "failures": -1, "retry_at": "soon"}) == FeedState()
    assert FeedState.of(None) == FeedState()


def test_an_unreadable_cursor_starts_afresh(caplog):
    rss = RSSListener.from_config({"feeds": ["http://127.0.0.1:9/feed"], "timeout": 0.2}, {})
    with pytest.raises(ListenerError):  # nothing listens on port 9: the feed fails, the cursor is still written
        batches = []
        for batch in rss.fetch([], "{not json", NOW):
            batches.append(batch)
    assert "unreadable cursor" in caplog.text
    assert json.loads(batches[-1].cursor)["feeds"]["http://127.0.0.1:9/feed"]["failures"] == 1


def test_remembered_keeps_the_feed_then_the_newest_of_the_rest():
    assert remembered(["c", "b"], ["b", "a", "z"], 3) == ["c", "b", "a"]
    assert remembered(["e", "d", "c", "b"], ["a"], 2) == ["e", "d", "c", "b"]  # all the feed holds
    assert remembered(["a", "a"], [], 5) == ["a"]
    assert len(seen_hash("x")) == 16 and seen_hash("x") != seen_hash("y")


# ---- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), ("0", 1.0), ("Mon, 02 Mar 2026 12:10:00 GMT", 600.0), ("Mon, 02 Mar 2026 11:00:00 GMT", 1.0),
    ("soon", None), (None, None), ("", None),
])
def test_retry_after_reads_seconds_or_an_http_date(value, seconds):
    assert retry_after(value, NOW) == seconds


def test_one_walk_error_keeps_the_kind_of_a_lone_failure():
    limited = RateLimited("rss: a slow down", retry_after=300)
    assert walk_error([limited], delivered=False) is limited
    both = walk_error([limited, RateLimited("rss: b slow down", retry_after=60)], delivered=False)
    assert isinstance(both, RateLimited) and both.retry_after == 60 and "2 feeds failed" in str(both)
    mixed = walk_error([limited, ListenerError("rss: gone", retryable=False)], delivered=False)
    assert not isinstance(mixed, RateLimited) and mixed.retryable
    assert not walk_error([ListenerError("x", False), ListenerError("y", False)], delivered=False).retryable
    partial = walk_error([ListenerError("rss: c gone", retryable=False)], delivered=True)
    assert partial.retryable and "the others were read" in str(partial) and "c gone" in str(partial)


def test_shown_hides_credentials_in_feed_urls():
    assert shown("https://u:p@x.example:8443/f?token=abc&q=mindful") == "https://x.example:8443/f?token=***&q=mindful"
    assert shown(FEED) == FEED


def test_onto_moves_any_origin_to_base_url():
    assert onto("https://news.google.com/rss/search?q=a", "http://127.0.0.1:8080") == \
        "http://127.0.0.1:8080/rss/search?q=a"
    assert onto("https://x.example/feed", "http://proxy.local/cache/") == "http://proxy.local/cache/feed"


# ---- fuzz: the shared ingest edge (tests/test_fuzz_ingest.py's strategies) ------------------


def test_to_mention_never_raises_and_what_it_returns_is_storable():
    from hypothesis import given
    from hypothesis import strategies as st

    from bot.normalise import normalise
    from tests.test_fuzz_ingest import FUZZ, assert_storable, brandy, either, json_values, obj, text

    detail = obj({"type": st.sampled_from(["text/html", "text/plain", "application/xhtml+xml"]), "value": brandy})
    payloads = st.one_of(obj(
        {"id": st.one_of(st.just("https://pub.example/a"), text), "fetched_at": st.just("2026-03-02T12:00:00Z"),
         "title": detail},
        {"body": detail, "feed_title": detail, "feed_link": text, "link": text, "byline": text, "language": text,
         "source": obj({}, {"title": text, "href": text}), "published": either(st.just("2026-03-02T10:00:00Z")),
         "updated": text, "tags": st.lists(text, max_size=3), "feed": text}), json_values)
    made = []

    @FUZZ
    @given(payloads)
    def check(payload):
        m = RSSListener.to_mention(payload)
        if m is not None:
            clean = normalise(m)
            if clean is not None:
                assert_storable(clean)
                made.append(clean)

    check()
    assert len(made) >= 10
