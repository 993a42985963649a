"""`harkbot demo`: the whole job on a seeded synthetic stream, on a simulated clock.

The same poll_once / evaluate_once / deliver the daemon runs, with the packaged demo config
and rules (copies of the shipped examples), so what the demo shows is what harkbot does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from bot.app import build_notifiers, rules_for, scorer_for
from bot.config import Config, load_config
from bot.errors import HarkError
from bot.models import BUCKET, Alert, utc
from bot.outbox import deliver
from bot.intake import intake_for
from bot.pipeline import evaluate_once, poll_once
from bot.store import Store, display, is_dsn, open_store
from listeners.demo import DemoListener

PURPOSE = "demo"


@dataclass(frozen=True)
class DemoSummary:
    mentions: int
    fetched: int
    alerts: list[Alert]
    delivered: int
    failed: int
    seconds: float
    database: Path | str  # a SQLite file or a DSN
    start: datetime
    end: datetime
    notes: list[str]


def demo_config() -> Config:
    return load_config(Path(str(resources.files("bot.demo") / "config.yaml")))


def start_for(now: datetime, days: int) -> datetime:
    """The simulated stream ends at the current hour, so `--since 7d` finds it afterwards."""
    return utc(now).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)


def fresh_store(path: Path | str) -> Store:
    """A new demo database; never overwrites one that holds live data. A PostgreSQL DSN is
    emptied (every harkbot table truncated) under the same rule."""
    if is_dsn(path):
        return _fresh_postgres(str(path))
    path = Path(path)
    if path.exists():
        existing = Store(path)
        purpose = existing.get_meta("purpose")
        mentions = existing.count("mentions")
        existing.close()
        if purpose != PURPOSE and mentions:
            raise HarkError(f"{path} holds {mentions} mentions that the demo did not write; "
                            "run `harkbot demo --db demo.db` to use another file")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(path)
    store.set_meta("purpose", PURPOSE)
    return store


def _fresh_postgres(dsn: str):
    from bot.store.copy import TABLES

    store = open_store(dsn)
    purpose, mentions = store.get_meta("purpose"), store.count("mentions")
    if purpose != PURPOSE and mentions:
        store.close()
        raise HarkError(f"{display(dsn)} holds {mentions} mentions that the demo did not write; "
                        "give `harkbot demo --database` another database or schema")
    with store._tx() as c:
        c.execute("TRUNCATE " + ", ".join(t for t, _pk in TABLES) + ", leases, budgets RESTART IDENTITY CASCADE")
    store.set_meta("purpose", PURPOSE)
    return store


def run_demo(db: Path | str, *, start: datetime, days: int = 3, seed: int = 7, env: Mapping[str, str] | None = None,
             console: Any = None, on_step: Callable[[int, int], None] | None = None,
             with_console: bool = True) -> DemoSummary:
    began = time.monotonic()
    config = demo_config()
    rules, problems = rules_for(config)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise HarkError("the packaged demo rules are broken:\n" + "\n".join(map(str, errors)))
    scorer = scorer_for(config)
    notifiers = build_notifiers(config, os.environ if env is None else env, console, with_console)
    store = fresh_store(db)
    listener = DemoListener(start, days=days, seed=seed)
    intake = intake_for(config)
    every = max(1, int(config.evaluate_every / BUCKET))
    steps = int(timedelta(days=days) / BUCKET)
    alerts: list[Alert] = []
    fetched = delivered = failed = 0
    try:
        for step in range(1, steps + 1):
            now = start + step * BUCKET
            fetched += poll_once(listener, config.brands, scorer, store, now, intake=intake,
                                 workers=config.model.ingest.workers).fetched
            if step % every == 0:
                alerts += evaluate_once(rules, config.brands, store, now, list(notifiers.active),
                                        safety=config.model.safety).alerts
                sent, bad = deliver(store, notifiers.active, now)
                delivered, failed = delivered + sent, failed + bad
            if on_step:
                on_step(step, steps)
        mentions = store.count("mentions")
    finally:
        store.close()
    return DemoSummary(mentions, fetched, alerts, delivered, failed, time.monotonic() - began, db, start,
                       start + timedelta(days=days), notifiers.notes)
