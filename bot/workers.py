"""The scale-out mode: harkbot's work as procrastinate tasks on the PostgreSQL it stores into.

`harkbot worker` runs one procrastinate worker; start one or more per machine, all with the
same config and `database: postgresql://...`. PostgreSQL is the only shared service: the
task queue, the locks, the schedule and the API budgets are rows beside the mentions.

Tasks (queue in brackets):
  tick [maintenance]     periodic, every TICK seconds, deferred once per period across the
                         cluster by procrastinate. It claims what is due (poll:NAME at the
                         listener's `every`, evaluate, purge) with FOR UPDATE SKIP LOCKED
                         (store.claim_due) and defers it, and defers a send for every outbox
                         lane with rows due.
  poll [polls]           one listener's walk, under the listener's poll lease and its share
                         of the shared daily budget (bot/leases.py). Deferred with lock and
                         queueing lock "poll:NAME": never two at once, never more than one
                         waiting behind the running one.
  evaluate [evaluate]    the rules (hot-reloaded), lock "evaluate": the rule state machine has
                         one writer. Defers the sends of the lanes it filled.
  send [send]            one (notifier, channel) lane, lock "send:LANE" and the lane's lease:
                         one sender per lane keeps Slack's order; lanes run in parallel.
  purge [maintenance]    retention, in time-boxed slices; lock "purge".
  recover [maintenance]  periodic: jobs left 'doing' by a worker whose heartbeat stopped go
                         back to 'todo'. Queueing lock but no lock, so one stuck recovery can
                         never block the ones after it.

Nothing here is lost or doubled by a killed worker: a poll's pages commit with their cursor
(fenced by the lease), an alert and its outbox row commit together, and a send claims its rows
before posting and reconciles through the notifier's metadata search before any re-post.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger("harkbot")

TICK = 5  # seconds between ticks
RECOVER_EVERY = "* * * * *"  # every minute
STALLED = 30.0  # seconds without a worker heartbeat before its jobs count as stalled
HEARTBEAT = 10.0  # seconds between a worker's heartbeats
PURGE_EVERY = timedelta(days=1)
PURGE_SLICE = 2.0  # seconds of deleting per purge job; the tick defers the rest
QUEUES = ("maintenance", "polls", "evaluate", "send")
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('harkbot procrastinate schema ' || current_schema()))"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def lane_name(notifier: str, channel: str | None) -> str:
    """A lane's lock and lease name; JSON keeps a channel holding ':' from running into the notifier."""
    return "send:" + json.dumps([notifier, channel], separators=(",", ":"))


class Runtime:
    """What one worker process's tasks share: the config (reloaded when its file changes, the
    last good one kept on a broken edit), the store, the listeners, notifiers and rule watcher."""

    def __init__(self, config_path: str | Path, env: Mapping[str, str] | None = None,
                 clock: Any = utcnow, pool_size: int = 4):
        self.path = Path(config_path)
        self.pool_size = pool_size
        self.env = dict(os.environ if env is None else env)
        self.clock = clock
        self.store: Any = None
        self._lock = threading.RLock()
        self._stamp: float | None = None
        self.refresh()

    def refresh(self) -> None:
        from bot.app import build_listeners, build_notifiers, rules_for, scorer_for
        from bot.config import load_config
        from bot.errors import ConfigError
        from bot.intake import intake_for
        from bot.scheduler import watcher_for
        from bot.store import display, is_dsn, open_store

        with self._lock:
            try:
                stamp = self.path.stat().st_mtime_ns
            except OSError:
                stamp = None
            if self._stamp is not None and stamp == self._stamp:
                return
            try:
                config = load_config(self.path)
            except ConfigError as exc:
                if self.store is None:
                    raise
                log.error("config: %s has %d problem(s); keeping the last good config (run `harkbot check`)",
                          self.path, len(exc.problems))
                self._stamp = stamp
                return
            if self.store is None:
                if is_dsn(config.database):  # a connection per concurrent job, and one for lease renewals
                    from bot.store.postgres import PostgresStore

                    self.store = PostgresStore(str(config.database), pool_size=self.pool_size)
                else:
                    self.store = open_store(config.database)
            elif display(config.database) != self.store.path:
                log.error("config: `database` changed; a worker keeps the database it started with: restart it")
            listeners = build_listeners(config, self.env)
            for line in listeners.skipped:
                log.info("%s", line)
            notifiers = build_notifiers(config, self.env)
            self.config, self.scorer, self.intake = config, scorer_for(config), intake_for(config)
            self.listeners = {listener.name: listener for listener in listeners.ready}
            self.notifiers = notifiers.active
            self.watcher = watcher_for(config, self.store, self.notifiers)
            self.rules = [] if self.watcher is not None else rules_for(config)[0]
            first = self._stamp is None
            self._stamp = stamp
            log.info("config: %s %s: %d listeners, %d notifiers", "loaded" if first else "reloaded", self.path,
                     len(self.listeners), len(self.notifiers))

    def periods(self) -> dict[str, timedelta]:
        """Everything the tick schedules, by name, with its period."""
        out = {f"poll:{name}": self.config.listeners[name].every for name in self.listeners}
        out["evaluate"] = self.config.evaluate_every
        if getattr(self.config.model, "retention", None) is not None:
            out["purge"] = PURGE_EVERY
        return out


# -- the work each task does, without procrastinate (tested on its own) -------------------


def plan_tick(runtime: Runtime, now: datetime) -> list[tuple[str, dict]]:
    """What one tick defers: (task name, kwargs), due work first, then one send per lane."""
    from bot.outbox import lanes

    runtime.refresh()
    out: list[tuple[str, dict]] = []
    for name in runtime.store.claim_due(runtime.periods(), now):
        if name.startswith("poll:"):
            out.append(("poll", {"listener": name[len("poll:"):]}))
        else:
            out.append((name, {}))
    out += [("send", {"notifier": n, "channel": c}) for n, c in lanes(runtime.store, runtime.notifiers, now)]
    return out


def run_poll(runtime: Runtime, listener: str) -> Any:
    from bot.leases import poll_leased

    runtime.refresh()
    it = runtime.listeners.get(listener)
    if it is None:
        log.info("%s: no longer enabled (or its credentials are unset); not polling", listener)
        return None
    result = poll_leased(it, runtime.config, runtime.scorer, runtime.store, runtime.clock(), intake=runtime.intake)
    quota = getattr(it, "quota", None)
    if isinstance(quota, dict) and not result.skipped:
        runtime.store.set_meta(f"quota:{listener}", json.dumps({**quota, "at": runtime.clock().isoformat()}))
    return result


def run_evaluate(runtime: Runtime) -> Any:
    from bot.pipeline import evaluate_once

    runtime.refresh()
    at = runtime.clock()
    rules = runtime.watcher.refresh(at) if runtime.watcher is not None else runtime.rules
    return evaluate_once(rules, runtime.config.brands, runtime.store, at, list(runtime.notifiers),
                         listeners=list(runtime.listeners) or None, safety=runtime.config.model.safety,
                         retire=runtime.watcher.retire if runtime.watcher is not None else None)


def run_send(runtime: Runtime, notifier: str, channel: str | None) -> tuple[int, int]:
    """Drain one lane under its lease; (0, 0) when another process holds the lane."""
    from bot.leases import held
    from bot.outbox import deliver

    runtime.refresh()
    if notifier not in runtime.notifiers:
        return 0, 0
    with held(runtime.store, lane_name(notifier, channel), clock=runtime.clock) as lease:
        if lease is None:
            return 0, 0
        return deliver(runtime.store, runtime.notifiers, runtime.clock(), lanes=[(notifier, channel)],
                       fence=lease.confirm)


def run_purge(runtime: Runtime) -> Any:
    from bot.retention import purge, retention_days

    runtime.refresh()
    days, alerts_days = retention_days(runtime.config)
    result = purge(runtime.store, days, alerts_days, runtime.clock(), budget=PURGE_SLICE, actor="harkbot worker")
    if not result.complete:  # more to delete: the next tick defers the next slice
        runtime.store.due_now("purge", runtime.clock())
    return result


# -- procrastinate --------------------------------------------------------------------------


def ensure_schema(dsn: str) -> bool:
    """Create procrastinate's tables in the database's current schema unless there; True if it
    did. Under an advisory lock, so workers starting together apply it once."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute(_SCHEMA_LOCK)
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None:
            return False
        conn.execute(SchemaManager.get_schema())
        conn.commit()
    log.info("procrastinate: task queue schema created")
    return True


def make_app(dsn: str, runtime: Runtime | None = None) -> Any:
    """The procrastinate App with harkbot's tasks; `runtime` is what the tasks run against (a
    worker process makes one; a process that only defers, or inspects, needs none)."""
    import procrastinate
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=dsn))
    ctx: dict[str, Runtime | None] = {"runtime": runtime}

    def rt() -> Runtime:
        if ctx["runtime"] is None:
            raise RuntimeError("this harkbot process defers tasks only; `harkbot worker` runs them")
        return ctx["runtime"]

    def defer_all(plans: list[tuple[str, dict]]) -> int:
        deferred = 0
        for name, kwargs in plans:
            task, lock = tasks[name], _lock_of(name, kwargs)
            try:
                task.configure(lock=lock, queueing_lock=lock).defer(**kwargs)
                deferred += 1
            except procrastinate.exceptions.AlreadyEnqueued:
                pass  # one is already waiting: it does the same work
        return deferred

    @app.periodic(cron=f"* * * * * */{TICK}", periodic_id="tick")
    @app.task(name="harkbot.tick", queue="maintenance", queueing_lock="tick")
    def tick(timestamp: int) -> None:
        plans = plan_tick(rt(), rt().clock())
        deferred = defer_all(plans)
        if plans:
            log.debug("tick: %d due, %d deferred", len(plans), deferred)

    @app.task(name="harkbot.poll", queue="polls")
    def poll(listener: str) -> None:
        run_poll(rt(), listener)

    @app.task(name="harkbot.evaluate", queue="evaluate")
    def evaluate() -> None:
        result = run_evaluate(rt())
        if result.alerts or result.updates or result.closed:
            from bot.outbox import lanes

            r = rt()
            defer_all([("send", {"notifier": n, "channel": c}) for n, c in lanes(r.store, r.notifiers, r.clock())])

    @app.task(name="harkbot.send", queue="send")
    def send(notifier: str, channel: str | None) -> None:
        run_send(rt(), notifier, channel)

    @app.task(name="harkbot.purge", queue="maintenance")
    def purge() -> None:
        run_purge(rt())

    @app.periodic(cron=RECOVER_EVERY, periodic_id="recover")
    @app.task(name="harkbot.recover", queue="maintenance", queueing_lock="recover")
    async def recover(timestamp: int) -> None:
        await recover_stalled(app)

    tasks = {"tick": tick, "poll": poll, "evaluate": evaluate, "send": send, "purge": purge}
    app.harkbot_tasks = tasks  # type: ignore[attr-defined] - for tests and the bench
    return app


def _lock_of(name: str, kwargs: dict) -> str:
    if name == "poll":
        return f"poll:{kwargs['listener']}"
    if name == "send":
        return lane_name(kwargs["notifier"], kwargs["channel"])
    return name


async def recover_stalled(app: Any, seconds: float = STALLED) -> int:
    """Put back to 'todo' the jobs of workers whose heartbeat stopped. A job whose twin is
    already waiting (same queueing lock) is closed as failed instead: the twin does its work."""
    from procrastinate import exceptions, jobs

    recovered = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds):
        try:
            await app.job_manager.retry_job(job)
            recovered += 1
        except (exceptions.UniqueViolation, exceptions.AlreadyEnqueued):
            await app.job_manager.finish_job_by_id_async(job.id, jobs.Status.FAILED, delete_job=False)
    if recovered:
        log.warning("recover: %d job(s) of stopped workers put back in the queue", recovered)
    return recovered


def run_worker(config_path: str | Path, *, concurrency: int, queues: list[str] | None = None,
               name: str | None = None) -> None:
    """`harkbot worker`: run tasks until SIGTERM/SIGINT (procrastinate finishes running jobs)."""
    from bot.leases import holder

    runtime = Runtime(config_path, pool_size=concurrency + 2)
    dsn = runtime.store.dsn
    ensure_schema(dsn)
    app = make_app(dsn, runtime)
    started = time.monotonic()
    log.info("worker %s: %d listeners, concurrency %d, queues %s", name or holder(), len(runtime.listeners),
             concurrency, ", ".join(queues or QUEUES))
    app.run_worker(queues=queues, concurrency=concurrency, name=name or holder(), delete_jobs="successful",
                   update_heartbeat_interval=HEARTBEAT, stalled_worker_timeout=STALLED)
    log.info("worker: stopped after %.0fs", time.monotonic() - started)
