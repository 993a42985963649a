"""The normalise stage: one clean, storable form for text from any platform. Pure.

Storable means every backend takes it as it is: no lone surrogates (valid JSON can carry
`\\ud800`, and no UTF-8 encoder takes it: issue #20's poison post), no NUL (PostgreSQL text
cannot hold it), integers that fit a 64-bit column, JSON without NaN, and nothing so deep or
so large that encoding it fails. Every field is made so, the raw payload at any depth; nothing
here raises on odd input, it replaces. What still cannot be stored is the store's to set aside
(bot/store/deadletters.py), never a reason to lose the rest of a page.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from bot.models import Mention, utc

# Control characters break terminals and logs; keep tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ALL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in one-line fields (ids, URLs, languages)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# What `clean` would change in ASCII text besides the ends: controls (\r too), tabs, NBSP, runs
# of spaces, blank lines. ASCII text without any is clean once stripped (it is NFC as it is).
_UNTIDY_ASCII = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\t]|  |\n\n\n")
MAX_TEXT = 40_000  # a hostile or broken payload must not bloat the store
MAX_ID = 200
MAX_URL = 2_048
MAX_INT = 2**63 - 1  # SQLite INTEGER and PostgreSQL bigint
MAX_DEPTH = 32  # raw payload nesting kept; deeper is cut (JSON encoders recurse)
MAX_ITEMS = 1_000  # per raw list or mapping
REPLACEMENT = "\ufffd"
# Post times harkbot can store and read back: ISO text is fixed-width only for 4-digit years
# (year 5 prints "5-01-01", which no reader parses), and a bucket's end must not overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class Unstorable(ValueError):
    """A post normalise cannot make storable by replacing characters. Its message is harkbot's
    own and never quotes the post, so a dead letter may show it."""


def storable(value: Any) -> str:
    """`value` as text any backend takes: lone surrogates and NUL become U+FFFD.

    A surrogate *pair* (two code points, as a UTF-16 source may leave them) becomes the one
    character it encodes; only a lone half is replaced."""
    if not isinstance(value, str):
        value = _as_text(value)
    elif value.isascii():  # most text: no surrogate can be in it (a fast check in C)
        return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
    if _SURROGATE.search(value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", REPLACEMENT) if "\x00" in value else value


def clean(text: Any) -> str:
    """NFC, no control characters, tidy whitespace, storable. (Listeners decode HTML entities, once.)"""
    text = text if isinstance(text, str) else _as_text(text or "")
    if text.isascii() and not _UNTIDY_ASCII.search(text):  # most text: a regex pass in C, not six
        return text.strip()[:MAX_TEXT]
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))  # NUL goes here, unseen
    text = unicodedata.normalize("NFC", storable(text))
    text = _BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text))
    return text.strip()[:MAX_TEXT]


def one_line(value: Any, limit: int) -> str:
    """An id, URL or code: storable, no control characters at all, at most `limit` characters."""
    text = value if isinstance(value, str) else _as_text(value if value is not None else "")
    if text.isascii() and text.isprintable():  # no control character, no NUL, no surrogate
        return text.strip()[:limit]
    return storable(_ALL_CONTROL.sub("", text)).strip()[:limit]


def count(value: Any) -> int:
    """A non-negative count that fits a 64-bit column; junk is 0."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float('inf'))
        return 0
    return min(MAX_INT, max(0, number))


def storable_json(value: Any, depth: int = 0) -> Any:
    """Parsed JSON (or what will be dumped as JSON) that every backend stores: strings
    storable and capped, integers that print, no NaN or infinity (PostgreSQL's jsonb refuses
    them), string keys, at most MAX_DEPTH levels and MAX_ITEMS per container."""
    # Exact types first, in the order a payload holds them: this walks every node of every
    # raw payload ingested, so the common case takes the fewest steps.
    kind = type(value)
    if kind is str:
        return storable(value)[:MAX_TEXT]
    if kind is dict:
        if depth >= MAX_DEPTH:
            return "[nested too deep]"
        items = value.items() if len(value) <= MAX_ITEMS else list(value.items())[:MAX_ITEMS]
        out = {}
        for k, v in items:
            if not (type(k) is str and len(k) <= MAX_ID and k.isascii() and "\x00" not in k):
                k = storable(k)[:MAX_ID]
            # The leaves most payloads hold, as the branches below take them, without a call each.
            t = type(v)
            if t is str and len(v) <= MAX_TEXT and v.isascii() and "\x00" not in v:
                out[k] = v
            elif t is int and -MAX_INT <= v <= MAX_INT or v is None or t is bool:
                out[k] = v
            else:
                out[k] = storable_json(v, depth + 1)
        return out
    if kind is list:
        if depth >= MAX_DEPTH:
            return "[nested too deep]"
        return [storable_json(v, depth + 1) for v in (value if len(value) <= MAX_ITEMS else value[:MAX_ITEMS])]
    if value is None or kind is bool:
        return value
    if kind is int and -MAX_INT <= value <= MAX_INT:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    return _storable_other(value, depth)


def _storable_other(value: Any, depth: int) -> Any:
    """storable_json for whatever is not a plain str, dict, list, bool or 64-bit int."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # json.dumps refuses ints past 4,300 digits; nothing in a payload needs 64+ bits exact.
        return value if value.bit_length() <= 64 else float(value) if value.bit_length() < 1000 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return storable(value)[:MAX_TEXT]
    if depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        return {storable(k)[:MAX_ID]: storable_json(v, depth + 1)
                for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [storable_json(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return storable(value)[:MAX_TEXT]  # bytes, datetimes, anything else: as text


def key_of(mention: Mention) -> str:
    """The key `normalise(mention)` stores the post under (platform:id), without normalising
    the rest: what ingest looks up to skip posts it already has before doing any other work."""
    return f"{one_line(mention.platform, 40)}:{one_line(mention.id, MAX_ID)}"


def normalise(mention: Mention) -> Mention | None:
    """The mention in clean, storable form, or None when nothing readable is left (no text
    and no title, or no id to store it under)."""
    text = clean(mention.text)
    title = clean(mention.title)
    native_id = one_line(mention.id, MAX_ID)
    if not (text or title) or not native_id:
        return None
    created = mention.created_at
    if not isinstance(created, datetime):  # a listener bug, not a post: let the page set it aside
        raise TypeError(f"created_at is a {type(created).__name__}, not a datetime")
    created = utc(created)
    if not EARLIEST <= created < LATEST:  # a payload's "0005-01-01T00:00:00Z": set aside, not guessed at
        raise Unstorable(f"its time, year {created.year}, is outside {EARLIEST.year}-{LATEST.year - 1}")
    raw = mention.raw if isinstance(mention.raw, Mapping) else {"value": mention.raw}
    metrics = mention.metrics if isinstance(mention.metrics, Mapping) else {}
    language = one_line(mention.language, 35) if mention.language else ""
    return replace(
        mention,
        platform=one_line(mention.platform, 40),
        id=native_id,
        text=text,
        title=title,
        author=clean(mention.author)[:MAX_ID],
        url=one_line(mention.url, MAX_URL),
        created_at=created,
        author_reach=count(mention.author_reach),
        engagement=count(mention.engagement),
        language=language or None,
        kind=one_line(mention.kind, 40) or "post",
        metrics={one_line(k, MAX_ID): count(v) for k, v in list(metrics.items())[:MAX_ITEMS]},
        raw=storable_json(raw),
    )


def _as_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a __str__ that raises must not cost the page
        return f"[unreadable {type(value).__name__}]"
