"""Set-at-a-time ingest (#15): a page written as a few statements stores exactly what writing it
row by row stores (mentions, flags, links, buckets), nothing lost and nothing doubled, on both
backends."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from bot.models import ScoredMention
from bot.selfharm import SafetyFlag
from tests.backends import backend, make_store, sql, store  # noqa: F401
from tests.helpers import T0, mention, scored

LABELS = ("negative", "neutral", "positive")


def page(ids, *, flagged=()) -> list[ScoredMention]:
    """Mentions spread over several buckets, platforms, labels and brand sets."""
    out = []
    for n in ids:
        m = replace(mention(n, at=T0 + timedelta(minutes=n % 17), platform=("x", "reddit")[n % 2]),
                    raw={"id": str(n), "nested": {"list": [n, "é", None]}})
        brands = (("mindful",), ("mindful", "rival"), ("rival",))[n % 3]
        sm = scored(m, brands, LABELS[n % 3], polarity=(n % 7 - 3) / 4)
        if n in flagged:
            sm = replace(sm, safety=SafetyFlag("risk", ("cue",), "a reason"))
        out.append(sm)
    return out


def tables(s) -> dict:
    return {
        "mentions": sorted(sql(s, "SELECT key, platform, label, polarity, author_reach, raw FROM mentions")),
        "links": sorted(sql(s, "SELECT brand, mention_key, label, platform FROM mention_brands")),
        "buckets": sorted((b, st, p, c, ng, ps) for b, st, p, c, ng, ps in s.bucket_rows(T0, T0 + timedelta(days=1))),
        "sums": sorted((r[0], round(float(r[1]), 9)) for r in sql(s, "SELECT brand, SUM(polarity_sum) FROM buckets GROUP BY brand")),
        "flags": sorted(sql(s, "SELECT mention_key, level FROM safety_flags")),
    }


def test_a_page_at_once_stores_what_row_by_row_stores(make_store):
    whole, rows = make_store(), make_store()
    items = page(range(1, 61), flagged={5, 6})
    assert whole.ingest("x", items, "c", T0) == 60
    assert sum(rows.ingest("x", [sm], None, T0) for sm in items) == 60
    assert tables(whole) == tables(rows)
    assert len(tables(whole)["links"]) == 80
    assert tables(whole)["flags"] == [("reddit:5", "risk"), ("x:6", "risk")]


def test_overlapping_and_repeated_pages_store_each_post_once(store):
    first = page(range(1, 61))
    again = page(range(40, 101)) + page(range(90, 95))  # overlaps the first page, and itself
    assert store.ingest("x", first, None, T0) == 60
    assert store.ingest_page("x", again, "c", T0).new == 40
    t = tables(store)
    assert len(t["mentions"]) == 100 and len({k for k, *_ in t["mentions"]}) == 100
    per_brand = {}
    for b, _st, _p, count, *_ in t["buckets"]:
        per_brand[b] = per_brand.get(b, 0) + count
    expected = {"mindful": sum(1 for n in range(1, 101) if n % 3 in (0, 1)),
                "rival": sum(1 for n in range(1, 101) if n % 3 in (1, 2))}
    assert per_brand == expected
    assert sum(1 for _ in t["links"]) == sum(expected.values())
    assert store.ingest("x", again, None, T0) == 0 and tables(store) == t  # the same page again: nothing changes


def test_the_first_of_a_key_in_a_page_is_the_one_stored(store):
    a = scored(mention(1, "Mindful Health first"), label="negative")
    b = scored(mention(1, "Mindful Health second"), label="positive")
    assert store.ingest("x", [a, b], None, T0) == 1
    assert sql(store, "SELECT text, label FROM mentions") == [("Mindful Health first", "negative")]
    assert [c for *_, c, _n, _p in store.bucket_rows(T0, T0 + timedelta(hours=1))] == [1]


def test_the_raw_payload_is_stored_as_its_json(store):
    (sm,) = page([3])
    store.ingest("x", [sm], None, T0)
    assert json.loads(sql(store, "SELECT raw FROM mentions")[0][0]) == sm.mention.raw
    bulk = page([4])
    store.bulk_ingest("x", bulk, T0)
    assert sql(store, "SELECT raw FROM mentions WHERE key = 'x:4'")[0][0] == "{}"  # bulk keeps no payload


def test_a_poison_post_in_a_full_page_is_set_aside_and_the_rest_goes_in_at_once(store):
    items = page(range(1, 101))
    items[50] = replace(items[50], mention=replace(items[50].mention, author_reach=10**30))
    result = store.ingest_page("x", items, "c", T0)
    assert result.new == 99 and [d.key for d in result.dead] == [items[50].mention.key]
    assert len(tables(store)["mentions"]) == 99 and store.cursor("x") == "c"
