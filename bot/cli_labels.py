"""`harkbot label` and `harkbot labels export`: the team's corrections of the sentiment scorer.

    harkbot label MENTION_ID negative|neutral|positive [--as NAME]
    harkbot labels export [--format csv|jsonl] [--with-text] [--since 30d] [--all] [--out FILE]

A correction is kept beside the mention (the store's `labels` table), never written over the
scorer's label: the rules' history stays as the scorer saw it, and the export shows both. The
export is the corrections only, without the posts' text, unless `--with-text` asks for it
(it is post content: what the data-protection notice of whoever asks covers, not the default).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from bot.cli_common import actor as _actor, console, err, now as _now
from bot.triage import LABELS

COLUMNS = ("mention_key", "label", "previous", "scorer", "actor", "at")
TEXT_COLUMNS = ("title", "text")


def _open(ctx: click.Context, db: str | None):
    from bot.cli_common import load_config
    from bot.store import display, exists, open_store

    if db is None:
        db = load_config(ctx.find_root().obj["config"]).database
    if not exists(db):
        err.print(f"[red]error[/red] no database at {display(db)}; run `harkbot demo` or `harkbot run` first, or pass --db")
        sys.exit(1)
    return open_store(db)


@click.command()
@click.argument("mention_id")
@click.argument("label", type=click.Choice(LABELS))
@click.option("--as", "actor", default=None, metavar="NAME", help="Who corrects it (default: $USER).")
@click.option("--db", help="The database (default: config.yaml's).")
@click.option("--dry-run", is_flag=True, help="Say what would be recorded; record nothing.")
@click.pass_context
def label(ctx: click.Context, mention_id: str, label: str, actor: str | None, db: str | None,
          dry_run: bool) -> None:
    """Correct a stored mention's sentiment: MENTION_ID is its key (platform:id, e.g. x:1790...)."""
    from bot.triage import TriageError

    store = _open(ctx, db)
    try:
        if dry_run:
            stored = store.stored_mention(mention_id.strip())
            if stored is None:
                raise TriageError(f"no stored mention {mention_id!r}", "unknown")
            console.print(f"would label {escape(mention_id.strip())} {label} as {escape(_actor(actor))}; nothing "
                          "recorded", highlight=False)
            return
        event = store.record_label(mention_id.strip(), label, _actor(actor), _now())
    except TriageError as exc:
        if exc.reason == "unknown":
            err.print(f"[red]error[/red] no stored mention {escape(repr(mention_id))}; a mention id is its key"
                      " (platform:id), as `harkbot search WORDS --json` shows it", highlight=False)
        else:
            err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    finally:
        store.close()
    was = f"the scorer said {event.previous}" if event.previous else "it had no stored label"
    console.print(f"{escape(event.mention_key)} labelled {event.label} by {escape(event.actor)} ({was});"
                  " `harkbot labels export` lists the corrections", highlight=False)


@click.group()
def labels() -> None:
    """Corrected sentiment labels, for training the scorer on the team's own judgement."""


@labels.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--with-text", is_flag=True, help="Add each post's title and text (post content: off by default).")
@click.option("--since", help="Only corrections made since: 30d, or a date.")
@click.option("--all", "history", is_flag=True, help="Every correction, not only the latest per mention.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The file to write (default: stdout).")
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def export(ctx: click.Context, fmt: str, with_text: bool, since: str | None, history: bool, out: Path | None,
           db: str | None) -> None:
    """Corrections as CSV or JSON lines: mention key, corrected label, the scorer's label, which
    scorer, who and when (UTC); the latest per mention unless --all."""
    from bot.cli_common import since as since_of
    from bot.models import iso

    store = _open(ctx, db)
    try:
        events = store.labels(since=since_of(since, _now()))
        if not history:  # a correction of a correction wins; the order stays that of the latest
            latest = {e.mention_key: e for e in events}
            events = sorted(latest.values(), key=lambda e: e.id)
        rows = []
        for e in events:
            row = {"mention_key": e.mention_key, "label": e.label, "previous": e.previous, "scorer": e.scorer,
                   "actor": e.actor, "at": iso(e.at)}
            if with_text:
                stored = store.stored_mention(e.mention_key) or {}
                row.update(title=stored.get("title") or "", text=stored.get("text") or "")
            rows.append(row)
    finally:
        store.close()
    columns = COLUMNS + (TEXT_COLUMNS if with_text else ())
    handle = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out:
            handle.close()
    if out:
        err.print(f"{len(rows)} corrections written to {escape(str(out))}", highlight=False)


def register(main: click.Group) -> None:
    main.add_command(label)
    main.add_command(labels)
