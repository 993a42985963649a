"""The Reddit listener through the real pipeline: real praw over real HTTP to a fake Reddit.

Nothing here mocks praw or prawcore. Two things keep the file fast: prawcore sleeps a random
0-2 s before sending a request again after a 401 (it renews the token; its retries of a 5xx
or a timeout are off, the pipeline's backoff being the one policy), so `jitter()` seeds
Python's RNG (prawcore draws from it) to make that sleep about 0 s; and the fake's rate
windows reset after a second, which is all prawcore's limiter ever waits for here.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.models import Brand
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.reddit import RedditListener
from tests.fakes.reddit import FakeReddit

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CLIENT_ID = "harkbot-test-app"
SECRET = "s3cr3t-reddit-app-secret-do-not-log"
ENV = {"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": SECRET}
BRANDS = {"mindful": Brand("mindful", "Mindful Health", "brand", parse("mindful"))}
SEARCH = "r/Meditation/search?q=mindful"  # the cursor key of the brand's search
ROOT = Path(__file__).resolve().parents[2]
# random.seed(JITTER) makes prawcore's next two retry sleeps 0.003 s and 2.00004 s.
JITTER = 8038


def jitter() -> None:
    random.seed(JITTER)


@pytest.fixture(autouse=True)
def seeded_rng():
    state = random.getstate()
    jitter()
    yield
    random.setstate(state)


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


@pytest.fixture
def fake():
    with FakeReddit(client_id=CLIENT_ID, client_secret=SECRET, page_size=5) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    db = Store(tmp_path / "h.db")
    yield db
    db.close()


def listener(fake: FakeReddit, env: dict[str, str] = ENV, **options) -> RedditListener:
    options.setdefault("subreddits", ["Meditation"])
    return RedditListener.from_config(RedditListener.Options(base_url=fake.url, **options), env)


def poll(reddit: RedditListener, store: Store, scorer, at: datetime = NOW):
    return poll_once(reddit, BRANDS, scorer, store, at)


def posts(fake: FakeReddit, n: int, subreddit: str = "Meditation") -> list[str]:
    return [fake.add_submission(f"Mindful post {i}", f"Day {i} with the app.", author=f"user{i}",
                                subreddit=subreddit) for i in range(n)]


def stored(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT native_id FROM mentions ORDER BY native_id")]


def state(store: Store, key: str = SEARCH) -> dict:
    return json.loads(store.cursor("reddit") or "{}").get("listings", {}).get(key, {})


def floor_of(fake: FakeReddit, kind: str = "t3") -> list:
    newest = fake.newest(kind)
    return [newest.data["created_utc"], newest.fullname]


# ---- the happy path --------------------------------------------------------------------


def test_token_and_search_go_to_the_fake_in_reddits_wire_format(fake, store, scorer):
    names = posts(fake, 3)
    fake.add_submission("Nothing to see", "about other apps")  # the fake's term check drops it

    result = poll(listener(fake), store, scorer)

    assert (result.error, result.fetched, result.new) == (None, 3, 3)
    assert sorted(stored(store)) == sorted(names)
    token, search = fake.calls("token"), fake.calls("search")
    assert [(c.method, c.authorization, c.params, c.status) for c in token] == [
        ("POST", "basic", {"grant_type": "client_credentials"}, 200)
    ]
    assert len(search) == 1 and search[0].authorization == "bearer"
    assert search[0].path == "/r/Meditation/search/"
    assert search[0].params == {"q": "mindful", "sort": "new", "syntax": "lucene", "t": "all",
                                "restrict_sr": "True", "limit": "100", "raw_json": "1"}
    assert {c.host.rsplit(":", 1)[0] for c in fake.requests} == {"127.0.0.1"}


def test_all_searches_everywhere_with_the_brand_query_in_lucene_syntax(fake, store, scorer):
    fake.add_submission("Mindful Health app review", subreddit="sleep")
    brands = {"mindful": Brand("mindful", "Mindful", "brand", parse('"mindful health" -spam'))}

    result = poll_once(listener(fake, subreddits=["all"]), brands, scorer, store, NOW)

    assert result.new == 1
    [search] = fake.calls("search")
    assert search.path == "/r/all/search/"
    assert search.params["q"] == '"mindful health" AND NOT spam'
    assert search.params["restrict_sr"] == "False"


def test_pages_follow_after_and_only_the_last_batch_carries_the_cursor(fake, store, scorer):
    names = posts(fake, 12)  # pages of 5: 5, 5, 2
    reddit = listener(fake)

    batches = list(reddit.fetch(list(BRANDS.values()), None, NOW))

    assert [len(b.mentions) for b in batches] == [5, 5, 2, 0]
    assert [b.cursor is not None for b in batches] == [False, False, False, True]
    search = fake.calls("search")
    assert [c.params.get("after") for c in search] == [None, names[7], names[2]]
    assert json.loads(batches[-1].cursor)["listings"][SEARCH] == {"floor": floor_of(fake)}


def test_cursor_across_runs_reads_only_what_is_new(fake, store, scorer):
    posts(fake, 6)
    reddit = listener(fake)
    assert poll(reddit, store, scorer).new == 6
    assert state(store) == {"floor": floor_of(fake)}

    # The posts are a minute apart: all six lie in the 10-minute search overlap below the floor,
    # so each later run reads them again (a late-indexed one would be among them) and stores
    # none of them twice.
    quiet = poll(reddit, store, scorer, NOW + timedelta(minutes=5))
    assert (quiet.fetched, quiet.new) == (6, 0)
    assert len(fake.calls("search")) == 2 + 2  # pages of 5: the window spills onto a second

    later = posts(fake, 3)
    third = poll(reddit, store, scorer, NOW + timedelta(minutes=10))
    assert (third.fetched, third.new) == (9, 3)
    assert len(fake.calls("search")) == 6  # 3 new and the 6 of the window, on two pages
    assert set(later) <= set(stored(store)) and len(stored(store)) == 9
    assert state(store) == {"floor": floor_of(fake)}


def test_duplicates_across_pages_and_runs_are_stored_once(scorer, store):
    # page_overlap=1: every later page starts with the previous page's last post again.
    with FakeReddit(client_id=CLIENT_ID, client_secret=SECRET, page_size=4, page_overlap=1) as fake:
        names = posts(fake, 9)
        # Three posts in one second, the newest second of the corpus.
        second = fake.newest().data["created_utc"] + 60
        tied = [fake.add_submission(f"Mindful tie {i}", created_utc=second) for i in range(3)]
        # The floor's own mechanics, as the comment listing walks it: no search overlap.
        reddit = listener(fake, search_overlap=timedelta(0))

        first = poll(reddit, store, scorer)
        assert first.new == 12 and first.fetched > 12  # overlaps re-sent, stored once

        # A post arriving later in the floor's own second is read; its older neighbours are not.
        late = fake.add_submission("Mindful late in the same second", created_utc=second)
        again = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

        assert (again.fetched, again.new) == (1, 1)
        assert sorted(stored(store)) == sorted(names + tied + [late])
        assert store.count("mention_brands") == 13
        assert state(store) == {"floor": [second, late]}


# ---- the search overlap: Reddit's search index adds some posts late --------------------


def counted(store: Store) -> int:
    """Mentions as the 5-minute buckets count them: a post stored twice would count twice."""
    return store.conn.execute("SELECT COALESCE(SUM(count), 0) FROM buckets").fetchone()[0]


@pytest.mark.parametrize(("overlap", "late_by", "reached"), [
    (None, timedelta(minutes=3), True),  # the default window, 10 minutes
    (None, timedelta(minutes=15), False),  # indexed later than the window reaches
    ("20m", timedelta(minutes=15), True),  # a wider window, configured
])
def test_a_post_search_lists_late_is_stored_once_and_nothing_twice(fake, store, scorer, overlap,
                                                                   late_by, reached):
    reddit = listener(fake, **({"search_overlap": overlap} if overlap else {}))
    early = posts(fake, 4)
    first = poll(reddit, store, scorer)
    floor = state(store)["floor"]
    # Written before the newest post the last run read, so below the cursor, but listed by
    # search only now; a new post comes with it.
    late = fake.add_submission("Mindful, late to the index", created_utc=floor[0] - late_by.total_seconds())
    newer = posts(fake, 1)

    second = poll(reddit, store, scorer, NOW + timedelta(minutes=5))
    third = poll(reddit, store, scorer, NOW + timedelta(minutes=10))

    assert (late in stored(store)) is reached
    expected = early + newer + ([late] if reached else [])
    assert sorted(stored(store)) == sorted(expected)
    assert first.new + second.new + third.new == len(expected) == counted(store)
    assert store.count("mention_brands") == len(expected)
    assert second.fetched > second.new and third.new == 0  # the window was read again, deduped
    assert state(store) == {"floor": floor_of(fake)}  # the floor is still the newest post


def test_the_comment_listing_has_no_overlap(fake, store, scorer):
    post = fake.add_submission("Sleep tips thread")
    fake.add_comment("Mindful first", link_id=post)
    reddit = listener(fake, comments=True)
    poll(reddit, store, scorer)

    again = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

    assert again.fetched == 0  # not search: the listing is not indexed late, nothing read again


# ---- what the mentions hold ------------------------------------------------------------------


def test_a_crosspost_is_its_own_mention_linked_to_its_parent(fake, store, scorer):
    parent = fake.add_submission("Mindful changed my mornings", "Long story...", subreddit="Meditation",
                                 score=120, num_comments=14)
    cross = fake.add_submission("Mindful changed my mornings", subreddit="sleep", score=8,
                                crosspost_of=parent)

    result = poll(listener(fake, subreddits=["Meditation", "sleep"]), store, scorer)

    assert result.new == 2  # the parent once: its copy inside the crosspost is not a mention
    by_id = {sm.mention.id: sm.mention for sm in store.recent(limit=10)}
    assert set(by_id) == {parent, cross}
    assert by_id[cross].raw["crosspost_parent"] == parent
    assert by_id[cross].raw["subreddit"] == "sleep" and by_id[parent].raw["subreddit"] == "Meditation"
    assert "crosspost_parent_list" not in by_id[cross].raw
    assert by_id[parent].metrics == {"score": 120, "num_comments": 14, "subreddit_subscribers": 1000}
    assert by_id[parent].engagement == 134


def test_deleted_authors_emoji_right_to_left_and_zero_width_text(fake, store, scorer):
    texts = {
        fake.add_submission("Mindful 🧘‍♀️👍🏽 best app", author=None): "Mindful 🧘‍♀️👍🏽 best app",
        fake.add_submission("האפליקציה של Mindful עוזרת לי לישון"): "האפליקציה של Mindful עוזרת לי לישון",
        fake.add_submission("تطبيق Mindful رائع جدا"): "تطبيق Mindful رائع جدا",
        fake.add_submission("Mind\u200bful is great\u200d"): "Mind\u200bful is great\u200d",
    }

    result = poll(listener(fake), store, scorer)

    assert result.new == 4
    mentions = {sm.mention.id: sm.mention for sm in store.recent(limit=10)}
    assert {i: m.title for i, m in mentions.items()} == texts  # byte for byte
    deleted = next(iter(texts))
    assert mentions[deleted].author == ""
    assert all(m.author == "someone" for i, m in mentions.items() if i != deleted)


def test_comments_come_from_the_subreddits_listing_filtered_by_brand(fake, store, scorer):
    post = fake.add_submission("Sleep tips thread", "share yours")  # no brand: not a mention
    wanted = fake.add_comment("Mindful's sleep stories work for me", subreddit="Meditation", link_id=post)
    other = fake.add_comment("Counting sheep works for me", subreddit="sleep", link_id=post)
    fake.add_comment("Mindful elsewhere", subreddit="productivity")  # not a followed subreddit
    reddit = listener(fake, subreddits=["Meditation", "sleep"], comments=True)

    first = poll(reddit, store, scorer)

    assert (first.fetched, first.new) == (1, 1)  # only what matches a brand leaves the listener
    assert stored(store) == [wanted]
    [comments] = fake.calls("comments")
    assert comments.path == "/r/Meditation+sleep/comments/" and comments.params["limit"] == "100"
    [mention] = [sm.mention for sm in store.recent()]
    assert (mention.kind, mention.title, mention.raw["link_id"]) == ("comment", "", post)
    # The floor is the newest comment read, kept or not: the listing, not the matches, moved.
    key = "r/Meditation+sleep/comments"
    assert state(store, key)["floor"][1] == other

    newer = fake.add_comment("Mindful again", subreddit="sleep", link_id=post)
    second = poll(reddit, store, scorer, NOW + timedelta(minutes=5))
    assert second.new == 1 and newer in stored(store)
    assert len(fake.calls("comments")) == 2
    assert state(store, key) == {"floor": floor_of(fake, "t1")}


def test_comments_on_all_are_refused_with_the_reason(fake):
    with pytest.raises(ValidationError, match="named subreddits"):
        RedditListener.Options(base_url=fake.url, comments=True)
    with pytest.raises(ValidationError, match="named subreddits"):
        RedditListener.Options(subreddits=["python", "All"], comments=True)


# ---- the limit cut-off ---------------------------------------------------------------------


def test_a_walk_cut_at_the_limit_resumes_and_loses_nothing(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake, limit=5)
    assert poll(reddit, store, scorer).new == 2
    floor = state(store)["floor"]
    burst = posts(fake, 12)  # more than one run's limit
    top = floor_of(fake)

    second = poll(reddit, store, scorer, NOW + timedelta(minutes=5))
    assert second.new == 5
    assert state(store) == {"floor": floor, "top": top, "resume": burst[7]}

    third = poll(reddit, store, scorer, NOW + timedelta(minutes=10))
    assert third.new == 5
    assert state(store) == {"floor": floor, "top": top, "resume": burst[2]}
    assert fake.calls("search")[-1].params["after"] == burst[7]

    meanwhile = posts(fake, 2)  # above `top`: they wait for the run after the backlog
    fourth = poll(reddit, store, scorer, NOW + timedelta(minutes=15))
    assert fourth.new == 2  # burst[0:2], then the old floor
    assert state(store) == {"floor": top}

    fifth = poll(reddit, store, scorer, NOW + timedelta(minutes=20))
    assert fifth.new == 2 and set(meanwhile) <= set(stored(store))
    assert len(stored(store)) == 16 == len(fake.fullnames())
    assert state(store) == {"floor": floor_of(fake)}


def test_a_first_walk_at_the_limit_does_not_backfill_history(fake, store, scorer):
    posts(fake, 12)
    reddit = listener(fake, limit=5)
    assert poll(reddit, store, scorer).new == 5
    assert state(store) == {"floor": floor_of(fake)}
    assert poll(reddit, store, scorer, NOW + timedelta(minutes=5)).new == 0


# ---- rate limits -------------------------------------------------------------------------


def test_a_429_with_reset_rests_until_the_reset_then_recovers(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake)
    poll(reddit, store, scorer)
    cursor = store.cursor("reddit")
    later = posts(fake, 2)
    fake.rate_limit_next(1, reset=1)

    limited = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

    assert limited.error and "429" in limited.error and limited.new == 0
    assert store.retry_at("reddit") == NOW + timedelta(minutes=5, seconds=1)
    assert store.cursor("reddit") == cursor
    calls = len(fake.requests)
    resting = poll(reddit, store, scorer, NOW + timedelta(minutes=5, seconds=0.5))
    assert resting.skipped and len(fake.requests) == calls  # no tight loop: nothing sent

    recovered = poll(reddit, store, scorer, NOW + timedelta(minutes=5, seconds=2))
    assert recovered.error is None and recovered.new == 2 and set(later) <= set(stored(store))
    assert [c.status for c in fake.calls("search")] == [200, 429, 200]
    assert state(store) == {"floor": floor_of(fake)}


def test_a_429_without_headers_rests_a_minute(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake)
    fake.rate_limit_next(1, reset=None)

    limited = poll(reddit, store, scorer)

    assert limited.error and "60s" in limited.error
    assert store.retry_at("reddit") == NOW + timedelta(seconds=60)
    assert store.cursor("reddit") is None and stored(store) == []
    assert poll(reddit, store, scorer, NOW + timedelta(seconds=30)).skipped
    assert len(fake.calls("search")) == 1
    assert poll(reddit, store, scorer, NOW + timedelta(seconds=61)).new == 2


def test_remaining_zero_stops_the_walk_keeps_its_pages_and_resumes(fake, store, scorer):
    names = posts(fake, 12)  # three pages of 5, 5, 2
    reddit = listener(fake)
    fake.set_remaining(2, reset=1)

    stopped = poll(reddit, store, scorer)

    assert stopped.error and "budget" in stopped.error
    assert stopped.new == 10 and len(fake.calls("search")) == 2  # no third call to be refused
    assert store.retry_at("reddit") is not None
    assert 1 <= (store.retry_at("reddit") - NOW).total_seconds() <= 3
    # The floor did not move past the unread page: the walk is recorded as unfinished.
    assert state(store) == {"floor": None, "top": floor_of(fake), "resume": names[2]}

    resumed = poll(reddit, store, scorer, NOW + timedelta(seconds=5))
    assert resumed.error is None and resumed.new == 2
    assert fake.calls("search")[-1].params["after"] == names[2]
    assert sorted(stored(store)) == sorted(names)
    assert state(store) == {"floor": floor_of(fake)}


def test_a_walk_that_spends_the_window_sends_nothing_more_until_the_reset(fake, store, scorer):
    posts(fake, 3)  # one page: the walk completes on the window's last request
    reddit = listener(fake)
    fake.set_remaining(1, reset=1)

    done = poll(reddit, store, scorer)
    assert done.error is None and done.new == 3 and state(store) == {"floor": floor_of(fake)}
    calls = len(fake.requests)

    early = poll(reddit, store, scorer, NOW + timedelta(seconds=0.5))

    assert early.error and "budget" in early.error
    assert len(fake.requests) == calls  # refused here, not by Reddit
    assert state(store) == {"floor": floor_of(fake)}


# ---- failing soft ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 522])
def test_a_server_error_is_asked_once_a_poll_and_our_backoff_alone_spaces_the_asking(
        fake, store, scorer, status):
    # One policy: pipeline.backoff rests a failed listener 1, 2, 4... minutes; prawcore, which
    # would retry each of these statuses twice within the poll, sends each request once.
    posts(fake, 2)
    reddit = listener(fake)
    fake.fail_next(3, status)
    at, asked = NOW, 0
    for rest in (1, 2, 4):
        failed = poll(reddit, store, scorer, at)
        asked += 1
        assert failed.error == f"reddit: server error ({status}); will retry"
        assert len(fake.calls("search")) == asked  # one request, no retry inside the poll
        assert store.retry_at("reddit") == at + timedelta(minutes=rest)
        assert poll(reddit, store, scorer, at + timedelta(minutes=rest, seconds=-1)).skipped
        assert len(fake.calls("search")) == asked  # resting: nothing sent
        at += timedelta(minutes=rest)
    recovered = poll(reddit, store, scorer, at)
    assert recovered.error is None and recovered.new == 2
    assert [c.status for c in fake.calls("search")] == [status] * 3 + [200]
    assert store.cursor("reddit") is not None


def test_a_429_after_a_503_is_one_request_each_and_rests_as_each_says(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake)
    fake.fail_next(1, 503)
    fake.rate_limit_next(1, reset=1)  # a short reset: prawcore's limiter paces by the real clock

    assert poll(reddit, store, scorer).error == "reddit: server error (503); will retry"
    assert store.retry_at("reddit") == NOW + timedelta(minutes=1)
    limited = poll(reddit, store, scorer, NOW + timedelta(minutes=1))
    assert limited.error and "429" in limited.error
    assert store.retry_at("reddit") == NOW + timedelta(minutes=1, seconds=1)  # Reddit's word
    assert poll(reddit, store, scorer, NOW + timedelta(minutes=1, seconds=0.5)).skipped
    assert poll(reddit, store, scorer, NOW + timedelta(minutes=1, seconds=2)).new == 2
    assert [c.status for c in fake.calls("search")] == [503, 429, 200]


def test_a_timeout_is_a_retryable_error(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake, timeout=timedelta(seconds=0.3))
    poll(reddit, store, scorer)
    cursor = store.cursor("reddit")
    fake.delay_next(1, seconds=1.0)

    failed = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

    assert failed.error == "reddit: no answer in time (ReadTimeout); will retry"
    assert store.cursor("reddit") == cursor
    assert store.health_of("reddit")["failures"] == 1
    assert poll(reddit, store, scorer, NOW + timedelta(minutes=7)).error is None
    deadline = time.monotonic() + 5
    while fake.in_flight and time.monotonic() < deadline:  # the fake logs a call once answered
        time.sleep(0.05)
    assert len(fake.calls("search")) == 3  # the timed-out poll asked once: prawcore did not retry


def test_malformed_json_is_one_clear_retryable_error(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake)
    fake.malformed_next(1)

    failed = poll(reddit, store, scorer)

    assert failed.error == "reddit: the answer was not valid JSON; will retry"
    assert len(fake.calls("search")) == 1  # prawcore does not retry a bad body
    assert store.cursor("reddit") is None and stored(store) == []
    assert store.retry_at("reddit") == NOW + timedelta(minutes=1)
    assert poll(reddit, store, scorer, NOW + timedelta(minutes=1)).new == 2


def test_an_expired_token_is_renewed_without_a_failure(fake, store, scorer):
    posts(fake, 2)
    reddit = listener(fake)
    poll(reddit, store, scorer)
    posts(fake, 1)
    fake.expire_token()

    result = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

    assert result.error is None and result.new == 1
    assert [c.status for c in fake.calls("token")] == [200, 200]
    assert len(set(fake.tokens)) == 2


def test_refused_credentials_are_not_retried_and_name_the_variables(fake, store, scorer, caplog):
    caplog.set_level(logging.DEBUG)
    posts(fake, 2)
    reddit = listener(fake)
    poll(reddit, store, scorer)
    fake.revoke_credentials()
    fake.expire_token()

    failed = poll(reddit, store, scorer, NOW + timedelta(minutes=5))

    assert failed.error == (
        "reddit: the app credentials were refused (401); check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"
    )
    assert store.retry_at("reddit") == NOW + timedelta(minutes=5, hours=1)  # not retried soon
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    health = json.dumps(store.health_of("reddit"))
    for secret in [SECRET, basic, *fake.tokens]:
        assert secret not in caplog.text and secret not in failed.error and secret not in health
    assert "reddit: fetched" in caplog.text  # the logs were captured at all


def test_a_wrong_secret_fails_on_the_token_request(fake, store, scorer):
    wrong = listener(fake, env={**ENV, "REDDIT_CLIENT_SECRET": "not-it"})

    failed = poll(wrong, store, scorer)

    assert failed.error and "REDDIT_CLIENT_SECRET" in failed.error and "not-it" not in failed.error
    assert [c.status for c in fake.requests] == [401]  # nothing but the refused token request


# ---- a process killed between pages -------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import socket, sys
    from datetime import datetime

    real = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror("test guard: " + str(host))
        return real(host, *args, **kwargs)

    socket.getaddrinfo = local_only

    from bot.models import Brand
    from bot.pipeline import poll_once
    from bot.query import parse
    from bot.sentiment import make_scorer
    from bot.store import Store
    from listeners.reddit import RedditListener

    url, db, now, client_id, secret = sys.argv[1:6]
    options = RedditListener.Options(base_url=url, subreddits=["Meditation"])
    reddit = RedditListener.from_config(
        options, {"REDDIT_CLIENT_ID": client_id, "REDDIT_CLIENT_SECRET": secret})
    brands = {"mindful": Brand("mindful", "Mindful Health", "brand", parse("mindful"))}
    poll_once(reddit, brands, make_scorer("vader"), Store(db), datetime.fromisoformat(now))
    print("finished")
    """
)


def test_a_process_killed_between_pages_loses_and_doubles_nothing(fake, store, scorer, tmp_path):
    posts(fake, 2)
    reddit = listener(fake)
    poll(reddit, store, scorer)
    floor = state(store)["floor"]
    burst = posts(fake, 12)  # three pages: 5, 5, then 2 and the floor
    fake.pause_on_page(2)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, fake.url, store.path, (NOW + timedelta(minutes=5)).isoformat(),
         CLIENT_ID, SECRET],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert fake.wait_paused(timeout=30), child.stderr.read().decode() if child.poll() else "no page 2"
        assert len(stored(store)) == 2 + 5  # page 1 was committed before page 2 was asked for
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
        fake.release()
    assert child.returncode == -signal.SIGKILL
    assert state(store)["floor"] == floor  # the killed walk never stored a cursor

    result = poll(reddit, store, scorer, NOW + timedelta(minutes=10))

    assert result.error is None and result.new == 7  # page 1 again (deduplicated), 2, 3
    assert sorted(stored(store)) == sorted(fake.fullnames())  # every post exactly once
    assert store.count("mention_brands") == 14
    assert set(burst) <= set(stored(store))
    assert state(store) == {"floor": floor_of(fake)}
