"""A post the store cannot keep is set aside, never the page (#20 item 1), on both backends.

These pages skip normalise on purpose: normalise makes every field storable, and the store's
own guard is what is left when something still is not (a listener or a stage with a bug).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.errors import LeaseLost
from bot.store.deadletters import letter, mention_of
from tests.backends import backend, make_store, sql, store  # noqa: F401
from tests.helpers import T0, mention, scored


def poison_page():
    return [
        scored(mention(1)),
        scored(mention(2, "Mindful Health \ud800 lone surrogate")),  # UnicodeEncodeError on either backend
        scored(replace(mention(3), author_reach=10**30)),  # past a 64-bit column
        scored(mention(4)),
    ]


def test_a_page_with_poison_posts_stores_the_others_and_moves_the_cursor(store):
    result = store.ingest_page("x", poison_page(), "c1", T0)
    assert result.new == 2 and sorted(d.key for d in result.dead) == ["x:2", "x:3"]
    assert sorted(sm.mention.id for sm in store.recent(limit=10)) == ["1", "4"]
    assert store.cursor("x") == "c1"
    assert store.dead_letter_count() == 2 and store.dead_letter_count("x") == 2 and store.dead_letter_count("y") == 0
    by_key = {d.key: d for d in store.dead_letters()}
    assert by_key["x:2"].reason.startswith("UnicodeEncodeError: surrogates not allowed")
    assert by_key["x:2"].stage == "store" and by_key["x:2"].listener == "x" and by_key["x:2"].attempts == 1
    for d in by_key.values():
        assert "lone surrogate" not in d.reason and "Mindful" not in d.reason  # the reason never quotes the post
        d.payload.encode("ascii")


def test_a_stored_post_fetched_again_as_poison_is_no_dead_letter_on_either_backend(store):
    store.ingest_page("x", [scored(mention(2)), scored(mention(3))], "c0", T0)
    result = store.ingest_page("x", poison_page(), "c1", T0)  # 2 and 3 again, now unstorable
    assert result.new == 2 and result.dead == () and store.dead_letter_count() == 0
    assert store.cursor("x") == "c1"


def test_ingest_still_returns_the_new_count_and_sets_aside_too(store):
    assert store.ingest("x", poison_page(), "c1", T0) == 2
    assert store.dead_letter_count() == 2


def test_the_same_poison_post_again_is_one_letter_with_another_attempt(store):
    store.ingest_page("x", poison_page(), "c1", T0)
    again = store.ingest_page("x", poison_page(), "c2", T0 + timedelta(minutes=5))
    assert again.new == 0 and len(again.dead) == 2
    letters = store.dead_letters()
    assert [d.attempts for d in letters] == [2, 2] and letters[0].last_at == T0 + timedelta(minutes=5)
    assert letters[0].first_at == T0


def test_a_dead_letter_gives_back_the_mention_it_set_aside(store):
    store.ingest_page("x", poison_page(), None, T0)
    first = store.dead_letters()[0]
    m = mention_of(first.payload)
    assert m.text == "Mindful Health \ud800 lone surrogate" and m.created_at == mention(2).created_at
    assert store.dead_letter(first.id) == first


def test_a_resolved_letter_leaves_the_count_and_a_refusal_reopens_it(store):
    store.ingest_page("x", poison_page(), None, T0)
    first = store.dead_letters()[0]
    assert store.resolve_dead_letter(first.id, "stored", T0) and not store.resolve_dead_letter(first.id, "stored", T0)
    assert store.dead_letter_count() == 1 and len(store.dead_letters(everything=True)) == 2
    closed = store.dead_letter(first.id)
    assert closed.resolution == "stored" and closed.resolved_at == T0
    store.ingest_page("x", poison_page(), None, T0 + timedelta(minutes=1))
    assert store.dead_letter_count() == 2 and store.dead_letter(first.id).resolution is None


def test_letters_refused_before_the_store_go_in_with_the_page(store):
    bad = mention(9, "Mindful Health")
    rejected = [letter("x", bad, "prepare", RuntimeError("scorer broke on 'Mindful Health'"))]
    result = store.ingest_page("x", [scored(mention(1))], "c1", T0, rejected=rejected)
    assert result.new == 1 and [d.key for d in result.dead] == ["x:9"]
    (d,) = store.dead_letters()
    assert d.stage == "prepare" and d.reason == "RuntimeError"  # an arbitrary message may quote the post


def test_a_lost_lease_refuses_the_page_and_its_dead_letters(store):
    mine = store.acquire_lease("poll:x", "me", T0, timedelta(seconds=60))
    theirs = store.acquire_lease("poll:x", "them", T0 + timedelta(seconds=61), timedelta(seconds=60))
    assert theirs is not None
    with pytest.raises(LeaseLost):
        store.ingest_page("x", poison_page(), "stale", T0, lease=mine)
    assert store.dead_letter_count() == 0 and store.recent(limit=10) == [] and store.cursor("x") is None
    result = store.ingest_page("x", poison_page(), "c1", T0, lease=theirs)
    assert result.new == 2 and store.cursor("x") == "c1"


def test_nul_in_a_stored_field_is_kept_out_of_postgresql_text(store):
    # NUL reaches the store only if normalise was skipped; PostgreSQL text cannot hold it.
    page = [scored(replace(mention(5, "Mindful Health \x00 nul"), author="a\x00b", raw={"t": "x\x00"}))]
    assert store.ingest_page("x", page, None, T0).new == 1
    (found,) = store.recent(limit=1)
    assert found.mention.author in ("a\x00b", "a\ufffdb")


def test_dead_letters_are_purged_by_age(store):
    store.ingest_page("x", poison_page(), None, T0)
    assert store.purge_dead_letters(T0, "x") == 0
    assert store.purge_dead_letters(T0 + timedelta(days=1), "y") == 0
    assert store.purge_dead_letters(T0 + timedelta(days=1)) == 2 and store.dead_letter_count() == 0


def test_a_letter_whose_raw_payload_cannot_be_encoded_keeps_the_rest():
    deep: dict = {}
    node = deep
    for _ in range(3000):
        node["d"] = {}
        node = node["d"]
    d = letter("x", replace(mention(7), raw=deep), "store", ValueError("x"))
    data = json.loads(d.payload)
    assert data["id"] == "7" and "left out" in data["raw"] and d.reason == "ValueError"


def test_an_erasure_reaches_the_letters_too(store):
    store.ingest_page("x", poison_page(), None, T0)
    assert store.forget_dead_letters(lambda m: m.author == "user2") == 1
    assert [d.key for d in store.dead_letters()] == ["x:3"]
    assert store.forget_dead_letters(lambda m: m.key == "x:9") == 0
    store.resolve_dead_letter(store.dead_letters()[0].id, "stored", T0)
    assert store.forget_dead_letters(lambda m: m.key == "x:3") == 1  # resolved letters hold the post too
    assert store.dead_letters(everything=True) == []
