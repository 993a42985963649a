from bot.normalise import MAX_TEXT, clean, normalise
from tests.helpers import T0, mention


def test_clean_keeps_text_and_drops_what_breaks_terminals():
    assert clean("  caf\u0065\u0301  &amp; <b>\r\nok\x00 ") == "caf\u00e9 &amp; <b>\nok"
    assert clean("a\n\n\n\n\nb") == "a\n\nb"
    assert len(clean("x" * (MAX_TEXT + 10))) == MAX_TEXT


def test_normalise_drops_empty_and_clamps_numbers():
    assert normalise(mention(1, " \x07 ")) is None
    m = normalise(mention(2, "hi", reach=-5))
    assert m.author_reach == 0 and m.created_at.tzinfo is not None


# -- storable in every field (#20): a lone surrogate, NUL, junk numbers, odd JSON -------------

from dataclasses import replace  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from bot.normalise import MAX_INT, MAX_DEPTH, storable, storable_json  # noqa: E402
from tests.backends import backend, make_store, store  # noqa: E402,F401
from tests.helpers import scored  # noqa: E402

POISON = "Mindful Health \ud800 broke\x00 me"


def poisoned(n: int = 1):
    """A mention whose every field carries what broke ingest: a lone surrogate, NUL, a huge number."""
    return replace(mention(n, POISON), id=f"{n}\ud800", author="al\udfffice\x00", title="t\ud800",
                   url="https://x.com/\ud800\x00/status/1", language="e\ud800n", author_reach=10**30,
                   engagement=float("inf"), metrics={"like\ud800": 10**40, "bad": "x"},
                   raw={"text": POISON, "deep": [[["\ud800", {"k\ud800": float("nan")}]]], "big": 10**5000,
                        "bytes": b"\xff\x00", "when": datetime(2026, 1, 1, tzinfo=timezone.utc)})


def test_a_lone_surrogate_is_replaced_and_a_pair_is_joined():
    assert storable("a\ud800b") == "a\ufffdb"
    assert storable("\ud83d\ude00") == "\U0001F600"  # a UTF-16 pair left split is one character
    assert storable("nul\x00") == "nul\ufffd"


def test_every_field_of_a_poisoned_mention_encodes_as_utf8():
    m = normalise(poisoned())
    for value in (m.id, m.text, m.title, m.author, m.url, m.language, m.platform, m.kind, *m.metrics):
        value.encode("utf-8")
        assert "\x00" not in value
    import json

    json.dumps(m.raw, ensure_ascii=False, allow_nan=False).encode("utf-8")
    assert m.text == "Mindful Health \ufffd broke me" and m.author == "al\ufffdice"
    assert m.author_reach == MAX_INT and m.engagement == 0 and m.metrics == {"like\ufffd": MAX_INT, "bad": 0}
    assert m.raw["big"] is None and m.raw["bytes"] == "\ufffd\ufffd" and m.raw["deep"][0][0][1] == {"k\ufffd": None}


def test_raw_nesting_is_cut_not_recursed_into():
    deep: list = []
    node = deep
    for _ in range(5000):  # json.dumps would raise RecursionError on this
        node.append([])
        node = node[0]
    out = storable_json({"deep": deep})
    depth, node = 0, out["deep"]
    while isinstance(node, list) and node:
        depth, node = depth + 1, node[0]
    assert node == "[nested too deep]" and depth < MAX_DEPTH


def test_a_poisoned_mention_is_stored_on_both_backends(store):
    m = normalise(poisoned())
    assert store.ingest("x", [scored(m)], "c1", T0) == 1
    (found,) = store.recent(limit=5)
    assert found.mention.text == m.text and found.mention.author == m.author and found.mention.id == m.id
    assert store.cursor("x") == "c1"
