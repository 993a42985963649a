"""Shared API budgets: one row per (name, period) that every process spends from."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from tests.backends import backend, make_store, store  # noqa: F401

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


def test_spend_takes_only_what_fits(store):
    assert store.spend("youtube", "2026-12-07", 60, 100, NOW)
    assert not store.spend("youtube", "2026-12-07", 41, 100, NOW)  # 101 > 100: refused, nothing taken
    assert store.spend("youtube", "2026-12-07", 40, 100, NOW)
    assert not store.spend("youtube", "2026-12-07", 1, 100, NOW)
    assert store.spend("youtube", "2026-12-08", 1, 100, NOW)  # a new period starts empty
    rows = {(r["name"], r["period"]): r["used"] for r in store.budget_rows()}
    assert rows == {("youtube", "2026-12-07"): 100, ("youtube", "2026-12-08"): 1}


def test_no_budget_only_counts(store):
    for _ in range(3):
        assert store.spend("x", "15m", 1, None, NOW)
    assert [r["used"] for r in store.budget_rows()] == [3]


def test_racing_spenders_never_overspend(backend, make_store, tmp_path):
    # Two handles on one database (two processes in production), 8 threads, 40 units of room.
    path = tmp_path / "b.db" if backend == "sqlite" else ":memory:"
    first = make_store(path)
    second = make_store(path) if backend == "sqlite" else first
    taken: list[bool] = []

    def spend(s):
        for _ in range(10):
            taken.append(s.spend("reddit", "p", 1, 40, NOW))

    threads = [threading.Thread(target=spend, args=(first if i % 2 else second,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(taken) == 40
    assert first.budget_rows()[0]["used"] == 40
