"""`harkbot deadletters ...`: posts a poll could not store, set aside so the rest of their page
went on (#20). Each is kept with the stage that refused it and why; retry runs it through
today's stages again (after an upgrade that fixes what refused it) and closes it when stored.

    harkbot deadletters list [--all] [--listener reddit] [--json]
    harkbot deadletters retry [ID]          one letter, or every open one
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err = Console(stderr=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _open(ctx: click.Context, db: str | None, *, need_config: bool):
    """(config or None, store): --db, else config.yaml's database; exits 1 with a fix when missing."""
    from bot.cli_common import load_config as _load_config
    from bot.store import display, exists, open_store

    config = _load_config(ctx.find_root().obj["config"]) if need_config or db is None else None
    path = db or config.database
    if not exists(path):
        err.print(f"[red]error[/red] no database at {display(path)}; `harkbot run` or `harkbot once` creates it"
                  " (or give --db)")
        sys.exit(1)
    return config, open_store(path)


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M}" if dt else ""


@click.group()
def deadletters() -> None:
    """Posts set aside because they could not be stored: list them, try them again."""


@deadletters.command("list")
@click.option("--all", "everything", is_flag=True, help="Resolved letters too (stored by a retry, or dropped).")
@click.option("--listener", help="Only this listener's letters (twitter, reddit, youtube, ...).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per letter (without the post itself).")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def list_letters(ctx: click.Context, everything: bool, listener: str | None, limit: int, as_json: bool,
                 db: str | None) -> None:
    """Open dead letters, oldest first: which post, where it was refused, and why (never its text)."""
    _config, store = _open(ctx, db, need_config=False)
    letters = store.dead_letters(listener=listener, everything=everything, limit=limit)
    if as_json:
        for d in letters:
            click.echo(json.dumps({"id": d.id, "key": d.key, "listener": d.listener, "stage": d.stage,
                                   "reason": d.reason, "attempts": d.attempts, "first_at": _iso(d.first_at),
                                   "last_at": _iso(d.last_at), "resolved_at": _iso(d.resolved_at),
                                   "resolution": d.resolution}))
        return
    if not letters:
        console.print("no dead letters" + ("" if everything else " open") + ": every post fetched was stored")
        return
    table = Table(title="Dead letters (UTC)", title_justify="left")
    for name, justify in (("id", "right"), ("listener", "left"), ("post", "left"), ("stage", "left"),
                          ("reason", "left"), ("tries", "right"), ("first seen", "left"), ("last seen", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    if everything:
        table.add_column("resolved", overflow="fold")
    for d in letters:
        row = [str(d.id), d.listener, d.key, d.stage, d.reason, str(d.attempts), _when(d.first_at), _when(d.last_at)]
        if everything:
            row.append(f"{d.resolution} {_when(d.resolved_at)}" if d.resolution else "open")
        table.add_row(*(Text(cell) for cell in row))  # Text: a key or reason is never read as markup
    console.print(table)
    opened = store.dead_letter_count(listener)
    console.print(f"{opened} open; `harkbot deadletters retry` tries them all again, `retry ID` one")


@deadletters.command("retry")
@click.argument("letter_id", metavar="[ID]", type=int, required=False)
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def retry(ctx: click.Context, letter_id: int | None, db: str | None) -> None:
    """Run one letter (or every open one) through normalise, match, score and store again.

    Stored, already stored, or no longer matching any brand: the letter is closed. Refused
    again: it stays open with one more attempt and the new reason. Exit status 1 if any was
    refused again (or the ID is unknown)."""
    from bot.app import scorer_for
    from bot.intake import intake_for
    from bot.pipeline import retry_dead_letters

    config, store = _open(ctx, db, need_config=True)
    if letter_id is not None:
        found = store.dead_letter(letter_id)
        if found is None:
            err.print(f"[red]error[/red] no dead letter {letter_id}; `harkbot deadletters list --all` shows their ids")
            sys.exit(1)
        if found.resolved_at is not None:
            console.print(f"dead letter {letter_id} ({found.key}) is already resolved: {found.resolution}")
            return
        letters = [found]
    else:
        letters = store.dead_letters(limit=100_000)
    if not letters:
        console.print("no open dead letters: nothing to retry")
        return
    results = retry_dead_letters(store, letters, config.brands, scorer_for(config), _now(), intake_for(config))
    refused = 0
    for r in results:
        if r.outcome == "still refused":
            refused += 1
            console.print(Text(f"{r.letter.id} {r.letter.key}: still refused ({r.reason})"))
        else:
            console.print(Text(f"{r.letter.id} {r.letter.key}: {r.outcome}"))
    console.print(f"{len(results) - refused} resolved, {refused} still refused")
    if refused:
        sys.exit(1)


def _iso(dt: datetime | None) -> str | None:
    from bot.models import iso

    return iso(dt) if dt else None


def register(main: click.Group) -> None:
    main.add_command(deadletters)
