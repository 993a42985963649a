"""The X listener end to end: the real tweepy Client over real HTTP against tests/fakes/x.py,
through the real pipeline (poll_once) into a real SQLite store.

Time is a fake clock shared by the fake X (its ids, x-rate-limit-reset) and poll_once's `now`,
so rests and resets are checked without sleeping. Every test runs under `local_only`: resolving
any host other than 127.0.0.1 fails it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import requests

from bot.errors import ListenerError
from bot.models import Brand
from bot.pipeline import PollResult, poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.twitter import TWEET_FIELDS, USER_FIELDS, TwitterListener
from listeners.x_walk import QueryState, load_cursor
from tests.fakes.x import SEARCH_PATH, SPEC, FakeX

UTC = timezone.utc
NOW = datetime(2024, 11, 12, 15, 0, tzinfo=UTC)
TOKEN = "AAAA-test-bearer-7f3c9e"
ENV = {"X_BEARER_TOKEN": TOKEN}
REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO.parent / "shared" / "specs" / "x-api-v2" / "openapi.json"

MINDFUL = '(mindful OR "mindful app") -is:retweet'  # the X query for the mindful brand
BRANDS = {
    "mindful": Brand("mindful", "Mindful Health", "brand", parse('mindful OR "mindful app"')),
    "calm": Brand("calm", "Calm", "competitor", parse("calm")),
}


class Clock:
    """Epoch seconds for the fake; `now` for poll_once. Tests move it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def x(clock):
    with FakeX(token=TOKEN, clock=clock) as fake:
        yield fake


class Bot:
    """One listener, one store, one scorer: poll like the daemon does, at the clock's time."""

    def __init__(self, x: FakeX, clock: Clock, db: Path, **options):
        self.x, self.clock = x, clock
        self.listener = TwitterListener.from_config(TwitterListener.Options(base_url=x.url, **options), ENV)
        self.store = Store(db)
        self.scorer = make_scorer("vader")

    def poll(self, after: timedelta = timedelta(0)) -> PollResult:
        self.clock.now += after
        return poll_once(self.listener, BRANDS, self.scorer, self.store, self.clock.now)

    def ids(self) -> list[str]:
        return [r[0] for r in self.store.conn.execute("SELECT native_id FROM mentions ORDER BY native_id")]

    def row(self, post_id: str) -> dict:
        return dict(self.store.conn.execute("SELECT * FROM mentions WHERE native_id = ?", (post_id,)).fetchone())

    def state(self, query: str = MINDFUL) -> QueryState:
        return load_cursor(self.store.cursor("twitter")).get(query, QueryState())

    def since_id(self) -> str | None:
        return self.state().since_id

    def health(self) -> dict:
        return self.store.health_of("twitter") or {}


@pytest.fixture
def bot(x, clock, tmp_path):
    def make(**options) -> Bot:
        return Bot(x, clock, tmp_path / "h.db", **options)

    return make


def posts(x: FakeX, n: int, text: str = "mindful post {i}", **kwargs) -> list[str]:
    """n posts a second apart, ending a minute before the clock's now."""
    start = datetime.fromtimestamp(x.clock(), UTC) - timedelta(minutes=1, seconds=n)
    return [x.add_post(text.format(i=i), created_at=start + timedelta(seconds=i), **kwargs) for i in range(n)]


# ---- pagination and cursors ---------------------------------------------------------------------


def test_three_pages_of_100_are_read_and_the_cursor_rides_on_the_last(x, bot):
    ids = posts(x, 300, followers=5)
    b = bot()
    result = b.poll()
    assert result.error is None
    assert b.ids() == sorted(ids)
    searches = x.searches()
    assert len(searches) == 3 + 1  # three pages for mindful, one (empty) for calm
    first = searches[0].params
    assert first["query"] == MINDFUL
    assert first["max_results"] == "100"
    assert first["expansions"] == "author_id"
    assert set(first["tweet.fields"].split(",")) == set(TWEET_FIELDS)
    assert {"created_at", "public_metrics", "lang", "author_id", "referenced_tweets", "conversation_id"} <= set(
        first["tweet.fields"].split(",")
    )
    assert set(first["user.fields"].split(",")) == set(USER_FIELDS)
    assert "next_token" not in first and searches[1].params["next_token"] and searches[2].params["next_token"]
    assert b.since_id() == max(ids, key=int)


def test_pages_are_batches_without_a_cursor_until_the_last(x, bot):
    posts(x, 250)
    listener = bot().listener
    batches = list(listener.fetch([BRANDS["mindful"]], None, NOW))
    assert [len(b.mentions) for b in batches] == [100, 100, 50]
    assert [b.cursor is None for b in batches] == [True, True, False]


def test_a_second_run_sends_since_id_and_gets_only_new_posts(x, bot, clock):
    first = posts(x, 20)
    b = bot()
    b.poll()
    clock.now += timedelta(minutes=5)
    later = posts(x, 5, "mindful again {i}")
    result = b.poll()
    assert result.fetched == 5 and result.new == 5
    mindful = [r for r in x.searches() if r.params["query"] == MINDFUL]
    assert mindful[-1].params["since_id"] == max(first, key=int)
    assert b.ids() == sorted(first + later)
    assert b.since_id() == max(later, key=int)


def test_a_post_under_two_brands_and_two_runs_is_stored_once_with_both_brands(x, bot):
    both = x.add_post("mindful and calm together", created_at=NOW - timedelta(minutes=2))
    b = bot()
    result = b.poll()
    assert result.new == 1  # fetched by both queries, handed on once
    links = b.store.conn.execute("SELECT brand FROM mention_brands WHERE mention_key = ?", (f"x:{both}",)).fetchall()
    assert sorted(r[0] for r in links) == ["calm", "mindful"]
    b.store.conn.execute("DELETE FROM cursors")  # the next run reads everything again
    again = b.poll(timedelta(minutes=5))
    assert again.fetched == 1 and again.new == 0
    assert b.ids() == [both]


def test_reposts_are_left_out_by_the_query_and_quote_posts_kept(x, bot):
    original = x.add_post("mindful is lovely", author="ana", created_at=NOW - timedelta(minutes=3))
    repost = x.add_post("", author="ben", retweet_of=original, created_at=NOW - timedelta(minutes=2))
    quote = x.add_post("so true, mindful rocks", author="cy", quote_of=original, created_at=NOW - timedelta(minutes=1))
    b = bot()
    b.poll()
    assert b.ids() == sorted([original, quote])
    assert "-is:retweet" in x.searches()[0].params["query"]
    raw = json.loads(b.row(quote)["raw"])
    assert raw["referenced_tweets"] == [{"type": "quoted", "id": original}]
    assert repost not in b.ids()


def test_with_reposts_wanted_the_query_has_no_is_retweet(x, bot):
    original = x.add_post("mindful is lovely", created_at=NOW - timedelta(minutes=3))
    repost = x.add_post("", author="ben", retweet_of=original, created_at=NOW - timedelta(minutes=2))
    b = bot(exclude_retweets=False)
    b.poll()
    assert "-is:retweet" not in x.searches()[0].params["query"]
    assert b.ids() == sorted([original, repost])


# ---- payloads -------------------------------------------------------------------------------------


def test_a_suspended_author_gives_an_empty_author_and_the_others_keep_theirs(x, bot):
    gone = x.add_post("mindful was here", author="ghost", followers=900, created_at=NOW - timedelta(minutes=2))
    kept = x.add_post("mindful app rocks", author="ana", followers=1234, created_at=NOW - timedelta(minutes=1),
                      metrics={"like_count": 7, "retweet_count": 2, "reply_count": 1, "quote_count": 3})
    x.suspend("ghost")
    b = bot()
    assert b.poll().error is None
    ghost = b.row(gone)
    assert ghost["author"] == "" and ghost["author_reach"] == 0
    assert ghost["url"] == f"https://x.com/i/status/{gone}"
    ana = b.row(kept)
    assert ana["author"] == "ana" and ana["author_reach"] == 1234
    assert ana["engagement"] == 7 + 2 + 1 + 3
    assert json.loads(ana["metrics"])["like_count"] == 7


def test_emoji_right_to_left_zero_width_text_and_entities_survive(x, bot):
    texts = {
        "family": "mindful with the kids \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
        "arabic": "\u200fتطبيق mindful رائع جدا \U0001f44d",
        "hebrew": "mindful \u05d0\u05e4\u05dc\u05d9\u05e7\u05e6\u05d9\u05d4 \u05de\u05e2\u05d5\u05dc\u05d4\u200e!",
        "zwsp": "mindful\u200b app, zero\u2060width",
        "entities": "mindful & calm <3 > 2, and a literal &amp; stays",
    }
    ids = {k: x.add_post(t, created_at=NOW - timedelta(minutes=1, seconds=i)) for i, (k, t) in enumerate(texts.items())}
    b = bot()
    b.poll()
    for key, post_id in ids.items():
        assert b.row(post_id)["text"] == texts[key], key


def test_a_long_post_is_read_whole_from_note_tweet(x, bot):
    long = "mindful " + "long thoughts " * 40
    post_id = x.add_post(long.strip(), created_at=NOW - timedelta(minutes=1))
    b = bot()
    b.poll()
    assert b.row(post_id)["text"] == long.strip()


# ---- limits ---------------------------------------------------------------------------------------


def test_429_rests_until_the_reset_with_the_cursor_unchanged_then_succeeds(x, bot):
    b = bot()
    posts(x, 3)
    b.poll()
    before = b.store.cursor("twitter")
    new = posts(x, 4, "mindful news {i}")
    x.rate_limit_next(1, reset_in=300)
    result = b.poll(timedelta(minutes=5))
    assert result.error and "429" in result.error
    assert b.store.cursor("twitter") == before
    assert b.store.retry_at("twitter") == b.clock.now + timedelta(seconds=301)
    sent = len(x.searches())
    assert b.poll(timedelta(minutes=4)).skipped  # still inside the window: nothing is sent
    assert len(x.searches()) == sent
    result = b.poll(timedelta(seconds=62))
    assert result.error is None and result.new == 4
    assert set(new) <= set(b.ids())


@pytest.mark.parametrize("reset_in", [None, -120], ids=["no-header", "past-header"])
def test_429_without_a_usable_reset_rests_a_minute_and_never_loops(x, bot, reset_in):
    b = bot()
    posts(x, 3)
    x.rate_limit_next(1, reset_in=reset_in)
    result = b.poll()
    assert result.error and len(x.searches()) == 1  # one request, no retry loop inside the run
    assert b.store.retry_at("twitter") == NOW + timedelta(seconds=60)
    assert b.poll(timedelta(seconds=30)).skipped
    assert len(x.searches()) == 1
    assert b.poll(timedelta(seconds=31)).error is None
    assert len(b.ids()) == 3


def test_a_used_up_window_stops_the_walk_stores_what_was_read_and_resumes_after_reset(clock, tmp_path):
    with FakeX(token=TOKEN, clock=clock, rate_limit=5) as x:
        b = Bot(x, clock, tmp_path / "h.db")
        posts(x, 5)
        b.poll()  # two requests: mindful, calm; three left in the window
        clock.now += timedelta(minutes=5)
        burst = posts(x, 450, "mindful burst {i}")
        result = b.poll()
        assert "used up" in (result.error or "")
        assert len(x.searches()) == 5  # it stopped at remaining 0 instead of running into a 429
        assert result.new == 300
        assert b.store.retry_at("twitter") == NOW + timedelta(seconds=901)  # the window's reset
        state = b.state()
        assert state.since_id == max(burst, key=int)  # new posts move on...
        assert len(state.gaps) == 1  # ...and what lies below is remembered
        clock.now = NOW + timedelta(seconds=901)
        assert b.poll().error is None
        assert set(burst) <= set(b.ids())
        assert len(b.ids()) == 455
        assert x.searches()[-1].params["query"] == "calm -is:retweet"  # the query it had not reached


# ---- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_mid_walk_keeps_the_cursor_and_the_next_run_loses_nothing(x, bot, status):
    b = bot()
    first = posts(x, 2)
    b.poll()
    before = b.store.cursor("twitter")
    new = posts(x, 250, "mindful burst {i}")
    x.fail_next(1, status, after=2)  # page 3 fails
    result = b.poll(timedelta(minutes=5))
    assert f"({status})" in (result.error or "")
    assert result.new == 200  # pages 1 and 2 were kept
    assert b.store.cursor("twitter") == before
    assert b.health()["failures"] == 1
    assert b.store.retry_at("twitter") == b.clock.now + timedelta(minutes=1)
    again = b.poll(timedelta(minutes=1))
    assert again.error is None and again.new == 50  # pages 1-2 read again, stored once
    assert b.ids() == sorted(first + new)


def test_a_timeout_is_retryable_and_quick(x, bot):
    b = bot(timeout=0.3)
    posts(x, 3)
    x.delay_next(1, seconds=3)
    started = time.monotonic()
    result = b.poll()
    assert time.monotonic() - started < 2.5  # it gave up; it did not wait for the answer
    assert "timeout" in (result.error or "")
    assert b.store.cursor("twitter") is None
    assert b.poll(timedelta(minutes=1)).error is None
    assert len(b.ids()) == 3


@pytest.mark.parametrize("configured", ["1s", 1], ids=["duration", "seconds"])
def test_the_configured_timeout_is_the_one_tweepys_session_waits(x, bot, configured):
    # From config.yaml a timeout is a duration (1s) or a bare number of seconds; either way it
    # is the wait of tweepy's real session, in seconds (not read as milliseconds or minutes).
    b = bot(timeout=configured)
    assert b.listener.options.timeout == timedelta(seconds=1)
    posts(x, 3)
    x.delay_next(1, seconds=0.4)  # slower than a millisecond timeout, well within a second
    assert b.poll().error is None and len(b.ids()) == 3

    x.delay_next(1, seconds=4)
    started = time.monotonic()
    result = b.poll(timedelta(minutes=5))
    waited = time.monotonic() - started

    assert result.error == "x: no answer within 1s (timeout); will retry"
    assert 0.9 <= waited < 2.5  # the configured second, not the 4 s answer


def test_malformed_json_is_retryable_and_leaves_the_cursor(x, bot):
    b = bot()
    posts(x, 3)
    b.poll()
    before = b.store.cursor("twitter")
    posts(x, 2, "mindful more {i}")
    x.malformed_next(1)
    result = b.poll(timedelta(minutes=5))
    assert "not JSON" in (result.error or "")
    assert b.store.cursor("twitter") == before
    assert b.store.retry_at("twitter") == b.clock.now + timedelta(minutes=1)
    assert b.poll(timedelta(minutes=1)).new == 2


def test_an_expired_token_is_not_retried_soon_names_the_variable_and_never_shows_the_token(x, bot, caplog):
    b = bot()
    posts(x, 3)
    x.expire_token()
    with caplog.at_level(logging.DEBUG):
        result = b.poll()
    assert "401" in result.error and "X_BEARER_TOKEN" in result.error
    assert b.store.retry_at("twitter") == NOW + timedelta(hours=1)  # not retryable: the long rest
    assert "Authorization" in caplog.text  # tweepy did log its request headers...
    for text in (result.error, caplog.text, b.health()["last_error"]):
        assert TOKEN not in text  # ...with the token blanked
    assert x.searches()[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_401_error_itself_is_not_retryable(x, bot):
    x.expire_token()
    with pytest.raises(ListenerError) as info:
        list(bot().listener.fetch([BRANDS["mindful"]], None, NOW))
    assert not info.value.retryable
    assert "X_BEARER_TOKEN" in str(info.value) and TOKEN not in str(info.value)


# ---- max_pages ------------------------------------------------------------------------------------


def test_a_max_pages_cut_leaves_a_gap_that_later_runs_read_so_nothing_is_lost(x, bot, clock):
    b = bot(max_pages=2)
    start = posts(x, 10)
    b.poll()
    old_since = b.since_id()
    clock.now += timedelta(minutes=5)
    burst = posts(x, 450, "mindful burst {i}")
    assert b.poll().new == 200  # the newest two pages
    state = b.state()
    assert state.since_id == max(burst, key=int)
    assert len(state.gaps) == 1 and state.gaps[0][0] == old_since
    later = []
    for _ in range(4):  # each run: one request for new posts, one for the gap
        clock.now += timedelta(minutes=5)
        later += posts(x, 3, "mindful later {i}")
        assert b.poll().error is None
    assert b.ids() == sorted(start + burst + later)
    assert b.state().gaps == ()
    gap_reads = [r.params for r in x.searches() if "until_id" in r.params]
    assert gap_reads and all(r["since_id"] == old_since for r in gap_reads)


def test_a_first_run_starts_at_the_newest_posts_without_a_seven_day_backfill(x, bot):
    ids = posts(x, 250)
    b = bot(max_pages=2)
    b.poll()
    assert b.ids() == sorted(ids)[50:]
    assert b.state() == QueryState(max(ids, key=int))  # no gap: the 50 older ones predate harkbot


def test_a_gap_that_ages_past_seven_days_is_dropped_with_a_warning(x, bot, clock, caplog):
    b = bot(max_pages=1)
    posts(x, 3)
    b.poll()
    clock.now += timedelta(minutes=5)
    posts(x, 150, "mindful burst {i}")
    b.poll()
    assert b.state().gaps
    clock.now += timedelta(days=8)
    with caplog.at_level(logging.WARNING):
        result = b.poll()
    assert result.error is None  # no since_id/until_id older than 7 days was sent (X answers 400)
    assert "aged out" in caplog.text and "lost" in caplog.text
    assert b.state().gaps == ()
    caplog.clear()
    fresh = posts(x, 2, "mindful after the break {i}")
    with caplog.at_level(logging.WARNING):
        assert b.poll(timedelta(minutes=5)).new == 2
    assert caplog.text == ""  # said once: the cursor now starts at recent search's edge
    assert b.since_id() == max(fresh, key=int)


# ---- a process killed between pages ---------------------------------------------------------------

CHILD = """
import os, sys
from datetime import datetime
from bot.models import Brand
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.twitter import TwitterListener

url, db, now = sys.argv[1:4]
brands = {"mindful": Brand("mindful", "Mindful Health", "brand", parse('mindful OR "mindful app"')),
          "calm": Brand("calm", "Calm", "competitor", parse("calm"))}
listener = TwitterListener.from_config(TwitterListener.Options(base_url=url), os.environ)
poll_once(listener, brands, make_scorer("vader"), Store(db), datetime.fromisoformat(now))
print("finished")
"""


@pytest.mark.parametrize("page", [2, 3])
def test_a_process_killed_while_waiting_for_a_page_loses_nothing(x, bot, tmp_path, page):
    ids = posts(x, 250)
    x.pause_on_page(page)
    db = tmp_path / "h.db"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("X_")}, "X_BEARER_TOKEN": TOKEN}
    child = subprocess.Popen([sys.executable, "-c", CHILD, x.url, str(db), NOW.isoformat()], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert x.paused.wait(timeout=15), child.stderr.read1().decode() if child.poll() is not None else "no pause"
        b = bot()
        # One page behind: the pages before the one being read are committed, never the cursor.
        assert len(b.ids()) == 100 * (page - 2)
        assert b.store.cursor("twitter") is None
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
        x.release()
        child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    result = b.poll()
    assert result.error is None
    assert b.ids() == sorted(ids)  # every post once: the primary key holds, and all are there
    assert b.store.conn.execute("SELECT COUNT(*) FROM mentions").fetchone()[0] == 250
    assert b.since_id() == max(ids, key=int)


# ---- base_url -------------------------------------------------------------------------------------


def test_with_base_url_every_request_goes_to_the_fake(x, bot):
    posts(x, 3)
    b = bot()
    b.poll()
    host = x.url.removeprefix("http://")
    assert x.requests and all(r.headers["Host"] == host for r in x.requests)


def test_without_base_url_the_listener_would_call_x_and_the_guard_stops_it(local_only):
    listener = TwitterListener.from_config(TwitterListener.Options(), ENV)
    with pytest.raises(ListenerError, match="network error"):
        list(listener.fetch([BRANDS["mindful"]], None, NOW))
    assert set(local_only) == {"api.twitter.com"}
    local_only.clear()


# ---- the fake's answers against X's OpenAPI spec --------------------------------------------------

VENDORED = json.loads(SPEC.read_text())


def validator(component: str) -> jsonschema.Draft4Validator:
    """A validator for one component; $refs resolve inside the vendored document."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": VENDORED["components"]}
    return jsonschema.Draft4Validator(schema)


def raw(x: FakeX, **params) -> requests.Response:
    query = {"query": "mindful -is:retweet", "max_results": "100", **params}
    return requests.get(x.url + SEARCH_PATH, params=query, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


FIELDS = {"tweet.fields": ",".join(TWEET_FIELDS), "expansions": "author_id", "user.fields": ",".join(USER_FIELDS)}


def test_a_full_page_matches_the_spec(x):
    original = x.add_post("mindful original", author="ana", followers=3, created_at=NOW - timedelta(minutes=9))
    x.add_post("quoting mindful", author="ben", quote_of=original, created_at=NOW - timedelta(minutes=8))
    x.add_post("mindful " + "x" * 300, author="ghost", created_at=NOW - timedelta(minutes=7))
    posts(x, 120)
    x.suspend("ghost")
    body = raw(x, **FIELDS).json()
    assert len(body["data"]) == 100 and body["meta"]["next_token"]
    validator("SearchPostsRecentResponse").validate(body)
    last = raw(x, next_token=body["meta"]["next_token"], **FIELDS).json()
    assert "next_token" not in last["meta"]
    long = next(t for t in last["data"] if "note_tweet" in t)
    assert last["errors"][0]["resource_id"] == long["author_id"]  # the suspended author
    validator("SearchPostsRecentResponse").validate(last)


def test_an_empty_page_matches_the_spec_and_has_no_data(x):
    body = raw(x).json()
    assert body == {"meta": {"result_count": 0}}
    validator("SearchPostsRecentResponse").validate(body)


def test_the_spec_check_has_teeth(x):
    x.add_post("mindful", created_at=NOW - timedelta(minutes=1))
    body = raw(x, **FIELDS).json()
    del body["data"][0]["public_metrics"]["like_count"]
    with pytest.raises(jsonschema.ValidationError):
        validator("SearchPostsRecentResponse").validate(body)


@pytest.mark.parametrize(
    "params",
    [{"max_results": "5"}, {"query": "mindful " * 80}, {"tweet.fields": "created_at,bogus"},
     {"since_id": "1"}, {"next_token": "not-a-token"}],
    ids=["max_results", "long-query", "unknown-field", "old-since_id", "bad-token"],
)
def test_invalid_requests_get_a_400_problem_that_matches_the_spec(x, params):
    response = raw(x, **params)
    assert response.status_code == 400
    body = response.json()
    validator("Problem").validate(body)
    assert body["type"].endswith("/invalid-request") and body["errors"][0]["message"]


def test_a_500_is_a_typed_problem_that_matches_the_spec(x):
    x.fail_next(1, 500)
    response = raw(x)
    assert response.status_code == 500
    validator("Problem").validate(response.json())


def _common_problem_schema() -> dict:
    """What every Problem in the spec requires, whatever its type: X's own about:blank problems
    (401, 429, 503) are not among the spec's typed ones, so they are checked against this."""
    variants = [VENDORED["components"]["schemas"][r["$ref"].rsplit("/", 1)[-1]]
                for r in VENDORED["components"]["schemas"]["Problem"]["oneOf"]]
    required = set.intersection(*(set(v["required"]) for v in variants))
    properties = {k: {"type": variants[0]["properties"][k]["type"]} for k in (*required, "status")}
    return {"type": "object", "required": sorted(required), "properties": properties}


@pytest.mark.parametrize("inject", ["expire", "429", "503"])
def test_untyped_error_problems_have_every_member_the_spec_requires(x, inject):
    {"expire": x.expire_token, "429": lambda: x.rate_limit_next(1, 30), "503": lambda: x.fail_next(1, 503)}[inject]()
    response = raw(x)
    body = response.json()
    assert response.status_code == body["status"] and body["type"] == "about:blank"
    jsonschema.Draft4Validator(_common_problem_schema()).validate(body)
    if inject == "429":
        assert int(response.headers["x-rate-limit-reset"]) == int(NOW.timestamp()) + 30


def test_every_answer_carries_the_rate_limit_headers(x):
    response = raw(x)
    assert response.headers["x-rate-limit-limit"] == "450"
    assert response.headers["x-rate-limit-remaining"] == "449"
    assert int(response.headers["x-rate-limit-reset"]) == int(NOW.timestamp()) + 900


def test_the_vendored_subset_is_closed_and_says_where_it_comes_from():
    source = VENDORED["x-source"]
    schemas = VENDORED["components"]["schemas"]
    assert source["file"].startswith("xdevplatform/xdk@") and "MIT License" in VENDORED["x-license"]
    assert source["components"] == list(schemas)
    refs = set(_refs(schemas))
    assert refs <= set(schemas), refs - set(schemas)


@pytest.mark.skipif(not UPSTREAM.exists(), reason="../shared/specs/x-api-v2/openapi.json is not here")
def test_the_vendored_components_equal_the_full_spec():
    upstream = json.loads(UPSTREAM.read_text())
    for name, schema in VENDORED["components"]["schemas"].items():
        assert schema == upstream["components"]["schemas"][name], name
    operation = upstream["paths"]["/2/tweets/search/recent"]["get"]["responses"]
    assert operation["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SearchPostsRecentResponse")
    stream = upstream["paths"]["/2/tweets/search/stream"]["get"]["parameters"]
    enums = {}
    for p in stream:
        p = upstream["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
        enums[p["name"]] = p["schema"].get("items", {}).get("enum")
    for name, values in VENDORED["x-request-fields"].items():
        assert values == enums[name], name


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
