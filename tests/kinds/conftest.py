from __future__ import annotations

from datetime import timedelta
from typing import Callable

import pytest

from bot.kinds.base import Context
from bot.store import Store
from tests.helpers import T0, brand, mention, scored


class History:
    """A real Store filled bucket by bucket: `add(hour_offset, n, label=..., authors=...)`."""

    def __init__(self):
        self.store = Store(":memory:")
        self.n = 0

    def add(self, at_hours: float, count: int, *, label: str = "neutral", authors: int | None = None,
            text: str = "Mindful Health update", brand_key: str = "mindful", reach: int = 100) -> None:
        start = T0 + timedelta(hours=at_hours)
        rows = []
        for i in range(count):
            self.n += 1
            at = start + timedelta(seconds=(i * 3600 // max(count, 1)) % 3600)
            who = f"author{self.n if authors is None else i % authors}"
            polarity = {"negative": -0.6, "positive": 0.6}.get(label, 0.0)
            rows.append(scored(mention(self.n, text, at=at, author=who, reach=reach), (brand_key,), label, polarity))
        self.store.ingest("test", rows, None, start)

    def steady(self, hours: int, per_hour: int, **kw) -> None:
        for h in range(hours):
            self.add(h, per_hour, **kw)

    def ctx(self, at_hours: float, brand_key: str = "mindful") -> Context:
        return Context(brand(brand_key), T0 + timedelta(hours=at_hours), self.store)


@pytest.fixture
def history() -> History:
    return History()


Factory = Callable[[], History]
