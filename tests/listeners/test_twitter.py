"""X listener: payload mapping, query translation, cursor and error mapping (all offline)."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.twitter import TwitterListener, rebase, retry_after_from_headers, unescape, x_error
from listeners.x_query import QUERY_LIMIT, alternatives, brand_queries, x_query
from listeners.x_walk import (
    MAX_GAPS,
    SNOWFLAKE_EPOCH_MS,
    QueryState,
    checked_page,
    load_cursor,
    merge_gaps,
    snowflake_id,
    snowflake_time,
    usable_since_id,
    with_authors,
)

UTC = timezone.utc
NOW = datetime(2024, 11, 12, 15, 0, tzinfo=UTC)


def brand(query: str, exclude: str | None = None) -> Brand:
    return Brand("mindful", "Mindful Health", "brand", parse(query), parse(exclude) if exclude else None)


# A page of GET /2/tweets/search/recent as X documents it, with expansions=author_id.
PAGE = {
    "data": [
        {
            "id": "1856321578112233472",
            "text": "Loving the new @mindfulapp update &amp; the #calm timer \U0001f60c &lt;3",
            "author_id": "2244994945",
            "created_at": "2024-11-12T14:03:27.000Z",
            "lang": "en",
            "edit_history_tweet_ids": ["1856321578112233472"],
            "public_metrics": {
                "retweet_count": 3,
                "reply_count": 1,
                "like_count": 12,
                "quote_count": 2,
                "bookmark_count": 4,
                "impression_count": 480,
            },
        },
        {
            "id": "1856320011223344556",
            "text": "تطبيق Mindful رائع جدا 👍",
            "author_id": "99",
            "created_at": "2024-11-12T13:58:01.000Z",
            "lang": "ar",
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0},
        },
    ],
    "includes": {
        "users": [
            {
                "id": "2244994945",
                "name": "Developers",
                "username": "XDevelopers",
                "public_metrics": {
                    "followers_count": 583210,
                    "following_count": 2040,
                    "tweet_count": 3921,
                    "listed_count": 1902,
                },
            }
        ]
    },
    "meta": {
        "newest_id": "1856321578112233472",
        "oldest_id": "1856320011223344556",
        "result_count": 2,
        "next_token": "b26v89c19zqg8o3fo7gesq314yb9l2l4ptqy",
    },
}


# ---- to_mention ----------------------------------------------------------------------------


def test_to_mention_maps_a_documented_tweet_with_its_author():
    tweets = with_authors(PAGE)
    m = TwitterListener.to_mention(tweets[0])
    assert m is not None
    assert m.platform == "x"
    assert m.id == "1856321578112233472"
    assert m.text == "Loving the new @mindfulapp update & the #calm timer \U0001f60c <3"
    assert m.author == "XDevelopers"
    assert m.url == "https://x.com/XDevelopers/status/1856321578112233472"
    assert m.created_at == datetime(2024, 11, 12, 14, 3, 27, tzinfo=UTC)
    assert m.created_at.utcoffset() == timedelta(0)
    assert m.author_reach == 583210
    assert m.engagement == 12 + 3 + 1 + 2  # likes, reposts, replies, quotes
    assert m.metrics["impression_count"] == 480
    assert m.language == "en"
    assert m.kind == "post"


def test_to_mention_keeps_rtl_text_and_emoji_and_survives_an_unknown_author():
    m = TwitterListener.to_mention(with_authors(PAGE)[1])
    assert m is not None
    assert m.text == "تطبيق Mindful رائع جدا 👍"
    assert m.author == ""  # author 99 is not in includes.users
    assert m.url == "https://x.com/i/status/1856320011223344556"
    assert m.author_reach == 0
    assert m.language == "ar"


def test_to_mention_prefers_the_full_text_of_a_long_post():
    tweet = {**PAGE["data"][0], "note_tweet": {"text": "The whole long post " * 20}}
    m = TwitterListener.to_mention(tweet)
    assert m is not None and m.text.startswith("The whole long post The whole")


def test_undetermined_language_is_none():
    m = TwitterListener.to_mention({**PAGE["data"][0], "lang": "und"})
    assert m is not None and m.language is None


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in PAGE["data"][0].items() if k != "id"},
        {**PAGE["data"][0], "text": ""},
        {**PAGE["data"][0], "id": "not-a-snowflake"},
        {k: v for k, v in PAGE["data"][0].items() if k != "created_at"},
        {**PAGE["data"][0], "created_at": "yesterday"},
        {},
        None,
        "not a tweet",
    ],
)
def test_to_mention_returns_none_without_the_essentials(payload):
    assert TwitterListener.to_mention(payload) is None


def test_to_mention_reads_the_newer_specs_names_too():
    # X's OpenAPI spec (XDK 2.167) names these repost_count and note_post; the wire says
    # retweet_count and note_tweet. Either way the counts and the text come through, once.
    metrics = {"repost_count": 5, "reply_count": 1, "like_count": 2, "quote_count": 0}
    m = TwitterListener.to_mention({**PAGE["data"][1], "public_metrics": metrics, "note_post": {"text": "Whole"}})
    assert m is not None and m.engagement == 8 and m.text == "Whole"
    both = {**metrics, "retweet_count": 5}
    m = TwitterListener.to_mention({**PAGE["data"][1], "public_metrics": both})
    assert m is not None and m.engagement == 8


def test_only_the_three_entities_x_sends_are_unescaped_once():
    assert unescape("a &amp; b &lt;3 &gt; c") == "a & b <3 > c"
    assert unescape("&amp;lt; is how you write &lt;") == "&lt; is how you write <"
    assert unescape("&quot;&copy;&not") == "&quot;&copy;&not"  # X never sends these escaped


def test_to_mention_tolerates_missing_metrics():
    tweet = {k: v for k, v in PAGE["data"][0].items() if k != "public_metrics"}
    m = TwitterListener.to_mention(tweet)
    assert m is not None and m.engagement == 0 and m.metrics == {}


def test_with_authors_handles_an_empty_page():
    assert with_authors({"meta": {"result_count": 0}}) == []


# ---- query translation -----------------------------------------------------------------------


def test_words_phrases_tags_and_handles():
    q = x_query(brand('mindful OR "mindful app" OR #mindful OR @mindfulapp'), lang="en")
    assert q == ['(mindful OR "mindful app" OR #mindful OR @mindfulapp) -is:retweet lang:en']


def test_and_not_and_grouping():
    q = x_query(brand("mindful (app OR health) -spam -(free trial)"))
    assert q == ["mindful (app OR health) -spam -(free trial) -is:retweet"]


def test_or_without_other_clauses_needs_no_parentheses():
    assert x_query(brand("mindful OR calm"), exclude_retweets=False) == ["mindful OR calm"]
    assert x_query(brand("mindful"), exclude_retweets=False) == ["mindful"]


def test_exclude_becomes_a_negated_group():
    q = x_query(brand("mindful OR calm", exclude="job OR hiring"))
    assert q == ["(mindful OR calm) -(job OR hiring) -is:retweet"]


def test_prefix_searches_the_stem_because_x_has_no_wildcard():
    assert x_query(brand("calm*")) == ["calm -is:retweet"]


def test_long_query_is_split_at_or_within_the_limit():
    words = [f"brandword{i:03d}" for i in range(80)]
    queries = x_query(brand(" OR ".join(words)), lang="en")
    assert len(queries) > 1
    assert all(len(q) <= QUERY_LIMIT for q in queries)
    assert all(q.endswith(" -is:retweet lang:en") for q in queries)
    found = [w for q in queries for w in q.split() if w.strip("()").startswith("brandword")]
    assert sorted(w.strip("()") for w in found) == words  # each exactly once


def test_long_or_inside_an_and_is_split_by_distributing():
    words = [f"feature{i:03d}" for i in range(70)]
    node = parse("mindful (" + " OR ".join(words) + ")")
    assert len(alternatives(node)) == 70
    queries = x_query(Brand("m", "M", "brand", node))
    assert len(queries) > 1
    assert all(len(q) <= QUERY_LIMIT for q in queries)
    assert all(q.count("mindful") == q.count("feature") for q in queries)


def test_exclude_is_dropped_rather_than_failing_when_only_that_makes_it_too_long():
    long_phrase = '"' + " ".join(["word"] * 95) + '"'  # 480 characters with quotes
    queries = x_query(brand(long_phrase, exclude="job OR hiring OR careers"))
    assert queries == [long_phrase + " -is:retweet"]


def test_a_query_that_cannot_fit_is_a_config_error():
    with pytest.raises(ListenerError) as info:
        x_query(brand('"' + " ".join(["word"] * 130) + '"'))
    assert not info.value.retryable
    assert "512" in str(info.value)


# ---- cursor ------------------------------------------------------------------------------


def snowflake(at: datetime) -> str:
    return str((int(at.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22)


def test_snowflake_time_reads_the_id():
    at = datetime(2024, 11, 12, 14, 3, 27, tzinfo=UTC)
    assert snowflake_time(snowflake(at)) == at


def test_since_id_older_than_recent_search_is_dropped():
    assert usable_since_id(snowflake(NOW - timedelta(days=2)), NOW) is not None
    assert usable_since_id(snowflake(NOW - timedelta(days=7)), NOW) is None
    assert usable_since_id(None, NOW) is None


def test_load_cursor_reads_ours_and_ignores_garbage():
    cursor = '{"queries": {"mindful -is:retweet": {"since_id": "1856321578112233472", "gaps": [["10", "20"]]}}}'
    assert load_cursor(cursor) == {
        "mindful -is:retweet": QueryState("1856321578112233472", (("10", "20"),))
    }
    assert load_cursor('{"queries": {"calm": {}}}') == {"calm": QueryState()}
    assert load_cursor(None) == {}
    assert load_cursor("not json") == {}
    assert load_cursor('["a list"]') == {}
    assert load_cursor('{"since_id": {"mindful": "1856321578112233472"}}') == {}  # the first version's
    assert load_cursor('{"queries": {"m": {"since_id": "abc"}, "c": {"since_id": "1"}}}') == {"c": QueryState("1")}
    assert load_cursor('{"queries": {"m": {"since_id": "1", "gaps": [["1"]]}}}') == {}


def test_query_state_round_trips_through_json():
    state = QueryState("30", (("10", "20"),))
    assert state.to_json() == {"since_id": "30", "gaps": [["10", "20"]]}
    assert load_cursor(json.dumps({"queries": {"q": state.to_json()}})) == {"q": state}
    assert QueryState().to_json() == {}


def test_too_many_gaps_merge_the_oldest_so_nothing_is_skipped():
    gaps = [(str(i * 10), str(i * 10 + 5)) for i in range(MAX_GAPS + 2)]
    merged = merge_gaps(list(reversed(gaps)))
    assert len(merged) == MAX_GAPS
    assert merged[0] == ("0", "25")  # the three oldest became one wider gap
    assert merged[1:] == tuple(gaps[3:])
    covered = lambda i: any(int(a) < i < int(b) for a, b in merged)  # noqa: E731
    assert all(covered(i) for a, b in gaps for i in range(int(a) + 1, int(b)))


def test_snowflake_id_is_the_first_id_of_its_millisecond():
    at = datetime(2024, 11, 12, 14, 3, 27, tzinfo=UTC)
    assert snowflake_time(snowflake_id(at)) == at
    assert int(snowflake_id(at)) < int(snowflake_id(at + timedelta(milliseconds=1)))


# ---- errors ------------------------------------------------------------------------------


def test_retry_after_uses_the_reset_header():
    reset = NOW.timestamp() + 300
    assert retry_after_from_headers({"x-rate-limit-reset": str(int(reset))}, NOW) == 301
    assert retry_after_from_headers({"X-Rate-Limit-Reset": str(int(reset))}, NOW) == 301


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-rate-limit-reset": str(int(NOW.timestamp()) - 30)}, {"x-rate-limit-reset": "soon"}],
)
def test_retry_after_is_at_least_a_minute_when_missing_past_or_unreadable(headers):
    assert retry_after_from_headers(headers, NOW) == 60


def test_429_is_rate_limited():
    err = x_error(429, [], {"x-rate-limit-reset": str(int(NOW.timestamp()) + 899)}, NOW)
    assert isinstance(err, RateLimited)
    assert err.retry_after == 900
    assert err.retryable


def test_401_and_403_are_not_retryable_and_say_what_to_fix():
    unauthorized = x_error(401, ["Unauthorized"], {}, NOW)
    assert not unauthorized.retryable and "X_BEARER_TOKEN" in str(unauthorized)
    forbidden = x_error(403, ["When authenticating requests to the Twitter API v2 endpoints..."], {}, NOW)
    assert not forbidden.retryable and "access level" in str(forbidden) and "X_BEARER_TOKEN" in str(forbidden)
    renamed = x_error(401, [], {}, NOW, hint="ACME_X_TOKEN")
    assert "check ACME_X_TOKEN" in str(renamed)
    assert not x_error(400, ["Invalid 'query'"], {}, NOW).retryable


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(status):
    err = x_error(status, [], {}, NOW)
    assert err.retryable and not isinstance(err, RateLimited)


@pytest.mark.parametrize("body", [[], "text", {"data": {"id": "1"}}, {"meta": []}, {"includes": "x"}])
def test_a_page_of_the_wrong_shape_is_a_retryable_error(body):
    with pytest.raises(ListenerError) as info:
        checked_page(body)
    assert info.value.retryable


# ---- brands to queries, and the quota plan ----------------------------------------------------


def test_brands_with_the_same_x_query_share_one_search_and_a_query_too_long_skips_only_its_brand():
    too_long = Brand("long", "Long", "brand", parse('"' + " ".join(["word"] * 130) + '"'))
    twin = Brand("twin", "Twin", "topic", parse("mindful"))
    queries, unfit = brand_queries([brand("mindful"), twin, too_long, brand("calm")], None, True)
    assert queries == ["mindful -is:retweet", "calm -is:retweet"]
    assert len(unfit) == 1 and "'long'" in str(unfit[0])


def test_plan_reckons_the_worst_case_against_the_15_minute_limit():
    plan = TwitterListener.plan(TwitterListener.Options(), [brand("mindful"), brand("calm")])
    assert plan.listener == "twitter" and plan.unit == "requests"
    assert plan.used == 2 * 288 * 5  # queries x runs a day x max_pages
    assert plan.budget == 450 * 96
    assert plan.fits
    assert "2 X queries x 288 runs x 5 pages" in plan.detail and "requests_per_15min 450" in plan.detail


def test_plan_on_basic_with_many_pages_does_not_fit():
    options = TwitterListener.Options.model_validate({"requests_per_15min": 60, "max_pages": 20, "every": "1m"})
    plan = TwitterListener.plan(options, [brand("mindful")])
    assert plan.used == 1440 * 20 and plan.budget == 60 * 96
    assert not plan.fits


def test_plan_checks_the_monthly_post_cap_when_it_is_the_tighter_limit():
    options = TwitterListener.Options(monthly_post_cap=15_000)
    plan = TwitterListener.plan(options, [brand("mindful")])
    assert plan.unit == "posts"
    assert plan.used == 288 * 5 * 100 and plan.budget == 500
    assert not plan.fits
    assert "monthly_post_cap 15,000" in plan.detail and "requests: 1,440 of 43,200" in plan.detail
    roomy = TwitterListener.plan(TwitterListener.Options(monthly_post_cap=10**9), [brand("mindful")])
    assert roomy.unit == "requests"  # the request limit binds first


def test_plan_takes_options_as_a_mapping_and_names_a_skipped_brand():
    too_long = Brand("long", "Long", "brand", parse('"' + " ".join(["word"] * 130) + '"'))
    plan = TwitterListener.plan({"every": "30m"}, [too_long, brand("mindful")])
    assert plan.used == 48 * 5
    assert "1 X query" in plan.detail and "1 brand(s) skipped" in plan.detail


# ---- transport ------------------------------------------------------------------------------


def test_rebase_swaps_tweepys_fixed_host_only():
    url = "https://api.twitter.com/2/tweets/search/recent?query=mindful"
    assert rebase(url, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080/2/tweets/search/recent?query=mindful"
    assert rebase(url, "https://gw.example/x") == "https://gw.example/x/2/tweets/search/recent?query=mindful"
    assert rebase(url, None) == url
    assert rebase("https://other.example/2/x", "http://gw") == "https://other.example/2/x"


def test_network_failure_is_retryable_and_never_leaves_the_machine():
    # A port that was just free: the connection is refused at once on loopback.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listener = TwitterListener.from_config(
        TwitterListener.Options(base_url=f"http://127.0.0.1:{port}"), {"X_BEARER_TOKEN": "sekrit-token-1"}
    )
    with pytest.raises(ListenerError) as info:
        list(listener.fetch([brand("mindful")], None, NOW))
    assert info.value.retryable
    assert "sekrit-token-1" not in str(info.value)


def test_tweepy_debug_logs_do_not_show_the_token(caplog):
    TwitterListener.from_config(TwitterListener.Options(), {"X_BEARER_TOKEN": "sekrit-token-2"})
    with caplog.at_level(logging.DEBUG, logger="tweepy.client"):
        logging.getLogger("tweepy.client").debug("Headers: {'Authorization': 'Bearer sekrit-token-2'}")
    assert "sekrit-token-2" not in caplog.text
    assert "Bearer ***" in caplog.text
