"""APScheduler 3 wiring for `harkbot run`: one job per enabled listener at its own interval,
one evaluation job (reload changed rule files, evaluate, then deliver). The only module
besides cli.py that reads the clock."""

from __future__ import annotations

import logging
import signal
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.outbox import deliver
from bot.pipeline import evaluate_once, poll_once
from bot.reload import RuleWatcher

log = logging.getLogger("harkbot")


def now() -> datetime:
    return datetime.now(timezone.utc)


def watcher_for(config: Any, store: Any, notifiers: dict[str, Any]) -> RuleWatcher | None:
    """Hot reload of config.rules_dir; admin messages go to slack.admin_channel (else the default)."""
    if not config.rules_dir.is_dir():
        return None
    admin = getattr(config.model.slack, "admin_channel", None)
    return RuleWatcher(config.rules_dir, config, store, list(notifiers), admin)


def build(listeners: list[Any], config: Any, rules: list[Any], scorer: Any, store: Any,
          notifiers: dict[str, Any], watch: bool = True) -> BlockingScheduler:
    # One worker: SQLite wants a single writer, and polls are short next to their intervals.
    scheduler = BlockingScheduler(
        timezone=timezone.utc,
        executors={"default": ThreadPoolExecutor(1)},
        # No grace limit: a slow poll delays the evaluation job; it must never drop it.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    start = now()
    for listener in listeners:
        every = config.listeners[listener.name].every
        scheduler.add_job(
            lambda listener=listener: poll_once(listener, config.brands, scorer, store, now()),
            "interval", seconds=every.total_seconds(), jitter=min(30, every.total_seconds() / 10),
            next_run_time=start, id=f"poll:{listener.name}", name=f"poll {listener.name}",
        )

    watcher = watcher_for(config, store, notifiers) if watch else None
    names = [listener.name for listener in listeners]

    def evaluate() -> None:
        at = now()
        try:
            current = watcher.refresh(at) if watcher is not None else rules
            evaluate_once(current, config.brands, store, at, list(notifiers), listeners=names or None)
        finally:  # what is already in the outbox goes out even if this evaluation failed
            deliver(store, notifiers, at)

    scheduler.add_job(evaluate, "interval", seconds=config.evaluate_every.total_seconds(),
                      next_run_time=start + timedelta(seconds=30), id="evaluate", name="evaluate rules")
    return scheduler


def run(scheduler: BlockingScheduler) -> None:
    """Run until SIGTERM or SIGINT; the running job finishes before the process exits."""

    def stop(signum: int, _frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)  # lets the running job commit its transaction

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
