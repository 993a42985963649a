"""Half-open [start, end) character spans: merging and overlap tests, shared by the text
scanners (bot/privacy.py, bot/selfharm.py)."""

from __future__ import annotations

import bisect


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping spans joined."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether [start, end) overlaps one of `spans` (sorted, not overlapping each other)."""
    i = bisect.bisect_right(spans, (start, float("inf")))
    return (i > 0 and spans[i - 1][1] > start) or (i < len(spans) and spans[i][0] < end)
