"""`harkbot status`: what the daemon has been doing, read from the database it writes (the
daemon is another process: nothing here asks it anything).

`status(config, store, now)` returns one plain dict; `harkbot status --json` prints it as is.
Its shape (version 1; keys are only ever added):

    {"version": 1, "now": ISO,
     "database": {"path", "backend": "sqlite" | "postgresql", "bytes" (file + WAL + shared memory),
                  "file_bytes", "wal_bytes", "shm_bytes", "schema_version", "mentions",
                  "private" (bool), "warnings": [str]},
     "listeners": [{"name", "enabled" (bool, or null: not in config.yaml any more),
                    "state": "ok" | "failing" | "resting" | "never polled" | "disabled",
                    "last_poll", "last_success", "newest_mention" (ISO or null),
                    "lag_seconds": {"newest_mention", "last_success"} (numbers or null),
                    "error_streak", "last_error", "retry_at", "dead_letters" (posts set aside, open),
                    "quota": {"left", "unit", "source", ...} or "unknown"}],
     "rules": {"loaded", "files_broken", "errors", "broken": [{"file", "problem"}]},
     "outbox": {"pending", "retrying", "failed", "sent", "held" (quiet hours, digests), "sending"
                (interrupted: checked in Slack on the next send), "silenced", "skipped", "other"},
     "audit": {"requests", "last_at"},
     "dead_letters": {"open"},  (posts that could not be stored: `harkbot deadletters list`)
     "slack_triage": "buttons (Socket Mode)" | "reactions (...)" | "none (...)" | "off (...)" | null}

On PostgreSQL, `path` is the DSN without its password, `file_bytes` the size of harkbot's
tables (indexes included) and the WAL and shared memory 0 (the server's, shared by every
database on it); `private` is true, as file modes do not apply (the server's roles do).

Times are ISO-8601 UTC; lags are seconds from `now`. Quota: X's `x-rate-limit-remaining`
when the listener recorded it (meta `quota:NAME`); otherwise the daily plan from the
listener's QuotaPlan (YouTube: units planned of the 10,000) with `left` null when no use
was recorded; "unknown" when neither.
"""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import Problem
from bot.models import iso, parse_iso

VERSION = 1


def db_files(path: str | Path) -> dict[str, Path]:
    path = Path(path)
    return {"file": path, "wal": Path(f"{path}-wal"), "shm": Path(f"{path}-shm")}


def permission_problems(path: str | Path) -> list[Problem]:
    """A warning for each database file (main, -wal, -shm) that group or others may read or
    write: they hold people's posts. `harkbot status` and `harkbot check` print them."""
    out = []
    for file in db_files(path).values():
        try:
            mode = file.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            out.append(Problem(str(file), 0, 0, "database",
                               f"readable by group or others (mode {stat.filemode(mode)}); it holds people's posts",
                               f"run `chmod 600 {file}`", severity="warning"))
    return out


def permission_warnings(path: str | Path) -> list[str]:
    return [str(p) for p in permission_problems(path)]


def status(config: Any, store: Any, now: datetime) -> dict[str, Any]:
    return {
        "version": VERSION,
        "now": iso(now),
        "database": _database(store),
        "listeners": _listeners(config, store, now),
        "rules": _rules(config),
        "outbox": _outbox(store),
        "audit": _audit(store),
        "dead_letters": {"open": store.dead_letter_count()},
        "slack_triage": _triage_mode(config),
    }


def _triage_mode(config: Any) -> str | None:
    """How Slack readers can judge alerts: buttons (Socket Mode), reactions, or not at all."""
    if config is None:
        return None
    import os

    from bot.notifiers.slack_socket import mode

    return mode(config, os.environ)


def _database(store: Any) -> dict[str, Any]:
    from bot.store import is_dsn

    sizes = store.storage_bytes()
    postgres = is_dsn(store.path)
    warnings = [] if postgres else permission_warnings(store.path)
    return {
        "path": store.path if postgres else str(Path(store.path).resolve()),
        "backend": "postgresql" if postgres else "sqlite",
        "bytes": sum(sizes.values()),
        **sizes,
        "schema_version": store.version,
        "mentions": store.count("mentions"),
        "private": not warnings,
        "warnings": warnings,
    }


def _listeners(config: Any, store: Any, now: datetime) -> list[dict[str, Any]]:
    health = {row["listener"]: row for row in store.health()}
    configured = dict(config.listeners)
    plans = _plans(config)
    names = list(configured) + sorted(set(health) - set(configured))
    out = []
    for name in names:
        options = configured.get(name)
        row = health.get(name) or {}
        newest = store.newest_mention(name)
        retry_at = row.get("retry_at")
        failures = row.get("failures") or 0
        if options is not None and not options.enabled:
            state = "disabled"
        elif not row:
            state = "never polled"
        elif retry_at and parse_iso(retry_at) > now:
            state = "resting"
        elif failures:
            state = "failing"
        else:
            state = "ok"
        out.append({
            "name": name,
            "enabled": None if options is None else bool(options.enabled),
            "state": state,
            "last_poll": row.get("last_poll"),
            "last_success": row.get("last_success"),
            "newest_mention": newest,
            "lag_seconds": {"newest_mention": _age(newest, now), "last_success": _age(row.get("last_success"), now)},
            "error_streak": failures,
            "last_error": row.get("last_error") if failures else None,
            "retry_at": retry_at if retry_at and parse_iso(retry_at) > now else None,
            "dead_letters": store.dead_letter_count(name),
            "quota": _quota(store, name, plans.get(name)),
        })
    return out


def _age(text: str | None, now: datetime) -> float | None:
    return None if not text else round((now - parse_iso(text)).total_seconds(), 1)


def _plans(config: Any) -> dict[str, Any]:
    from listeners import REGISTRY

    out = {}
    for name, options in config.listeners.items():
        if name in REGISTRY and options.enabled:
            try:
                out[name] = REGISTRY[name].plan(options, list(config.brands.values()))
            except Exception:  # noqa: BLE001 - a plan is a nicety here; status still answers
                continue
    return out


def _quota(store: Any, name: str, plan: Any) -> dict[str, Any] | str:
    recorded = store.get_meta(f"quota:{name}")
    if recorded:
        try:
            data = json.loads(recorded)
            if isinstance(data, dict):
                return {"source": "last response", **data}
        except ValueError:
            pass
    if plan is not None and plan.budget is not None:
        return {"source": "plan", "left": None, "unit": plan.unit, "planned_per_day": plan.used,
                "budget_per_day": plan.budget, "detail": plan.detail}
    return "unknown"


def _rules(config: Any) -> dict[str, Any]:
    from bot.app import rules_for

    rules, problems = rules_for(config)
    errors = [p for p in problems if p.severity == "error"]
    broken: dict[str, str] = {}
    for p in errors:
        broken.setdefault(p.file, str(p))
    return {"loaded": len(rules), "files_broken": len(broken), "errors": len(errors),
            "broken": [{"file": f, "problem": text} for f, text in broken.items()]}


def _outbox(store: Any) -> dict[str, int]:
    counts = dict(store.outbox_counts())
    retrying = store.retrying()
    out = {"pending": counts.pop("pending", 0), "retrying": retrying, "failed": counts.pop("dead", 0),
           "sent": counts.pop("sent", 0), "held": counts.pop("held", 0), "sending": counts.pop("sending", 0),
           "silenced": counts.pop("silenced", 0), "skipped": counts.pop("skipped", 0)}
    out["other"] = sum(counts.values())  # states a newer sender may use
    return out


def _audit(store: Any) -> dict[str, Any]:
    try:
        n, last = store.forget_requests()
    except Exception:  # noqa: BLE001 - a database from before the audit table
        return {"requests": 0, "last_at": None}
    return {"requests": n, "last_at": last}


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
