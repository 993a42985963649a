"""APScheduler 3 wiring for `harkbot run`. The only module besides cli.py that reads the clock.

Jobs on ONE worker thread (SQLite wants a single writer, and polls are short next to their
intervals), except the sender, which has a thread of its own so an alert never waits behind a
slow poll (the store's writer lock keeps their transactions apart):
  poll:NAME   one per enabled listener, at its `every` with jitter; a misfire grace of one
              interval (a poll later than that is coalesced into the next one anyway); under
              the listener's poll lease (bot/leases.py), so `harkbot once` or a worker beside
              this daemon never polls the same listener at the same time
  evaluate    reload changed rule files, evaluate; never dropped as a misfire (no grace limit)
  send        the sender: bot.outbox.deliver every few seconds, separate from evaluation; its
              first run is at start-up, well before the first evaluation, so half-sent
              deliveries are reconciled before anything new is made
  purge       retention (bot.retention.purge), daily, in time-boxed slices so the other jobs
              never wait long behind it
Every job has max_instances=1 and coalesces missed runs into one.

Stopping (SIGTERM, SIGINT): no new job starts; the running one gets a few seconds to finish;
then one last delivery (bounded in time) flushes the outbox, and the process exits 0 within
10 s. A job that is still running then (a poll stuck on a slow HTTP request) is abandoned:
the store's writer lock is taken first, so no transaction is cut in half, and SQLite's
journal makes an unfinished one vanish anyway. Cursors are written with each poll's last
page, so the next start resumes where the last finished poll ended.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot import outbox
from bot.intake import intake_for
from bot.leases import poll_leased
from bot.pipeline import evaluate_once
from bot.reload import RuleWatcher

log = logging.getLogger("harkbot")

SEND_EVERY = 5.0  # seconds between sender runs
PURGE_EVERY = timedelta(days=1)
PURGE_FIRST = timedelta(minutes=2)  # after start-up, once the first polls are in
PURGE_SLICE = 2.0  # seconds of deleting per purge run; the rest follows shortly after
# Shutdown budget: GRACE + FLUSH + LOCK stays under the 10 s a service manager waits.
GRACE = 5.0  # for the running job to finish
FLUSH = 3.0  # for the last delivery
LOCK = 1.0  # for a transaction in flight to commit
ONCE_AT_A_TIME = {"max_instances": 1, "coalesce": True}  # late runs collapse into one; never two at once


def now() -> datetime:
    return datetime.now(timezone.utc)


def watcher_for(config: Any, store: Any, notifiers: dict[str, Any]) -> RuleWatcher | None:
    """Hot reload of config.rules_dir; admin messages go to slack.admin_channel (else the default)."""
    if not config.rules_dir.is_dir():
        return None
    admin = getattr(config.model.slack, "admin_channel", None)
    return RuleWatcher(config.rules_dir, config, store, list(notifiers), admin)


@dataclass
class Daemon:
    """The scheduler and what its jobs share; `run` drives it, `stop` ends it."""

    scheduler: BlockingScheduler
    store: Any
    notifiers: dict[str, Any]
    metrics: Any = None
    clock: Callable[[], datetime] = now
    stopping: threading.Event = field(default_factory=threading.Event)
    running: threading.Lock = field(default_factory=threading.Lock)  # held while a job runs
    sending: threading.Lock = field(default_factory=threading.Lock)  # held while the sender runs
    current: str | None = None  # the running job's name, for the shutdown log

    def job(self, name: str, work: Callable[[], None], lock: threading.Lock | None = None) -> Callable[[], None]:
        """A job body that starts nothing once stopping, and marks itself running."""
        busy = lock if lock is not None else self.running

        def body() -> None:
            if self.stopping.is_set():
                return
            with busy:
                if self.stopping.is_set():  # queued behind the job that was running at the signal
                    return
                if busy is self.running:
                    self.current = name
                try:
                    work()
                except Exception:  # noqa: BLE001 - a failing job is logged; the daemon goes on
                    log.exception("%s: failed; the next run tries again", name)
                finally:
                    if busy is self.running:
                        self.current = None

        return body

    def send(self) -> tuple[int, int]:
        """One sender run: deliver(store, notifiers, now), and the figures it returns."""
        sent, failed = outbox.deliver(self.store, self.notifiers, self.clock())
        if self.metrics is not None:
            self.metrics.delivery(sent, failed)
            self.metrics.outbox_depth(self.store.outbox_counts())
        return sent, failed

    def stop(self, grace: float = GRACE, flush: float = FLUSH, lock: float = LOCK) -> bool:
        """Stop the jobs, flush the outbox, and take the writer lock. Returns True when every
        thread finished (a normal return is safe), False when a job is still stuck."""
        self.stopping.set()
        if self.scheduler.running:
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:  # noqa: BLE001 - already stopped by the signal's thread
                pass
        deadline = time.monotonic() + grace
        finished = self.running.acquire(timeout=grace)
        if not finished:
            log.warning("shutdown: %s is still running after %.0fs (a slow request?); not waiting for it",
                        self.current or "a job", grace)
        sender_idle = self.sending.acquire(timeout=max(0.0, deadline - time.monotonic()))
        if not sender_idle:
            log.warning("shutdown: the sender is still posting after %.0fs; its rows are reconciled on the next "
                        "start", grace)
        flusher = threading.Thread(target=self._flush, name="flush", daemon=True)
        # Never beside a stuck sender: it may be mid-post, and a flush would post that message again.
        # Beside a stuck poll it is safe, and the alerts waiting in the outbox go out.
        if sender_idle:
            flusher.start()
            flusher.join(flush)
        if flusher.is_alive():
            log.warning("shutdown: the last delivery did not finish within %.0fs; the sender resumes it on the "
                        "next start", flush)
        writer = getattr(self.store, "_lock", None)
        if writer is not None and not writer.acquire(timeout=lock):
            log.warning("shutdown: a transaction did not finish within %.0fs; SQLite rolls it back", lock)
        return finished and sender_idle and not flusher.is_alive()

    def _flush(self) -> None:
        try:
            sent, failed = self.send()
            log.info("shutdown: outbox flushed, sent %d, failed %d", sent, failed)
        except Exception:  # noqa: BLE001 - what was not sent stays in the outbox for the next start
            log.exception("shutdown: the last delivery failed; the outbox keeps it")


def build(listeners: list[Any], config: Any, rules: list[Any], scorer: Any, store: Any,
          notifiers: dict[str, Any], watch: bool = True, metrics: Any = None,
          clock: Callable[[], datetime] = now) -> Daemon:
    scheduler = BlockingScheduler(
        timezone=timezone.utc,
        executors={"default": ThreadPoolExecutor(1), "sender": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    daemon = Daemon(scheduler, store, notifiers, metrics, clock)
    start = clock()

    # The sender first: its start-up run reconciles deliveries a previous run left half-sent.
    # On its own thread: a poll stuck on a slow platform never holds an alert back.
    scheduler.add_job(daemon.job("send", daemon.send, daemon.sending), "interval", seconds=SEND_EVERY,
                      **ONCE_AT_A_TIME, misfire_grace_time=None, next_run_time=start - timedelta(seconds=1),
                      id="send", name="send alerts", executor="sender")

    for listener in listeners:
        every = config.listeners[listener.name].every.total_seconds()
        scheduler.add_job(
            daemon.job(f"poll {listener.name}", lambda listener=listener: _poll(daemon, listener, config, scorer)),
            "interval", seconds=every, jitter=min(30, every / 10), **ONCE_AT_A_TIME,
            misfire_grace_time=max(1, int(every)),
            next_run_time=start, id=f"poll:{listener.name}", name=f"poll {listener.name}",
        )

    watcher = watcher_for(config, store, notifiers) if watch else None
    names = [listener.name for listener in listeners]

    def evaluate() -> None:
        at = clock()
        current = watcher.refresh(at) if watcher is not None else rules
        started = time.monotonic()
        result = evaluate_once(current, config.brands, store, at, list(notifiers), listeners=names or None,
                               safety=config.model.safety, retire=watcher.retire if watcher is not None else None)
        if metrics is not None:
            metrics.evaluation(result, time.monotonic() - started)
        if result.alerts or result.updates or result.closed:
            scheduler.modify_job("send", next_run_time=clock())  # send now, not in up to SEND_EVERY

    # No grace limit: a slow poll delays an evaluation; it must never drop it.
    scheduler.add_job(daemon.job("evaluate", evaluate), "interval", seconds=config.evaluate_every.total_seconds(),
                      **ONCE_AT_A_TIME, misfire_grace_time=None, next_run_time=start + timedelta(seconds=30),
                      id="evaluate", name="evaluate rules")

    slack = notifiers.get("slack")
    if slack is not None and getattr(slack, "threads", False) and not getattr(slack, "interactive", False):
        # A bot token without Socket Mode: triage by 👍 👎 👀 on the alert messages instead.
        from bot.notifiers import slack_reactions

        scheduler.add_job(daemon.job("reactions", lambda: slack_reactions.poll(store, slack, clock())), "interval",
                          seconds=slack_reactions.EVERY.total_seconds(), **ONCE_AT_A_TIME,
                          next_run_time=start + timedelta(seconds=60), id="reactions", name="read Slack reactions")

    retention = getattr(config.model, "retention", None)
    if retention is not None:
        def purge() -> None:
            from bot.retention import purge as purge_store, retention_days

            days, alerts_days = retention_days(config)
            result = purge_store(store, days, alerts_days, clock(), budget=PURGE_SLICE, actor="harkbot run")
            if metrics is not None:
                metrics.purge(result.total)
            if result.total:
                log.info("purge: %d mentions (%s), %d alerts past retention", sum(result.mentions.values()),
                         ", ".join(f"{k} {v}" for k, v in result.mentions.items()) or "none", result.alerts)
            if not result.complete:  # more to delete: let the other jobs in, then go on
                scheduler.modify_job("purge", next_run_time=clock() + timedelta(seconds=5))

        scheduler.add_job(daemon.job("purge", purge), "interval", seconds=PURGE_EVERY.total_seconds(),
                          **ONCE_AT_A_TIME, next_run_time=start + PURGE_FIRST, misfire_grace_time=6 * 3600,
                          id="purge", name="purge past retention")
    return daemon


def _poll(daemon: Daemon, listener: Any, config: Any, scorer: Any) -> None:
    result = poll_leased(listener, config, scorer, daemon.store, daemon.clock(), intake=intake_for(config))
    if daemon.metrics is not None:
        daemon.metrics.poll(result, time.time())
    quota = getattr(listener, "quota", None)  # optional: what the platform said is left
    if isinstance(quota, dict) and not result.skipped:
        daemon.store.set_meta(f"quota:{listener.name}", json.dumps({**quota, "at": daemon.clock().isoformat()}))


def run(daemon: Daemon, grace: float = GRACE, flush: float = FLUSH) -> None:
    """Run until SIGTERM or SIGINT, then stop within grace + flush + LOCK seconds (exit 0)."""

    def on_signal(signum: int, _frame: Any) -> None:
        if daemon.stopping.is_set():
            return
        daemon.stopping.set()
        log.info("received %s, shutting down", signal.Signals(signum).name)
        # Not from inside the handler: it may have interrupted the scheduler holding its own locks.
        threading.Thread(target=_shutdown_scheduler, args=(daemon.scheduler,), daemon=True).start()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.scheduler.start()
    finally:
        clean = daemon.stop(grace, flush)
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not clean:
        # A worker thread stuck in a request would hold the interpreter's exit (it joins the
        # pool's threads): leave now. Everything worth keeping is committed.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _shutdown_scheduler(scheduler: BlockingScheduler) -> None:
    try:
        scheduler.shutdown(wait=False)
    except Exception:  # noqa: BLE001 - already stopped
        pass
