"""Baselines and spike scores over count series. Pure and numeric: no I/O, no clock.

The first detector (the scoring issue makes it excellent): compare a window's count with the
robust level of the same-length windows before it. Small counts get a variance-stabilised
significance, so 0 -> 3 mentions is not a crisis while 40 -> 400 is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Spike:
    observed: float
    usual: float  # the robust baseline level per window
    ratio: float  # observed / max(usual, floor)
    z: float  # Anscombe-transformed difference: ~N(0, 1) for Poisson counts
    windows: int  # how many earlier windows the baseline used


def level(history: Sequence[float]) -> float:
    """A robust trailing level: the mean after dropping the top tenth.

    The median of sparse counts is often 0, and a plain mean is dragged up by the very
    spikes we look for; an upper-trimmed mean is neither.
    """
    if not history:
        return 0.0
    ordered = sorted(history)
    keep = max(1, math.ceil(len(ordered) * 0.9))
    kept = ordered[:keep]
    return sum(kept) / len(kept)


def anscombe_z(observed: float, expected: float) -> float:
    """How many standard deviations `observed` lies from a Poisson(`expected`) count."""
    return 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(max(expected, 0.0) + 0.375))


def windows(series: Sequence[int], size: int, usable: int | None = None) -> tuple[int, list[int]]:
    """Split a bucket series into (the last window's sum, the sums of earlier whole windows).

    Earlier windows are cut backwards from the last one; only the last `usable` buckets of
    the series hold real history (the rest predate the first data) and count.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    observed = sum(series[-size:])
    earlier = series[:-size]
    if usable is not None:
        earlier = earlier[max(0, len(earlier) - max(0, usable - size)):]
    sums = [sum(earlier[i - size : i]) for i in range(len(earlier), size - 1, -size)]
    return observed, sums


def score(observed: float, history: Sequence[float], floor: float = 1.0) -> Spike:
    usual = level(history)
    ratio = observed / max(usual, floor)
    return Spike(observed, usual, ratio, anscombe_z(observed, usual), len(history))
