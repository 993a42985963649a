"""bot/history.py against a real store, SQLite and PostgreSQL alike (tests/backends.py): search
plans, filters, highlights, streaming, stats. The same rows, counts and stats on both."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot import history
from bot.errors import StoreError
from bot.history import MARK_CLOSE as C, MARK_OPEN as O, BrandInfo, Filters
from bot.models import Mention, Score, ScoredMention
from bot.store import Store
from tests.backends import backend, dsn_of, is_pg, make_store, sql  # noqa: F401 - fixtures
from tests.helpers import T0

BRANDS = [BrandInfo("mindful", "Mindful Health", "brand", ("mindful", "health", "mindfulhealth")),
          BrandInfo("theranow", "TheraNow", "competitor", ("theranow",)),
          BrandInfo("haven", "Haven Therapy", "competitor", ("haven", "therapy"))]
HOSTILE = "<script>alert(1)</script> <!channel> Mindful Health refund scam"

# (id, platform, text, brands, label, author, reach, minutes after T0, title)
POSTS = [
    ("1", "x", "Mindful Health refund please, charged twice", ("mindful",), "negative", "Alice", 100, 60, ""),
    ("2", "x", "TheraNow refund was quick", ("theranow",), "positive", "bob", 5000, 120, ""),
    ("3", "reddit", "the app is fine #therapy", ("mindful",), "neutral", "carol", 10, 1440, "Mindful Health review"),
    ("4", "youtube", HOSTILE, ("mindful",), "negative", "evil", 1_000_000, 1500, ""),
    ("5", "x", "Haven Therapy and Mindful Health both helped", ("mindful", "haven"), "positive", "alice", 200, 2880, ""),
    ("6", "x", "refunds refunded refunding #refunded", ("mindful",), "neutral", "dave", 50, 2940, ""),
]


def build_store(path: Path | str, filler: int = 200) -> Store:
    """A SQLite file holding the POSTS above plus `filler` ordinary mentions over three days."""
    return fill(Store(path), filler)


def fill(store, filler: int = 200):
    """The POSTS above plus `filler` ordinary mentions (no refund in them) over three days."""
    scored = []
    for pid, platform, text, brands, label, author, reach, minutes, title in POSTS:
        m = Mention(platform=platform, id=pid, text=text, author=author, url=f"https://example.com/{pid}",
                    created_at=T0 + timedelta(minutes=minutes), author_reach=reach, engagement=1, title=title)
        scored.append(ScoredMention(m, brands, Score(label, {"negative": -0.6, "positive": 0.6}.get(label, 0.0), "t")))
    for i in range(filler):
        brand = ("mindful", "theranow", "haven")[i % 3]
        name = {"mindful": "Mindful Health", "theranow": "TheraNow", "haven": "Haven Therapy"}[brand]
        label = ("positive", "neutral", "negative", "neutral")[i % 4]
        m = Mention(platform=("x", "reddit")[i % 2], id=f"f{i}", text=f"{name} session booked #selfcare",
                    author=f"fan{i % 7}", url=f"https://example.com/f{i}",
                    created_at=T0 + timedelta(minutes=7 * i + 3), author_reach=i, engagement=0)
        scored.append(ScoredMention(m, (brand,), Score(label, {"negative": -0.5, "positive": 0.5}.get(label, 0.0),
                                                       "t")))
    store.ingest("test", scored, None, T0 + timedelta(days=3))
    return store


@pytest.fixture
def history_db(make_store, backend, tmp_path) -> str:
    """The history above in a database of this test's backend, as `--db` takes it: a SQLite
    file, or a DSN naming a PostgreSQL schema of its own."""
    if backend == "sqlite":
        path = tmp_path / "h.db"
        build_store(path).close()
        return str(path)
    return dsn_of(fill(make_store()))


@pytest.fixture
def store(make_store, backend, tmp_path):
    return fill(make_store(tmp_path / "h.db") if backend == "sqlite" else make_store())


def keys(hits) -> list[str]:
    return [h.row.key for h in hits]


def test_fts5_syntax_phrases_or_not_prefix(store):
    s = store
    assert keys(history.search(s, Filters(query="refund"))) == ["youtube:4", "x:2", "x:1"]
    assert keys(history.search(s, Filters(query='"charged twice"'))) == ["x:1"]
    assert keys(history.search(s, Filters(query="quick OR twice"))) == ["x:2", "x:1"]
    assert keys(history.search(s, Filters(query="refund NOT scam"))) == ["x:2", "x:1"]
    assert keys(history.search(s, Filters(query="refund*"))) == ["x:6", "youtube:4", "x:2", "x:1"]
    assert keys(history.search(s, Filters(query="review"))) == ["reddit:3"]  # the title is searched too


def test_filters_narrow_the_search(store):
    s = store
    q = "refund*"
    assert keys(history.search(s, Filters(query=q, brands=("theranow",)))) == ["x:2"]
    assert keys(history.search(s, Filters(query=q, platforms=("youtube",)))) == ["youtube:4"]
    assert keys(history.search(s, Filters(query=q, sentiments=("negative",)))) == ["youtube:4", "x:1"]
    assert keys(history.search(s, Filters(query=q, authors=("@ALICE",)))) == ["x:1"]
    assert keys(history.search(s, Filters(query=q, min_reach=1000))) == ["youtube:4", "x:2"]
    since, until = T0 + timedelta(minutes=120), T0 + timedelta(minutes=1500)
    assert keys(history.search(s, Filters(query=q, since=since, until=until))) == ["x:2"]  # until is exclusive
    assert keys(history.search(s, Filters(query=q), sort="reach")) == ["youtube:4", "x:2", "x:1", "x:6"]
    assert keys(history.search(s, Filters(query=q), limit=2)) == ["x:6", "youtube:4"]
    # no query: the newest mentions of the filters
    assert keys(history.search(s, Filters(authors=("alice",)))) == ["x:5", "x:1"]


def test_both_search_plans_answer_alike(store, monkeypatch):
    from bot.store import sqlite_reads

    s = store
    cases = [Filters(query="session"), Filters(query="session", brands=("haven",), platforms=("x",)),
             Filters(query="refund*", since=T0 + timedelta(hours=1)), Filters(query='booked "#selfcare"'),
             Filters(query="booked #selfcare")]
    sparse = [keys(history.search(s, f, limit=20)) for f in cases]
    monkeypatch.setattr(sqlite_reads, "DENSE", 0)  # SQLite: every query counts as dense, the time-index walk
    dense = [keys(history.search(s, f, limit=20)) for f in cases]
    assert dense == sparse and all(sparse)
    assert len(sparse[0]) == 20


def test_matches_are_marked_in_title_and_text(store):
    hit = history.search(store, Filters(query="refund"))[2]
    assert hit.marked_text == f"Mindful Health {O}refund{C} please, charged twice"
    review = history.search(store, Filters(query="mindful review"))[0]
    assert review.marked_title == f"{O}Mindful{C} Health {O}review{C}" and review.marked_text == "the app is fine #therapy"
    assert history.split_marks(hit.marked_text) == [("Mindful Health ", False), ("refund", True),
                                                    (" please, charged twice", False)]


@pytest.mark.parametrize("forged", [f"refund {O}fake{C} and {O}open", f"refund {O}fake{C} balanced"])
def test_a_post_holding_marker_characters_gets_no_marks(make_store, forged):
    store = make_store()
    m = Mention(platform="x", id="9", text=forged, author="a", url="", created_at=T0)
    store.ingest("t", [ScoredMention(m, ("mindful",), Score("neutral", 0.0, "t"))], None, T0)
    hit = history.search(store, Filters(query="refund"))[0]
    assert hit.marked_text == forged  # unmarked: as stored, not as the index highlighted it


def test_clip_keeps_the_first_match_in_view():
    marked = "x" * 300 + f" {O}refund{C} " + "y" * 300
    clipped = history.clip(marked, 100)
    assert clipped.startswith("…") and clipped.endswith("…") and f"{O}refund{C}" in clipped
    assert len(clipped.replace(O, "").replace(C, "")) <= 102
    assert history.clip("short", 100) == "short"


def test_a_bad_query_is_a_sentence(store):
    with pytest.raises(StoreError, match="cannot search for '\"refund'.*exact phrases"):
        history.search(store, Filters(query='"refund'))
    with pytest.raises(StoreError, match="cannot search"):
        list(history.iter_rows(store, Filters(query="AND")))


class _NoFetchall:
    """A connection whose cursors refuse fetchall: streaming must read in chunks."""

    def __init__(self, conn):
        self.conn, self.fetchmany_calls = conn, 0

    def execute(self, *args):
        outer, cursor = self, self.conn.execute(*args)

        class Cursor:
            def fetchmany(self, n):
                outer.fetchmany_calls += 1
                return cursor.fetchmany(n)

            def fetchone(self):
                return cursor.fetchone()

            def fetchall(self):
                raise AssertionError("fetchall would hold every row")

            def __iter__(self):
                raise AssertionError("iter_rows reads with fetchmany")

        return Cursor()


def test_iter_rows_streams_in_chunks_oldest_first(store, monkeypatch):
    if not is_pg(store):
        monkeypatch.setattr(store, "conn", _NoFetchall(store.conn))
    chunks = list(history.iter_rows(store, Filters(), chunk=50))
    assert [len(c) for c in chunks] == [50, 50, 50, 50, 6]
    if not is_pg(store):
        assert store.conn.fetchmany_calls == 6
        monkeypatch.setattr(store, "conn", store.conn.conn)
    times = [r.created_at for c in chunks for r in c]
    assert times == sorted(times)
    assert history.count_rows(store, Filters()) == 206
    refunds = [r.key for c in history.iter_rows(store, Filters(query="refund*", brands=("mindful",))) for r in c]
    assert refunds == ["x:1", "youtube:4", "x:6"]
    assert history.count_rows(store, Filters(query="refund*", brands=("mindful",))) == 3
    row = next(r for c in history.iter_rows(store, Filters(authors=("alice",))) for r in c if r.key == "x:5")
    assert row.brands == ("haven", "mindful") and row.as_dict()["brands"] == ["haven", "mindful"]
    assert row.flat()[COLUMNS_INDEX["brands"]] == "haven,mindful"


COLUMNS_INDEX = {c: i for i, c in enumerate(history.COLUMNS)}


def test_period_starts():
    wed = T0 + timedelta(days=2, hours=13, minutes=7)  # 2026-03-04 is a Wednesday
    assert history.period_start(wed, "hour") == T0 + timedelta(days=2, hours=13)
    assert history.period_start(wed, "day") == T0 + timedelta(days=2)
    assert history.period_start(wed, "week") == T0  # Monday 2026-03-02
    assert history.period_starts(T0, T0 + timedelta(days=2, minutes=1), "day") == [
        T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]


def test_stats_volume_sentiment_share_of_voice(store):
    result = history.stats(store, BRANDS, T0, T0 + timedelta(days=3), every="day")
    by = {s.brand.key: s for s in result.brands}
    # mindful: 5 posts + 67 filler (i % 3 == 0 for i < 200)
    assert by["mindful"].total.count == 72 and by["theranow"].total.count == 67 + 1 and by["haven"].total.count == 67
    total = 72 + 68 + 67
    assert by["mindful"].share_of_voice == pytest.approx(72 / total)
    assert sum(s.share_of_voice for s in result.brands) == pytest.approx(1.0)
    assert [p.start for p in by["mindful"].periods] == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert sum(p.mix.count for p in by["mindful"].periods) == 72
    day1 = by["theranow"].periods[0]
    assert day1.share_of_voice == pytest.approx(
        day1.mix.count / sum(s.periods[0].mix.count for s in result.brands))
    mix = by["mindful"].total
    assert mix.negative + mix.neutral + mix.positive == 72
    assert mix.negative == 2 + sum(1 for i in range(0, 200, 3) if i % 4 == 2)
    assert dict(by["mindful"].platforms)["youtube"].count == 1
    assert not by["mindful"].sampled


def test_stats_top_lists_are_exact(store):
    full = history.stats(store, BRANDS[:1], T0, T0 + timedelta(days=3), versus=BRANDS)
    mindful = full.brands[0]
    assert ("#selfcare", 67) in mindful.top_hashtags and ("#therapy", 1) in mindful.top_hashtags
    terms = dict(mindful.top_terms)
    assert terms["session"] == 67 and "mindful" not in terms and "health" not in terms  # its own words left out
    from collections import Counter

    expected = Counter((("x", "reddit")[i % 2], f"fan{i % 7}") for i in range(0, 200, 3))
    ranked = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [((a.platform, a.author), a.mentions) for a in mindful.top_authors] == ranked
    assert not mindful.sampled and mindful.sample == mindful.population == 72
    with pytest.raises(ValueError, match="every must be one of"):
        history.stats(store, BRANDS, T0, T0 + timedelta(days=1), every="month")


def test_a_topic_has_no_share_of_voice(store):
    topic = BrandInfo("haven", "Haven", "topic")
    result = history.stats(store, [BRANDS[0], topic], T0, T0 + timedelta(days=3), versus=BRANDS[:2])
    assert result.brands[1].share_of_voice is None
    assert result.brands[0].share_of_voice == pytest.approx(72 / (72 + 68))
    assert result.as_dict()["brands"][1]["share_of_voice"] is None


def test_alerts_and_top_posts(store):
    sql(store, "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, payload)"
               " VALUES ('f', 'crisis', 'mindful', 'volume_spike', 'critical', 'alerts', 'firing',"
               " '2026-03-03T01:00:00Z', '{\"finding\": {\"title\": \"Negative spike\"}}')")
    marks = history.alerts(store, T0, T0 + timedelta(days=3), ["mindful"])
    assert [(m.rule, m.severity, m.title, m.fired_at) for m in marks] == [
        ("crisis", "critical", "Negative spike", T0 + timedelta(days=1, hours=1))]
    assert history.alerts(store, T0, T0 + timedelta(days=3), ["haven"]) == []
    posts = history.top_posts(store, "mindful", T0, T0 + timedelta(days=3), limit=2)
    assert [p.key for p in posts] == ["youtube:4", "x:5"]


def _add(store, *posts) -> None:
    """(id, text, author, title) posts for mindful at T0 + 5 days, a minute apart."""
    out = []
    for i, (pid, text, author, title) in enumerate(posts):
        m = Mention(platform="x", id=pid, text=text, author=author, url=f"https://example.com/{pid}",
                    created_at=T0 + timedelta(days=5, minutes=i), author_reach=1, engagement=0, title=title)
        out.append(ScoredMention(m, ("mindful",), Score("neutral", 0.0, "t")))
    store.ingest("test", out, None, T0 + timedelta(days=6))


def test_hashtags_and_handles_need_no_quotes_and_mean_only_the_tag(store):
    _add(store, ("w1", "selfcare is a plain word here", "zed", ""), ("h1", "thanks @CalmApp, it helped", "yan", ""),
         ("c1", "calmapp as a word", "xu", ""), ("t1", "so tired #SelfCare", "wu", ""))
    tags = history.count_rows(store, Filters(query="#selfcare"))
    assert tags == 201  # the 200 fillers and t1; never the plain word
    assert history.count_rows(store, Filters(query="selfcare")) == 202  # a word matches its hashtag too
    assert keys(history.search(store, Filters(query="#selfcare", since=T0 + timedelta(days=4)))) == ["x:t1"]
    assert keys(history.search(store, Filters(query="@calmapp"))) == ["x:h1"]
    assert keys(history.search(store, Filters(query="calmapp"))) == ["x:c1", "x:h1"]
    assert keys(history.search(store, Filters(query="tired -#selfcare"))) == []
    assert keys(history.search(store, Filters(query="#selfcare OR @calmapp", since=T0 + timedelta(days=4)))) == [
        "x:t1", "x:h1"]
    hit = history.search(store, Filters(query="@calmapp"))[0]
    assert f"{O}CalmApp{C}" in hit.marked_text
    rows = [r.key for c in history.iter_rows(store, Filters(query="#selfcare", since=T0 + timedelta(days=4)))
            for r in c]
    assert rows == ["x:t1"]


def test_fields_search_one_column_and_an_unknown_field_lists_the_searchable_ones(store):
    assert keys(history.search(store, Filters(query="title:review"))) == ["reddit:3"]
    assert keys(history.search(store, Filters(query="text:review"))) == []
    assert keys(history.search(store, Filters(query="alice"))) == []  # a plain word is not looked up in authors
    assert keys(history.search(store, Filters(query="author:alice"))) == ["x:5", "x:1"]
    assert keys(history.search(store, Filters(query="author:@Alice"))) == ["x:5", "x:1"]
    assert keys(history.search(store, Filters(query="refund -author:bob"))) == ["youtube:4", "x:1"]
    assert keys(history.search(store, Filters(query='title:"health review" OR author:evil'))) == [
        "youtube:4", "reddit:3"]
    assert history.count_rows(store, Filters(query="author:(dave OR carol)")) == 2
    for query in ("mentions:foo", "brand:mindful refund", "refund OR -x:1"):
        with pytest.raises(StoreError) as caught:
            history.search(store, Filters(query=query))
        message = str(caught.value)
        assert message.startswith(f"cannot search for {query!r}: ")
        if ":" in query.split()[0]:
            assert "searchable fields are text:, title:, author:" in message
        assert "no such column" not in message and "fts5" not in message.lower()


PUNCTUATION = ["#selfcare", "@handle", "covid-19", "it's", "what?!", "refund!!!", "50%", "$5", "a&b", "5:30",
               "https://example.com/1", "refund.", "(refund", "refund)", '"refund', "*", "#", "@", ":", "-", "'",
               "^refund", "NEAR(refund charged)", "refund + twice", "{text}: refund", "text: refund", "refund AND",
               "OR", "\\", "refund;DROP TABLE mentions", "\x00", "¿qué?", "日本語", "#日本", "😀", "**", "re*fund",
               "title:", "author:@", "_", "a OR (b", "'\"'", "-refund", "NOT NOT refund"]


def test_any_punctuation_is_rows_or_a_sentence_never_a_database_error(store):
    outcome = {}
    for query in PUNCTUATION:
        try:
            found = history.search(store, Filters(query=query))
            counted = history.count_rows(store, Filters(query=query))
        except StoreError as exc:
            assert str(exc).startswith("cannot search for ") and "Use words" in str(exc), query
            assert "syntax error" not in str(exc) and "fts5" not in str(exc).lower(), query
            outcome[query] = "sentence"
            continue
        assert len(found) == min(counted, 50), query
        outcome[query] = counted
    assert outcome["#selfcare"] == 200 and outcome["refund!!!"] == 3 and outcome["NOT NOT refund"] == "sentence"
    assert outcome["text: refund"] == 3  # "text:" then a word: the field with a space after it


def test_top_lists_are_exact_above_the_old_sample_size(make_store):
    """6,000 mentions (the old code read a 5,000 sample above 5,000): every one is counted."""
    from collections import Counter

    store = make_store()
    scored, authors, tags = [], Counter(), Counter()
    for i in range(6000):
        who = f"a{(i * 7919) % 97}" if i % 10 else "late"  # 'late' posts only in the last tenth
        if i % 10 == 0 and i < 5400:
            who = f"a{i % 97}"
        tag = f"#tag{(i * 31) % 13}"
        text = f"Mindful Health note {tag} word{i % 11}"
        authors[("x", who)] += 1
        tags[tag] += 1
        m = Mention(platform="x", id=str(i), text=text, author=who, url="", author_reach=i,
                    created_at=T0 + timedelta(seconds=40 * i))
        scored.append(ScoredMention(m, ("mindful",), Score("neutral", 0.0, "t")))
    store.bulk_ingest("test", scored, T0 + timedelta(days=3))
    result = history.stats(store, BRANDS[:1], T0, T0 + timedelta(days=3), versus=BRANDS, top=5).brands[0]
    ranked = sorted(authors.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [((a.platform, a.author), a.mentions) for a in result.top_authors] == ranked
    assert list(result.top_hashtags) == sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert not result.sampled and result.sample == result.population == 6000
