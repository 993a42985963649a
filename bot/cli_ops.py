"""Operations commands: `harkbot status`, `harkbot purge`, `harkbot forget`."""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from bot.models import PLATFORMS


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _actor() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not a reason to refuse an erasure
        return "unknown"


def _open(ctx: click.Context, db: str | None, *, need_config: bool = True):
    """(config or None, store) for the database a command reads; exits 1 with a fix when missing."""
    from bot.cli_common import err, load_config as _load_config
    from bot.store import display, exists, open_store

    config = _load_config(ctx.obj["config"]) if need_config or not db else None
    path = db or config.database
    if not exists(path):
        err.print(f"[red]error[/red] no database at {escape(display(path))}; `harkbot run` or `harkbot once` creates it"
                  " (or give --db)")
        sys.exit(1)
    return config, open_store(path)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (shape: bot/status.py).")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def status(ctx: click.Context, as_json: bool, db: str | None) -> None:
    """What the daemon is doing: listeners, rules, outbox, database. Reads the database only."""
    from bot.cli_common import console, err
    from bot.status import human_age, human_bytes, status as build_status

    config, store = _open(ctx, db)
    try:
        report = build_status(config, store, _now())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table(title="listeners")
    for column in ("listener", "state", "last poll", "last success", "newest post", "errors"):
        table.add_column(column, no_wrap=True)
    now = _now()
    for item in report["listeners"]:
        lag = item["lag_seconds"]
        table.add_row(item["name"], _state(item["state"]), _ago(item["last_poll"], now),
                      _ago(item["last_success"], now), human_age(lag["newest_mention"]) + " ago"
                      if lag["newest_mention"] is not None else "-", str(item["error_streak"] or "-"))
    console.print(table)
    for item in report["listeners"]:
        notes = [f"quota: {_quota(item['quota'])}"] if item["state"] != "disabled" else []
        if item["retry_at"]:
            notes.append(f"resting until {_when(item['retry_at'])} UTC")
        if item["last_error"]:
            notes.append(f"last error: {item['last_error']}")
        if notes:
            console.print(f"  {item['name']}: " + "; ".join(escape(n) for n in notes), soft_wrap=True, highlight=False)
    rules = report["rules"]
    console.print(f"rules: {rules['loaded']} loaded" + (f", {rules['files_broken']} file(s) broken" if rules[
        "files_broken"] else ""), soft_wrap=True)
    for item in rules["broken"]:
        console.print(f"  [red]broken[/red] {escape(item['problem'])}", soft_wrap=True, highlight=False)
    box = report["outbox"]
    extra = [f"{box[k]} {label}" for k, label in (("held", "held (quiet hours, digests)"), ("sending", "being sent"),
                                                   ("silenced", "silenced"), ("skipped", "skipped"),
                                                   ("other", "other")) if box.get(k)]
    console.print(f"outbox: {box['pending']} pending ({box['retrying']} retrying), {box['failed']} failed"
                  + (" (`harkbot alerts retry` once fixed)" if box["failed"] else "") + f", {box['sent']} sent"
                  + "".join(f", {e}" for e in extra))
    if report.get("slack_triage"):
        console.print(f"slack triage: {escape(report['slack_triage'])}", soft_wrap=True)
    data = report["database"]
    if data.get("backend") == "postgresql":
        size = f"{human_bytes(data['bytes'])} in harkbot's tables"
    else:
        size = (f"{human_bytes(data['bytes'])} (file {human_bytes(data['file_bytes'])},"
                f" WAL {human_bytes(data['wal_bytes'])})")
    console.print(f"database: {escape(data['path'])}, {size}, {data['mentions']:,} mentions,"
                  f" schema {data['schema_version']}", soft_wrap=True)
    dead = report.get("dead_letters", {}).get("open", 0)
    if dead:
        console.print(f"dead letters: {dead} post(s) set aside because they could not be stored"
                      " (`harkbot deadletters list`, then `retry`)", soft_wrap=True)
    for line in data["warnings"]:
        err.print(f"[yellow]warning[/yellow] {escape(line)}", soft_wrap=True, highlight=False)
    if report["audit"]["requests"]:
        console.print(f"erasure requests carried out: {report['audit']['requests']}, last {report['audit']['last_at']}")


def _state(state: str) -> str:
    style = {"ok": "green", "failing": "red", "resting": "yellow", "disabled": "dim"}.get(state, "")
    return f"[{style}]{state}[/{style}]" if style else state


def _ago(text: str | None, now: datetime) -> str:
    from bot.models import parse_iso
    from bot.status import human_age

    return f"{human_age((now - parse_iso(text)).total_seconds())} ago" if text else "-"


def _when(text: str | None) -> str:
    return text[:16].replace("T", " ") if text else "-"


def _quota(quota) -> str:
    if not isinstance(quota, dict):
        return "unknown"
    if quota.get("source") == "plan":
        return f"plan {quota['planned_per_day']:,.0f} of {quota['budget_per_day']:,.0f} {quota['unit']}/day"
    left = quota.get("left", quota.get("remaining"))
    return f"{left} {quota.get('unit', '')} left".strip() if left is not None else "unknown"


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, db: str | None) -> None:
    """Delete mentions and alerts older than `retention:` allows (the daemon does this daily)."""
    from bot.cli_common import console
    from bot.retention import purge as run_purge, retention_days

    config, store = _open(ctx, db)
    days, alerts_days = retention_days(config)
    try:
        result = run_purge(store, days, alerts_days, _now(), dry_run=dry_run, actor=_actor())
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    table = Table(title=f"purge{' (dry run)' if dry_run else ''}")
    table.add_column("what")
    table.add_column("kept", justify="right")
    table.add_column(verb, justify="right")
    for name, kept in days.items():
        table.add_row(f"mentions from {name}", f"{kept} days" if kept else "forever",
                      f"{result.mentions.get(name, 0):,}")
    table.add_row("alerts (resolved)", f"{alerts_days} days" if alerts_days else "forever", f"{result.alerts:,}")
    console.print(table)
    console.print("5-minute counts (buckets) are kept: they hold no content, and rule baselines need them.")


@click.command()
@click.option("--author", "authors", multiple=True, metavar="HANDLE",
              help="Every mention by this handle (repeatable).")
@click.option("--mention", "mentions", multiple=True, metavar="ID",
              help="One mention: its key, platform:id (repeatable).")
@click.option("--platform", type=click.Choice(PLATFORMS), help="Only this platform's author.")
@click.option("--note", help="A reference for the audit (a ticket number); never the person's name.")
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def forget(ctx: click.Context, authors: tuple[str, ...], mentions: tuple[str, ...], platform: str | None,
           note: str | None, dry_run: bool, db: str | None) -> None:
    """Erase a person's data (a data-subject request): their mentions, and their posts quoted in
    stored alerts and the outbox. Each request is recorded in the audit table, without the handle."""
    from bot.cli_common import console, err
    from bot.retention import forget_author, forget_mention

    if not authors and not mentions:
        err.print("[red]error[/red] say what to forget: --author HANDLE and/or --mention platform:id")
        sys.exit(2)
    _config, store = _open(ctx, db, need_config=False)
    now, actor = _now(), _actor()
    results = []
    try:
        for handle in authors:
            results.append((f"author {handle}", forget_author(store, handle, now, platform=platform, dry_run=dry_run,
                                                              actor=actor, note=note)))
        for ident in mentions:
            results.append((f"mention {ident}", forget_mention(store, ident, now, dry_run=dry_run, actor=actor,
                                                               note=note)))
    except ValueError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)
    finally:
        store.close()
    verb = "would" if dry_run else "did"
    for label, r in results:
        console.print(
            f"forget {escape(label)}: {verb} delete {r.mentions} mentions ({r.brand_links} brand links) and "
            f"redact {r.alerts} alerts, {r.alert_updates} alert updates, {r.outbox} outbox messages"
            + ("" if dry_run else "; recorded in the audit table"), soft_wrap=True, highlight=False)
    if not dry_run:
        console.print("Counts per 5 minutes stay (no content). A post still public may be fetched again while "
                      "it is inside a listener's look-back; run forget again after the next poll if so.",
                      soft_wrap=True)


def register(group: click.Group) -> None:
    for command in (status, purge, forget):
        group.add_command(command)
