"""The Hacker News listener: its pure parts (query translation, the cursor, payloads), then the
real listener over real HTTP against the fake Algolia HN Search in tests/fakes/hackernews.py,
through the real pipeline and a real SQLite file."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from bot.errors import ListenerError, RateLimited
from bot.models import Brand
from bot.pipeline import poll_once
from bot.query import parse
from bot.sentiment import make_scorer
from bot.store import Store
from listeners.hackernews import HackerNewsListener, algolia_error
from listeners.search_cursor import Mark, Reading, Span, dump_cursor, load_cursor
from listeners.hackernews_query import PREFIX_ALL, PREFIX_NONE, Search, searches
from tests.fakes.hackernews import START, FakeHN

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
T = START + 12 * 3600  # created_at_i of NOW
BRANDS = {
    "mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health" OR mindfulhealth')),
    "theranow": Brand("theranow", "TheraNow", "competitor", parse("theranow")),
}


def brand(query: str, exclude: str | None = None, key: str = "b") -> Brand:
    return Brand(key, key, "brand", parse(query), parse(exclude) if exclude else None)


# ---- query translation ----------------------------------------------------------------------


def keys(query: str, exclude: str | None = None, limit: int = 10, on_server: bool = False) -> list[str]:
    return [s.key for s in searches(brand(query, exclude), limit, on_server)]


def test_each_or_branch_is_one_algolia_query():
    assert searches(brand('("mindful health" OR mindfulhealth) app'), 10) == [
        Search('"mindful health" app', PREFIX_NONE), Search("mindfulhealth app", PREFIX_NONE)]
    assert keys("(a OR b) (c OR d)") == ["a c", "a d", "b c", "b d"]
    assert keys("a OR a") == ["a"]  # the same query once


def test_tags_and_handles_are_their_words_and_a_prefix_asks_for_prefix_all():
    assert keys("#calm OR @calmapp") == ["calm", "calmapp"]
    assert searches(brand("mindful*"), 10) == [Search("mindful", PREFIX_ALL)]


def test_exclusions_stay_with_harkbot_unless_asked_and_only_words_go_to_algolia():
    assert keys("mindful -spam") == ["mindful"]
    assert keys("mindful", exclude="spam OR ads") == ["mindful"]
    assert keys("mindful -spam", on_server=True) == ["mindful -spam"]
    assert keys("mindful", exclude="spam OR ads", on_server=True) == ["mindful -spam -ads"]
    # Algolia cannot exclude a phrase or a group: left to harkbot's own match.
    assert keys('mindful -"free trial" -(a b)', on_server=True) == ["mindful"]


def test_a_query_with_too_many_branches_is_searched_more_broadly_or_not_at_all():
    assert keys("(a OR b) (c OR d OR e) (f OR g)", limit=3) == ["a", "b"]  # the AND's smallest part
    assert keys("a (-x -y) (b OR c)", limit=1) == ["a"]
    assert keys("a OR b OR c OR d", limit=3) == []


def test_every_search_is_broader_than_its_brand():
    """What a brand matches, one of its searches finds (read with the fake's Algolia rules)."""
    from tests.fakes.hackernews import _matches

    cases = [('("mindful health" OR mindfulhealth) calm*', "Mindful Health made me calmer"),
             ("#calm -spam", "Loving #calm today"), ("(a OR b) (c OR d) (e OR f)", "b and d and f")]
    for query, text in cases:
        b = brand(query)
        assert b.matches(text)
        hit = {"title": text}
        assert any(_matches(s.query, hit, s.query_type) for s in searches(b, 3)), query


# ---- the cursor -----------------------------------------------------------------------------


def reading(*hits: tuple[str, int], seen: tuple[tuple[str, int], ...] = ()) -> Reading:
    read = Reading()
    for object_id, at in [*hits, *seen]:
        read.add(object_id, at, new=(object_id, at) in hits)
    return read


def test_a_complete_read_moves_the_mark_to_the_newest_and_keeps_the_overlap_ids():
    mark = Mark().read_fresh(Span(), reading(("1", 100), ("2", 100), ("3", 39)), complete=True, overlap=60)
    assert (mark.after, dict(mark.seen), mark.backlog) == (100, {"1": 100, "2": 100}, None)
    assert mark.fresh(60, room=10) == Span(40, None, {"1": 100, "2": 100})
    assert not mark.fresh(60, 10).is_new("1", 100) and mark.fresh(60, 10).is_new("4", 100)


def test_the_overlap_re_reads_at_most_room_hits():
    mark = Mark(after=100, seen={"1": 100, "2": 90, "3": 80, "4": 70})
    assert mark.fresh(60, room=2).lo == 90 and mark.fresh(60, room=4).lo == 40


def test_a_read_cut_short_leaves_a_backlog_that_later_reads_narrow_and_clear():
    mark = Mark(after=100, seen={"1": 100})
    span = mark.fresh(0, 10)
    mark = mark.read_fresh(span, reading(("9", 300), ("8", 250), ("7", 200)), complete=False, overlap=0)
    assert mark.after == 300 and mark.backlog == Span(100, 200, {"1": 100, "7": 200})
    narrowed = mark.read_backlog(reading(("6", 180), ("5", 150)), complete=False)
    assert narrowed.backlog == Span(100, 150, {"1": 100, "5": 150})
    assert narrowed.read_backlog(reading(("4", 120)), complete=True).backlog is None
    assert mark.read_backlog(Reading(), complete=False) == mark  # a failed first request: unchanged


def test_a_page_of_hits_read_before_still_moves_the_backlog_down():
    mark = Mark(after=300, seen={}, backlog=Span(100, 200, {"7": 200, "6": 190}))
    moved = mark.read_backlog(reading(seen=(("7", 200), ("6", 190))), complete=False)
    assert moved.backlog == Span(100, 190, {"6": 190})


def test_a_first_read_cut_short_leaves_no_backlog():
    mark = Mark().read_fresh(Span(), reading(("9", 300), ("8", 250)), complete=False, overlap=0)
    assert mark.after == 300 and mark.backlog is None  # a first walk reads the newest, not history


def test_the_cursor_round_trips_and_an_unreadable_one_starts_afresh(caplog):
    marks = {"q": Mark(100, {"1": 100}, Span(10, 90, {"2": 90}))}
    assert load_cursor(dump_cursor(marks)) == marks
    with caplog.at_level(logging.WARNING):
        assert load_cursor("not json") == {}
    assert "unreadable cursor" in caplog.text
    assert load_cursor('{"queries": {"q": {"after": "x", "seen": [1]}}}') == {"q": Mark()}


# ---- payloads ---------------------------------------------------------------------------------


def story(**fields) -> dict:
    return {"objectID": "8863", "created_at_i": 1_175_714_200, "created_at": "2007-04-04T19:16:40.000Z",
            "title": "My YC app: Dropbox &amp; friends", "url": "http://www.getdropbox.com/u/2/screencast.html",
            "author": "dhouston", "points": 111, "num_comments": 71, "story_text": None, "_tags": ["story"],
            "_highlightResult": {"title": {"value": "<em>Dropbox</em>"}}, **fields}


def comment(**fields) -> dict:
    return {"objectID": "8952", "created_at_i": 1_175_727_000, "author": "BrandonM",
            "comment_text": "<p>You can already build such a system yourself quite trivially&#x27;",
            "story_id": 8863, "story_title": "My YC app: Dropbox", "parent_id": 8863, "points": None,
            "_tags": ["comment", "author_BrandonM", "story_8863"], **fields}


def test_a_story_and_a_comment_as_mentions():
    post = HackerNewsListener.to_mention(story())
    assert (post.id, post.kind, post.title, post.text, post.author) == (
        "8863", "post", "My YC app: Dropbox & friends", "", "dhouston")
    assert post.url == "https://news.ycombinator.com/item?id=8863"
    assert (post.created_at, post.engagement, post.metrics) == (
        datetime(2007, 4, 4, 19, 16, 40, tzinfo=UTC), 182, {"points": 111, "num_comments": 71})
    assert "_highlightResult" not in post.raw and post.raw["url"].startswith("http://www.getdropbox")
    reply = HackerNewsListener.to_mention(comment())
    assert (reply.kind, reply.title, reply.text) == ("comment", "", "You can already build such a system yourself quite trivially'")
    assert reply.url == "https://news.ycombinator.com/item?id=8952" and reply.raw["story_title"] == "My YC app: Dropbox"


def test_markup_becomes_plain_text_and_typed_markup_stays_the_words_typed():
    text = ("&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; <i>really</i><p>See "
            '<a href="https://example.com/x" rel="nofollow">https://example.com/x</a><p><pre><code>  x = 1\n</code></pre>')
    mention = HackerNewsListener.to_mention(comment(comment_text=text))
    assert mention.text == "<script>alert(1)</script> <!channel> really\n\nSee https://example.com/x\n\n  x = 1"
    # A title has no markup on HN: what looks like a tag is its words.
    assert HackerNewsListener.to_mention(story(title="Why <script> tags block")).title == "Why <script> tags block"


@pytest.mark.parametrize("fields", [
    {"objectID": None}, {"objectID": "12 OR 1=1"}, {"objectID": ["1"]}, {"created_at_i": None, "created_at": None},
    {"created_at_i": "soon", "created_at": "not a time"}, {"title": None, "story_text": None},
])
def test_a_hit_without_what_a_mention_needs_is_none(fields):
    assert HackerNewsListener.to_mention(story(**fields)) is None


def test_created_at_stands_in_for_a_missing_created_at_i_and_an_int_id_is_read():
    mention = HackerNewsListener.to_mention(story(created_at_i=None, objectID=8863, points="junk"))
    assert mention.created_at == datetime(2007, 4, 4, 19, 16, 40, tzinfo=UTC) and mention.id == "8863"
    assert mention.engagement == 71


# ---- options, plan, errors ------------------------------------------------------------------


def test_options_defaults_and_their_checks():
    options = HackerNewsListener.Options()
    assert (options.tags, options.hits_per_page, options.max_pages, options.timeout) == (
        ["story", "comment"], 100, 3, timedelta(seconds=15))
    assert HackerNewsListener.Options(timeout=45).timeout == timedelta(seconds=45)
    with pytest.raises(ValidationError, match="at most 1,000 hits per query"):
        HackerNewsListener.Options(hits_per_page=500, max_pages=3)
    with pytest.raises(ValidationError):
        HackerNewsListener.Options(tags=["job"])
    with pytest.raises(ValidationError):
        HackerNewsListener.Options(tags=[])


def test_no_credentials_are_needed():
    assert isinstance(HackerNewsListener.from_config({}, {}), HackerNewsListener)


def test_the_plan_counts_queries_pages_and_runs_against_algolias_hourly_limit():
    plan = HackerNewsListener.plan({"every": "5m"}, list(BRANDS.values()))
    assert (plan.used, plan.budget, plan.unit) == (3 * 3 * 288, 240_000, "requests")
    assert plan.fits and "3 Algolia queries for 2 brands x 3 pages at most x 288 runs" in plan.detail
    wide = HackerNewsListener.plan({"every": "1m", "max_queries": 2}, [brand("a OR b OR c", key="wide")])
    assert wide.used == 0 and "not searched (more than max_queries branches): wide" in wide.detail


def test_error_answers_say_what_to_do():
    limited = algolia_error(429, '{"message":"Too many requests","status":429}', {"Retry-After": "120"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 120
    assert algolia_error(429, "", {}).retry_after == 60
    assert algolia_error(503, "", {}).retryable
    refused = algolia_error(400, 'GET https://x.algolia.io/1/indexes/Item: {"message":"Invalid <b>filter</b>","status":400}', {})
    assert not refused.retryable and "Algolia refused the search (400): Invalid filter" in str(refused)


# ---- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
def hn():
    with FakeHN() as fake:
        yield fake
        assert fake.problems == []  # every request kept to Algolia's parameters


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "h.db")
    yield s
    s.close()


@pytest.fixture(scope="module")
def scorer():
    return make_scorer("vader")


def listen(hn: FakeHN, **options) -> HackerNewsListener:
    return HackerNewsListener.from_config(HackerNewsListener.Options(base_url=hn.url, **options), {})


def poll(listener, store, scorer, now=NOW, brands=BRANDS):
    return poll_once(listener, brands, scorer, store, now, retry_now=True)


def stored(store: Store) -> dict[str, dict]:
    return {r["native_id"]: dict(r) for r in store.conn.execute("SELECT * FROM mentions")}


def marks(store: Store) -> dict[str, Mark]:
    return load_cursor(store.cursor("hackernews"))


def assert_counted_once(store: Store) -> None:
    links = store.conn.execute("SELECT count(*) FROM mention_brands").fetchone()[0]
    rolled = store.conn.execute("SELECT sum(count) FROM buckets").fetchone()[0] or 0
    assert links == rolled


def test_a_walk_asks_algolia_in_its_wire_format_and_stores_what_matches(hn, store, scorer, caplog):
    s = hn.add_story("Mindful Health raises a seed round", author="pg", url="https://mindful.example/",
                     created_at_i=T - 300, points=40)
    c = hn.add_comment("Congrats to <i>mindfulhealth</i>, I use it daily", story_id=s, author="sama",
                       created_at_i=T - 200)
    hn.add_comment("Congrats!", story_id=s, created_at_i=T - 100)  # the fake finds it by story_title: kept out
    t = hn.add_comment("TheraNow &amp; friends", created_at_i=T - 50)
    with caplog.at_level(logging.INFO, logger="listeners.hackernews"):
        result = poll(listen(hn), store, scorer)
    assert (result.error, result.new) == (None, 3)
    rows = stored(store)
    assert set(rows) == {s, c, t}
    assert (rows[s]["kind"], rows[s]["title"], rows[s]["author"], rows[s]["engagement"]) == (
        "post", "Mindful Health raises a seed round", "pg", 42)  # points + comments
    assert (rows[c]["kind"], rows[c]["text"], rows[c]["url"]) == (
        "comment", "Congrats to mindfulhealth, I use it daily", f"https://news.ycombinator.com/item?id={c}")
    assert rows[t]["text"] == "TheraNow & friends"
    assert [(p["query"], p["tags"], p["queryType"], p["typoTolerance"], p["page"], p["hitsPerPage"])
            for p in hn.searches()] == [
        ('"mindful health"', "(story,comment)", "prefixNone", "false", "0", "100"),
        ("mindfulhealth", "(story,comment)", "prefixNone", "false", "0", "100"),
        ("theranow", "(story,comment)", "prefixNone", "false", "0", "100")]
    assert all("numericFilters" not in p for p in hn.searches())  # a first walk reads the newest
    assert "hackernews: 3 queries, 3 pages, 5 hits, 3 kept; 3 requests" in caplog.text


def test_tags_choose_stories_or_comments(hn, store, scorer):
    hn.add_story("TheraNow launches", created_at_i=T - 10)
    hn.add_comment("theranow is fine", created_at_i=T - 5)
    assert poll(listen(hn, tags=["story"]), store, scorer).new == 1
    assert {p["tags"] for p in hn.searches()} == {"story"}
    assert [r["kind"] for r in stored(store).values()] == ["post"]


def test_a_walk_reads_every_page_up_to_max_pages_and_the_next_walk_the_rest(hn, store, scorer, caplog):
    ids = [hn.add_story(f"TheraNow tip {n}", created_at_i=T - 1000 + n) for n in range(4)]
    listener = listen(hn, hits_per_page=2, max_pages=2)
    assert poll(listener, store, scorer).new == 4  # two pages of two, read to the end
    assert [p["page"] for p in hn.searches() if p["query"] == "theranow"] == ["0", "1"]

    more = [hn.add_story(f"TheraNow news {n}", created_at_i=T + n) for n in range(7)]
    with caplog.at_level(logging.INFO, logger="listeners.hackernews"):
        poll(listener, store, scorer, NOW + timedelta(minutes=5))
    assert set(stored(store)) == {*ids, *more[3:]}  # the newest four; three left for later
    assert "max_pages reached for theranow (the rest next walk)" in caplog.text
    backlog = marks(store)["theranow"].backlog
    # The overlap re-read two (half the room) of the four read before; the rest is the backlog.
    assert backlog is not None and (backlog.lo, backlog.hi) == (T - 998, T + 3)

    walks = 2
    while marks(store)["theranow"].backlog is not None and walks < 10:
        poll(listener, store, scorer, NOW + timedelta(minutes=5 * walks))
        walks += 1
    assert set(stored(store)) == {*ids, *more}  # nothing lost (pages of two: a page a walk)
    backlog_reads = [p["numericFilters"] for p in hn.searches() if "<=" in p.get("numericFilters", "")]
    assert backlog_reads[0] == f"created_at_i>={backlog.lo},created_at_i<={backlog.hi}"
    assert_counted_once(store)


def test_the_next_walk_starts_at_the_newest_read_and_sends_nothing_twice(hn, store, scorer):
    first = [hn.add_story("TheraNow", created_at_i=at) for at in (T - 60, T, T)]
    listener = listen(hn, search_overlap="1s")
    assert poll(listener, store, scorer).fetched == 3
    assert (marks(store)["theranow"].after, set(marks(store)["theranow"].seen)) == (T, set(first[1:]))

    tie = hn.add_story("TheraNow, the same second", created_at_i=T)  # indexed after the first walk
    newer = hn.add_story("TheraNow, later", created_at_i=T + 30)
    second = poll(listener, store, scorer, NOW + timedelta(minutes=5))
    assert (second.error, second.fetched) == (None, 2)  # the tie and the newer one, nothing read before
    assert hn.searches()[-1]["numericFilters"] == f"created_at_i>={T - 1}"
    assert set(stored(store)) == {*first, tie, newer}
    assert poll(listener, store, scorer, NOW + timedelta(minutes=10)).fetched == 0
    assert_counted_once(store)


def test_an_item_indexed_late_is_found_within_the_overlap(hn, store, scorer):
    late = hn.add_story("TheraNow, indexed late", created_at_i=T - 120, indexed=False)
    hn.add_story("TheraNow", created_at_i=T)
    listener = listen(hn, search_overlap="5m")
    assert poll(listener, store, scorer).fetched == 1
    hn.index(late)
    second = poll(listener, store, scorer, NOW + timedelta(minutes=5))
    assert second.fetched == 1 and late in stored(store)  # the one read before is not sent again
    assert hn.searches()[-1]["numericFilters"] == f"created_at_i>={T - 300}"


def test_new_hits_arriving_between_two_pages_are_neither_lost_nor_doubled(hn, store, scorer):
    ids = [hn.add_story(f"TheraNow {n}", created_at_i=T - 100 + n) for n in range(4)]
    arrived: list[str] = []

    def arrive(params):
        if params.get("page") == "1" and not arrived:  # pushes page 0's last hit onto page 1
            arrived.append(hn.add_story("TheraNow, just now", created_at_i=T + 5))

    hn.before_answer = arrive
    result = poll(listen(hn, hits_per_page=2, max_pages=5), store, scorer)
    assert result.fetched == 4 and set(stored(store)) == set(ids)
    hn.before_answer = None
    assert poll(listen(hn), store, scorer, NOW + timedelta(minutes=5)).fetched == 1
    assert set(stored(store)) == {*ids, *arrived}


def test_an_edited_brand_starts_its_new_query_afresh_and_drops_the_old(hn, store, scorer):
    hn.add_story("TheraNow", created_at_i=T - 10)
    poll(listen(hn), store, scorer)
    edited = {"theranow": Brand("theranow", "TheraNow", "competitor", parse("theranow OR thera"))}
    poll(listen(hn), store, scorer, NOW + timedelta(minutes=5), brands=edited)
    assert set(marks(store)) == {"theranow", "thera"}
    assert "numericFilters" not in hn.searches()[-1]  # thera: new, no floor


# ---- faults -------------------------------------------------------------------------------------


def fetch_all(listener, brands=BRANDS, cursor=None):
    return list(listener.fetch(list(brands.values()), cursor, NOW))


def test_a_429_is_rate_limited_and_stops_the_walk(hn, store, scorer):
    hn.add_story("TheraNow", created_at_i=T)
    hn.rate_limit_next(1, retry_after="120")
    with pytest.raises(RateLimited) as caught:
        fetch_all(listen(hn))
    assert caught.value.retry_after == 120 and "10,000 requests an hour" in str(caught.value)
    assert len(hn.calls) == 1  # no request after Algolia said stop
    hn.rate_limit_next(1)
    result = poll(listen(hn), store, scorer)
    assert "retry in 60s" in result.error and store.retry_at("hackernews") == NOW + timedelta(seconds=60)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retried_later(hn, status):
    hn.fail_next(1, status=status)
    with pytest.raises(ListenerError, match=rf"server error \({status}\): Internal error; will retry") as caught:
        fetch_all(listen(hn), {"t": brand("theranow")})
    assert caught.value.retryable


def test_a_slow_answer_times_out_as_retryable(hn):
    hn.delay_next(1, seconds=1.5)
    with pytest.raises(ListenerError, match="no answer from Algolia in time") as caught:
        fetch_all(listen(hn, timeout=0.5), {"t": brand("theranow")})
    assert caught.value.retryable


def test_malformed_json_is_a_clear_error(hn):
    hn.malformed_next(1)
    with pytest.raises(ListenerError, match="Algolia's answer was not valid JSON; will retry"):
        fetch_all(listen(hn), {"t": brand("theranow")})


def test_hits_missing_fields_are_skipped_and_a_page_without_nbpages_ends_when_short(hn, store, scorer):
    for n in range(3):
        hn.add_story(f"TheraNow {n}", created_at_i=T - n)
    theranow = {"t": brand("theranow")}
    hn.strip_next(1, hit_fields=("objectID",))
    first = poll(listen(hn), store, scorer, brands=theranow)
    assert (first.error, first.fetched) == (None, 0) and stored(store) == {}
    hn.strip_next(2, page_fields=("nbPages", "nbHits"))
    assert poll(listen(hn, hits_per_page=2), store, scorer, brands=theranow).fetched == 3  # full page: on; short: end
    assert len(hn.calls) == 3
    hn.strip_next(1, page_fields=("hits",))
    with pytest.raises(ListenerError, match="no list of hits"):
        fetch_all(listen(hn), {"t": brand("theranow")})


def test_one_querys_failure_keeps_the_others_results_and_cursor(hn, store, scorer):
    m = hn.add_story("Mindful Health", created_at_i=T - 30)
    t = hn.add_story("TheraNow", created_at_i=T - 20)
    hn.fail_next(1, status=500)  # the first query: "mindful health"
    result = poll(listen(hn), store, scorer)
    assert "server error (500)" in result.error and set(stored(store)) == {t}
    assert set(marks(store)) == {'"mindful health"', "mindfulhealth", "theranow"}
    assert marks(store)["theranow"].after == T - 20 and marks(store)['"mindful health"'].after is None
    assert poll(listen(hn), store, scorer, NOW + timedelta(minutes=5)).error is None
    assert set(stored(store)) == {m, t}


def test_a_failure_on_a_later_page_keeps_what_the_earlier_pages_read(hn, store, scorer):
    ids = [hn.add_story(f"TheraNow {n}", created_at_i=T - 100 + n) for n in range(4)]
    listener = listen(hn, hits_per_page=2)
    poll(listener, store, scorer, brands={"t": brand("theranow")})  # the floor
    newer = [hn.add_story(f"TheraNow new {n}", created_at_i=T + n) for n in range(4)]
    hn.before_answer = lambda params: hn.fail_next(1) if params.get("page") == "0" else None
    result = poll(listener, store, scorer, NOW + timedelta(minutes=5), brands={"t": brand("theranow")})
    hn.before_answer = None
    assert "server error" in result.error and set(stored(store)) == {*ids, *newer[2:]}
    assert marks(store)["theranow"].backlog is not None  # what page 1 would have sent
    poll(listener, store, scorer, NOW + timedelta(minutes=10), brands={"t": brand("theranow")})
    assert set(stored(store)) == {*ids, *newer}


# ---- hostile text ------------------------------------------------------------------------------


def test_hostile_text_arrives_as_plain_text(hn, store, scorer):
    huge = "calm " * 20_480  # 100 KB
    posts = {
        hn.add_comment("TheraNow &lt;script&gt;alert(1)&lt;/script&gt;<p>bye", created_at_i=T - 4):
            "TheraNow <script>alert(1)</script>\n\nbye",
        hn.add_comment("TheraNow &lt;!channel&gt; &lt;@U123&gt; *bold* `code`", created_at_i=T - 3):
            "TheraNow <!channel> <@U123> *bold* `code`",
        hn.add_comment("TheraNow \u202eأهلا\u202c مرحبا", created_at_i=T - 2): "TheraNow \u202eأهلا\u202c مرحبا",
        hn.add_comment("TheraNow " + huge, created_at_i=T - 1): None,
    }
    seen = {m.id: m.text for b in fetch_all(listen(hn), {"t": brand("theranow")}) for m in b.mentions}
    for object_id, text in posts.items():
        if text is not None:
            assert seen[object_id] == text
    big = next(i for i, t in posts.items() if t is None)
    assert len(seen[big]) > 100_000 and "<" not in seen[big]
    result = poll(listen(hn), store, scorer, brands={"t": brand("theranow")})
    assert (result.error, result.new) == (None, 4)
    rows = stored(store)
    assert rows[next(iter(posts))]["text"] == "TheraNow <script>alert(1)</script>\n\nbye"
    assert len(rows[big]["text"]) == 40_000  # normalise's cap, as for every platform
    json.loads(rows[big]["raw"])


def test_a_poison_hit_is_stored_clean_and_the_walk_goes_on(hn, store, scorer):
    """Wrong JSON types and a lone surrogate (valid JSON, no UTF-8 encoder takes it) in a hit."""
    poison = hn.add_story("TheraNow \ud800 lone half, NUL\x00, bell\x07", created_at_i=T - 2)
    hn.override(poison, author=["not", "a", "name"], points="NaN", num_comments={"x": 1}, story_text=12,
                url={"deep": [1, 2]})
    fine = hn.add_story("TheraNow is fine", created_at_i=T - 1)
    result = poll(listen(hn), store, scorer, brands={"t": brand("theranow")})
    assert (result.error, result.new, result.dead) == (None, 2, 0)
    row = stored(store)[poison]
    assert row["author"] == "" and row["engagement"] == 0 and "\ufffd" in row["title"]
    assert not any(ch in row["title"] for ch in "\x00\x07")
    assert fine in stored(store) and marks(store)["theranow"].after == T - 1
