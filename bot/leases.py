"""Who may poll a listener or drain an outbox lane right now, across every harkbot process on
one database: the daemon, `harkbot once` beside it, and any number of `harkbot worker`s.

A lease is a row with a rising fencing token (bot/store: acquire_lease). `held()` takes one
and keeps it alive from a small thread while the work runs, so a lease outlives a slow walk
but not a dead process: a SIGKILLed worker stops renewing and its lease lapses after TTL.
A poller that stalls past its lease (a GC pause, a partition) is fenced: its next page is
refused by the store (LeaseLost), so a zombie can never overwrite the new holder's cursor.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from bot.pipeline import PollResult, poll_once
from bot.store import Lease

log = logging.getLogger("harkbot")

TTL = timedelta(seconds=60)  # how long a dead holder blocks others; renewed every TTL / 3
_HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def holder() -> str:
    """This process, as lease holders are named: host, pid and a start nonce (pids are reused)."""
    return _HOLDER


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Held:
    """A lease being kept alive; `lease` is the latest copy (None once it was lost).

    `confirm()` renews it now and says whether it is still ours: the last thing to ask before
    an act that cannot be fenced in the database, such as a post to Slack (a holder frozen
    past its TTL finds its lane taken over and leaves the row to the new holder)."""

    lease: Lease | None
    lost: threading.Event
    confirm: Callable[[], bool] = field(default=lambda: True, repr=False)


@contextmanager
def held(store: Any, name: str, who: str | None = None, *, ttl: timedelta = TTL,
         clock: Callable[[], datetime] = utcnow, renew_every: float | None = None) -> Iterator[Held | None]:
    """Hold lease `name` for the block, or yield None when another holder has it. Renewed every
    `renew_every` seconds (default a third of the TTL, so two missed renewals still hold)."""
    lease = store.acquire_lease(name, who or holder(), clock(), ttl)
    if lease is None and _release_if_dead(store, name):
        lease = store.acquire_lease(name, who or holder(), clock(), ttl)
    if lease is None:
        yield None
        return
    state = Held(lease, threading.Event())
    done, turn = threading.Event(), threading.Lock()  # the keeper and confirm() renew one at a time

    def renew_now() -> bool:
        with turn:
            if state.lease is None:
                return False
            renewed = store.renew_lease(state.lease, clock(), ttl)
            if renewed is None:
                log.warning("lease %s: lost to another holder; its writes from here on are refused", name)
                state.lease = None
                state.lost.set()
                return False
            state.lease = renewed
            return True

    def renew() -> None:
        while not done.wait(renew_every or ttl.total_seconds() / 3):
            try:
                if not renew_now():
                    return
            except Exception:  # noqa: BLE001 - a failed renewal is retried; the lease may still lapse
                log.warning("lease %s: renewal failed; retrying", name, exc_info=True)

    def confirm() -> bool:
        try:
            return renew_now()
        except Exception:  # noqa: BLE001 - cannot tell: act as if lost; the row waits for the next run
            log.warning("lease %s: could not confirm it; not acting on it now", name, exc_info=True)
            return False

    state.confirm = confirm

    keeper = threading.Thread(target=renew, name=f"lease {name}", daemon=True)
    keeper.start()
    try:
        yield state
    finally:
        done.set()
        keeper.join()
        if state.lease is not None:
            store.release_lease(state.lease)


def _release_if_dead(store: Any, name: str) -> bool:
    """A lease held by a process of this host that no longer exists (a daemon restarted after
    a SIGKILL, say) is let go at once rather than after its TTL. Compare-and-set on the dead
    holder's token, so a lease someone else took meanwhile is left alone. A pid reused by a
    live process only means waiting out the TTL, the safe side."""
    current = next((lease for lease in store.leases() if lease.name == name), None)
    if current is None:
        return False
    host, _, rest = current.holder.partition(":")
    pid = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid.isdigit() or current.holder == holder() or _alive(int(pid)):
        return False
    log.info("lease %s: its holder %s is gone; taking over", name, current.holder)
    store.release_lease(current)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def poll_name(listener: str) -> str:
    return f"poll:{listener}"


def poll_leased(listener: Any, config: Any, scorer: Any, store: Any, now: datetime, *, intake: Any,
                retry_now: bool = False, who: str | None = None,
                clock: Callable[[], datetime] = utcnow) -> PollResult:
    """poll_once under the listener's poll lease and its share of the API budget.

    Skipped (PollResult.skipped) when another process is polling it, or when this poll would
    take the listener's planned daily budget past the platform's cap: the budget is one row
    in the store, so the daemon, `once` and N workers together spend one quota."""
    name = listener.name
    with held(store, poll_name(name), who, clock=clock) as lease:
        if lease is None:
            log.info("%s: being polled by another harkbot process; skipping", name)
            return PollResult(name, skipped=True)
        if not _spend(listener, config, store, now):
            log.warning("%s: today's API budget is spent (across every harkbot process); skipping this poll",
                        name)
            return PollResult(name, skipped=True)
        return poll_once(listener, config.brands, scorer, store, now, retry_now=retry_now, intake=intake,
                         lease=lease.lease, workers=config.model.ingest.workers)


def _spend(listener: Any, config: Any, store: Any, now: datetime) -> bool:
    """Take one poll's share of the listener's daily plan from the shared budget row."""
    plan_of = getattr(type(listener), "plan", None)
    options = config.listeners.get(listener.name) if hasattr(config, "listeners") else None
    if plan_of is None or options is None:
        return True
    plan = plan_of(options, list(config.brands.values()))
    if not plan.used:
        return True
    per_poll = plan.used * options.every.total_seconds() / 86400
    return store.spend(listener.name, now.date().isoformat(), per_poll, plan.budget, now)
