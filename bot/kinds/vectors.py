"""What a kind's vectorised path reads: every step of a backtest at once, for one rule group.

A kind may offer, beside its `check`, `vector(options, frame) -> Vector`: the answers its
check would give at every step of a backtest, computed from the in-memory history's columns
(bucket prefix sums, pre-matched mention times) with a few numpy operations instead of one
Python check per step. The backtest engine (bot/backtest_vec.py) runs the alert state machine
over that trigger array and calls the real `check` only where the Vector asks it to
(`confirm`: steps the vector cannot decide honestly, such as a distinct-authors guard) and
where an alert is raised (the real Trigger feeds `explain`).

A Vector must answer exactly what `check` answers: same steps holding, same observed value
(same Python type, since a backtest reports it). The helpers here reproduce the arithmetic of
MemHistory (bucket indexes floored, windows clipped to the loaded period) so that holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import numpy as np

from bot.models import BUCKET
from bot.vocab import STEP

_REF = datetime(2000, 1, 1, tzinfo=timezone.utc)  # any instant on a whole second works
_US = timedelta(microseconds=1)
_EPOCH0 = datetime(1970, 1, 1, tzinfo=timezone.utc)


def seconds_back(span: timedelta) -> int:
    """epoch(t - span) - epoch(t) for an instant t on a whole second: how far back a window
    starts, in the whole seconds `int(dt.timestamp())` gives (floored, as MemHistory reads it)."""
    return int((_REF - span).timestamp()) - int(_REF.timestamp())


def micros(span: timedelta) -> int:
    return span // _US


@dataclass
class Vector:
    """A check's answer at every step: `holds` (bool), `observed` (the Trigger's number where it
    holds; an ndarray whose `tolist()` gives the check's Python type, or an object array), and
    `confirm`: steps where the real check decides instead (None: none)."""

    holds: np.ndarray
    observed: Any
    confirm: np.ndarray | None = None
    how: str = "vectorised"


class Steps:
    """The simulated clock: `now` at step k is since + (k + 1) * every, as run_backtest steps it."""

    def __init__(self, since: datetime, every: timedelta, count: int):
        self.since, self.every, self.count = since, every, count
        k = np.arange(1, count + 1, dtype=np.int64)
        self.now_us = micros(since - _EPOCH0) + k * micros(every)
        self.now_s = self.now_us // 1_000_000  # int(now.timestamp()) (floors; times are positive)
        bucket_us = micros(BUCKET)
        self.end_s = (self.now_us // bucket_us) * STEP  # epoch(floor_bucket(now))

    def now(self, k: int) -> datetime:
        return self.since + (k + 1) * self.every


class Frame:
    """One rule group (a brand, on some platforms, or a listener) over every step."""

    def __init__(self, history: Any, steps: Steps, brand: Any = None, platforms: Sequence[str] | None = None,
                 group: Any = None, cache: dict | None = None):
        self.history, self.steps, self.brand, self.platforms, self.group = history, steps, brand, platforms, group
        self.K = steps.count
        self.n = history.n
        self.t0 = history.t0
        self._cache = cache if cache is not None else {}
        self.end_idx = (steps.end_s - self.t0) // STEP  # MemHistory._index(ctx.end)

    # -- bucket columns ----------------------------------------------------------------------

    def _keys(self, brand: str) -> list[tuple[str, str | None]]:
        return self.history._key(brand, self.platforms)

    def prefix(self, name: str, brand: str | None = None) -> np.ndarray:
        """Prefix sums (length n + 1) of a bucket column ("count" or a label), summed over the
        group's platforms: a window's sum is two look-ups."""
        brand = brand or self.brand.key
        key = ("prefix", brand, tuple(self.platforms) if self.platforms else None, name)
        found = self._cache.get(key)
        if found is None:
            found = np.zeros(self.n + 1, dtype=np.int64)
            for part in self._keys(brand):
                cols = self.history.columns.get(part)
                if cols is not None:
                    found[1:] += np.cumsum(np.asarray(cols[name], dtype=np.int64))
            self._cache[key] = found
        return found

    def index(self, back: timedelta) -> np.ndarray:
        """MemHistory._index(ctx.end - back) at every step, unclipped."""
        return (self.steps.end_s + seconds_back(back) - self.t0) // STEP

    def between(self, prefix: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sums over bucket indexes [lo, hi), clipped to the loaded period as MemHistory clips."""
        return prefix[np.clip(hi, 0, self.n)] - prefix[np.clip(lo, 0, self.n)]

    def totals(self, name: str, start: timedelta, end: timedelta = timedelta(0), brand: str | None = None) -> np.ndarray:
        """What ctx.totals(ctx.end - start, ctx.end - end) reads for one column, at every step."""
        return self.between(self.prefix(name, brand), self.index(start), self.index(end))

    def usable(self) -> np.ndarray:
        """ctx.usable_buckets() at every step: whole buckets from the brand's first bucket to
        the window's end, 0 until the first mention."""
        from bot.models import floor_bucket

        first = self.history.first_seen(self.brand.key)
        if first is None:
            return np.zeros(self.K, dtype=np.int64)
        first_us = micros(first - _EPOCH0)
        base = micros(floor_bucket(first) - _EPOCH0) // 1_000_000
        return np.where(self.steps.end_s * 1_000_000 > first_us, (self.steps.end_s - base) // STEP, 0)

    # -- pre-matched mentions ----------------------------------------------------------------

    def matched(self, spec: Any, window: timedelta) -> np.ndarray:
        """ctx.count_matching(spec, ctx.end - window) at every step: two sorted searches per key."""
        times = self.history._match(spec, self.brand.key)
        hi = self.steps.end_s
        lo = hi + seconds_back(window)
        out = np.zeros(self.K, dtype=np.int64)
        for part in self._keys(self.brand.key):
            found = times.get(part)
            if not found:
                continue
            key = ("times", spec, part)
            arr = self._cache.get(key)
            if arr is None:
                arr = self._cache[key] = np.asarray(found, dtype=np.int64)
            out += np.searchsorted(arr, hi, "left") - np.searchsorted(arr, lo, "left")
        return out


def near(values: np.ndarray, threshold: float) -> np.ndarray:
    """Steps whose value lies within rounding distance of a threshold: the real check decides
    those, so a last-bit difference between numpy and Python arithmetic cannot flip an answer."""
    return np.abs(values - threshold) <= 1e-9 * max(1.0, abs(threshold))
