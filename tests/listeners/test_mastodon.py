"""The Mastodon listener: the real Mastodon.py over real HTTP to fake Mastodon servers, through
the real pipeline and store. Nothing here mocks Mastodon.py or requests."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import RateLimited
from bot.models import Brand
from bot.normalise import MAX_TEXT
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.mastodon import MastodonListener, brand_tags, search_texts
from listeners.mastodon_client import mastodon_error
from listeners.mastodon_walk import SourceState, load_cursor
from tests.fakes.mastodon import FakeMastodon

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TOKEN = "s3cr3t-mastodon-token-do-not-log"
ENV = {"MASTODON_TOKEN": TOKEN}
BRANDS = {"mindful": Brand("mindful", "Mindful Health", "brand", parse("mindful -spam"))}


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


@pytest.fixture
def fake():
    with FakeMastodon(token=TOKEN) as server:
        yield server


@pytest.fixture
def other():
    with FakeMastodon(token="token-of-the-other-server") as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    db = Store(tmp_path / "h.db")
    yield db
    db.close()


def listener(*servers: FakeMastodon, env: dict[str, str] = ENV, **options) -> MastodonListener:
    instances = options.pop("instances", [s.url for s in servers])
    return MastodonListener.from_config(MastodonListener.Options(instances=instances, **options), env)


def poll(mastodon: MastodonListener, store: Store, scorer, at: datetime = NOW):
    return poll_once(mastodon, BRANDS, scorer, store, at)


def post(fake: FakeMastodon, n: int, word: str = "Mindful") -> list[str]:
    return [fake.add_status(f'<p>{word} day {i} <a href="{fake.url}/tags/mindful" class="mention hashtag">'
                            f'#<span>mindful</span></a></p>', tags=["mindful"], acct=f"user{i}")
            for i in range(n)]


def stored(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT native_id FROM mentions ORDER BY native_id")]


def texts(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT text FROM mentions ORDER BY native_id")]


def cursor(store: Store) -> dict:
    return json.loads(store.cursor("mastodon") or "{}").get("sources", {})


def key_of(fake: FakeMastodon, local_id: str) -> str:
    return f"{fake.host}/users/{fake._status(local_id)['account']['username']}/statuses/{local_id}"


def baseline(mastodon: MastodonListener, store: Store, scorer, fake: FakeMastodon) -> None:
    """A first walk reads the newest page only (no backfill): give it one status to start at."""
    fake.add_status("<p>mindful: where the walk starts</p>", tags=["mindful"])
    assert poll(mastodon, store, scorer).error is None


# ---- the wire format and the happy path --------------------------------------------------


def test_hashtag_timeline_without_a_token_in_mastodons_wire_format(fake, store, scorer, caplog):
    ids = post(fake, 3)
    fake.add_status("<p>#mindful spam spam</p>", tags=["mindful"])  # tagged, but the brand excludes it
    caplog.set_level(logging.INFO, logger="listeners.mastodon")

    result = poll(listener(fake, env={}), store, scorer)

    assert (result.error, result.fetched, result.new) == (None, 3, 3)
    assert stored(store) == sorted(key_of(fake, i) for i in ids)
    assert "no access token (set MASTODON_TOKEN to search too): reading hashtag timelines only" in caplog.text
    tag = fake.calls("tag")
    assert [(c.path, c.params, c.token) for c in tag] == [("/api/v1/timelines/tag/mindful", {"limit": "40"}, "")]
    assert fake.calls("search") == []  # no token, no search
    # What Mastodon.py asks on its own: the instance record, once.
    assert [c.path for c in fake.calls("instance")] == ["/api/v2/instance"]
    row = store.conn.execute("SELECT text, author, url FROM mentions ORDER BY native_id LIMIT 1").fetchone()
    assert row[0] == "Mindful day 0 #mindful"
    assert row[1] == f"user0@{fake.host}"
    assert row[2] == f"{fake.url}/@user0/{ids[0]}"


def test_with_a_token_the_brand_is_searched_too_and_each_status_stored_once(fake, store, scorer):
    mastodon = listener(fake)
    baseline(mastodon, store, scorer, fake)
    tagged = post(fake, 2)
    untagged = fake.add_status("<p>I like Mindful, no tag here</p>")  # only search finds it

    result = poll(mastodon, store, scorer)

    assert result.error is None and result.new == 3
    assert set(stored(store)) >= {key_of(fake, i) for i in [*tagged, untagged]}
    search = fake.calls("search")[-1]
    assert search.token == TOKEN and search.params["q"] == "mindful" and search.params["type"] == "statuses"
    assert "resolve" not in search.params  # resolve=False: no WebFinger on our behalf
    assert set(cursor(store)) == {f"{fake.host} #mindful", f"{fake.host} search mindful"}


def test_the_min_id_cursor_pages_up_across_runs_nothing_lost_nothing_doubled(fake, store, scorer):
    mastodon = listener(fake, env={}, limit=3, max_pages=2)
    baseline(mastodon, store, scorer, fake)
    ids = post(fake, 10)

    first = poll(mastodon, store, scorer)
    assert (first.error, first.new) == (None, 6)  # two pages of 3 upwards from the floor
    assert cursor(store)[f"{fake.host} #mindful"] == {"min_id": ids[5]}
    second = poll(mastodon, store, scorer)
    assert (second.error, second.new) == (None, 4)
    third = poll(mastodon, store, scorer)
    assert (third.error, third.new, third.fetched) == (None, 0, 0)

    keys = stored(store)
    assert len(keys) == len(set(keys)) == 11
    assert {key_of(fake, i) for i in ids} <= set(keys)
    # Each page after the first starts where the Link rel="prev" of the one before said.
    mins = [c.params.get("min_id") for c in fake.calls("tag")[1:]]
    assert mins == [fake.statuses[0]["id"], ids[2], ids[5], ids[8], ids[9]]


def test_an_unfinished_search_resumes_below_where_it_stopped(fake, store, scorer):
    mastodon = listener(fake, limit=3, max_pages=2)
    baseline(mastodon, store, scorer, fake)
    ids = [fake.add_status(f"<p>mindful untagged {i}</p>") for i in range(8)]  # search finds these

    first = poll(mastodon, store, scorer)
    assert (first.error, first.new) == (None, 6)
    state = cursor(store)[f"{fake.host} search mindful"]
    assert state == {"min_id": fake.statuses[0]["id"], "top": ids[-1], "max_id": ids[2]}
    second = poll(mastodon, store, scorer)
    assert (second.error, second.new) == (None, 2)
    assert cursor(store)[f"{fake.host} search mindful"] == {"min_id": ids[-1]}
    assert {key_of(fake, i) for i in ids} <= set(stored(store))
    assert len(stored(store)) == 9


def test_two_servers_with_colliding_local_ids_are_kept_apart(fake, other, store, scorer):
    mine, theirs = fake.add_status("<p>mindful here</p>", tags=["mindful"]), \
        other.add_status("<p>mindful there</p>", tags=["mindful"])
    assert mine == theirs  # the same local id on two servers
    shared = "https://elsewhere.example/users/zed/statuses/42"
    fake.add_status("<p>mindful, federated to both</p>", tags=["mindful"], domain="elsewhere.example", uri=shared)
    other.add_status("<p>mindful, federated to both</p>", tags=["mindful"], domain="elsewhere.example", uri=shared)

    result = poll(listener(fake, other, env={}), store, scorer)

    assert result.error is None
    assert stored(store) == sorted([key_of(fake, mine), key_of(other, theirs), "elsewhere.example/users/zed/statuses/42"])
    assert set(cursor(store)) == {f"{fake.host} #mindful", f"{other.host} #mindful"}


def test_a_boost_is_counted_once_as_its_original(store, scorer):
    with FakeMastodon(token=TOKEN, boosts_in_timelines=True) as server:
        original = server.add_status("<p>mindful original</p>", tags=["mindful"], acct="alice")
        server.add_status("", acct="bob", reblog_of=original)
        server.add_status("", acct="carol", reblog_of=original)

        result = poll(listener(server, env={}), store, scorer)

        assert (result.error, result.new) == (None, 1)
        assert stored(store) == [key_of(server, original)]


def test_accounts_that_opted_out_are_not_read(fake, store, scorer, tmp_path):
    fake.add_status("<p>mindful, fine to read</p>", tags=["mindful"], acct="ok")
    fake.add_status("<p>mindful from a nobot</p>", tags=["mindful"], acct="nb", note="<p>I block bots. #NoBot</p>")
    fake.add_status("<p>mindful from a noindex</p>", tags=["mindful"], acct="ni", noindex=True)

    result = poll(listener(fake, env={}), store, scorer)
    assert (result.error, result.new) == (None, 1)
    assert texts(store) == ["mindful, fine to read"]
    fresh = Store(tmp_path / "fresh.db")
    assert poll(listener(fake, env={}, respect_opt_outs=False), fresh, scorer).new == 3
    fresh.close()


def test_the_token_is_never_logged(fake, store, scorer, caplog):
    caplog.set_level(logging.DEBUG)
    post(fake, 2)
    assert poll(listener(fake), store, scorer).error is None
    fake.fail_next(1)
    assert poll(listener(fake), store, scorer, NOW + timedelta(hours=2)).error
    assert TOKEN not in caplog.text


# ---- hostile content ----------------------------------------------------------------------


def test_hostile_content_arrives_as_plain_text(fake, store, scorer):
    mastodon = listener(fake, env={})
    baseline(mastodon, store, scorer, fake)
    big = "mindful " + "x" * 100_000
    fake.add_status('<p>mindful <script>alert("owned")</script><b>bold</b></p><p>&lt;script&gt;typed&lt;/script&gt;'
                    " &lt;!channel&gt; &amp;lt;</p>", tags=["mindful"])
    fake.add_status("<p>\u202eluferdnim\u202c mindful \u05e9\u05dc\u05d5\u05dd</p>", tags=["mindful"])
    fake.add_status(f"<p>{big}</p>", tags=["mindful"])
    fake.add_status("<p>mindful</p>", tags=["mindful"], url="javascript:alert(1)", uri="javascript:alert(2)")

    result = poll(mastodon, store, scorer)

    assert result.error is None and result.new == 4
    got = texts(store)
    # A script's content never shows on a page, so it is not text; typed markup is the words typed.
    assert 'mindful bold\n\n<script>typed</script> <!channel> &lt;' in got
    assert "\u202eluferdnim\u202c mindful \u05e9\u05dc\u05d5\u05dd" in got
    assert big[:MAX_TEXT] in got  # the whole status reached the pipeline, which stores 40,000 characters
    assert not any("<b>" in t or "<p>" in t or "</script>" in t.replace("<script>typed</script>", "") for t in got)
    urls = [r[0] for r in store.conn.execute("SELECT url FROM mentions")]
    assert not any(u.startswith("javascript:") for u in urls)


# ---- the fault matrix ---------------------------------------------------------------------


def test_a_429_rests_until_x_ratelimit_reset_and_nothing_is_lost(fake, store, scorer):
    mastodon = listener(fake, env={})
    baseline(mastodon, store, scorer, fake)
    before = store.cursor("mastodon")
    ids = post(fake, 2)
    fake.rate_limit_next(1, reset=120)

    result = poll(mastodon, store, scorer)

    assert result.error and "rate limited (429)" in result.error
    assert store.cursor("mastodon") == before
    rest = (store.retry_at("mastodon") - NOW).total_seconds()
    assert 100 <= rest <= 121
    assert poll(mastodon, store, scorer, NOW + timedelta(seconds=30)).skipped
    later = poll(mastodon, store, scorer, NOW + timedelta(seconds=125))
    assert (later.error, later.new) == (None, 2)
    assert {key_of(fake, i) for i in ids} <= set(stored(store))


def test_a_429_without_headers_rests_a_minute(fake):
    fake.rate_limit_next(1, reset=None)
    with pytest.raises(RateLimited) as caught:
        list(listener(fake, env={}).fetch(list(BRANDS.values()), None, NOW))
    assert caught.value.retry_after == 60


def test_a_spent_window_stops_the_walk_before_the_server_must_refuse(fake, store, scorer):
    mastodon = listener(fake, env={}, limit=2, max_pages=5)
    baseline(mastodon, store, scorer, fake)
    post(fake, 6)
    fake.set_remaining(2, reset=90)

    result = poll(mastodon, store, scorer)

    assert result.error and "window is spent" in result.error
    assert result.new == 4  # the two pages the window allowed are stored
    assert [c.status for c in fake.calls("tag")][-2:] == [200, 200]  # no request was refused
    assert 60 <= (store.retry_at("mastodon") - NOW).total_seconds() <= 91


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (403, False), (422, False)])
def test_http_errors_say_whether_to_retry(fake, store, scorer, status, retryable):
    fake.fail_next(1, status=status)
    result = poll(listener(fake, env={}), store, scorer)
    assert result.error and f"({status})" in result.error and fake.host in result.error
    rest = store.retry_at("mastodon") - NOW
    assert rest == (timedelta(minutes=1) if retryable else timedelta(hours=1))


def test_a_refused_token_names_the_variable_and_is_not_retried(fake, store, scorer):
    result = poll(listener(fake, env={"MASTODON_TOKEN": "wrong-token"}), store, scorer)
    assert result.error == f"mastodon: {fake.host}: the access token was refused (401); check MASTODON_TOKEN"
    assert store.retry_at("mastodon") - NOW == timedelta(hours=1)


def test_a_server_that_wants_a_token_for_tags_says_so(store, scorer):
    with FakeMastodon(token=TOKEN, tags_need_token=True) as server:
        result = poll(listener(server, env={}), store, scorer)
    assert result.error and "asks for a token to read hashtag timelines (401)" in result.error


def test_a_slow_answer_times_out_and_is_retried(fake, store, scorer):
    fake.delay_next(1, seconds=1.5)
    result = poll(listener(fake, env={}, timeout=0.3), store, scorer)
    assert result.error == f"mastodon: {fake.host}: no answer in time; will retry"


def test_malformed_json_is_an_unreadable_answer(fake, store, scorer):
    fake.malformed_next(1)
    result = poll(listener(fake, env={}), store, scorer)
    assert result.error == f"mastodon: {fake.host}: an unreadable answer (not JSON); will retry"
    assert store.retry_at("mastodon") - NOW == timedelta(minutes=1)


def test_an_address_that_is_not_a_mastodon_api_is_not_retried(fake, store, scorer):
    result = poll(listener(fake, env={}, instances=[fake.url + "/not-mastodon"]), store, scorer)
    assert result.error and "not found (404)" in result.error


def test_a_walk_failing_midway_keeps_its_pages_and_resumes_there(fake, store, scorer):
    mastodon = listener(fake, env={}, limit=2, max_pages=5)
    baseline(mastodon, store, scorer, fake)
    ids = post(fake, 6)
    fake.fail_next(1, status=502, after=1)  # the first page answers; the second fails
    result = poll(mastodon, store, scorer)
    assert result.error and "(502)" in result.error and result.new == 2
    assert cursor(store)[f"{fake.host} #mindful"] == {"min_id": ids[1]}
    later = poll(mastodon, store, scorer, NOW + timedelta(minutes=2))
    assert (later.error, later.new) == (None, 4)
    assert len(stored(store)) == len(set(stored(store))) == 7


def test_one_server_down_does_not_lose_the_others_statuses(fake, other, store, scorer, caplog):
    mastodon = listener(fake, other, env={})
    fake.add_status("<p>mindful start</p>", tags=["mindful"])
    other.add_status("<p>mindful start</p>", tags=["mindful"])
    assert poll(mastodon, store, scorer).error is None
    down_before = cursor(store)[f"{fake.host} #mindful"]
    lost = post(fake, 2)
    fine = post(other, 2)
    fake.fail_next(1, status=503)

    result = poll(mastodon, store, scorer)

    assert (result.error, result.new) == (None, 2)  # the answering server's statuses
    assert {key_of(other, i) for i in fine} <= set(stored(store))
    assert cursor(store)[f"{fake.host} #mindful"] == down_before
    assert f"{fake.host}: server error (503); will retry (the other servers were read)" in caplog.text
    again = poll(mastodon, store, scorer)
    assert (again.error, again.new) == (None, 2)
    assert {key_of(fake, i) for i in lost} <= set(stored(store))


def test_every_server_down_fails_the_poll_with_both_reasons(fake, other, store, scorer):
    fake.fail_next(1, status=500)
    other.rate_limit_next(1, reset=30)
    result = poll(listener(fake, other, env={}), store, scorer)
    assert result.error and "server error (500)" in result.error and "rate limited (429)" in result.error


def test_an_unreadable_cursor_starts_afresh():
    assert load_cursor("not json") == {}
    assert load_cursor('{"sources": {"a #b": {"min_id": 5, "top": [1]}}}') == {"a #b": SourceState("5")}


# ---- options, plan, pure parts ------------------------------------------------------------


def test_options_validate_servers_and_tags():
    options = MastodonListener.Options(instances=["mastodon.social/", {"url": "http://127.0.0.1:8080"}],
                                       hashtags={"mindful": ["#MindfulHealth", "mindful"]})
    assert [s.url for s in options.instances] == ["https://mastodon.social", "http://127.0.0.1:8080"]
    assert options.hashtags == {"mindful": ["mindfulhealth", "mindful"]}
    for bad in ({"instances": ["a.example", "https://A.example/"]}, {"instances": ["ftp://x"]},
                {"base_url": "http://x"}, {"hashtags": {"m": ["#", "!!"]}}, {"limit": 41}):
        with pytest.raises(ValidationError):
            MastodonListener.Options(**bad)


def test_the_token_goes_to_the_first_server_only(fake, other, store, scorer):
    poll(listener(fake, other), store, scorer)
    assert {c.token for c in fake.requests} == {TOKEN}
    assert {c.token for c in other.requests} == {""}
    assert other.calls("search") == []


def test_plan_counts_requests_per_server_against_300_per_5_minutes():
    brands = [Brand("m", "M", "brand", parse('"mindful health" OR #calmapp')), Brand("c", "C", "competitor", parse("calm"))]
    plan = MastodonListener.plan({"instances": ["a.example", "b.example"], "max_pages": 2}, brands)
    # 3 tags + 3 searches, 2 pages each, 288 runs a day
    assert (plan.used, plan.budget, plan.fits) == (3456, 86_400, True)
    assert "3 hashtag timelines + 3 searches" in plan.detail


def test_where_a_brand_listens():
    brand = Brand("m", "M", "brand", parse('"mindful health" OR #CalmApp OR calm* OR @joe -spam'))
    assert brand_tags(brand, {}) == ["mindfulhealth", "calmapp", "calm"]
    assert brand_tags(brand, {"m": ["x"]}) == ["x"]
    assert search_texts(parse("mindful AND (app OR health) -spam")) == ["mindful"]
    assert search_texts(parse('"mindful health" OR calm')) == ['"mindful health"', "calm"]
    assert search_texts(parse("(a OR b) (c OR d)")) == ["a", "b"]


def test_to_mention_reads_a_status():
    to = MastodonListener.to_mention
    status = {"id": "7", "uri": "https://a.example/users/al/statuses/7", "url": "https://a.example/@al/7",
              "created_at": "2026-03-02T10:00:00+00:00", "content": "<p>Hi</p><p>there</p>", "spoiler_text": "cw",
              "in_reply_to_id": "6", "replies_count": 1, "reblogs_count": 2, "favourites_count": "3",
              "account": {"acct": "al", "followers_count": 9}, "instance": "a.example", "language": "en"}
    m = to(status)
    assert (m.id, m.text, m.title, m.author, m.kind, m.engagement, m.author_reach) == (
        "a.example/users/al/statuses/7", "Hi\n\nthere", "cw", "al@a.example", "comment", 6, 9)
    boost = {"id": "9", "instance": "b.example", "account": {"acct": "bo"}, "content": "", "reblog": status}
    assert to(boost).id == m.id and to(boost).raw["boosted_by"] == "bo"
    assert to({**status, "uri": None}).id == "a.example/7"
    for broken in (None, [], {}, {**status, "created_at": "never"}, {**status, "content": 5, "spoiler_text": None}):
        assert to(broken) is None


def test_rate_limit_error_without_a_reset_waits_a_minute():
    import mastodon

    error = mastodon_error(mastodon.MastodonRatelimitError("Hit rate limit."), "a.example", False)
    assert isinstance(error, RateLimited) and error.retry_after == 60
    odd = mastodon_error(mastodon.MastodonRatelimitError("Rate limit time calculations failed: x"), "a.example", False)
    assert not isinstance(odd, RateLimited) and odd.retryable


def test_poison_statuses_are_skipped_and_the_walk_goes_on(fake, store, scorer):
    mastodon = listener(fake, env={})
    baseline(mastodon, store, scorer, fake)
    poison = [fake.add_status("<p>mindful</p>", tags=["mindful"]) for _ in range(3)]
    fake.override(poison[0], content={"html": "<p>mindful</p>"})
    fake.override(poison[1], account=["not", "an", "account"], url=7, uri=None, reblog="yes")
    fake.override(poison[2], created_at="x", spoiler_text=["cw"], language=3, replies_count="NaN",
                  favourites_count=1e300, in_reply_to_id={"a": 1})
    good = fake.add_status("<p>mindful and well</p>", tags=["mindful"])

    result = poll(mastodon, store, scorer)

    assert result.error is None
    assert key_of(fake, good) in stored(store)
    assert cursor(store)[f"{fake.host} #mindful"] == {"min_id": good}
