"""Reddit listener: payload mapping, query translation, cursor and error mapping (all offline)."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urljoin

import prawcore
import pytest
import requests
from pydantic import ValidationError

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.query import parse
from listeners.base import RateBudget
from listeners.reddit import RedditListener, reddit_query
from listeners.reddit_requests import endpoints, reddit_error, reddit_status_error, retry_after_seconds
from listeners.reddit_walk import ListingState, Mark, Page, dump_cursor, load_cursor, walk

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


def item(n: int, utc: float | None = None) -> dict:
    """Listing item n: base-36 id n, created at second n*10 unless told."""
    return {"name": f"t3_{n:x}", "created_utc": float(n * 10 if utc is None else utc)}


class Listing:
    """A newest-first listing paged by anchor, as Reddit's are; records each call."""

    def __init__(self, items: list[dict], page: int = 3):
        self.items = sorted(items, key=lambda i: Mark.of(i).order, reverse=True)
        self.page = page
        self.calls: list[tuple[str | None, int]] = []

    def __call__(self, after: str | None, count: int) -> Page:
        self.calls.append((after, count))
        start = 0
        if after:
            anchor = next(Mark.of(i).order for i in self.items if i["name"] == after)
            start = next((k for k, i in enumerate(self.items) if Mark.of(i).order < anchor), len(self.items))
        page = self.items[start : start + min(count, self.page)]
        more = start + len(page) < len(self.items)
        return Page(page, page[-1]["name"] if page and more else None)


def run(state: ListingState, listing: Listing, limit: int = 100) -> tuple[list[str], ListingState]:
    names: list[str] = []
    for fresh, state in walk(state, listing, limit):
        names += [i["name"] for i in fresh]
    return names, state


def mark(n: int) -> Mark:
    return Mark.of(item(n))


def test_a_first_walk_reads_to_the_end_and_sets_the_floor_to_the_newest():
    listing = Listing([item(n) for n in range(1, 8)])
    names, state = run(ListingState(), listing)
    assert names == [item(n)["name"] for n in range(7, 0, -1)]
    assert state == ListingState(floor=mark(7))
    assert [after for after, _ in listing.calls] == [None, "t3_5", "t3_2"]


def test_a_walk_stops_at_the_floor():
    listing = Listing([item(n) for n in range(1, 10)])
    names, state = run(ListingState(floor=mark(4)), listing)
    assert names == ["t3_9", "t3_8", "t3_7", "t3_6", "t3_5"]
    assert state == ListingState(floor=mark(9))
    # The floor ended page 2; items of its second may follow it, so page 3 is read too,
    # and the walk stops at its first item from an earlier second.
    assert len(listing.calls) == 3


def test_nothing_new_leaves_the_floor_where_it_was():
    names, state = run(ListingState(floor=mark(3)), Listing([item(n) for n in range(1, 4)]))
    assert names == [] and state == ListingState(floor=mark(3))


def test_the_floors_own_second_is_read_through_by_id():
    # Items 5, 6 and 7 share second 50; the floor is 6. Order within a second is not
    # guaranteed, so 7 must be found even when it is listed after 5.
    listing = Listing([], page=10)
    listing.items = [item(5, 50), item(6, 50), item(7, 50), item(4), item(3)]
    names, state = run(ListingState(floor=Mark(50.0, "t3_6")), listing)
    assert names == ["t3_7"]
    assert state == ListingState(floor=Mark(50.0, "t3_7"))


def test_a_walk_cut_at_the_limit_keeps_the_floor_and_resumes_to_it():
    items = [item(n) for n in range(1, 13)]
    listing = Listing(items)
    names, state = run(ListingState(floor=mark(2)), listing, limit=4)
    assert names == ["t3_c", "t3_b", "t3_a", "t3_9"]
    assert state == ListingState(floor=mark(2), top=mark(12), resume="t3_9")

    listing.items = sorted(items + [item(13)], key=lambda i: -i["created_utc"])  # arrives meanwhile
    names, state = run(state, listing, limit=4)
    assert names == ["t3_8", "t3_7", "t3_6", "t3_5"] and state.resume == "t3_5"
    names, state = run(state, listing, limit=4)
    assert names == ["t3_4", "t3_3"]  # then the floor: the backlog is done
    assert state == ListingState(floor=mark(12))  # not 13: that one is above the old top
    names, state = run(state, listing, limit=4)
    assert names == ["t3_d"] and state == ListingState(floor=mark(13))


def test_a_first_walk_cut_at_the_limit_does_not_backfill():
    names, state = run(ListingState(), Listing([item(n) for n in range(1, 13)]), limit=4)
    assert len(names) == 4 and state == ListingState(floor=mark(12))


def test_an_overlap_reads_its_window_below_the_floor_again_and_keeps_the_floor():
    # Items 10 s apart; floor 6 (second 60), a 25 s window: 4, 5 and 6 are read again, and 3 is
    # where the walk stops. A post listed late (5 here, say) is among them; the store dedupes.
    listing = Listing([item(n) for n in range(1, 10)])
    names = [i["name"] for fresh, _ in walk(ListingState(floor=mark(6)), listing, 100, overlap=25) for i in fresh]
    assert names == ["t3_9", "t3_8", "t3_7", "t3_6", "t3_5", "t3_4"]
    quiet = list(walk(ListingState(floor=mark(9)), Listing([item(n) for n in range(1, 10)]), 100, overlap=25))
    assert [i["name"] for fresh, _ in quiet for i in fresh] == ["t3_9", "t3_8", "t3_7"]  # 65 s and up
    assert quiet[-1][1] == ListingState(floor=mark(9))  # nothing newer: the floor stays


def test_a_walk_cut_at_the_limit_inside_the_overlap_is_done():
    listing = Listing([item(n) for n in range(1, 13)])
    states = [s for _fresh, s in walk(ListingState(floor=mark(10)), listing, 4, overlap=1000)]
    assert states[-1] == ListingState(floor=mark(12))  # 12, 11 new; 10, 9 read again: no resume
    assert len(listing.calls) == 2


def test_each_page_comes_with_the_state_a_walk_stopped_there_would_leave():
    listing = Listing([item(n) for n in range(1, 8)])
    states = [state for _fresh, state in walk(ListingState(floor=mark(1)), listing, 100)]
    assert states == [
        ListingState(floor=mark(1), top=mark(7), resume="t3_5"),
        ListingState(floor=mark(1), top=mark(7), resume="t3_2"),
        ListingState(floor=mark(7)),
    ]


def test_a_walk_requests_no_more_than_the_limit_and_ends_on_an_empty_or_repeated_page():
    listing = Listing([item(n) for n in range(1, 30)], page=100)
    run(ListingState(), listing, limit=7)
    assert listing.calls == [(None, 7)]
    assert run(ListingState(floor=mark(1)), lambda after, count: Page([], "t3_x"))[0] == []
    repeated = Page([item(9)], "t3_9")
    names, state = run(ListingState(), lambda after, count: repeated)
    assert names == ["t3_9", "t3_9"] and state == ListingState(floor=mark(9))  # then it stops


def test_cursor_round_trip_and_unreadable_cursors():
    states = {
        "r/all/search?q=mindful": ListingState(floor=Mark(1731420207.0, "t3_1gq2x7k")),
        "r/a+b/comments": ListingState(floor=None, top=Mark(20.0, "t1_b"), resume="t1_a"),
    }
    assert load_cursor(dump_cursor(states)) == states
    assert load_cursor(None) == {}
    assert load_cursor("{") == {}
    assert load_cursor('{"newest_utc": {"mindful": 1731420207.0}}') == {}  # the old format
    assert load_cursor('{"listings": {"x": {"floor": "noon"}, "y": {"floor": [1, "t3_1"]}}}') == {
        "y": ListingState(floor=Mark(1.0, "t3_1"))
    }


# ---- options, plan, transport -----------------------------------------------------------------


def test_comments_need_named_subreddits():
    assert RedditListener.Options(subreddits=["Meditation"], comments=True).comments
    with pytest.raises(ValidationError, match="named subreddits"):
        RedditListener.Options(comments=True)


def test_plan_counts_worst_case_pages_against_100_a_minute():
    brands = [brand("mindful"), brand("calm"), brand("headspace"), brand("calm")]  # calm twice
    plan = RedditListener.plan({"every": "5m"}, brands)
    assert (plan.used, plan.budget, plan.unit) == (3 * 288, 144_000, "requests")
    assert plan.fits and plan.detail == "3 brand searches x 1 pages of 100 at most (limit 100) x 288 runs"
    heavy = RedditListener.plan(
        {"every": "1m", "limit": 250, "subreddits": ["a"], "comments": True, "requests_per_minute": 10},
        brands,
    )
    assert (heavy.used, heavy.budget) == (4 * 3 * 1440, 14_400) and not heavy.fits
    assert "+ 1 comment listing" in heavy.detail


def test_base_url_moves_both_the_api_and_the_token_endpoint():
    assert endpoints(None) == {}
    assert endpoints("http://127.0.0.1:8080/") == {
        "oauth_url": "http://127.0.0.1:8080", "reddit_url": "http://127.0.0.1:8080"
    }
    gateway = endpoints("https://gw.example/reddit")
    assert gateway == {"oauth_url": "https://gw.example/reddit/", "reddit_url": "https://gw.example/reddit"}
    options = RedditListener.Options(base_url="http://127.0.0.1:9/")
    reddit = RedditListener.from_config(options, {"REDDIT_CLIENT_ID": "i", "REDDIT_CLIENT_SECRET": "s"}).reddit
    assert (reddit.config.oauth_url, reddit.config.reddit_url) == ("http://127.0.0.1:9", "http://127.0.0.1:9")
    # What prawcore then asks for, joined its own way (urljoin; text for the token):
    assert urljoin(gateway["oauth_url"], "r/all/search/") == "https://gw.example/reddit/r/all/search/"
    assert gateway["reddit_url"] + "/api/v1/access_token" == "https://gw.example/reddit/api/v1/access_token"


def test_rate_budget_reads_reddits_headers():
    budget = RateBudget.of({"x-ratelimit-used": "99", "x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "42"})
    assert (budget.used, budget.remaining, budget.reset, budget.spent) == (99, 0.0, 42.0, True)
    assert not RateBudget.of({}).spent
    assert RateBudget.of({"x-ratelimit-remaining": "junk"}).remaining is None


# ---- errors ------------------------------------------------------------------------------


def response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    """A bare requests.Response, which is what prawcore's exceptions are built around."""
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = b""
    return r


def test_too_many_requests_waits_for_the_headers():
    err = reddit_error(prawcore.exceptions.TooManyRequests(response(429, {"retry-after": "12"})))
    assert isinstance(err, RateLimited) and err.retry_after == 12
    reset = reddit_error(prawcore.exceptions.TooManyRequests(response(429, {"X-Ratelimit-Reset": "42"})))
    assert isinstance(reset, RateLimited) and reset.retry_after == 42


def test_retry_after_is_a_minute_when_missing_or_unusable():
    assert retry_after_seconds({}) == 60
    assert retry_after_seconds({"retry-after": "0"}) == 60
    assert retry_after_seconds({"retry-after": "soon"}) == 60
    assert retry_after_seconds({"Retry-After": "7.5", "x-ratelimit-reset": "300"}) == 7.5


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


def test_server_network_timeout_and_json_errors_are_retryable():
    assert reddit_error(prawcore.exceptions.ServerError(response(503))).retryable
    network = prawcore.exceptions.RequestException(requests.ConnectionError("refused"), (), {})
    err = reddit_error(network)
    assert isinstance(err, ListenerError) and err.retryable
    assert "ConnectionError" in str(err)
    timeout = reddit_error(prawcore.exceptions.RequestException(requests.ReadTimeout("slow"), (), {}))
    assert timeout.retryable and str(timeout) == "reddit: no answer in time (ReadTimeout); will retry"
    bad = reddit_error(prawcore.exceptions.BadJSON(response(200)))
    assert bad.retryable and str(bad) == "reddit: the answer was not valid JSON; will retry"
    assert reddit_status_error(501).retryable and not reddit_status_error(400).retryable
