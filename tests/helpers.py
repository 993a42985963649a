"""Small builders shared by tests: mentions, scored mentions, brands, a listener double."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator, Sequence

from bot.models import Batch, Brand, Mention, Score, ScoredMention
from bot.query import parse

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)


def mention(n: int, text: str = "Mindful Health is great", *, at: datetime | None = None, author: str | None = None,
            platform: str = "x", reach: int = 100) -> Mention:
    return Mention(platform=platform, id=str(n), text=text, author=author or f"user{n}",
                   url=f"https://x.com/user{n}/status/{n}", created_at=at or T0 + timedelta(minutes=n),
                   author_reach=reach, engagement=1)


def scored(m: Mention, brands: Sequence[str] = ("mindful",), label: str = "neutral",
           polarity: float = 0.0) -> ScoredMention:
    return ScoredMention(m, tuple(brands), Score(label, polarity, "test"))


def brand(key: str = "mindful", query: str = '"mindful health" OR mindfulhealth', kind: str = "brand",
          exclude: str | None = None) -> Brand:
    return Brand(key, key.title(), kind, parse(query), parse(exclude) if exclude else None)


class ScriptedListener:
    """A listener double that yields prepared pages (the real ones are tested over HTTP)."""

    name = "scripted"

    def __init__(self, pages: list[list[Mention]], cursor: str = "c1", fail_after: int | None = None,
                 error: Exception | None = None):
        self.pages, self.cursor, self.fail_after, self.error = pages, cursor, fail_after, error
        self.seen_cursors: list[str | None] = []

    def fetch(self, brands, cursor, now) -> Iterator[Batch]:
        self.seen_cursors.append(cursor)
        for i, page in enumerate(self.pages):
            if self.fail_after is not None and i == self.fail_after:
                raise self.error
            last = i == len(self.pages) - 1
            yield Batch(tuple(page), self.cursor if last else None)
