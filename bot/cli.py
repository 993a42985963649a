"""The harkbot command. The only module (with scheduler.py) that reads the clock, the
environment and exit codes; everything it runs takes those as arguments."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli_common import console, err  # shared by every command module
from bot.cli_common import load_config as _load_config, now as _now, print_problems as _print_problems
from bot.errors import ConfigError, HarkError, Problem


def _setup_logging(level: str) -> None:
    handler = RichHandler(console=err, show_path=False, show_time=True, markup=False, rich_tracebacks=False)
    logging.basicConfig(level=level.upper(), handlers=[handler], format="%(message)s", force=True)
    for noisy in ("apscheduler", "urllib3", "googleapiclient", "prawcore", "tweepy", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


GLOBAL_OPTIONS = ("--log-level", "--log-format")  # harkbot's own, wherever on the line they are typed


class _Harkbot(click.Group):
    """People type `harkbot run --log-level debug`, after the sub-command: the logging options
    are moved in front of it before click parses, so they work in either place."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))


def hoist_global_options(args: list[str]) -> list[str]:
    front, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            take = 1 if "=" in arg or i + 1 >= len(args) else 2
            front += args[i:i + take]
            i += take
            continue
        rest.append(arg)
        i += 1
    return front + rest


@click.group(cls=_Harkbot, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default="config.yaml", envvar="HARKBOT_CONFIG", show_default=True,
              help="The config file (or set HARKBOT_CONFIG).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="Any case; before or after the sub-command.")
@click.option("--log-format", default="text", type=click.Choice(["text", "json"], case_sensitive=False),
              show_default=True,
              help="json: one JSON object per line (ts, level, logger, message), for log shippers.")
@click.version_option(package_name="harkbot")
@click.pass_context
def main(ctx: click.Context, config_path: str, log_level: str, log_format: str) -> None:
    """harkbot: listen to X, Reddit and YouTube for your brand and competitors; alert Slack."""
    log_level, log_format = log_level.lower(), log_format.lower()
    ctx.obj = {"config": config_path, "log_level": log_level}
    _setup_logging(log_level)
    if log_format == "json":
        from bot.logs import use_json

        use_json()


@main.command()
@click.option("--db", "--database", "db", default="harkbot.db", show_default=True,
              help="Where the demo writes its database (recreated each run): a SQLite file or a postgresql:// DSN.")
@click.option("--days", default=3, show_default=True, type=click.IntRange(2, 14))
@click.option("--seed", default=7, show_default=True, type=int)
def demo(db: str, days: int, seed: int) -> None:
    """Replay a synthetic 3-day stream through the real pipeline, offline."""
    from bot.demo.replay import run_demo, start_for
    from bot.store import display, is_dsn

    logging.getLogger().setLevel(logging.WARNING)  # the progress bar and alerts tell the story
    start = start_for(_now(), days)
    console.print(f"harkbot demo: {days} days of synthetic mentions of Mindful Health (a fictional teletherapy"
                  f" brand), TheraNow and Haven Therapy, from {start:%Y-%m-%d %H:%M} UTC, seed {seed}.")
    with Progress(TextColumn("[bold]replaying"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("", total=days * 288)

        def step(done: int, total: int) -> None:
            clock = start + timedelta(minutes=5 * done)
            progress.update(task, completed=done, description=f"{clock:%a %H:%M} UTC")

        try:
            summary = run_demo(db if is_dsn(db) else Path(db), start=start, days=days, seed=seed, env=os.environ,
                               console=progress.console, on_step=step)
        except HarkError as exc:
            err.print(f"[red]error[/red] {exc}")
            sys.exit(1)
    table = Table(title="harkbot demo", show_header=False)
    table.add_row("Mentions ingested", f"{summary.mentions:,} (of {summary.fetched:,} fetched posts)")
    table.add_row("Alerts", f"{len(summary.alerts)} raised, {summary.delivered} deliveries sent"
                  + (f", {summary.failed} failed" if summary.failed else ""))
    for alert in summary.alerts:
        table.add_row("", f"{alert.fired_at:%a %H:%M} [{alert.severity}] {alert.rule}: {alert.finding.title}")
    table.add_row("Elapsed", f"{summary.seconds:.1f}s")
    table.add_row("Database", display(db) if is_dsn(db) else str(Path(db).resolve()))
    console.print(table)
    for note in summary.notes:
        console.print(note)
    console.print(f"Next: harkbot search refund --brand mindful --since 7d --db {display(db)}")


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate config.yaml and every rule file; print every problem at once."""
    from bot.app import build_listeners, build_notifiers, rules_for
    from bot.config import load_config, rules_dir_of
    from bot.durations import format_duration
    from bot.rules import load_rules

    path = ctx.obj["config"]
    try:
        config = load_config(path)
    except ConfigError as exc:
        # Check the rule files on their own too, so one run shows every problem.
        folder = rules_dir_of(path)
        _rules, rule_problems = load_rules([folder], None) if folder.is_dir() else ([], [])
        _print_problems(exc.problems + rule_problems)
        errors = len(exc.problems) + sum(p.severity == "error" for p in rule_problems)
        err.print(f"[red]{errors} error(s)[/red] in {path}" + (f" and {folder}" if rule_problems else ""))
        sys.exit(1)
    rules, problems = rules_for(config)
    _print_problems(list(config.warnings) + problems)
    from bot.status import permission_problems

    _print_problems(permission_problems(config.database))
    errors = [p for p in problems if p.severity == "error"]
    listeners = build_listeners(config, os.environ)
    for listener in listeners.ready:
        every = format_duration(config.listeners[listener.name].every)
        console.print(f"listener {listener.name}: ready, every {every}", soft_wrap=True)
    for line in listeners.skipped:
        console.print(f"listener {line}", soft_wrap=True)
    for name in listeners.disabled:
        console.print(f"listener {name}: disabled in config", soft_wrap=True)
    for note in build_notifiers(config, os.environ, every_note=True).notes:
        console.print(note, soft_wrap=True)
    plans = quota_plans(config)
    for plan in plans:
        console.print(f"quota {plan}", soft_wrap=True)
    errors += quota_problems(config, plans)
    _print_problems([p for p in errors if p not in problems])
    console.print(f"{len(config.brands)} brands, {len(rules)} rules loaded from {config.rules_dir}", soft_wrap=True)
    if errors:
        err.print(f"[red]{len(errors)} error(s)[/red]")
        sys.exit(1)
    console.print("[green]ok[/green]")


def quota_plans(config) -> list:
    """Each enabled listener's planned daily API use, credentials or not."""
    from listeners import REGISTRY

    return [REGISTRY[name].plan(options, list(config.brands.values()))
            for name, options in config.listeners.items() if options.enabled]


def quota_problems(config, plans: list) -> list[Problem]:
    from bot.yamlsrc import load

    source, _ = load(config.path)
    out = []
    for plan in plans:
        if plan.fits:
            continue
        loc = ("listeners", plan.listener, "every")
        line, col = source.position(loc) if source else (0, 0)
        out.append(Problem(str(config.path), line, col, ".".join(loc),
                           f"the plan needs {plan.used:,.0f} {plan.unit} a day, over the budget of {plan.budget:,.0f}",
                           "poll less often, or track fewer brands with this listener"))
    return out


def _live_store(config):
    from bot.demo.replay import PURPOSE
    from bot.store import display, open_store

    store = open_store(config.database)
    if store.get_meta("purpose") == PURPOSE:
        err.print(f"[red]error[/red] {display(config.database)} holds the demo's synthetic data; "
                  "delete it, or set `database:` in config.yaml to another file")
        sys.exit(1)
    return store


def _daemon_parts(ctx: click.Context):
    from bot.app import build_listeners, build_notifiers, rules_for, scorer_for

    config = _load_config(ctx.obj["config"])
    rules, problems = rules_for(config)
    _print_problems(problems)
    listeners = build_listeners(config, os.environ)
    for line in listeners.skipped:
        logging.getLogger("harkbot").warning("%s", line)
    notifiers = build_notifiers(config, os.environ, err, with_console=True)
    for note in notifiers.notes:
        logging.getLogger("harkbot").info("%s", note)
    return config, rules, listeners, notifiers, scorer_for(config)


@main.command()
@click.option("--retry-now", is_flag=True, help="Poll listeners that are resting after errors too.")
@click.pass_context
def once(ctx: click.Context, retry_now: bool) -> None:
    """Poll each enabled listener once, evaluate the rules once, deliver, and exit.

    Exit status 2 when a listener or a delivery failed (the rest still ran)."""
    from bot.intake import intake_for
    from bot.leases import poll_leased
    from bot.outbox import deliver
    from bot.scheduler import watcher_for
    from bot.pipeline import evaluate_once

    config, rules, listeners, notifiers, scorer = _daemon_parts(ctx)
    store = _live_store(config)
    intake = intake_for(config)
    # Under each listener's poll lease: beside a running daemon or workers, never a second poll at once.
    results = [poll_leased(listener, config, scorer, store, _now(), retry_now=retry_now, intake=intake)
               for listener in listeners.ready]
    now = _now()
    # A rule deleted or disabled since the last run resolves its open alert (a broken file does not).
    watcher = watcher_for(config, store, notifiers.active)
    evaluation = evaluate_once(rules, config.brands, store, now, list(notifiers.active), safety=config.model.safety,
                               retire=watcher.retire if watcher is not None else None)
    sent, failed = deliver(store, notifiers.active, now)
    new = sum(r.new for r in results)
    resting = sum(r.skipped for r in results)
    console.print(f"once: {len(results) - resting} listeners polled ({len(listeners.skipped)} skipped"
                  + (f", {resting} resting after errors or busy elsewhere" if resting else "") + f"), {new} new mentions, "
                  f"{len(evaluation.alerts)} alerts, {sent} delivered" + (f", {failed} failed" if failed else ""),
                  soft_wrap=True)
    if any(r.error for r in results) or failed:
        sys.exit(2)


@main.command()
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (0: any free one); default: metrics.port in config.yaml.")
@click.pass_context
def run(ctx: click.Context, metrics_port: int | None) -> None:
    """Run the daemon: poll listeners on their schedules, evaluate rules, deliver alerts."""
    from bot import scheduler

    config, rules, listeners, notifiers, scorer = _daemon_parts(ctx)
    port = metrics_port if metrics_port is not None else config.model.metrics.port
    metrics = endpoint = None
    if port is not None:
        from bot.metrics import Metrics, serve

        try:
            metrics = Metrics()
            endpoint = serve(metrics, port, config.model.metrics.address)
        except HarkError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
            sys.exit(1)
        logging.getLogger("harkbot").info("metrics: http://%s:%d/metrics", config.model.metrics.address, endpoint.port)
    store = _live_store(config)
    if not listeners.ready:
        logging.getLogger("harkbot").warning("no listener is ready; evaluating stored history only")
    daemon = scheduler.build(listeners.ready, config, rules, scorer, store, notifiers.active, metrics=metrics)
    from bot.notifiers.slack_socket import mode, start_interactive
    from bot.store import open_store

    try:  # Slack's triage buttons, over Socket Mode: a websocket of our own, no public URL
        interactive = start_interactive(config, os.environ, lambda: open_store(config.database))
    except HarkError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
    log = logging.getLogger("harkbot")
    log.info("slack triage: %s", mode(config, os.environ))
    log.info("running: %d listeners, %d rules, evaluating every %s; Ctrl-C stops",
             len(listeners.ready), len(rules), config.evaluate_every)
    scheduler.run(daemon)
    if interactive is not None:
        interactive.stop()
    if endpoint is not None:
        endpoint.stop()
    store.close()


@main.command()
@click.option("--scorer", "scorer_name", default="harkbot", show_default=True,
              help="The scorer: harkbot, harkbot-rules, vader or textblob (English text).")
@click.option("--lang", "lang", default=None, metavar="auto|xx",
              help="The texts' language: 'auto' detects each line's, an ISO 639-1 code (es, pt, ...) reads every "
                   "line as that language. Other languages than English go to harkbot's per-language models "
                   "(ar de es fr hi it pt); any other gets label 'unknown'. Default: English, --scorer alone.")
def score(scorer_name: str, lang: str | None) -> None:
    """Score one text per line from stdin; write one JSON object per line (with --lang, its "lang" too)."""
    from bot.sentiment import SCORERS, make_scorer
    from bot.yamlsrc import suggest

    name = scorer_name
    if name not in SCORERS:
        err.print(f"[red]error[/red] unknown scorer '{name}'; {suggest(name, list(SCORERS))}")
        sys.exit(2)
    scorer = make_scorer(name)
    multi = None
    if lang is not None or name == "harkbot-multi":
        import re

        from bot.sentiment_multi import MultiScorer, base_language

        code = base_language(lang)
        if code is not None and not re.fullmatch(r"[a-z]{2,3}", code):
            err.print(f"[red]error[/red] --lang '{lang}': give 'auto' or a language code such as es, pt or de")
            sys.exit(2)
        multi = scorer if isinstance(scorer, MultiScorer) else MultiScorer(english=scorer)
    versions: dict[str, str | None] = {}
    for line in sys.stdin:
        text = line.rstrip("\n")
        if multi is None:
            result, read = scorer.score(text), None
        else:
            read, result = multi.score_lang(text, lang)
        out = {"label": result.label, "polarity": result.polarity, "scorer": result.scorer,
               "terms": list(result.terms)}
        version = versions.get(result.scorer) or versions.setdefault(result.scorer, _version_of(result.scorer, scorer))
        if version:
            out["version"] = version
        if read is not None and lang is not None:
            out["lang"] = read
        click.echo(json.dumps(out, ensure_ascii=False))


def _version_of(name: str, scorer) -> str | None:
    """Which weights or package made a score named `name`: the English scorer's own, or a
    per-language model file's (harkbot-es/1 -> sentiment_es.tsv@...)."""
    from bot.sentiment import file_version

    if name.startswith("harkbot-") and "/" in name and name != "harkbot-rules":
        from bot.sentiment_multi import model_path

        path = model_path(name.split("/")[0].removeprefix("harkbot-"))
        return file_version(path) if path.is_file() else None
    english = getattr(scorer, "english", scorer)
    return getattr(english, "version", None) if getattr(english, "name", None) == name else None


@main.command()
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-", help="Where to write (default: stdout).")
def spikes(csv_file, out) -> None:
    """Score a count series: reads timestamp,value rows, writes timestamp,value,anomaly_score.

    Each score uses only that row and the rows before it, as the daemon would have seen them.
    """
    import csv

    from bot import spikes as detector

    reader = csv.DictReader(csv_file)
    missing = {"timestamp", "value"} - set(reader.fieldnames or ())
    if missing:
        err.print(f"[red]error[/red] {csv_file.name}: the header must name timestamp and value "
                  f"(missing: {', '.join(sorted(missing))})")
        sys.exit(2)
    rows, raw = [], []
    for line, row in enumerate(reader, start=2):
        try:
            rows.append((_timestamp(row["timestamp"]), float(row["value"])))
        except (TypeError, ValueError):
            err.print(f"[red]error[/red] {csv_file.name}:{line}: cannot read {row['timestamp']!r},{row['value']!r}: "
                      "write an ISO time (2026-11-01 09:05:00) and a number")
            sys.exit(2)
        raw.append((row["timestamp"], row["value"]))
    try:
        scores = detector.score_series(rows)
    except ValueError as exc:
        err.print(f"[red]error[/red] {csv_file.name}: {exc}")
        sys.exit(2)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    for (timestamp, value), score in zip(raw, scores):
        writer.writerow([timestamp, value, f"{score:.6f}"])


def _timestamp(text: str) -> datetime:
    from bot.models import utc

    return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def _register_subcommands() -> None:
    from bot.cli_ops import register as register_ops
    from bot import cli_history
    from bot.cli_alerts import register as register_alerts
    from bot.cli_rules import rules

    main.add_command(rules)
    register_ops(main)  # status, purge, forget
    cli_history.register(main)  # search, stats, export, report, browse
    register_alerts(main)  # alerts list/render/retry, silence add/list/expire


_register_subcommands()
from bot.cli_db import register as _register_db  # noqa: E402 - migrate, copy
_register_db(main)
from bot.cli_scale import register as _register_scale  # noqa: E402 - worker
_register_scale(main)
from bot.cli_deadletters import register as _register_deadletters  # noqa: E402 - deadletters list/retry
_register_deadletters(main)
from bot.cli_selfharm import register as _register_selfharm; _register_selfharm(main)  # noqa: E402,E702 - selfharm
from bot.cli_labels import register as _register_labels; _register_labels(main)  # noqa: E402,E702 - label, labels export
from bot.cli_brands import register as _register_brands; _register_brands(main)  # noqa: E402,E702 - brands block
