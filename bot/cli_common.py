"""What every `harkbot` command module shares: the two consoles, the clock, loading the config
with its problems printed, and reading `--since`. cli.py and each cli_* module import from
here, never from each other, so the CLI reads top-down with no import circle."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import click
from rich.console import Console
from rich.markup import escape

from bot.errors import ConfigError, Problem

console = Console()
err = Console(stderr=True)


def now() -> datetime:
    return datetime.now(timezone.utc)


def actor(given: str | None = None) -> str:
    """Who a triage command records (`--as NAME`, else $USER, else "cli": a cron job or a
    container may have no user)."""
    return (given if given is not None else os.environ.get("USER", "").strip()) or "cli"


def print_problems(problems: list[Problem]) -> None:
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        # The problem quotes the user's file, which may hold anything that looks like markup.
        err.print(f"[{style}]{p.severity}[/{style}] {escape(str(p))}", highlight=False, soft_wrap=True)


def load_config(path: str):
    """The config at `path`, or every problem in it printed and exit 1."""
    from bot.config import load_config as load

    try:
        return load(path)
    except ConfigError as exc:
        print_problems(exc.problems)
        err.print(f"{len(exc.problems)} problem(s) in {path}; fix them and run `harkbot check`.")
        sys.exit(1)


def since(text: str | None, at: datetime) -> datetime | None:
    """`--since 7d` or a date, as a UTC time (a bad value is click's usage error)."""
    from bot.durations import parse_when

    try:
        return None if text is None else parse_when(text, at)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
