"""The ingest's prepare stage on its fast paths: what it stores is what the plain code stored."""

import math
import re
from collections import OrderedDict

from hypothesis import given, settings, strategies as st

from bot.models import Mention
from bot.normalise import MAX_DEPTH, MAX_ID, MAX_ITEMS, MAX_TEXT, key_of, normalise, storable, storable_json
from tests.helpers import T0


def _storable_reference(value) -> str:
    """storable as it was written before its ASCII fast path."""
    if not isinstance(value, str):
        return storable(value)
    if re.search("[\ud800-\udfff]", value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", "\ufffd")


def _reference(value, depth=0):
    """storable_json as it was written before its fast paths (one isinstance chain per node)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else float(value) if value.bit_length() < 1000 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _storable_reference(value)[:MAX_TEXT]
    if depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, dict) or isinstance(value, OrderedDict):
        return {_storable_reference(k)[:MAX_ID]: _reference(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_reference(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return _storable_reference(value)[:MAX_TEXT]


_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "x\udc00y", "k" * (MAX_ID + 5), "é" * (MAX_ID + 1)])
_scalar = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
           | _text | st.binary(max_size=4))
_keys = _text | st.integers() | st.booleans() | st.none()
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                     | st.dictionaries(_keys, inner, max_size=4), max_leaves=25)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_text)
def test_storable_is_what_it_was(text):
    assert storable(text) == _storable_reference(text)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(_json)
def test_storable_json_is_what_the_plain_walk_made(value):
    assert _same(storable_json(value), _reference(value))


def test_storable_json_at_the_limits():
    deep = cur = {}
    for _ in range(MAX_DEPTH + 3):
        cur["n"] = cur = {}
    wide = {f"k{i}": i for i in range(MAX_ITEMS + 10)}
    for value in (deep, wide, list(range(MAX_ITEMS + 10)), {"x" * 500: 1}, {"é" * 300: "\x00" * 3},
                  "y" * (MAX_TEXT + 10), OrderedDict(a=1), {"big": 2**63 + 5, "huge": 2**2000}):
        assert _same(storable_json(value), _reference(value))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.one_of(_text, st.integers(), st.none(), st.binary(max_size=6)),
       st.one_of(_text, st.integers(), st.none(), st.floats(allow_nan=False)))
def test_key_of_is_the_key_normalise_stores_under(platform, native_id):
    m = Mention(platform, native_id, "some text", "a", "u", T0)
    clean = normalise(m)
    if clean is not None:
        assert key_of(m) == clean.key
