"""`harkbot alerts ...` and `harkbot silence ...`: what was raised, what Slack receives, and
keeping known noise out of the channels.

    harkbot alerts list [--since 7d] [--state firing]     alerts with their delivery status
    harkbot alerts render ALERT_ID [--console]            the exact payload Slack receives
    harkbot alerts retry [--id N]                         deliveries refused earlier, queued again
    harkbot alerts ack ID [--as NAME]                     "on it": who took it, and when
    harkbot alerts feedback ID useful|noise [--reason R] [--note TEXT] [--as NAME]
    harkbot alerts close ID --reason R [--as NAME]        resolved, a false positive (why), a duplicate
    harkbot alerts reopen ID [--as NAME]
    harkbot silence add --rule R --brand B --for 4h --comment "..."
    harkbot silence list [--all]
    harkbot silence expire ID
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.durations import format_duration, parse_duration, parse_when
from bot.triage import CLOSE_REASONS, NOISE_REASONS, NOTE_LIMIT, VERDICTS

console = Console()
err = Console(stderr=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _open(ctx: click.Context, db: str | None):
    """(config or None, store): the database named by --db, else config.yaml's."""
    from bot.cli_common import load_config as _load_config
    from bot.store import display, exists, open_store

    path = ctx.find_root().obj["config"]
    # With --db the config is optional (it routes and redacts `render`); without, it names the db.
    config = _load_config(path) if db is None or Path(path).exists() else None
    if db is None:
        db = config.database
    if not exists(db):
        err.print(f"[red]error[/red] no database at {display(db)}; run `harkbot demo` or `harkbot run` first, or pass --db")
        sys.exit(1)
    return config, open_store(db)


# -- alerts


@click.group()
def alerts() -> None:
    """Alerts raised: list them, see exactly what Slack receives, retry refused deliveries, and ack, judge
    and close them."""


@alerts.command("list")
@click.option("--since", default="7d", show_default=True, help="7d, 12h, or a date.")
@click.option("--state", type=click.Choice(["firing", "resolved", "notice"]), help="Only alerts in this state.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert.")
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def list_alerts(ctx: click.Context, since: str, state: str | None, as_json: bool, db: str | None) -> None:
    """Alerts since a time, newest first, with where each delivery stands."""
    from bot.triage import TriageState, states

    start = _when(since)
    _config, store = _open(ctx, db)
    try:
        rows = store.alert_rows(start, state)
        triage = states(store.triage_events(alert_ids=[r["id"] for r in rows])) if rows else {}
    finally:
        store.close()
    if as_json:
        for row in rows:
            s = triage.get(row["id"], TriageState(row["id"]))
            row["triage"] = {"label": s.label, "acked_by": s.acked_by,
                             "acked_at": s.acked_at.isoformat() if s.acked_at else None, "verdict": s.verdict,
                             "verdict_by": s.verdict_by, "verdict_reason": s.verdict_reason, "closed": s.closed,
                             "closed_by": s.closed_by}
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(title=f"Alerts since {start:%Y-%m-%d %H:%M} UTC", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("fired (UTC)", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("triage", overflow="fold", max_width=18)
    table.add_column("rule · title", overflow="fold", ratio=1)
    table.add_column("deliveries", overflow="fold")
    marks = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
    for row in rows:
        state = ("✅ " if row["state"] == "resolved" else marks.get(row["severity"] or "", "") + " ") + row["state"]
        table.add_row(str(row["id"]), row["fired_at"][5:16].replace("T", " "), state,
                      Text(triage.get(row["id"], TriageState(row["id"])).label),
                      Text(f"{row['rule']} · {row['title'] or ''}"),
                      ", ".join(f"{v} {k}" for k, v in sorted(row["deliveries"].items())))
    console.print(table)
    if not rows:
        console.print("no alerts in that time")


@alerts.command()
@click.argument("alert_id", type=int)
@click.option("--console", "draw", is_flag=True, help="Draw it as the console notifier does, not as JSON.")
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def render(ctx: click.Context, alert_id: int, draw: bool, db: str | None) -> None:
    """The chat.postMessage arguments for an alert's message, exactly as Slack receives them
    (channel, text, blocks, metadata), drawn with the config's routing and privacy mode."""
    from bot.app import privacy_for, routing_for
    from bot.notifiers import blocks
    from bot.notifiers.console import render as draw_payload
    from bot.routing import Routing

    config, store = _open(ctx, db)
    alert = store.alert(alert_id)
    if alert is None:
        err.print(f"[red]error[/red] no alert {alert_id}; `harkbot alerts list` shows them")
        sys.exit(1)
    routing = routing_for(config) if config else Routing()
    privacy = privacy_for(config) if config else None
    message = store.message_of(alert_id, "slack")
    members = store.alerts_in_message(message) if message else [alert_id]
    group = [a for a in (store.alert(i) for i in members) if a is not None]
    key = message.key if message else f"{store.instance()}.(outbox id)"
    # A digest is drawn as the sender drew it: one line per alert, not the full alert.
    held = [d for d in store.deliveries_of(alert_id) if d.notifier == "slack" and d.action == "digest"]
    if message.digest if message else bool(held):
        payload = blocks.digest_payload(group, key=key, privacy=privacy, now=_now())
    else:
        payload = blocks.group_payload(group, key=key, privacy=privacy)
    channel = message.channel if message else routing.channel_for(alert)
    slack_channel = config.model.slack.channels.get(channel or "", channel) if config else channel
    if draw:
        console.print(Text(f"→ {channel or '(default channel)'}", style="bold"))
        console.print(draw_payload(payload))
        return
    click.echo(json.dumps({"channel": slack_channel, **payload}, ensure_ascii=False, indent=2))


@alerts.command()
@click.option("--id", "ids", type=int, multiple=True, help="Only these outbox rows (default: every refused one).")
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def retry(ctx: click.Context, ids: tuple[int, ...], db: str | None) -> None:
    """Queue deliveries that Slack refused (a missing invite, a wrong channel) again, once fixed."""
    _config, store = _open(ctx, db)
    n = store.requeue(list(ids) or None, _now())
    console.print(f"{n} deliveries queued again; the running daemon (or `harkbot once`) sends them")


# -- triage: what a person says about an alert (bot/triage.py; the store's Triage protocol)

_AS = click.option("--as", "actor", default=None, metavar="NAME", help="Who is saying it (default: $USER).")


@alerts.command()
@click.argument("alert_id", type=int)
@_AS
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def ack(ctx: click.Context, alert_id: int, actor: str | None, db: str | None) -> None:
    """Acknowledge an alert: "on it", with who and when (the first ack counts for time to ack)."""
    _triage(ctx, db, alert_id, "ack", actor)


@alerts.command()
@click.argument("alert_id", type=int)
@click.argument("verdict", type=click.Choice(VERDICTS))
@click.option("--reason", type=click.Choice(NOISE_REASONS), help="Why it was noise.")
@click.option("--note", help=f"A few words of your own (at most {NOTE_LIMIT} characters; not the post's text).")
@_AS
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def feedback(ctx: click.Context, alert_id: int, verdict: str, reason: str | None, note: str | None,
             actor: str | None, db: str | None) -> None:
    """Say whether an alert was useful or noise; `harkbot rules stats` turns it into each rule's precision."""
    if reason is not None and verdict != "noise":
        raise click.UsageError("--reason says why an alert was noise; leave it out for a useful one")
    _triage(ctx, db, alert_id, "verdict", actor, verdict=verdict, reason=reason, note=note)


@alerts.command()
@click.argument("alert_id", type=int)
@click.option("--reason", required=True, type=click.Choice(CLOSE_REASONS),
              help="resolved, a false positive (the rule, or the data: wrong brand, spam, wrong sentiment), "
                   "or a duplicate.")
@_AS
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def close(ctx: click.Context, alert_id: int, reason: str, actor: str | None, db: str | None) -> None:
    """Close an alert with a reason (`harkbot alerts reopen` undoes it)."""
    _triage(ctx, db, alert_id, "close", actor, reason=reason)


@alerts.command()
@click.argument("alert_id", type=int)
@_AS
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def reopen(ctx: click.Context, alert_id: int, actor: str | None, db: str | None) -> None:
    """Reopen a closed alert."""
    _triage(ctx, db, alert_id, "reopen", actor)


def _triage(ctx: click.Context, db: str | None, alert_id: int, kind: str, actor: str | None, **values) -> None:
    """Record one event and print the state the alert is in now; errors as sentences, exit 1."""
    from bot.cli_common import actor as user
    from bot.triage import TriageError, state_of

    _config, store = _open(ctx, db)
    try:
        try:
            store.record_triage(alert_id, kind, user(actor), _now(), source="cli", **values)
        except TriageError as exc:
            if exc.reason == "unknown":
                err.print(f"[red]error[/red] no alert {alert_id}; `harkbot alerts list --since 30d` shows alert ids")
            else:
                err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
            sys.exit(1)
        state = state_of(alert_id, store.triage_events(alert_ids=[alert_id]))
        console.print(Text(f"alert {alert_id}: {state.label}"))
    finally:
        store.close()


# -- silences


@click.group()
def silence() -> None:
    """Keep known noise out of Slack for a while (the alerts are still recorded)."""


@silence.command("add")
@click.option("--rule", help="The rule's name (default: any rule).")
@click.option("--brand", help="The brand key (default: any brand).")
@click.option("--for", "duration", required=True, help="How long: 30m, 4h, 2d.")
@click.option("--comment", required=True, help="Why: the next person on call reads this.")
@click.option("--start", help="When it starts (default: now): a date, or 2026-11-21T09:00.")
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def silence_add(ctx: click.Context, rule: str | None, brand: str | None, duration: str, comment: str,
                start: str | None, db: str | None) -> None:
    """Silence a rule, a brand, or one rule for one brand."""
    config, store = _open(ctx, db)
    if rule is None and brand is None:
        raise click.UsageError("give --rule, --brand or both: a silence of everything would hide a crisis")
    if config is not None and brand is not None and brand not in config.brands:
        raise click.BadParameter(f"unknown brand '{brand}'; config.yaml has {', '.join(config.brands)}",
                                 param_hint="--brand")
    try:
        span = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    now = _now()
    begins = _when(start) if start else now
    silence_id = store.add_silence(rule, brand, begins, begins + span, comment.strip(), _user(), now)
    what = " and ".join(x for x in (f"rule {rule}" if rule else "", f"brand {brand}" if brand else "") if x)
    console.print(f"silence {silence_id}: {what} until {begins + span:%Y-%m-%d %H:%M} UTC "
                  f"({format_duration(span)}); `harkbot silence expire {silence_id}` ends it early")


@silence.command("list")
@click.option("--all", "everything", is_flag=True, help="Expired ones too.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def silence_list(ctx: click.Context, everything: bool, as_json: bool, db: str | None) -> None:
    """Silences in force (and, with --all, past ones)."""
    _config, store = _open(ctx, db)
    now = _now()
    found = [s for s in store.silences() if everything or s.active(now) or (s.expired_at is None and s.starts_at > now)]
    if as_json:
        for s in found:
            click.echo(json.dumps({"id": s.id, "rule": s.rule, "brand": s.brand, "starts_at": s.starts_at.isoformat(),
                                   "ends_at": s.ends_at.isoformat(), "comment": s.comment, "created_by": s.created_by,
                                   "active": s.active(now)}, ensure_ascii=False))
        return
    table = Table(title="Silences", title_justify="left")
    for column in ("id", "rule", "brand", "from (UTC)", "until (UTC)", "state", "by", "comment"):
        table.add_column(column, overflow="fold")
    for s in found:
        state = "active" if s.active(now) else "expired" if s.expired_at or s.ends_at <= now else "scheduled"
        table.add_row(str(s.id), Text(s.rule or "any"), Text(s.brand or "any"), f"{s.starts_at:%Y-%m-%d %H:%M}",
                      f"{s.ends_at:%Y-%m-%d %H:%M}", state, Text(s.created_by or ""), Text(s.comment))
    console.print(table)


@silence.command("expire")
@click.argument("silence_id", type=int)
@click.option("--db", help="The database (default: config.yaml's).")
@click.pass_context
def silence_expire(ctx: click.Context, silence_id: int, db: str | None) -> None:
    """End a silence now."""
    _config, store = _open(ctx, db)
    if not store.expire_silence(silence_id, _now()):
        err.print(f"[red]error[/red] no active silence {silence_id}; `harkbot silence list --all` shows them")
        sys.exit(1)
    console.print(f"silence {silence_id} expired")


def _when(text: str) -> datetime:
    try:
        return parse_when(text, _now())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def register(main: click.Group) -> None:
    main.add_command(alerts)
    main.add_command(silence)
