"""`harkbot worker`: the scale-out mode's process (bot/workers.py), one or more per machine."""

from __future__ import annotations

import os
import sys

import click
from rich.markup import escape


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Jobs run at once in this process (default: 2 per core; polls and sends mostly wait on HTTP).")
@click.option("--queue", "queues", multiple=True,
              type=click.Choice(["maintenance", "polls", "evaluate", "send"]),
              help="Only these queues (repeatable; default all), e.g. a machine for sends only.")
@click.option("--name", help="This worker's name in the queue's records (default: host:pid).")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, queues: tuple[str, ...], name: str | None) -> None:
    """Run a procrastinate worker on the PostgreSQL database: polls, evaluations, sends and the
    purge, shared with every other worker on the same database. Stops on SIGTERM or Ctrl-C
    after the jobs it is running finish."""
    from bot.cli_common import err, load_config as _load_config
    from bot.store import display, is_dsn

    config = _load_config(ctx.obj["config"])
    if not is_dsn(config.database):
        err.print(f"[red]error[/red] `harkbot worker` needs PostgreSQL: `database:` is {escape(display(config.database))}."
                  " Set `database: postgresql://...` in the config or HARKBOT_DATABASE_URL, run `harkbot migrate`"
                  " (and `harkbot copy --to` to move a SQLite history); on one machine `harkbot run` needs neither.")
        sys.exit(1)
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        err.print("[red]error[/red] the worker needs the postgres extra: pip install 'harkbot[postgres]'")
        sys.exit(1)
    from bot.workers import run_worker

    run_worker(ctx.obj["config"], concurrency=concurrency or 2 * (os.cpu_count() or 1), queues=list(queues) or None,
               name=name)


def register(group: click.Group) -> None:
    group.add_command(worker)
