"""Dead letters: posts a page could not store, set aside so the rest of the page (and the
cursor) goes on, and kept where `harkbot deadletters list|retry` finds them (#20).

A dead letter holds the mention as ASCII JSON (every odd character escaped, so it is
storable on any backend whatever it holds), the stage that refused it and a reason. The
reason names the error's type and, for errors whose message is known not to quote data, the
message: never the post's text, which is why these lines may go to logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from bot.models import Mention, ScoredMention, parse_iso
from bot.normalise import Unstorable

MAX_PAYLOAD = 1_000_000  # characters of JSON; past this the raw payload is left out
MAX_REASON = 300

# Errors of one row's data, not of the database: the row is set aside, the page goes on.
# Operational errors (locked, disk full, connection lost) still fail the whole page, and so
# do errors that mean a bug (a TypeError, an AttributeError: not a mention at all), so the
# page is fetched again once the bug is fixed rather than filed away post by post.
DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeError, ValueError, OverflowError, RecursionError)


@dataclass(frozen=True)
class DeadLetter:
    """One post set aside. `payload` is the mention as ASCII JSON (see `mention_json`)."""

    key: str  # platform:id, escaped to ASCII where it held odd characters
    listener: str
    stage: str  # "prepare" (normalise, match, score) or "store"
    reason: str
    payload: str
    id: int | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    attempts: int = 1
    resolved_at: datetime | None = None
    resolution: str | None = None  # "stored", "already stored", "no brand matches", "no text left"


@dataclass(frozen=True)
class IngestResult:
    """What one page's ingest did: how many mentions were new, and what it set aside."""

    new: int
    dead: tuple[DeadLetter, ...] = ()


def ascii_text(text: Any) -> str:
    """`text` with anything past ASCII or below space escaped (\\ud800, \\x00): for keys and
    reasons, which must be storable and printable whatever the platform sent."""
    if not isinstance(text, str):
        text = repr(text)
    return text.encode("ascii", "backslashreplace").decode("ascii").translate(_C0)


_C0 = {i: f"\\x{i:02x}" for i in (*range(32), 127)}


def reason_of(exc: BaseException) -> str:
    """A reason fit for a log line: the error's type, and its message only where that message
    cannot quote the data (encoding errors name a position; database errors their primary
    message, without the DETAIL/CONTEXT lines PostgreSQL fills with the row)."""
    name = type(exc).__name__
    if isinstance(exc, Unstorable):
        message = str(exc)
    elif isinstance(exc, UnicodeError) and hasattr(exc, "start"):
        message = f"{getattr(exc, 'reason', '')} at position {exc.start}"
    elif getattr(exc, "diag", None) is not None and getattr(exc.diag, "message_primary", None):
        message = exc.diag.message_primary
    elif isinstance(exc, (OverflowError, RecursionError)) or type(exc).__module__.startswith("sqlite3"):
        message = str(exc).splitlines()[0] if str(exc) else ""
    else:
        message = ""  # a ValueError's text may be anything, the post included
    return ascii_text(f"{name}: {message}" if message else name)[:MAX_REASON]


def mention_json(mention: Any) -> str:
    """The mention as ASCII JSON, whatever it holds (a raw payload that cannot be encoded, or
    one past MAX_PAYLOAD, is replaced by a note saying so)."""
    if not isinstance(mention, Mention):
        return json.dumps({"unreadable": ascii_text(type(mention).__name__)})
    fields = {k: getattr(mention, k) for k in Mention.__dataclass_fields__}
    fields["created_at"] = _iso_or_text(fields["created_at"])
    try:
        text = json.dumps(fields, ensure_ascii=True, default=_text_of, allow_nan=True)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        fields["raw"] = {"left out": f"the raw payload could not be encoded ({type(exc).__name__})"}
        text = json.dumps(fields, ensure_ascii=True, default=_text_of)
    if len(text) > MAX_PAYLOAD:
        fields["raw"] = {"left out": f"the raw payload was {len(text):,} characters"}
        fields["text"] = str(fields["text"])[:MAX_PAYLOAD // 2]
        text = json.dumps(fields, ensure_ascii=True, default=_text_of)
    return text  # ASCII: a NUL or a lone surrogate is an escape (\u0000, \ud800), storable anywhere


def mention_of(payload: str) -> Mention:
    """The mention a dead letter holds, to try again (raises ValueError if it is not one)."""
    data = json.loads(payload)
    if not isinstance(data, dict) or "platform" not in data:
        raise ValueError("this dead letter holds no mention")
    data["created_at"] = parse_iso(str(data["created_at"]))
    known = {k: v for k, v in data.items() if k in Mention.__dataclass_fields__}
    return Mention(**known)


def matches(match: Callable[[Mention], bool], payload: str) -> bool:
    """Whether the mention a letter holds `match`es; a letter holding none matches nothing."""
    try:
        return bool(match(mention_of(payload)))
    except (ValueError, TypeError, KeyError):
        return False


def letter(listener: str, item: Mention | ScoredMention, stage: str, exc: BaseException) -> DeadLetter:
    """A dead letter for `item` (a mention, or a scored one) refused at `stage` by `exc`."""
    m = item.mention if isinstance(item, ScoredMention) else item
    key = ascii_text(getattr(m, "key", "?"))[:500] if isinstance(m, Mention) else "?"
    return DeadLetter(key=key, listener=ascii_text(listener), stage=stage, reason=reason_of(exc),
                      payload=mention_json(m))


def _iso_or_text(value: Any) -> str:
    try:
        return value.isoformat()
    except Exception:  # noqa: BLE001 - whatever it was, the letter keeps something
        return _text_of(value)


def _text_of(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return f"[unreadable {type(value).__name__}]"


