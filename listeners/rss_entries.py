"""RSS/Atom entries as payloads and Mentions, and what the cursor keeps per feed. Pure.

feedparser's parsed entry never leaves listeners/rss.py as it is: `entry_payload` copies the
fields harkbot reads into a plain JSON-able dict (the `raw` of the Mention), and
`entry_mention` turns that dict into a Mention, so both are tested without a network.

Ids. An RSS guid or an Atom id is unique only within its publisher ("123" in two blogs), so
an id that is not a URI is scoped by the feed's host: two Google News searches (one per brand)
that carry the same article give it one id, stored once. An id longer than the store keeps
(200 characters; Google News links run longer) is replaced by a hash of it.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

from bot.models import UTC, Mention, iso
from listeners.base import html_to_text, mapping, parse_time, text_or_none

PLATFORM = "rss"
MAX_ID = 200  # what the store keeps of an id (bot/normalise.py)
# Markup kept per field before it is read as text: a hostile or broken entry of many MB
# must cost neither the parser's time nor the store's room.
MAX_MARKUP = 400_000
MAX_TAGS = 20
ELLIPSIS = "\u2026"
_GLOBAL_ID = re.compile(r"^(?:https?|urn|tag|ni|doi):", re.IGNORECASE)
_WEB = ("http", "https")


# ---- feedparser entry -> payload -----------------------------------------------------------


def entry_payload(entry: Mapping[str, Any], feed: Mapping[str, Any], feed_url: str,
                  fetched_at: datetime) -> dict[str, Any]:
    """One parsed entry (feedparser's dict) as the plain payload `entry_mention` reads."""
    source = mapping(entry.get("source"))
    content = [c for c in entry.get("content") or () if isinstance(c, Mapping)]
    body = max(content, key=lambda c: len(str(c.get("value") or "")), default=None)
    return {
        "id": entry_id(entry, feed_url),
        "feed": feed_url,
        "feed_title": _detail(feed.get("title_detail"), feed.get("title")),
        "feed_link": text_or_none(feed.get("link")),
        "language": text_or_none(entry.get("language")) or text_or_none(feed.get("language")),
        "title": _detail(entry.get("title_detail"), entry.get("title")),
        # The fullest text the entry carries: Atom content (or content:encoded), else the summary.
        "body": _detail(body, None) if body else _detail(entry.get("summary_detail"), entry.get("summary")),
        "link": text_or_none(entry.get("link")),
        "byline": text_or_none(entry.get("author")),
        "source": {"title": text_or_none(source.get("title")), "href": text_or_none(source.get("href"))},
        "published": _struct_time(entry.get("published_parsed")),
        # dict.get: feedparser's own get maps a missing updated_parsed to published_parsed,
        # with a DeprecationWarning per entry.
        "updated": _struct_time(dict.get(entry, "updated_parsed") if isinstance(entry, dict) else None),
        "fetched_at": iso(fetched_at),
        "tags": [t["term"] for t in (entry.get("tags") or ())[:MAX_TAGS]
                 if isinstance(t, Mapping) and isinstance(t.get("term"), str)],
    }


def entry_id(entry: Mapping[str, Any], feed_url: str) -> str:
    """The entry's id: its guid/id, else its link, else a hash of what it says."""
    ident = str(entry.get("id") or entry.get("link") or "").strip()
    if not ident:
        said = f"{entry.get('title') or ''}\n{entry.get('summary') or ''}\n{entry.get('published') or ''}"
        ident = "sha256:" + hashlib.sha256(said.encode("utf-8", "replace")).hexdigest()[:40]
    elif not _GLOBAL_ID.match(ident):
        ident = f"{urlsplit(feed_url).hostname or ''}#{ident}"
    if len(ident) > MAX_ID:
        ident = "sha256:" + hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:40]
    return ident


def _detail(detail: Any, fallback: Any) -> dict[str, str] | None:
    """A feedparser text construct as {"type", "value"}, the markup cut to MAX_MARKUP."""
    detail = mapping(detail)
    value = detail.get("value", fallback)
    if not isinstance(value, str) or not value:
        return None
    kind = detail.get("type") if isinstance(detail.get("type"), str) else "text/html"
    return {"type": kind, "value": value[:MAX_MARKUP]}


def _struct_time(value: Any) -> str | None:
    """feedparser's parsed date (a UTC time.struct_time) as ISO text; junk is None."""
    try:
        return iso(datetime.fromtimestamp(calendar.timegm(value), UTC)) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# ---- payload -> Mention -----------------------------------------------------------------------


def entry_mention(payload: Any) -> Mention | None:
    """One entry payload as a Mention; None without an id, or with neither title nor text."""
    if not isinstance(payload, Mapping):
        return None
    ident = text_or_none(payload.get("id"))
    title = as_text(payload.get("title"))
    text = as_text(payload.get("body"))
    fetched = parse_time(payload.get("fetched_at"))
    if not ident or not (title or text) or fetched is None:
        return None
    when = parse_time(payload.get("published")) or parse_time(payload.get("updated")) or fetched
    source = mapping(payload.get("source"))
    language = text_or_none(payload.get("language"))
    return Mention(
        platform=PLATFORM,
        id=ident,
        text=text,
        # The publisher: Google News names it per entry (<source>); a publisher's own feed is
        # its title; a byline only when neither is known. The byline stays in raw.
        author=(text_or_none(source.get("title")) or as_text(payload.get("feed_title"))
                or text_or_none(payload.get("byline")) or ""),
        url=_web(payload.get("link")) or _web(ident) or _web(payload.get("feed_link")) or "",
        # A publisher whose clock or time zone is off must not put news in the future.
        created_at=min(when, fetched),
        language=language.split("-")[0].lower() if language else None,
        title=title,
        kind="article",
        raw=dict(payload),
    )


def as_text(detail: Any) -> str:
    """A payload text field ({"type", "value"}) as plain text: HTML read as a page shows it,
    text/plain kept as it is (its `<` is a character, not a tag)."""
    detail = mapping(detail)
    value = detail.get("value")
    if not isinstance(value, str):
        return ""
    value = value[:MAX_MARKUP]
    if detail.get("type") == "text/plain":
        return "\n".join(" ".join(line.split()) for line in value.strip().splitlines()).strip()
    return html_to_text(value)


def clipped(mention: Mention, limit: int) -> Mention:
    """The mention with its text cut to `limit` characters, at a word, marked with an ellipsis."""
    if len(mention.text) <= limit:
        return mention
    cut = mention.text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return replace(mention, text=cut.rstrip() + ELLIPSIS, raw={**mention.raw, "truncated": True})


def _web(value: Any) -> str | None:
    """An http(s) URL, or None: a feed's `javascript:` or `data:` link is never a link to click."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme.lower() in _WEB and parts.netloc else None


# ---- what the cursor keeps per feed -----------------------------------------------------------


@dataclass
class FeedState:
    """One feed's place: the validators for a conditional GET, the entries already read (as
    short hashes, newest first), and a failing feed's rest."""

    etag: str | None = None
    modified: str | None = None
    seen: list[str] = field(default_factory=list)
    failures: int = 0
    retry_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seen": self.seen}
        if self.etag:
            out["etag"] = self.etag
        if self.modified:
            out["modified"] = self.modified
        if self.failures:
            out["failures"] = self.failures
        if self.retry_at is not None:
            out["retry_at"] = iso(self.retry_at)
        return out

    @classmethod
    def of(cls, data: Any) -> FeedState:
        data = mapping(data)
        seen = data.get("seen")
        failures = data.get("failures")
        return cls(
            etag=text_or_none(data.get("etag")),
            modified=text_or_none(data.get("modified")),
            seen=[s for s in seen if isinstance(s, str)] if isinstance(seen, list) else [],
            failures=failures if isinstance(failures, int) and failures > 0 else 0,
            retry_at=parse_time(data.get("retry_at")),
        )


def seen_hash(mention_id: str) -> str:
    """16 hex digits of the id's SHA-256: 64 bits keeps a collision out of reach for the
    thousands of entries a feed's window holds, at a tenth of a long id's room."""
    return hashlib.sha256(mention_id.encode("utf-8", "replace")).hexdigest()[:16]


def remembered(current: list[str], before: list[str], limit: int) -> list[str]:
    """The seen list after a read: every entry the feed holds now (else one that stays in the
    feed would come back as new), then the older ones, newest first, `limit` in all at most
    (or as many as the feed holds now, if that is more)."""
    keep = list(dict.fromkeys(current))
    have = set(keep)
    keep += [h for h in before if h not in have]
    return keep[:max(limit, len(have))]
