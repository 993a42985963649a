"""The Bluesky listener: the real atproto SDK (httpx) over real HTTP to a fake PDS, through the
real pipeline and store. Nothing here mocks the SDK or httpx."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import MissingCredentials, RateLimited
from bot.models import Brand
from bot.normalise import MAX_TEXT
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.bluesky import BlueskyListener, load_cursor, searches, sort_at
from tests.fakes.bluesky import FakeBluesky, jwt

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HANDLE = "harkbot.bsky.social"
PASSWORD = "s3cr-etap-ppas-swrd"
ENV = {"BSKY_HANDLE": HANDLE, "BSKY_APP_PASSWORD": PASSWORD}
BRANDS = {"mindful": Brand("mindful", "Mindful Health", "brand", parse("mindful -spam"))}
SEARCH = "app.bsky.feed.searchPosts"
LOGIN = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


@pytest.fixture
def fake():
    with FakeBluesky(handle=HANDLE, password=PASSWORD) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    db = Store(tmp_path / "h.db")
    yield db
    db.close()


def listener(fake: FakeBluesky, env: dict[str, str] = ENV, **options) -> BlueskyListener:
    return BlueskyListener.from_config(BlueskyListener.Options(service_url=fake.url, **options), env)


def poll(bsky: BlueskyListener, store: Store, scorer, at: datetime = NOW):
    return poll_once(bsky, BRANDS, scorer, store, at)


def post(fake: FakeBluesky, n: int, word: str = "Mindful", **kwargs) -> list[str]:
    return [fake.add_post(f"{word} day {i}", handle=f"user{i}.bsky.social", **kwargs) for i in range(n)]


def stored(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT native_id FROM mentions ORDER BY native_id")]


def texts(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT text FROM mentions ORDER BY native_id")]


def cursor(store: Store) -> dict:
    return json.loads(store.cursor("bluesky") or "{}").get("searches", {})


def searched(fake: FakeBluesky) -> list[dict[str, str]]:
    return [c.params for c in fake.calls(SEARCH)]


def baseline(bsky: BlueskyListener, store: Store, scorer, fake: FakeBluesky) -> None:
    """A first walk reads the newest pages only (no backfill): give it one post to start at."""
    fake.add_post("mindful: where the walk starts")
    assert poll(bsky, store, scorer).error is None


# ---- the wire format and the happy path --------------------------------------------------


def test_search_posts_in_blueskys_wire_format(fake, store, scorer):
    first = fake.add_post("Mindful helps me sleep", handle="alice.bsky.social", did="did:plc:alice",
                          counts=(5, 2, 1, 1), langs=["en", "de"])
    fake.add_post("mindful spam spam")  # the brand excludes it
    fake.add_post("nothing to see")

    result = poll(listener(fake), store, scorer)

    assert (result.error, result.fetched, result.new) == (None, 1, 1)
    assert [c.endpoint for c in fake.requests] == [LOGIN, SEARCH]
    assert searched(fake) == [{"q": "mindful", "sort": "latest", "limit": "100"}]  # -spam is ours to check
    row = tuple(store.conn.execute("SELECT native_id, text, author, url, engagement, language FROM mentions").fetchone())
    assert row == (first, "Mindful helps me sleep", "alice.bsky.social",
                   "https://bsky.app/profile/did:plc:alice/post/" + first.rsplit("/", 1)[1], 9, "en")


def test_one_login_serves_every_poll(fake, store, scorer):
    bsky = listener(fake)
    for n in range(12):
        fake.add_post(f"mindful {n}")
        assert poll(bsky, store, scorer, NOW + timedelta(minutes=5 * n)).error is None
    fake.fail_next(1, status=503)
    assert poll(bsky, store, scorer, NOW + timedelta(hours=2)).error
    assert poll(bsky, store, scorer, NOW + timedelta(hours=3)).error is None
    assert fake.logins == 1
    assert len(fake.calls(SEARCH)) == 14
    assert len(stored(store)) == 12


def test_an_access_token_about_to_expire_is_refreshed_not_logged_in_again(fake, store, scorer):
    fake.next_access_ttl = 600  # inside the SDK's 15 minutes: refreshed before the first search
    bsky = listener(fake)
    for n in range(4):
        fake.add_post(f"mindful {n}")
        assert poll(bsky, store, scorer, NOW + timedelta(minutes=5 * n)).error is None
    assert (fake.logins, len(fake.calls(REFRESH))) == (1, 1)
    assert [c.status for c in fake.calls(SEARCH)] == [200] * 4
    assert len(stored(store)) == 4


def test_an_expired_refresh_token_logs_in_again_once(store, scorer):
    with FakeBluesky(handle=HANDLE, password=PASSWORD, access_ttl=600) as fake:  # every call refreshes
        bsky = listener(fake)
        fake.add_post("mindful one")
        assert poll(bsky, store, scorer).error is None
        fake.expire_refresh_tokens()
        fake.add_post("mindful two")

        result = poll(bsky, store, scorer, NOW + timedelta(minutes=10))

        assert (result.error, result.new) == (None, 1)
        assert fake.logins == 2
        assert [c.error for c in fake.calls(REFRESH)][-3:] == [None, "ExpiredToken", None]


@pytest.mark.parametrize("revoke", ["revoke", "expire_access_tokens"])
def test_a_revoked_session_logs_in_again_once_and_goes_on(fake, store, scorer, revoke):
    bsky = listener(fake)
    fake.add_post("mindful one")
    assert poll(bsky, store, scorer).error is None
    getattr(fake, revoke)()
    fake.add_post("mindful two")

    result = poll(bsky, store, scorer, NOW + timedelta(minutes=10))

    assert (result.error, result.new) == (None, 1)
    assert fake.logins == 2
    assert [c.status for c in fake.calls(SEARCH)] == [200, 401 if revoke == "revoke" else 400, 200]
    for n in range(3):
        assert poll(bsky, store, scorer, NOW + timedelta(minutes=15 + 5 * n)).error is None
    assert fake.logins == 2


def test_a_session_refused_right_after_login_is_a_credentials_error_not_a_login_loop(fake, store, scorer):
    bsky = listener(fake)
    fake.fail_next(2, status=401, error="InvalidToken", message="Token could not be verified")

    result = poll(bsky, store, scorer)

    assert result.error == ("bluesky: the server refused the session right after logging in (InvalidToken); "
                            "check BSKY_HANDLE and BSKY_APP_PASSWORD")
    assert fake.logins == 1  # the first login was minutes ago: not again
    assert store.retry_at("bluesky") - NOW == timedelta(hours=1)
    fake.fail_next(2, status=401, error="InvalidToken", message="Token could not be verified")
    later = poll(bsky, store, scorer, NOW + timedelta(hours=1))
    assert later.error and "right after logging in" in later.error
    assert fake.logins == 2  # once more, an hour on, and still once


def test_a_wrong_app_password_names_both_variables_and_is_not_retried(fake, store, scorer):
    result = poll(listener(fake, env={**ENV, "BSKY_APP_PASSWORD": "wrong-pass-word"}), store, scorer)
    assert result.error == ("bluesky: the login was refused (AuthenticationRequired); "
                            "check BSKY_HANDLE and BSKY_APP_PASSWORD")
    assert fake.logins == 1 and fake.calls(SEARCH) == []
    assert store.retry_at("bluesky") - NOW == timedelta(hours=1)


def test_a_login_the_server_failed_is_tried_again_next_poll(fake, store, scorer):
    bsky = listener(fake)
    fake.fail_login_next(1, status=502, error="UpstreamFailure", message="Upstream Failure")
    fake.add_post("mindful")
    first = poll(bsky, store, scorer)
    assert first.error and "while logging in" in first.error and "will retry" in first.error
    assert store.retry_at("bluesky") - NOW == timedelta(minutes=1)
    later = poll(bsky, store, scorer, NOW + timedelta(minutes=1))
    assert (later.error, later.new) == (None, 1)
    assert fake.logins == 2


def test_logging_in_per_poll_would_hit_the_create_session_limit(fake):
    """Why the session is kept: the 31st login in 5 minutes is refused, and says until when."""
    for _ in range(30):
        listener(fake).session.login(NOW)
    with pytest.raises(RateLimited) as caught:
        listener(fake).session.login(NOW)
    assert "429, policy 30;w=300" in str(caught.value)
    assert 250 <= caught.value.retry_after <= 301


def test_missing_credentials_name_every_variable():
    with pytest.raises(MissingCredentials) as info:
        BlueskyListener.from_config(BlueskyListener.Options(), {"BSKY_HANDLE": "x.bsky.social"})
    assert info.value.variables == ["BSKY_APP_PASSWORD"]
    with pytest.raises(MissingCredentials) as info:
        BlueskyListener.from_config({}, {})
    assert str(info.value) == "bluesky: skipped, set BSKY_HANDLE, BSKY_APP_PASSWORD to enable it"


def test_no_password_or_token_is_ever_logged(fake, store, scorer, caplog):
    caplog.set_level(logging.DEBUG)
    fake.next_access_ttl = 600
    bsky = listener(fake)
    fake.add_post("mindful")
    assert poll(bsky, store, scorer).error is None
    fake.revoke()
    assert poll(bsky, store, scorer, NOW + timedelta(minutes=10)).error is None
    assert poll(listener(fake, env={**ENV, "BSKY_APP_PASSWORD": "wrong-but-secret"}), store, scorer,
                NOW + timedelta(hours=2)).error
    assert fake.logins == 3
    assert PASSWORD not in caplog.text and "wrong-but-secret" not in caplog.text
    tokens = [bsky.session.client.export_session_string().split(":::")[i] for i in (2, 3)]
    assert not any(t in caplog.text for t in tokens)
    assert "eyJ" not in caplog.text  # no JWT at all


# ---- paging, since and the cursor across runs ----------------------------------------------


def test_pages_and_since_across_runs_nothing_lost_nothing_doubled(fake, store, scorer):
    bsky = listener(fake, limit=3, max_pages=2)
    baseline(bsky, store, scorer, fake)  # 09:01
    uris = post(fake, 10)  # 09:02 ... 09:11

    first = poll(bsky, store, scorer)
    assert (first.error, first.fetched) == (None, 6)  # two pages, newest first: 09:11 ... 09:06
    assert [p.get("cursor") for p in searched(fake)[1:]] == [None, "3"]
    assert searched(fake)[1]["since"] == "2026-03-02T08:56:00.000Z"  # the baseline's 09:01 less 5 minutes
    runs = [poll(bsky, store, scorer) for _ in range(3)]
    assert [(r.error, r.fetched) for r in runs] == [(None, 2), (None, 2), (None, 0)]

    # Each post was sent on once, whatever the pages and runs.
    assert first.fetched + sum(r.fetched for r in runs) == 10
    assert set(uris) <= set(stored(store)) and len(stored(store)) == 11
    second = searched(fake)[3:5]
    # Again from the newest read, less the overlap (which re-reads at most half a walk's pages:
    # 3 posts), then the backlog the first walk left, below where it stopped (until is exclusive).
    assert second[0] == {"q": "mindful", "sort": "latest", "limit": "3", "since": "2026-03-02T09:09:00.000Z"}
    assert second[1] == {"q": "mindful", "sort": "latest", "limit": "3", "since": "2026-03-02T08:56:00.000Z",
                         "until": "2026-03-02T09:06:00.001Z"}
    assert "backlog" not in cursor(store)["mindful"]


def test_ties_at_the_boundary_and_late_indexed_posts_are_kept(fake, store, scorer):
    bsky = listener(fake, limit=2, max_pages=5)
    baseline(bsky, store, scorer, fake)
    tie = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    early = [fake.add_post(f"mindful tie {i}", created_at=tie) for i in range(3)]  # one millisecond, three posts
    first = poll(bsky, store, scorer)
    assert (first.error, first.fetched) == (None, 3)
    # Two more in the same millisecond, and one created 3 minutes earlier: indexed after the walk.
    late = [fake.add_post(f"mindful tie late {i}", created_at=tie) for i in range(2)]
    late.append(fake.add_post("mindful indexed late", created_at=tie - timedelta(minutes=3),
                              indexed_at=tie + timedelta(minutes=4)))

    second = poll(bsky, store, scorer)

    assert (second.error, second.fetched) == (None, 3)  # only the three new: the tied three not again
    assert set(early + late) <= set(stored(store))
    assert len(stored(store)) == 7
    mark = cursor(store)["mindful"]
    assert set(early + late) <= set(mark["seen"])  # the boundary's URIs are kept to skip next time


def test_a_walk_failing_midway_keeps_its_pages_and_resumes_there(fake, store, scorer):
    bsky = listener(fake, limit=2, max_pages=5)
    baseline(bsky, store, scorer, fake)
    uris = post(fake, 6)
    fake.fail_next(1, status=502, error="UpstreamFailure", message="Upstream Failure", after=1)

    result = poll(bsky, store, scorer)

    assert result.error and "(502" in result.error and result.fetched == 2
    later = poll(bsky, store, scorer, NOW + timedelta(minutes=2))
    assert (later.error, later.fetched) == (None, 4)
    assert set(uris) <= set(stored(store)) and len(stored(store)) == 7


def test_each_or_branch_is_one_search_and_a_post_found_twice_is_one_mention(fake, store, scorer):
    brands = {"m": Brand("m", "M", "brand", parse('"mindful health" OR calmapp'))}
    both = fake.add_post("Mindful Health, now in calmapp")
    fake.add_post("calmapp only")
    fake.add_post("mindful, not health")
    result = poll_once(listener(fake), brands, scorer, store, NOW)
    assert (result.error, result.fetched) == (None, 2)
    assert sorted(p["q"] for p in searched(fake)) == ['"mindful health"', "calmapp"]
    assert both in stored(store)


def test_lang_is_sent_and_opted_out_authors_are_skipped(fake, store, scorer):
    fake.add_post("mindful in english", langs=["en"])
    fake.add_post("mindful auf deutsch", langs=["de"])
    fake.add_post("mindful, please no", labels=("!no-unauthenticated",))
    result = poll(listener(fake, lang="en"), store, scorer)
    assert (result.error, result.new) == (None, 1)
    assert texts(store) == ["mindful in english"]
    assert searched(fake)[0]["lang"] == "en"


# ---- hostile content ----------------------------------------------------------------------


def test_hostile_text_is_stored_as_the_plain_text_typed(fake, store, scorer):
    bsky = listener(fake)
    baseline(bsky, store, scorer, fake)
    big = "mindful " + "x" * 100_000
    hostile = ['mindful <script>alert("owned")</script> <b>bold</b> &lt;', "mindful <!channel> <@U123> *bold* `code`",
               "\u202eluferdnim\u202c mindful \u05e9\u05dc\u05d5\u05dd", big]
    for text in hostile:
        fake.add_post(text)
    fake.add_post("mindful", uri="javascript:alert(1)")  # not an AT-URI: no link made of it

    result = poll(bsky, store, scorer)

    assert result.error is None and result.new == 4
    got = texts(store)
    for text in hostile[:3]:
        assert text in got  # Bluesky text is plain: nothing decoded, stripped or added
    assert big[:MAX_TEXT] in got
    urls = [r[0] for r in store.conn.execute("SELECT url FROM mentions")]
    assert all(u.startswith("https://bsky.app/profile/did:plc:") for u in urls)


def test_poison_posts_are_skipped_and_the_walk_goes_on(fake, store, scorer):
    bsky = listener(fake)
    baseline(bsky, store, scorer, fake)
    poison = [fake.add_post("mindful") for _ in range(4)]
    fake.override(poison[0], record={"text": {"html": "mindful"}})
    fake.override(poison[1], author=["not", "an", "author"], likeCount="NaN", uri=7)
    fake.override(poison[2], record="mindful", indexedAt=None)
    fake.override(poison[3], repostCount=1e300, record={"text": "mindful", "createdAt": "yesterday", "langs": "en",
                                                        "reply": "yes"})
    good = fake.add_post("mindful and well")

    result = poll(bsky, store, scorer)

    assert result.error is None
    assert good in stored(store)
    assert poison[3] in stored(store)  # an odd date and counts, but readable: dated when indexed


# ---- the fault matrix ---------------------------------------------------------------------


def test_a_429_rests_until_ratelimit_reset_and_nothing_is_lost(fake, store, scorer):
    bsky = listener(fake)
    baseline(bsky, store, scorer, fake)
    before = store.cursor("bluesky")
    uris = post(fake, 2)
    fake.rate_limit_next(1, reset=120)

    result = poll(bsky, store, scorer)

    assert result.error and "rate limited while searching (429, policy 3000;w=300)" in result.error
    assert store.cursor("bluesky") == before
    assert 100 <= (store.retry_at("bluesky") - NOW).total_seconds() <= 121
    assert poll(bsky, store, scorer, NOW + timedelta(seconds=30)).skipped
    later = poll(bsky, store, scorer, NOW + timedelta(seconds=125))
    assert (later.error, later.new) == (None, 2)
    assert set(uris) <= set(stored(store))


def test_a_429_without_headers_rests_a_minute(fake):
    fake.rate_limit_next(1, reset=None)
    with pytest.raises(RateLimited) as caught:
        list(listener(fake).fetch(list(BRANDS.values()), None, NOW))
    assert caught.value.retry_after == 60


def test_a_spent_window_stops_the_walk_before_the_server_must_refuse(fake, store, scorer):
    bsky = listener(fake, limit=2, max_pages=5)
    baseline(bsky, store, scorer, fake)
    post(fake, 6)
    fake.set_remaining(2, reset=90)

    result = poll(bsky, store, scorer)

    assert result.error and "window is spent" in result.error
    assert result.new == 4  # the two pages the window allowed are stored
    assert [c.status for c in fake.calls(SEARCH)][-2:] == [200, 200]  # no request was refused
    assert 60 <= (store.retry_at("bluesky") - NOW).total_seconds() <= 91


@pytest.mark.parametrize("status, error, retryable", [
    (500, "InternalServerError", True), (502, "UpstreamFailure", True), (503, "NotEnoughResources", True),
    (400, "InvalidRequest", False), (404, "NotFound", False), (403, "Forbidden", False)])
def test_xrpc_errors_say_whether_to_retry(fake, store, scorer, status, error, retryable):
    fake.fail_next(1, status=status, error=error, message="the server's words")
    result = poll(listener(fake), store, scorer)
    assert result.error and f"({status}" in result.error and f"{error}: the server's words" in result.error
    assert (store.retry_at("bluesky") - NOW) == (timedelta(minutes=1) if retryable else timedelta(hours=1))
    assert fake.logins == 1


def test_a_bad_query_is_a_clear_error_naming_what_to_fix(fake, store, scorer):
    fake.fail_next(1, status=400, error="InvalidRequest", message="malformed query: unbalanced quotes")
    result = poll(listener(fake), store, scorer)
    assert result.error == ("bluesky: Bluesky refused the request while searching (400: InvalidRequest: malformed "
                            "query: unbalanced quotes); check the brand queries and listeners.bluesky options")


def test_a_slow_answer_times_out_and_is_retried(fake, store, scorer):
    bsky = listener(fake, timeout=0.3)
    bsky.session.login(NOW)
    fake.delay_next(1, seconds=1.5)
    result = poll(bsky, store, scorer)
    assert result.error == "bluesky: no answer in time while searching; will retry"
    assert store.retry_at("bluesky") - NOW == timedelta(minutes=1)


def test_malformed_json_is_an_unreadable_answer(fake, store, scorer):
    fake.malformed_next(1)
    result = poll(listener(fake), store, scorer)
    assert result.error == "bluesky: an unreadable answer (not JSON); will retry"


def test_a_server_that_is_not_there_is_a_network_error(store, scorer):
    with FakeBluesky() as gone:
        url = gone.url
    bsky = BlueskyListener.from_config(BlueskyListener.Options(service_url=url), ENV)
    result = poll(bsky, store, scorer)
    assert result.error == "bluesky: network error while logging in; will retry"


def test_an_unreadable_cursor_starts_afresh():
    assert load_cursor("not json") == {}
    assert load_cursor('{"searches": {"a": {"after": "x", "seen": {"u": 1, "v": "2"}}}}')["a"].seen == {"u": 1}


# ---- options, plan, pure parts ------------------------------------------------------------


def test_options_validate():
    options = BlueskyListener.Options(service_url="https://pds.example.com/xrpc/", lang="pt-BR")
    assert options.service_url == "https://pds.example.com"
    for bad in ({"limit": 101}, {"limit": 0}, {"base_url": "http://x"}, {"service_url": "bsky.social"},
                {"lang": "english please"}, {"max_pages": 0}, {"timeout": 301}):
        with pytest.raises(ValidationError):
            BlueskyListener.Options(**bad)


def test_plan_counts_searches_against_3000_per_5_minutes():
    brands = [Brand("m", "M", "brand", parse('"mindful health" OR #calmapp')), Brand("c", "C", "competitor", parse("calm"))]
    plan = BlueskyListener.plan({"max_pages": 2}, brands)
    # 3 searches x 2 pages x 288 runs; 3,000 requests / 5 minutes is 864,000 a day
    assert (plan.used, plan.budget, plan.fits) == (1728, 864_000, True)
    assert "3 searches for 2 brands" in plan.detail and "log-in per process start" in plan.detail


def test_brand_queries_as_bluesky_searches():
    def of(query: str, limit: int = 10) -> list[str]:
        return searches(Brand("m", "M", "brand", parse(query)), limit)

    assert of("mindful -spam") == ["mindful"]
    assert of('("mindful health" OR mindfulhealth) calm*') == ['"mindful health" calm', "mindfulhealth calm"]
    assert of("#CalmApp OR @joe") == ["calmapp", "joe"]
    assert of("a (b OR c) (d OR e)") == ["a b d", "a b e", "a c d", "a c e"]
    assert of("a (b OR c) (d OR e)", limit=2) == ["a"]  # covered more broadly: by its part with fewest branches


def test_to_mention_reads_a_post_view():
    to = BlueskyListener.to_mention
    view = {"uri": "at://did:plc:al/app.bsky.feed.post/3kabc", "cid": "bafy",
            "author": {"did": "did:plc:al", "handle": "al.bsky.social", "followersCount": 42},
            "record": {"text": "Hi there", "createdAt": "2026-03-02T10:00:00.123456Z", "langs": ["pt"],
                       "reply": {"parent": {"uri": "at://did:plc:bo/app.bsky.feed.post/1"}}},
            "likeCount": 1, "repostCount": 2, "replyCount": 3, "quoteCount": "4", "indexedAt": "2026-03-02T10:00:01Z"}
    m = to(view)
    assert (m.id, m.text, m.author, m.url, m.kind, m.engagement, m.author_reach, m.language) == (
        view["uri"], "Hi there", "al.bsky.social", "https://bsky.app/profile/did:plc:al/post/3kabc", "comment",
        10, 42, "pt")
    assert m.created_at == datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert m.metrics == {"likes": 1, "reposts": 2, "replies": 3, "quotes": 4}
    future = {**view, "record": {**view["record"], "createdAt": "2099-01-01T00:00:00Z"}}
    assert to(future).created_at == datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC)  # when it was indexed
    assert to({**view, "record": {**view["record"], "createdAt": "soon"}}).created_at == to(future).created_at
    assert to({**view, "author": {"did": "did:plc:al", "handle": "handle.invalid"}}).author == "did:plc:al"
    by_handle = to({**view, "uri": "at://al.bsky.social/app.bsky.feed.post/3kabc"})
    assert by_handle.url == "https://bsky.app/profile/al.bsky.social/post/3kabc"
    for broken in (None, [], {}, {**view, "uri": "at://did:plc:al/app.bsky.feed.like/3kabc"},
                   {**view, "uri": "https://evil.example/x"}, {**view, "record": {"text": " "}},
                   {**view, "indexedAt": None, "record": {"text": "x", "createdAt": None}}):
        assert to(broken) is None


def test_sort_at_is_the_earlier_of_created_and_indexed():
    assert sort_at({"record": {"createdAt": "2026-01-01T00:00:00Z"}, "indexedAt": "2026-01-01T00:00:05Z"}) == \
        datetime(2026, 1, 1, tzinfo=UTC)
    assert sort_at({"record": "x", "indexedAt": "2026-01-01T00:00:05Z"}) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_the_fakes_tokens_are_jwts_the_sdk_reads():
    from atproto_server.auth.jwt import get_jwt_payload

    assert get_jwt_payload(jwt({"exp": 123, "sub": "did:plc:x"}, "at+jwt")).exp == 123
