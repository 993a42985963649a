"""`author:` and `site:`: parsing and its errors, matching a post's Target, a bare text seeing
neither, ingest and rule queries applying them, and every listener's server query keeping
only what its platform says exactly (the rest matched by harkbot after fetching)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.errors import QueryError
from bot.kinds.base import MentionSpec
from bot.memhistory import to_fts
from bot.models import Brand, Mention, Score, ScoredMention
from bot.pipeline import match_brands
from bot.query import And, Author, Not, Or, Site, Target, Word, parse, parse_search, tokenize
from listeners import bluesky_query, hackernews_query
from listeners.mastodon import brand_searches
from listeners.reddit import brand_matcher, reddit_query
from listeners.twitter import TwitterListener
from listeners.x_query import x_query
from listeners.youtube_query import youtube_query

NOW = datetime(2026, 12, 8, tzinfo=timezone.utc)


def mention(text: str = "I love mindful", author: str = "Ana", platform: str = "x",
            url: str = "https://x.com/ana/status/1", links: tuple[str, ...] = ()) -> Mention:
    return Mention(platform, "1", text, author, url, NOW, links=links)


def brand(query: str, exclude: str | None = None) -> Brand:
    return Brand("mindful", "Mindful", "brand", parse(query), parse(exclude) if exclude else None)


# -- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("query, tree", [
    ("author:Bob", Author("bob")),
    ("author:@bob", Author("bob")),
    ("AUTHOR:x:@Bob", Author("bob", "x")),
    ("author:twitter:bob", Author("bob", "x")),
    ("author:alice.bsky.social", Author("alice.bsky.social")),
    ('author:"Jane  Doe"', Author("jane doe")),
    ('author:rss:"Jane Doe"', Author("jane doe", "rss")),
    ("site:News.Example.COM", Site("news.example.com")),
    ("calm -author:bob -site:spam.example", And((Word("calm"), Not(Author("bob")), Not(Site("spam.example"))))),
    ("calm OR author:bob", Or((Word("calm"), Author("bob")))),
])
def test_parse(query, tree):
    assert parse(query) == tree
    assert parse(str(tree)) == tree  # str round-trips


@pytest.mark.parametrize("query, position, message", [
    ("calm author:", 5, "'author:' needs a handle right after it, with no space: author:spambot"),
    ("calm author: bob", 5, "needs a handle right after it, with no space"),
    ("author:x:", 0, "'author:x:' needs a handle"),
    ("author:myspace:bob", 7, "'author:myspace:' names no platform harkbot listens to"),
    ("calm author:bob/x", 12, "'bob/x' is not a handle"),
    ('author:""', 7, "author: needs a handle or a name"),
    ("calm site:", 5, "'site:' needs a host right after it"),
    ("calm site:https://spam.example/x", 10, "site: takes a host, not a URL: write site:spam.example"),
    ("site:spam.example/win", 5, "site: takes a host without a path: write site:spam.example"),
    ("site:*.spam.example", 5, "site:spam.example already covers its subdomains"),
    ("site:localhost", 5, "'localhost' is not a host name"),
    ("site:spam..example", 5, "is not a host name"),
    ("-author:bob", 0, "in a brand's `exclude`, write author:bob without the '-'"),
])
def test_errors_say_where_what_and_how_to_fix(query, position, message):
    with pytest.raises(QueryError) as info:
        parse(query)
    assert info.value.position == position
    assert message in str(info.value)


def test_a_search_keeps_its_own_author_field_and_has_no_site():
    # harkbot search: author: is the field (the stored author's words), not the exact handle
    assert parse_search("author:alice").name == "author"
    with pytest.raises(QueryError, match="'site' is not a field you can search"):
        parse_search("site:example.com")


# -- matching --------------------------------------------------------------------------------

@pytest.mark.parametrize("query, post, expected", [
    ("author:ana", mention(author="@Ana"), True),
    ("author:ana", mention(author="anabel"), False),
    ("author:x:ana", mention(author="ana"), True),
    ("author:reddit:ana", mention(author="ana"), False),
    ('author:"jane doe"', mention(author="Jane   Doe", platform="rss"), True),
    ("author:ana", mention(author=""), False),  # a deleted author is nobody
    ("site:example.com", mention(url="https://example.com/a"), True),
    ("site:example.com", mention(url="https://www.news.EXAMPLE.com:443/a"), True),
    ("site:example.com", mention(url="https://notexample.com/a"), False),
    ("site:example.com", mention(url="https://example.com.evil.test/a"), False),
    ("site:news.example.com", mention(url="https://example.com/a"), False),
    ("site:spam.example", mention(text="win big https://go.spam.example/x now"), True),  # a link in the text
    ("site:spam.example", mention(links=("https://spam.example/deal",)), True),  # a link the platform expanded
    ("site:spam.example", mention(text="spam.example without a scheme"), False),
    ("site:bücher.example", mention(url="https://BÜCHER.example/"), True),
])
def test_match_target(query, post, expected):
    assert parse(query).match_target(Target.of(post)) is expected


def test_a_bare_text_has_no_author_and_no_links():
    node = parse("mindful -author:ana")
    assert node.match(tokenize("mindful by ana")) is True  # cannot see the author: drops nothing
    assert parse("author:ana").match(tokenize("author ana")) is False
    assert brand("mindful", "author:ana").matches("I love mindful") is True


def test_a_brand_exclude_blocks_the_author_and_the_site_at_ingest():
    brands = {"mindful": brand("mindful", '"be mindful" OR author:spambot OR site:spam.example'),
              "other": brand("love")}
    assert match_brands(mention(), brands) == ("mindful", "other")
    assert match_brands(mention(author="SpamBot"), brands) == ("other",)
    assert match_brands(mention(links=("https://www.spam.example/x",)), brands) == ("other",)
    assert match_brands(mention(text="I love mindful, be mindful"), brands) == ("other",)
    # a brand whose query is only an author: every post of theirs, whatever the words
    assert match_brands(mention(text="hello", author="mindfulhq"), {"own": brand("author:mindfulhq")}) == ("own",)


def test_rule_queries_see_the_author_and_the_site():
    spec = MentionSpec(query="refund -author:spambot -site:spam.example")
    scored = lambda m: ScoredMention(m, ("mindful",), Score("negative", -0.5, "test"))  # noqa: E731
    assert spec.accepts(scored(mention(text="refund please")))
    assert not spec.accepts(scored(mention(text="refund please", author="spambot")))
    assert not spec.accepts(scored(mention(text="refund https://spam.example/x")))


def test_fts_stays_a_superset():
    # author: and site: have no FTS form: left out of an AND (more candidates), and an OR
    # holding one cannot be asked of the index at all (every text is checked)
    assert to_fts(parse("calm -author:bob site:spam.example")) == '("calm")'
    assert to_fts(parse("calm OR author:bob")) is None


def test_x_payload_links_are_the_expanded_urls():
    payload = {"id": "1", "text": "deal https://t.co/abc", "created_at": "2026-12-08T00:00:00.000Z",
               "_author": {"username": "SpamBot"},
               "entities": {"urls": [{"url": "https://t.co/abc", "expanded_url": "https://spam.example/deal",
                                      "unwound_url": "https://shop.spam.example/landing"}]}}
    m = TwitterListener.to_mention(payload)
    assert m.links == ("https://spam.example/deal", "https://shop.spam.example/landing")
    assert parse("deal site:shop.spam.example").match_target(Target.of(m))
    assert parse("author:x:spambot").match_target(Target.of(m))


# -- each platform's search ------------------------------------------------------------------

def test_x_searches_authors_with_from_and_leaves_sites_to_harkbot():
    assert x_query(brand("mindful author:mindfulhq"), exclude_retweets=False) == ["mindful from:mindfulhq"]
    assert x_query(brand("mindful", "spam OR author:spambot OR site:spam.example"), exclude_retweets=False) == [
        "mindful -(spam OR from:spambot)"]  # the site is excluded by harkbot after fetching
    assert x_query(brand("mindful site:spam.example"), exclude_retweets=False) == ["mindful"]  # broader
    # no X username has a dot: never an X post's, searched without it (broader)
    assert x_query(brand("mindful -author:alice.bsky.social"), exclude_retweets=False) == ["mindful"]
    from bot.errors import ListenerError
    with pytest.raises(ListenerError, match="nothing X can search"):
        x_query(brand("mindful OR site:mindful.example"))  # the search alone would be narrower


def test_reddit_searches_authors_and_leaves_sites_to_harkbot():
    assert reddit_query(brand("mindful", "author:spambot")) == "mindful AND NOT author:spambot"
    assert reddit_query(brand("mindful", "site:spam.example")) == "mindful"
    assert reddit_query(brand("mindful OR author:mindfulhq")) == "mindful OR author:mindfulhq"
    assert reddit_query(brand("site:mindful.example")) == ""  # nothing Reddit can search
    assert reddit_query(brand("mindful author:x:bob")) == "mindful"  # never a Reddit post's: broader


def test_the_local_filter_applies_a_block_before_a_post_becomes_a_mention():
    wants = brand_matcher([brand("mindful", "author:spambot OR site:spam.example")])
    assert wants(mention(platform="reddit"))
    assert not wants(mention(platform="reddit", author="SpamBot"))
    assert not wants(mention(platform="reddit", links=("https://spam.example/x",)))


def test_youtube_hackernews_bluesky_and_mastodon_search_without_what_they_cannot_say():
    blocked = brand("mindful OR calm", "spam OR author:spambot OR site:spam.example")
    assert youtube_query(blocked) == "mindful|calm -spam"
    assert youtube_query(brand("site:mindful.example")) == ""
    assert [s.query for s in hackernews_query.searches(blocked, 10, exclude_on_server=True)] == [
        "mindful -spam", "calm -spam"]
    assert hackernews_query.searches(brand("calm OR author:bob"), 10) == []  # cannot be searched: said
    assert bluesky_query.searches(brand("mindful author:alice.bsky.social"), 10) == ["mindful from:alice.bsky.social"]
    assert bluesky_query.searches(brand("mindful author:alice"), 10) == ["mindful"]  # not a Bluesky handle
    assert brand_searches(brand("calm author:bob")) == ["calm"]
    assert brand_searches(brand("calm OR author:bob")) == []  # only its hashtag timelines find it


def test_a_rule_query_counts_stored_mentions_by_author_and_site():
    from datetime import timedelta

    from bot.kinds.base import Context
    from bot.store import Store

    store = Store(":memory:")
    at = NOW - timedelta(minutes=20)
    posts = [Mention("x", str(i), f"refund please {i}", author, url, at)
             for i, (author, url) in enumerate([("ana", "https://x.com/ana/status/0"),
                                                 ("SpamBot", "https://x.com/spambot/status/1"),
                                                 ("ben", "https://spam.example/2")])]
    store.ingest("twitter", [ScoredMention(m, ("mindful",), Score("negative", -0.5, "test")) for m in posts], None, NOW)
    ctx = Context(brand("refund"), NOW, store)
    start = NOW - timedelta(hours=1)
    assert ctx.count_matching(MentionSpec(query="refund"), start) == 3
    assert ctx.count_matching(MentionSpec(query="refund -author:spambot"), start) == 2  # the rows' authors
    assert ctx.count_matching(MentionSpec(query="refund -site:spam.example"), start) == 2  # through the mentions
    assert ctx.count_matching(MentionSpec(query="author:x:spambot"), start) == 1


def test_a_backtest_reads_author_terms_in_rule_queries(tmp_path):
    """The in-memory history a backtest replays matches `author:` against each stored row's
    author (site: needs the post's links, which it does not read: README says so)."""
    from datetime import datetime, timedelta, timezone

    from bot.kinds.base import MentionSpec
    from bot.memhistory import MemHistory
    from bot.models import Mention, Score, ScoredMention
    from bot.store import Store

    at = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    store = Store(tmp_path / "h.db")
    rows = [("bot1", "mindful refund please"), ("alice", "mindful refund please"), ("bob", "mindful is fine")]
    store.ingest("x", [ScoredMention(Mention(platform="x", id=str(i), text=text, author=author,
                                        url=f"https://x.com/{author}/status/{i}", created_at=at + timedelta(minutes=i)),
                                ("mindful",), Score("neutral", 0.0, "test"))
                  for i, (author, text) in enumerate(rows)], None, at + timedelta(hours=1))
    history = MemHistory(store, at - timedelta(hours=1), at + timedelta(hours=1))

    def matched(query: str) -> int:
        spec = MentionSpec(query=query)
        return sum(len(v) for k, v in history._match(spec, "mindful").items() if k[1] is None)

    assert matched("refund") == 2
    assert matched("refund -author:bot1") == 1
    assert matched("author:bob") == 1
    store.close()
