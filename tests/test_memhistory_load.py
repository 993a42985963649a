"""A backtest's history loads what a full pass over every mention would give, on both backends:
the term indexes (all texts, hashtags only, per platform, both on one brand), the filters
without a query (reach, watch lists, authors beyond ASCII) and the queries (odd texts
included), from the store reads that let the database filter: link_texts, link_counts and
link_rows(unusual=True)."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.demo.replay import demo_config
from bot.kinds.base import MentionSpec
from bot.memhistory import MemHistory
from bot.models import PLATFORMS, floor_bucket
from bot.rules import load_file
from bot.vocab import TermIndex, epoch
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures
from tests.helpers import T0, mention, scored

END = T0 + timedelta(hours=6)

RULES = """
- name: tags
  brands: [mindful]
  new_term: {window: 1h, lookback: 2h, hashtags_only: true, min_mentions: 2, min_authors: 1}
- name: tags-by-platform
  brands: [haven]
  group_by: [brand, platform]
  new_term: {window: 1h, lookback: 2h, hashtags_only: true, min_mentions: 2, min_authors: 1}
- name: words
  brands: [theranow, haven]
  platforms: [x, reddit]
  new_term: {window: 1h, lookback: 2h, min_mentions: 2, min_authors: 1}
- name: reach
  brands: [mindful, theranow, haven]
  influencer: {min_reach: 5000, authors: [kate, Watcher], window: 1h}
- name: reach-negative
  brands: [mindful]
  influencer: {min_reach: 1, window: 1h, sentiment: negative}
- name: watch-only
  brands: [haven]
  influencer: {min_reach: 10000000, authors: [bob_news], window: 1h}
- name: refunds
  brands: [mindful, theranow]
  mention: {query: 'refund* OR "charged me twice" OR café OR data_leak', window: 1h, min_matches: 1}
- name: exact
  brands: [mindful, haven]
  mention: {query: 'refund OR crashed', window: 1h, min_matches: 1}
"""

TEXTS = ["charged me twice, refund please", "the app crashed again", "love it #SelfCare", "#selfcare #Calm day",
         "no tags here at all", "a café meetup #CafeLife", "data_leak rumour", "ｒｅｆｕｎｄ in full width",
         "refunds are slow", "me twice charged", "naïve #Naïve tag", "#x1 #12345 #ok", "about the thing",
         "refund", "crashed_app", "#123 nothing"]
AUTHORS = ["user1", "Kate", "@KATE", "\u212aate", "watcher", "bob_news", "@Bob_News", "Zoë", "someone"]


def _mentions(seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(400):
        m = mention(i, rng.choice(TEXTS), at=T0 + timedelta(seconds=rng.randrange(6 * 3600)),
                    author=rng.choice(AUTHORS), platform=rng.choice(["x", "reddit", "youtube"]),
                    reach=rng.choice([10, 100, 4999, 5000, 90_000]))
        if rng.random() < 0.2:
            m = replace(m, title=rng.choice(["#TitleTag here", "Un título", "plain title", "snake_title"]))
        brands = rng.sample(["mindful", "theranow", "haven"], rng.choice([1, 1, 2]))
        out.append(scored(m, brands, label=rng.choice(["negative", "neutral", "positive"])))
    return out


def _filled(store, seed: int = 3):
    mentions = _mentions(seed)
    store.ingest("t", mentions, None, T0)
    sql(store, "UPDATE mentions SET author_reach = NULL WHERE native_id IN ('1', '2', '3')")
    return store, mentions


def _rules():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text(RULES)
        rules, problems = load_file(path, demo_config())
    assert not [p for p in problems if p.severity == "error"], problems
    return rules


def test_link_texts_and_counts_are_the_links_of_one_brand(store):
    store, mentions = _filled(store)
    links = sorted((m.created_at, m.platform, m.text, m.title) for sm in mentions for m in [sm.mention]
                   if "haven" in sm.brands)
    want = [(epoch(at), p, text, title) for at, p, text, title in links]
    assert [tuple(r) for r in store.link_texts("haven", T0, END)] == want
    tagged = [r for r in want if "#" in r[2] or "#" in r[3]]
    assert 0 < len(tagged) < len(want)
    assert sorted(tuple(r) for r in store.link_texts("haven", T0, END, containing="#")) == sorted(tagged)
    counts = Counter((epoch(floor_bucket(at)), p) for at, p, _t, _ti in links)
    assert sorted(tuple(r) for r in store.link_counts("haven", T0, END)) == sorted((b, p, n) for (b, p), n
                                                                                   in counts.items())
    half = T0 + timedelta(hours=3)
    assert sum(r[2] for r in store.link_counts("haven", half, END)) == sum(1 for r in links if r[0] >= half)
    assert list(store.link_texts("nobody", T0, END)) == [] and store.link_counts("nobody", T0, END) == []


def test_link_rows_unusual_finds_what_the_database_may_fold_or_split_differently(store):
    store.ingest("t", [scored(mention(1, "plain ascii text", author="ann")),
                       scored(mention(2, "café", author="bob")),
                       scored(mention(3, "data_leak", author="cy")),
                       scored(mention(4, "plain", author="\u212aate")),
                       scored(mention(5, "plain again", author="dee"))], None, T0)
    store.ingest("t", [scored(replace(mention(6, "plain"), title="snake_case")),
                       scored(replace(mention(7, "plain"), title="Título"))], None, T0)
    keys = sorted(r[0] for r in store.link_rows(T0, END, unusual=True))
    assert keys == ["x:2", "x:3", "x:4", "x:6", "x:7"]
    sql(store, "UPDATE mentions SET author_reach = NULL WHERE native_id = '5'")
    assert "x:5" in [r[0] for r in store.link_rows(T0, END, min_reach=0)]  # no reach counts as 0, as MentionSpec
    assert "x:5" not in [r[0] for r in store.link_rows(T0, END, min_reach=1)]
    assert sorted(r[0] for r in store.link_rows(T0, END, min_reach=10**9, unusual=True, text=False)) == keys


def _full_index(mentions, brand, platforms, tags) -> TermIndex:
    """What the old single pass built: every text of the brand, bucket by bucket."""
    index = TermIndex(tags)
    texts: dict[int, list[str]] = {}
    for sm in sorted(mentions, key=lambda sm: sm.mention.created_at):
        m = sm.mention
        if brand in sm.brands and (not platforms or m.platform in platforms):
            texts.setdefault(epoch(floor_bucket(m.created_at)), []).append(m.full_text)
    for bucket in sorted(texts):
        index.put(bucket, texts[bucket])
    return index


@pytest.mark.parametrize("seed", [3, 11])
def test_a_prepared_history_holds_what_a_full_pass_finds(make_store, seed):
    store, mentions = _filled(make_store(), seed)
    rules = _rules()
    history = MemHistory(store, T0, END)
    history.prepare(rules)
    keys = {("mindful", None, True), ("theranow", ("x", "reddit"), False), ("haven", ("x", "reddit"), False)}
    keys |= {("haven", (p,), True) for p in PLATFORMS}
    assert set(history.terms) == keys
    for key in keys:
        got, want = history.terms[key], _full_index(mentions, *key)
        assert got.sizes == want.sizes, key
        assert {b: dict(c) for b, c in got.buckets.items()} == {b: dict(c) for b, c in want.buckets.items()}, key
        assert {t: list(w) for t, w in got.occurs.items()} == {t: list(w) for t, w in want.occurs.items()}, key
    tags = history.terms[("mindful", None, True)]  # buckets with and without hashtags: both kinds of size
    assert any(tags.buckets.values()) and not all(tags.buckets.values())
    specs = {s for rule in rules for s in _specs(rule)}
    assert len(specs) == 5
    brands = ("mindful", "theranow", "haven")
    refunds = next(s for s in specs if s.query and "refund*" in s.query)
    assert ("haven", None) not in history.matched[refunds]  # read for its rules' brands only, the rest when asked
    for spec in specs:
        for brand in brands:
            total = sum(1 for sm in mentions if brand in sm.brands and _accepts(spec, sm))
            assert history.count_matching(brand, T0, END, spec) == total, (spec, brand)
            for platform in (None, "x", "reddit", "youtube"):
                want = sorted((epoch(sm.mention.created_at), sm.mention.key) for sm in mentions
                              if brand in sm.brands and (platform is None or sm.mention.platform == platform)
                              and _accepts(spec, sm))
                got = list(zip(history.matched[spec].get((brand, platform), []),
                               history.matched_keys[spec].get((brand, platform), [])))
                assert got == want, (spec, brand, platform)
    kate = MentionSpec(min_reach=5000, authors=("kate", "watcher"))
    assert any(sm.mention.author == "\u212aate" and sm.mention.author_reach < 5000 for sm in mentions
               if _accepts(kate, sm))  # the Kelvin sign folds to k in Python, not in SQLite


def _specs(rule):
    from bot.kinds import KINDS

    return getattr(KINDS[rule.kind], "specs", lambda _o: [])(rule.options)


def _accepts(spec: MentionSpec, sm) -> bool:
    """MentionSpec.accepts, with the reach the test set to NULL (0 to every reader)."""
    if sm.mention.id in ("1", "2", "3"):
        sm = replace(sm, mention=replace(sm.mention, author_reach=0))
    return spec.accepts(sm)
