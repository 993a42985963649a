"""listener_silent: a listener that stores nothing, or keeps failing.

Grouped by listener, not by brand: one alert per quiet listener. "Silent" is measured from
the last new mention the listener stored; "failing" from its consecutive errors (the store's
listener health). A backtest replays what was recorded: the times mentions were stored, so
silence is found; past error counts are not kept, so failures are not (the backtest says so).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.kinds.base import MAX_COUNT, Context, KindOptions, Trigger, doubled
from bot.models import Finding, iso, parse_iso

name = "listener_silent"
GROUPS = ("listener",)
DEFAULT_GROUP = ("listener",)
BACKTEST_NOTE = "errors are not replayed (only the current failure count is stored); silence is"


class Options(KindOptions):
    """Fire when a listener stores no new mention for `after`, or fails `max_failures` polls in a row."""

    listeners: list[str] | None = Field(None, description="Listener names (twitter, reddit, youtube, demo); "
                                        "default: every listener that has run")
    after: Duration = Field(timedelta(hours=2), description="No new mention stored for this long is silence")
    max_failures: int | None = Field(3, ge=1, le=MAX_COUNT, description="This many failed polls in a row is an alert; "
                                     "null: only silence counts")


def _state(ctx: Context) -> dict | None:
    name_ = ctx.group.listener if ctx.group else None
    activity = getattr(ctx.history, "listener_activity", None)
    if name_ is None or activity is None:
        return None
    for row in activity(until=ctx.now):
        if row["listener"] == name_:
            return row
    return None


def check(options: Options, ctx: Context) -> Trigger | None:
    state = _state(ctx)
    if state is None:
        return None  # never ran: nothing to be silent about yet
    failures = state.get("failures")
    if options.max_failures is not None and failures is not None and failures >= options.max_failures:
        return Trigger(float(failures), 0.0, ("failing", state))
    last = state.get("last_data")
    silent = ctx.now - parse_iso(last) if last else options.after
    if silent >= options.after:
        return Trigger(round(silent / timedelta(minutes=1)), 0.0, ("silent", state))
    return None


def worse(options: Options, level: float | None, observed: float, by: float | None = None) -> bool:
    return doubled(level, observed, by)


def explain(options: Options, ctx: Context, trigger: Trigger) -> Finding:
    why, state = trigger.detail
    listener = ctx.group.listener if ctx.group else "?"
    last = state.get("last_data")
    if why == "failing":
        title = f"Listener failing: {listener}, {int(trigger.observed)} errors in a row"
        reason = (f"{listener} failed its last {int(trigger.observed)} polls (rule: {options.max_failures}); "
                  f"last error: {state.get('last_error') or 'unknown'}.")
    else:
        quiet = format_duration(timedelta(minutes=int(trigger.observed)))
        title = f"Listener silent: {listener}, no new mentions for {quiet}"
        reason = (f"{listener} stored no new mention for {quiet} (rule: {format_duration(options.after)}); "
                  "check its credentials, quota and the platform's status.")
    start = parse_iso(last) if last else ctx.now - options.after
    return Finding(
        group=ctx.group_key,
        title=title,
        reason=reason,
        observed=trigger.observed,
        usual=0.0,
        window_start=min(start, ctx.now),
        window_end=ctx.now,
        facts=(
            ("Listener", listener),
            ("Last new mention", last or "never"),
            ("Last successful poll", state.get("last_success") or "unknown"),
            ("Failures in a row", "unknown" if state.get("failures") is None else str(state.get("failures"))),
            ("Last error", (state.get("last_error") or "none")[:300]),
            ("Checked at", iso(ctx.now)),
        ),
    )


def vector(options: Options, frame):
    """`check` at every step of a backtest for one listener group: the last recorded store time
    up to each step is one sorted search (see bot/kinds/vectors.py). Failures are not replayed
    (MemHistory knows none), so only silence can hold, as in the step-by-step replay."""
    import numpy as np

    from bot.kinds.vectors import Vector, micros

    steps = frame.steps
    holds = np.zeros(frame.K, dtype=bool)
    observed = np.zeros(frame.K, dtype=object)
    name_ = frame.group.listener if frame.group else None
    frame.history.listener_activity()  # loads the recorded store times once
    times = (frame.history.ingests or {}).get(name_) if name_ is not None else None
    if not times:
        return Vector(holds, observed)
    arr = np.asarray(times, dtype=np.int64)
    i = np.searchsorted(arr, steps.now_s + 1, "left")
    last = arr[np.maximum(i - 1, 0)]
    silent_us = steps.now_us - last * 1_000_000
    holds = (i > 0) & (silent_us >= micros(options.after))
    for k in np.flatnonzero(holds).tolist():  # the check's own rounding, in minutes
        observed[k] = round(timedelta(microseconds=int(silent_us[k])) / timedelta(minutes=1))
    return Vector(holds, observed)
