"""`harkbot brands block`: stop one author or site counting for one brand, in config.yaml.

    harkbot brands block BRAND --author HANDLE | --site HOST [--reason TEXT] [--as NAME] [--dry-run]
                               [--config PATH]

The block is `OR author:HANDLE` (or `OR site:HOST`) added to the brand's `exclude` with a
comment line saying who, when and why (bot/blocks.py makes the edit; nothing else in the file
changes). `--dry-run` prints the diff and writes nothing. Otherwise the edited file must load
(load_config, every problem printed) before it replaces config.yaml (a temporary file beside
it, renamed over it), and an audit row records the block (`brands.block`, who, the subject
hashed as every audit subject is). `--config` (here or before `brands`) says which file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
from rich.markup import escape

from bot.cli_common import actor as _actor, console, err, now as _now, print_problems

RESTART = ("a running `harkbot run` reloads rules, not config.yaml: restart it for the block to apply "
           "to new mentions (mentions already stored keep their brands)")


@click.group()
def brands() -> None:
    """The brands in config.yaml: block an author or a site for one of them."""


@brands.command("block")
@click.argument("brand")
@click.option("--author", metavar="HANDLE", help="The author to block: handle, @handle, or platform:handle (x:spambot).")
@click.option("--site", metavar="HOST", help="The site to block: a host (spam.example), its subdomains included.")
@click.option("--reason", metavar="TEXT", help="Why, for the comment in config.yaml and the audit row.")
@click.option("--as", "actor", default=None, metavar="NAME", help="Who blocks it (default: $USER).")
@click.option("--dry-run", is_flag=True, help="Print the change as a diff and write nothing.")
@click.option("--config", "config_path", default=None, metavar="PATH",
              help="The config file to edit (default: harkbot's --config, config.yaml).")
@click.pass_context
def block(ctx: click.Context, brand: str, author: str | None, site: str | None, reason: str | None,
          actor: str | None, dry_run: bool, config_path: str | None) -> None:
    """Block an author or a site for BRAND: one line of its `exclude` in config.yaml, with a comment."""
    from bot.blocks import BlockError, block_term, comment_line, plan

    path = Path(config_path or ctx.find_root().obj["config"])
    who, at = _actor(actor), _now()
    try:
        term = block_term(author, site)
        old = _read(path)
        edit = plan(old, brand, term, comment_line(who, at, reason))
    except BlockError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    diff = edit.diff(old, path.name)
    if dry_run:
        click.echo(diff, nl=False)
        console.print(f"dry run: {escape(str(path))} is unchanged; without --dry-run this blocks {escape(str(term))} "
                      f"for {escape(brand)}", highlight=False)
        return
    config = _write_checked(path, edit.text)
    _audit(config, brand, str(term), who, reason, at)
    click.echo(diff, nl=False)
    console.print(f"blocked {escape(str(term))} for {escape(brand)}: {escape(str(path))}:{edit.line} "
                  f"(exclude: {escape(edit.after)})", highlight=False)
    console.print(RESTART, highlight=False)


def _read(path: Path) -> str:
    from bot.blocks import BlockError

    try:
        return path.read_bytes().decode("utf-8")  # bytes: keep \r\n and every other byte as it is
    except FileNotFoundError:
        raise BlockError(f"no config file at {path}; pass --config PATH") from None
    except UnicodeDecodeError:
        raise BlockError(f"{path} is not UTF-8 text") from None


def _write_checked(path: Path, text: str):
    """Write `text` beside `path`, load it as the config, and rename it over `path`; a file that
    does not load is removed and its problems printed (config.yaml is untouched)."""
    from bot.config import load_config
    from bot.errors import ConfigError

    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        try:
            config = load_config(tmp)
        except ConfigError as exc:
            print_problems(exc.problems)
            err.print(f"[red]error[/red] with the block, {escape(str(path))} would not load "
                      f"({len(exc.problems)} problem(s) above); nothing was written", highlight=False)
            sys.exit(1)
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return config


def _audit(config, brand: str, term: str, who: str, reason: str | None, at) -> None:
    """The audit row: who blocked what for which brand (the subject hashed; the note is the brand
    and the reason, as the user typed them)."""
    from bot.retention import record
    from bot.store import open_store

    try:
        store = open_store(config.database)
        try:
            record(store, "brands.block", f"brands.block:{brand}:{term}", 0, {}, at, who,
                   f"{brand}: {' '.join((reason or '').split())}".rstrip(": "))
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - the block is written; say the audit is missing
        err.print(f"[yellow]warning[/yellow] the block is in the config, but its audit row could not be written "
                  f"({type(exc).__name__}: {escape(str(exc))})", highlight=False)


def register(main: click.Group) -> None:
    main.add_command(brands)
