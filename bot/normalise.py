"""The normalise stage: one clean form for text from any platform. Pure."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from bot.models import Mention, utc

# Control characters break terminals and logs; keep tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
MAX_TEXT = 40_000  # a hostile or broken payload must not bloat the store


def clean(text: str) -> str:
    """NFC, no control characters, tidy whitespace. (Listeners decode HTML entities, once.)"""
    text = unicodedata.normalize("NFC", text or "")
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text))
    return text.strip()[:MAX_TEXT]


def normalise(mention: Mention) -> Mention | None:
    """The mention in clean form, or None when nothing readable is left."""
    text = clean(mention.text)
    title = clean(mention.title)
    if not text and not title:
        return None
    return replace(
        mention,
        text=text,
        title=title,
        author=clean(mention.author)[:200],
        created_at=utc(mention.created_at),
        author_reach=max(0, int(mention.author_reach or 0)),
        engagement=max(0, int(mention.engagement or 0)),
    )
