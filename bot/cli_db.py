"""`harkbot migrate` and `harkbot copy --to postgresql://...`: the database's schema, and
moving a SQLite history into PostgreSQL (bot/store/copy.py does the work)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.errors import HarkError


def _database(ctx: click.Context, db: str | None):
    from bot.cli_common import load_config as _load_config

    return db or _load_config(ctx.obj["config"]).database


@click.command()
@click.option("--db", help="The database: a SQLite file or a postgresql:// DSN (default: config.yaml's).")
@click.pass_context
def migrate(ctx: click.Context, db: str | None) -> None:
    """Bring the database's schema up to date and say what was done (start-up does the same)."""
    from bot.cli_common import console, err
    from bot.store import display, is_dsn

    database = _database(ctx, db)
    try:
        if is_dsn(database):
            from bot.store.postgres import PostgresStore

            store = PostgresStore(str(database))  # migrates on open, under an advisory lock
            steps, version = store._migrated, store.version
            store.close()
            steps = steps + _queue_schema(str(database))
        else:
            steps, version = _migrate_sqlite(Path(database))
    except HarkError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)
    where = escape(display(database))
    if steps:
        for step in steps:
            console.print(f"migrated {where}: {escape(step)}", soft_wrap=True)
    console.print(f"{where}: schema version {version}" + ("" if steps else ", up to date"), soft_wrap=True)


def _queue_schema(dsn: str) -> list[str]:
    """procrastinate's tables for `harkbot worker`, when the postgres extra is installed."""
    try:
        from bot.workers import ensure_schema
        import procrastinate  # noqa: F401
    except ImportError:
        return []
    return ["the task queue's tables (procrastinate)"] if ensure_schema(dsn) else []


def _migrate_sqlite(path: Path) -> tuple[list[str], int]:
    from bot.store import SQLiteStore

    store = SQLiteStore(path)  # migrates on open, under its write lock; `_migrated` says what ran
    steps, after = store._migrated, store.version
    store.close()
    return steps, after


@click.command()
@click.option("--to", "target", required=True, help="The PostgreSQL DSN to copy into (postgresql://...).")
@click.option("--db", help="The SQLite file to copy from (default: config.yaml's database).")
@click.option("--page", default=2000, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows per transaction.")
@click.pass_context
def copy(ctx: click.Context, target: str, db: str | None, page: int) -> None:
    """Copy a SQLite history into PostgreSQL: every table, resumable (run it again after an
    interruption: what was copied is skipped), counts checked at the end (exit 1 on a mismatch)."""
    from bot.cli_common import console, err
    from bot.store import SQLiteStore, display, is_dsn
    from bot.store.copy import copy_history

    source_path = _database(ctx, db)
    if is_dsn(source_path):
        err.print(f"[red]error[/red] the source is already PostgreSQL ({escape(display(source_path))});"
                  " give the SQLite file with --db")
        sys.exit(1)
    if not is_dsn(target):
        err.print(f"[red]error[/red] --to must be a postgresql:// DSN, not {escape(display(target))}")
        sys.exit(1)
    if not Path(source_path).exists():
        err.print(f"[red]error[/red] no SQLite database at {escape(str(source_path))} (give --db)")
        sys.exit(1)
    try:
        from bot.store.postgres import PostgresStore

        source = SQLiteStore(source_path)
        dest = PostgresStore(target)
    except HarkError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)
    try:
        with Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            tasks: dict[str, int] = {}

            def step(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(table, total=max(total, 1))
                progress.update(tasks[table], completed=done if total else 1)

            counts = copy_history(source, dest, source_name=str(Path(source_path).resolve()), page=page,
                                  on_progress=step)
    except HarkError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)
    finally:
        source.close()
        dest.close()
    table = Table(title=f"copy {escape(str(source_path))} -> {escape(display(target))}")
    for name in ("table", "source rows", "target rows", "copied now", ""):
        table.add_column(name, justify="left" if name in ("table", "") else "right")
    for c in counts:
        table.add_row(c.table, f"{c.source:,}", f"{c.target:,}", f"{c.copied:,}",
                      "ok" if c.ok else "[red]MISMATCH[/red]")
    console.print(table)
    bad = [c.table for c in counts if not c.ok]
    if bad:
        err.print(f"[red]error[/red] counts differ in {', '.join(bad)}: the target holds rows the source does not"
                  " (or lacks some); copy into an empty database, or run again to resume an interrupted copy")
        sys.exit(1)
    console.print(f"copied: {sum(c.source for c in counts):,} rows in {len(counts)} tables, counts match."
                  f" Point `database:` (or HARKBOT_DATABASE_URL) at {escape(display(target))}.")


def register(group: click.Group) -> None:
    group.add_command(migrate)
    group.add_command(copy)
