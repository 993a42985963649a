"""`harkbot rules ...`: check, schema, test and backtest rule files.

A click group registered on the main command in bot/cli.py. It reads the config path the
main command was given (`--config` / HARKBOT_CONFIG), or its own `--config`.

    harkbot rules check [PATHS] [--format json]     every problem of every file; exit 1 on errors
    harkbot rules schema                            JSON Schema of a rule file, for editors
    harkbot rules test [PATHS] [-v]                 run NAME.test.yaml files; exit 1 on a failure
    harkbot rules backtest [RULES] --since 30d      replay stored history through the rules
    harkbot rules stats [--since 30d]               per rule: sent, acked, useful/noise, precision
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.durations import parse_when
from bot.errors import ConfigError, Problem


def _since(text: str | None, now: datetime) -> datetime | None:
    try:
        return None if text is None else parse_when(text, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

console = Console()
err = Console(stderr=True)


def _config_path(ctx: click.Context, given: str | None) -> str:
    if given:
        return given
    parent = ctx.find_root().obj
    if isinstance(parent, dict) and parent.get("config"):
        return parent["config"]
    return os.environ.get("HARKBOT_CONFIG", "config.yaml")


def _print_problems(problems: list[Problem]) -> None:
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        err.print(f"[{style}]{p.severity}[/{style}] {escape(str(p))}", highlight=False, soft_wrap=True)


def _problem_json(p: Problem) -> dict:
    return {"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message, "hint": p.hint,
            "severity": p.severity, "text": str(p)}


def _load_config(path: str):
    """(config or None, problems): a broken config.yaml is reported, not fatal, for `check`."""
    from bot.config import load_config

    if not Path(path).exists():
        return None, [Problem(path, 0, 0, "", "config file not found; brands, channels and timing are not checked",
                              "pass --config, or run from the folder that holds config.yaml", "warning")]
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, exc.problems
    return config, list(config.warnings)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default=None, help="The config file (default: harkbot's --config).")
@click.pass_context
def rules(ctx: click.Context, config_path: str | None) -> None:
    """Check, test and backtest alert rules."""
    ctx.ensure_object(dict)
    ctx.obj["rules_config"] = _config_path(ctx, config_path)


@rules.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: a list of problems, for CI and editors.")
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...], fmt: str) -> None:
    """Validate rule files (default: the config's rules folder); every problem at once, exit 1 on errors."""
    from bot.rules import load_rules

    config, config_problems = _load_config(ctx.obj["rules_config"])
    targets = list(paths) or ([config.rules_dir] if config is not None else [Path("rules")])
    missing = [Problem(str(p), 0, 0, "", "no such file or folder") for p in targets if not p.exists()]
    loaded, problems = load_rules([p for p in targets if p.exists()], config)
    problems = config_problems + missing + problems
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":
        click.echo(json.dumps([_problem_json(p) for p in problems], indent=2, ensure_ascii=False))
    else:
        _print_problems(problems)
        warnings = len(problems) - len(errors)
        console.print(f"{len(loaded)} rules loaded from {', '.join(map(str, targets))}"
                      + (f"; {len(errors)} error(s)" if errors else "")
                      + (f", {warnings} warning(s)" if warnings else ""), soft_wrap=True)
        if not errors:
            console.print("[green]ok[/green]")
    if errors:
        sys.exit(1)


@rules.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of a rule file, for editors (yaml-language-server)."""
    from bot.rules import rule_schema

    click.echo(json.dumps(rule_schema(), indent=2, ensure_ascii=False))


@rules.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Print each test's timeline, passing or not.")
@click.pass_context
def test(ctx: click.Context, paths: tuple[Path, ...], verbose: bool) -> None:
    """Run rule tests: NAME.test.yaml files (default: those in the rules folder); exit 1 on a failure."""
    from bot.ruletest import find_tests, run_test_file

    config, config_problems = _load_config(ctx.obj["rules_config"])
    if config is None and [p for p in config_problems if p.severity == "error"]:
        _print_problems(config_problems)
        err.print("config.yaml has errors; the tests run with brands named after their keys")
    targets = list(paths) or ([config.rules_dir] if config is not None else [Path("rules")])
    files = find_tests(targets)
    if not files:
        err.print(f"no *.test.yaml files in {', '.join(map(str, targets))}")
        sys.exit(1)
    failed = 0
    for path in files:
        result = run_test_file(path, config)
        status = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
        console.print(f"{status} {escape(str(path))} ({', '.join(result.rules) or 'no rule'}: "
                      f"{result.checks} expectations)", soft_wrap=True, highlight=False)
        if not result.ok:
            failed += 1
            _print_problems(result.failures)
        if verbose or not result.ok:
            for line in result.timeline:
                console.print(f"    {escape(line)}", soft_wrap=True, highlight=False)
    console.print(f"{len(files) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@rules.command()
@click.argument("selection", nargs=-1)
@click.option("--since", default="30d", show_default=True, help="30d, 12h, or a date (2026-11-01).")
@click.option("--until", default=None, help="A duration back from now or a date (default: now).")
@click.option("--db", help="The database: a SQLite file or a postgresql:// DSN (default: config.yaml's).")
@click.option("--every", default=None, help="The simulated evaluation interval (default: evaluate_every).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain/--no-explain", default=True, show_default=True,
              help="Build each alert's full text (titles); --no-explain is faster on big databases.")
@click.option("--method", type=click.Choice(["vector", "step"]), default="vector", show_default=True,
              help="vector: each rule over every step at once; step: the step-by-step replay (the reference). "
                   "Both give the same alerts.")
@click.pass_context
def backtest(ctx: click.Context, selection: tuple[str, ...], since: str, until: str | None, db: str | None,
             every: str | None, fmt: str, explain: bool, method: str) -> None:
    """Replay stored history through rules (files, folders or rule names; default: all) on a simulated clock.

    Prints, per rule, how many alerts it would have sent, when, their peak values, and alerts per day.
    The database is only read.
    """
    from bot.backtest import run_backtest
    from bot.durations import parse_duration
    from bot.rules import load_rules
    from bot.store import display, exists, open_store

    config, config_problems = _load_config(ctx.obj["rules_config"])
    if config is None:
        _print_problems(config_problems)
        err.print("a backtest needs a valid config.yaml (brands); fix it and run `harkbot rules check`")
        sys.exit(1)
    paths = [Path(s) for s in selection if Path(s).exists()]
    names = [s for s in selection if not Path(s).exists()]
    chosen, problems = load_rules(paths or [config.rules_dir], config)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        _print_problems(errors)
        err.print("these rules have errors and are left out of the backtest")
    if names:
        unknown = [n for n in names if n not in {r.name for r in chosen}]
        if unknown:
            from bot.yamlsrc import suggest

            for name in unknown:
                err.print(f"[red]error[/red] no rule or file '{escape(name)}' "
                          f"({suggest(name, [r.name for r in chosen])})")
            sys.exit(1)
        chosen = [r for r in chosen if r.name in names]
    if not chosen:
        err.print("no rules to backtest")
        sys.exit(1)
    path = db or config.database
    if not exists(path):
        err.print(f"[red]error[/red] no database at {display(path)}; run `harkbot demo` first, or pass --db")
        sys.exit(1)
    now = _now()
    start, end = _since(since, now), _since(until, now) if until else now
    step = parse_duration(every) if every else config.evaluate_every
    store = open_store(path)
    try:
        result = run_backtest(store, chosen, config.brands, start, end, every=step, explain=explain, method=method)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    _print_backtest(result)


@rules.command()
@click.option("--since", default="30d", show_default=True, help="Alerts fired since: 30d, 12h, or a date.")
@click.option("--db", help="The database: a SQLite file or a postgresql:// DSN (default: config.yaml's).")
@click.option("--every", default=None,
              help="The evaluation interval 'resolved within one evaluation' counts in (default: evaluate_every).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def stats(ctx: click.Context, since: str, db: str | None, every: str | None, fmt: str) -> None:
    """What people said about each rule's alerts: fired, sent, acked and how fast, useful and noise,
    precision = useful / (useful + noise) with its 95% Wilson lower bound, close reasons, and the
    silent signals (silenced within 15 minutes of firing, resolved within one evaluation).

    Feedback comes from `harkbot alerts ack|feedback|close` (and Slack). The database is only read.
    """
    from datetime import timedelta

    from bot.durations import parse_duration
    from bot.store import display, exists, open_store
    from bot.triage import rule_stats

    config, config_problems = _load_config(ctx.obj["rules_config"])
    if config is None and db is None:
        _print_problems(config_problems)
        err.print("rules stats reads the database config.yaml names; fix config.yaml, or pass --db")
        sys.exit(1)
    path = db or config.database
    if not exists(path):
        err.print(f"[red]error[/red] no database at {display(path)}; run `harkbot demo` first, or pass --db")
        sys.exit(1)
    try:
        step = parse_duration(every) if every else (config.evaluate_every if config else timedelta(minutes=5))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    now = _now()
    start = _since(since, now)
    store = open_store(path)
    try:
        rows = [r for r in store.alert_rows(start) if r["state"] != "notice"]  # notices come from no rule
        events = store.triage_events(alert_ids=[r["id"] for r in rows]) if rows else []
        figures = rule_stats(rows, events, store.silences(), evaluate_every=step)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([_stats_dict(f) for f in figures], indent=2, ensure_ascii=False))
        return
    _print_stats(figures, start, step)


def _stats_dict(f) -> dict:
    return {"rule": f.rule, "fired": f.fired, "sent": f.sent, "acked": f.acked,
            "median_ack_seconds": f.median_ack.total_seconds() if f.median_ack is not None else None,
            "useful": f.useful, "noise": f.noise, "precision": f.precision, "precision_low": f.precision_low,
            "closed": dict(sorted(f.closed.items())), "silenced_within_15m": f.silenced_soon,
            "resolved_within_one_evaluation": f.resolved_soon}


def _print_stats(figures, start: datetime, step) -> None:
    """Two tables that read at 80 columns, as backtest's: the counts with precision and its
    bound ("0.70 ≥0.40"), then how the alerts ended (close reasons, the silent signals)."""
    from rich import box

    from bot.durations import format_duration

    if not figures:
        console.print(f"no alerts since {start:%Y-%m-%d %H:%M} UTC")
        return
    table = Table(title=f"Rule feedback since {start:%Y-%m-%d %H:%M} UTC", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("rule", ratio=1, overflow="fold")
    for column in ("fired", "sent", "acked", "to ack", "useful", "noise", "precision"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = [(f.rule, (str(f.fired), str(f.sent), str(f.acked), _short(f.median_ack), str(f.useful), str(f.noise),
                      "–" if f.precision is None else f"{f.precision:.2f} ≥{f.precision_low:.2f}")) for f in figures]
    width = _left_for_first(table, [values for _r, values in rows])
    for rule, values in rows:
        table.add_row(escape(_wrap_name(rule, width)), *values)
    console.print(table)
    ends = Table(title="How they ended", box=box.SIMPLE_HEAD, title_justify="left")
    ends.add_column("rule", ratio=1, overflow="fold")
    ends.add_column("closed as", ratio=1, overflow="fold")
    ends.add_column("silenced\n≤ 15m", justify="right", no_wrap=True)
    ends.add_column(f"resolved\n≤ {format_duration(step)}", justify="right", no_wrap=True)
    for f in figures:
        closed = "\n".join(f"{reason} {n}" for reason, n in sorted(f.closed.items())) or "–"
        ends.add_row(escape(f.rule), escape(closed), str(f.silenced_soon), str(f.resolved_soon))
    console.print(ends)
    console.print(f"[dim]to ack: the median time from firing to the first ack. precision: useful / (useful + noise),"
                  f" ≥ its 95% Wilson lower bound (few verdicts: a low bound). silenced: a silence made within"
                  f" 15 minutes of firing; resolved: within one evaluation ({format_duration(step)}).[/dim]",
                  highlight=False)


def _short(delta) -> str:
    """A median wait as a person reads it: 45s, 7m, 2h 05m, 3d 4h."""
    if delta is None:
        return "–"
    seconds = int(round(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _print_backtest(result) -> None:
    """Two tables that read at 80 columns: short headers, one flexible column (the rule, with its
    kind and decisions under it; the alert's title under its rule), names broken at hyphens."""
    from rich import box

    from bot.models import iso

    days = result.days
    rows, notes = [], []
    for r in result.results:
        first = f"{r.alerts[0].fired_at:%m-%d %H:%M}" if r.alerts else ""
        last = f"{r.alerts[-1].fired_at:%m-%d %H:%M}" if r.alerts else ""
        peak = f"{max(a.peak for a in r.alerts):.4g}" if r.alerts else ""
        held = ", ".join(f"{k} {v}" for k, v in sorted(r.reasons.items())
                         if k in ("pending", "cooldown", "worse", "resolved"))
        rows.append((r.rule, r.kind + (f" · {held}" if held else ""),
                     (str(len(r.alerts)), f"{r.per_day(days):.2f}", first, last, peak)))
        if r.note:
            notes.append(f"{r.rule}: {r.note}")
    table = Table(title=f"Backtest {iso(result.start)} to {iso(result.end)}\n{days:.1f} days, "
                        f"{result.steps:,} evaluations", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("rule", ratio=1, overflow="fold")
    for column in ("alerts", "/day"):
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("first", "last"):
        table.add_column(column, no_wrap=True)
    table.add_column("peak", justify="right", no_wrap=True)
    width = _left_for_first(table, [values for _r, _k, values in rows])
    for rule, about, values in rows:
        table.add_row(f"{escape(_wrap_name(rule, width))}\n[dim]{escape(about)}[/dim]", *values)
    console.print(table)
    for note in notes:
        console.print(f"[dim]note[/dim] {escape(note)}", highlight=False)
    if notes:
        console.print()
    alerts = sorted((a for r in result.results for a in r.alerts), key=lambda a: a.fired_at)
    if alerts:
        listing = Table(title="Alerts it would have sent", box=box.SIMPLE_HEAD, title_justify="left")
        listing.add_column("fired (UTC)", no_wrap=True)
        listing.add_column("rule · group, title", ratio=1, overflow="fold")
        listing.add_column("value", justify="right", no_wrap=True)
        listing.add_column("resolved", no_wrap=True)
        cells = []
        for a in alerts:
            value = f"{a.observed:.4g}" + (f"\npeak {a.peak:.4g}" if a.peak != a.observed else "")
            if a.updates:
                value += f"\n{a.updates} update{'s' if a.updates != 1 else ''}"
            cells.append((a, f"{a.fired_at:%Y-%m-%d}\n{a.fired_at:%H:%M}", value,
                          f"{a.resolved_at:%m-%d %H:%M}" if a.resolved_at else "open"))
        width = _left_for_first(listing, [(fired, value, resolved) for _a, fired, value, resolved in cells], 1)
        for a, fired, value, resolved in cells:
            listing.add_row(fired, f"{escape(_wrap_name(a.rule, width))} · {escape(a.group)}\n"
                                   f"[dim]{escape(a.title)}[/dim]", value, resolved)
        console.print(listing)


def _left_for_first(table: Table, rows: list[tuple[str, ...]], at: int = 0) -> int:
    """How wide the flexible column (number `at`) of a SIMPLE_HEAD table can be on this console,
    given the other columns' cells (lines of text) and their headers."""
    others = [c for i, c in enumerate(table.columns) if i != at]
    fixed = sum(max([len(str(c.header))] + [len(line) for row in rows for line in row[i].split("\n")])
                for i, c in enumerate(others))
    padding = 2 + 2 * len(table.columns) + (len(table.columns) - 1)  # edges, cell padding, dividers
    return max(12, console.width - padding - fixed)


def _wrap_name(name: str, width: int) -> str:
    """A rule name in lines of at most `width`, broken after its hyphens (or underscores) where it
    must be, so it still reads as one name; a part longer than a line is cut where it must."""
    lines, line = [], ""
    for part in _name_parts(name):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        while len(part) > width:
            lines.append(part[:width])
            part = part[width:]
        line += part
    return "\n".join(lines + [line])


def _name_parts(name: str) -> list[str]:
    parts, part = [], ""
    for char in name:
        part += char
        if char in "-_":
            parts.append(part)
            part = ""
    return parts + [part] if part else parts

