"""`harkbot search | stats | export | report | browse`: questions to the stored history.

Registered on the main command in bot/cli.py by `register(main)`. Each command reads the
database `--db` names (default: config.yaml's `database:`: a SQLite file or a postgresql://
DSN), including the demo's, and never writes to it beyond the schema migrations any harkbot
does on opening. The questions are in bot/history.py (the SQL in the store's backends), the
HTML and charts in bot/report.py, Datasette's setup in bot/browse.py (SQLite only).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.errors import HarkError
from bot.models import LABELS


def _out() -> Console:
    # Made per command (not at import), so FORCE_COLOR / COLUMNS set for a run take effect.
    return Console()


def _err() -> Console:
    return Console(stderr=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fail(message: str, code: int = 1):
    _err().print(f"[red]error[/red] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(code)


def _when(text: str | None, now: datetime, option: str) -> datetime | None:
    from bot.durations import parse_when

    try:
        return None if text is None else parse_when(text, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _config_or_none(ctx: click.Context, db: str | None):
    """The config when its file exists (it names the database and the brands); without one,
    `--db` alone is enough."""
    from bot.cli_common import load_config as _load_config

    path = ctx.find_root().obj["config"] if ctx.find_root().obj else "config.yaml"
    if db and not Path(path).exists():
        return None
    return _load_config(path)


def _open(ctx: click.Context, db: str | None):
    """(store, config or None) for a read command; exits with a sentence when there is no database."""
    from bot.store import display, exists, open_store

    config = _config_or_none(ctx, db)
    path = db or config.database
    if not exists(path):
        _fail(f"no database at {display(path)}; run `harkbot demo` or `harkbot once` first, or pass --db")
    try:
        return open_store(path), config
    except HarkError as exc:
        _fail(str(exc))


def _brand_infos(store, config) -> list:
    """Every brand: from config.yaml (names, kinds, query words), else those the store holds."""
    from bot.history import BrandInfo
    from bot.kinds.base import query_words

    if config is not None:
        return [BrandInfo(key, b.name, b.kind, tuple(query_words(b.query))) for key, b in config.brands.items()]
    keys = store.stored_brands()
    return [BrandInfo(key, key, "brand") for key in keys]


def _check_brands(wanted: Iterable[str], infos: list) -> None:
    from bot.yamlsrc import suggest

    known = [b.key for b in infos]
    for brand in wanted:
        if brand not in known:
            raise click.BadParameter(f"unknown brand '{brand}' ({suggest(brand, known) if known else 'none stored'})",
                                     param_hint="--brand")


def _langs(ctx, param, values) -> tuple[str, ...]:
    """--lang values as the `lang` column holds them: 'EN', 'pt-BR' -> 'en', 'pt'; 'und' stays."""
    from bot.lang import UNDETERMINED, platform_code

    out = []
    for value in values:
        code = UNDETERMINED if value.strip().lower() == UNDETERMINED else platform_code(value)
        if code is None:
            raise click.BadParameter(f"{value!r} is not a language code; use ISO 639-1, e.g. en, es, pt, or und"
                                     " for posts whose language could not be told", param_hint="--lang")
        out.append(code)
    return tuple(dict.fromkeys(out))


LANG_OPTION = click.option("--lang", "langs", multiple=True, callback=_langs,
                           help="Only mentions in this language: en, es, pt... or und (repeatable).")


def _filter_options(fn: Callable) -> Callable:
    """The filters search and export share."""
    options = [
        click.option("--brand", "brands", multiple=True, help="Only mentions of this brand key (repeatable)."),
        click.option("--platform", "platforms", multiple=True, help="x, reddit or youtube (repeatable)."),
        click.option("--sentiment", "sentiments", multiple=True, type=click.Choice(LABELS),
                     help="Only this sentiment (repeatable)."),
        click.option("--author", "authors", multiple=True, help="Only this author, any case, @ optional (repeatable)."),
        click.option("--since", help="7d, 12h, or a date (2026-11-01) or time (2026-11-01T09:00Z)."),
        click.option("--until", help="The same forms; the end is exclusive."),
        click.option("--min-reach", type=click.IntRange(0), help="Only authors with at least this many followers."),
        LANG_OPTION,
        click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(query, brands, platforms, sentiments, authors, since, until, min_reach, langs, now):
    from bot.history import Filters

    return Filters(query=query or None, brands=tuple(brands), platforms=tuple(platforms),
                   sentiments=tuple(sentiments), authors=tuple(authors), since=_when(since, now, "--since"),
                   until=_when(until, now, "--until"), min_reach=min_reach, langs=tuple(langs))


# -- search ---------------------------------------------------------------------------------


def marked_text(marked: str, style: str = "bold black on yellow") -> Text:
    """A marked text (bot.history.MARK_OPEN/CLOSE) as rich Text with the matches styled.
    Built piece by piece, never parsed as markup: a post's own [brackets] stay text."""
    from bot.history import split_marks

    out = Text()
    for piece, is_match in split_marks(marked):
        out.append(piece, style=style if is_match else None)
    return out


@click.command()
@click.argument("query", required=False)
@_filter_options
@click.option("--sort", type=click.Choice(["time", "reach"]), default="time", show_default=True,
              help="Newest first, or largest author reach first.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.pass_context
def search(ctx: click.Context, query: str | None, brands, platforms, sentiments, authors, since, until, min_reach,
           langs, db, sort: str, limit: int, as_json: bool, as_csv: bool) -> None:
    """Full-text search of stored mentions: words, "exact phrases", OR, NOT (or -), prefix*,
    #hashtag, @handle, and title:, text: or author: for one field.

    Matches are highlighted; newest first unless --sort reach.
    """
    from bot import history
    from bot.history import COLUMNS

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    now = _now()
    filters = _filters(query, brands, platforms, sentiments, authors, since, until, min_reach, langs, now)
    store, config = _open(ctx, db)
    try:
        if config is not None:
            _check_brands(brands, _brand_infos(store, config))
        hits = history.search(store, filters, sort=sort, limit=limit)
    except HarkError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if as_json:
        for hit in hits:
            click.echo(json.dumps(hit.row.as_dict(), ensure_ascii=False))
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for hit in hits:
            writer.writerow(hit.row.flat())
        return
    table = Table(title=f"{len(hits)} mentions" + (f" matching {query!r}" if query else "")
                  + (f", by reach" if sort == "reach" else ", newest first"), title_justify="left")
    for column in ("time (UTC)", "platform", "author", "reach", "sentiment", "lang", "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "reach" else "left")
    for hit in hits:
        row = hit.row
        marked = (f"{hit.marked_title} · " if hit.marked_title else "") + hit.marked_text
        marked = history.clip(marked.replace("\n", " "), 240)
        table.add_row(row.created_at[:16].replace("T", " "), row.platform, Text(row.author), f"{row.author_reach:,}",
                      row.label, row.lang or "", marked_text(marked))
    _out().print(table)


# -- stats ----------------------------------------------------------------------------------


@click.command()
@click.option("--brand", "brands", multiple=True, help="A brand key (repeatable; default: every brand).")
@click.option("--every", type=click.Choice(["hour", "day", "week"]), default="day", show_default=True)
@click.option("--since", default="30d", show_default=True,
              help="7d, or a date; rounded down to the start of its hour, day or week.")
@click.option("--until", help="The same forms (default: now).")
@click.option("--platform", "platforms", multiple=True, help="Only this platform (repeatable).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 100), help="Length of the top lists.")
@LANG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON document.")
@click.option("--csv", "as_csv", is_flag=True,
              help="One row per brand and period, then one per brand and language (period_start empty).")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def stats(ctx: click.Context, brands, every: str, since: str, until: str | None, platforms, top: int, langs,
          as_json: bool, as_csv: bool, db: str | None) -> None:
    """Per brand and hour, day or week: volume, sentiment, share of voice, languages, top authors and terms.

    With --lang, only mentions in those languages, counted from the mentions still stored."""
    from bot import history

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    now = _now()
    end = _when(until, now, "--until") or now
    start = history.period_start(_when(since, now, "--since"), every)
    if start >= end:
        raise click.BadParameter("must be before --until", param_hint="--since")
    store, config = _open(ctx, db)
    try:
        infos = _brand_infos(store, config)
        _check_brands(brands, infos)
        chosen = [b for b in infos if not brands or b.key in brands]
        result = history.stats(store, chosen, start, end, every=every, platforms=tuple(platforms),
                               versus=[b for b in infos if b.kind != "topic"], top=top, langs=langs)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["brand", "period_start", "mentions", "negative", "neutral", "positive", "mean_polarity",
                         "share_of_voice", "lang", "lang_share"])
        for s in result.brands:
            for p in s.periods:
                d = p.mix.as_dict()
                writer.writerow([s.brand.key, history.iso(p.start), d["mentions"], d["negative"], d["neutral"],
                                 d["positive"], _blank(d["mean_polarity"]), _blank(history._round(p.share_of_voice)),
                                 "", ""])
            for lang, mix, share in s.language_share():  # the whole window, per language
                d = mix.as_dict()
                writer.writerow([s.brand.key, "", d["mentions"], d["negative"], d["neutral"], d["positive"],
                                 _blank(d["mean_polarity"]), "", lang or UNKNOWN_LANG, history._round(share)])
        return
    _print_stats(result)


UNKNOWN_LANG = "unknown"  # how tables and CSV show a NULL `lang` (stored before detection); JSON says null


def _blank(value) -> str:
    return "" if value is None else str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _print_stats(result) -> None:
    out = _out()
    fmt = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d %a", "week": "week of %Y-%m-%d"}[result.every]
    out.print(f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC, by {result.every}; "
              f"share of voice among {', '.join(result.versus) or 'no brands'}", highlight=False, soft_wrap=True)
    for s in result.brands:
        t = s.total
        summary = Table(title=Text(f"{s.brand.name} ({s.brand.key}, {s.brand.kind})", style="bold"),
                        title_justify="left", show_header=True)
        for column in ("mentions", "negative", "neutral", "positive", "mean", "share of voice"):
            summary.add_column(column, justify="right")
        summary.add_row(f"{t.count:,}", _pct(t.share("negative")), _pct(t.share("neutral")),
                        _pct(t.share("positive")), _mean(t.mean), _pct(s.share_of_voice))
        for platform, mix in s.platforms:
            summary.add_row(Text(f"{platform}: {mix.count:,}"), _pct(mix.share("negative")), _pct(mix.share("neutral")),
                            _pct(mix.share("positive")), _mean(mix.mean), "")
        out.print(summary)
        periods = Table(show_header=True, title_justify="left")
        for column in (result.every, "mentions", "negative", "neutral", "positive", "mean", "share of voice"):
            periods.add_column(column, justify="left" if column == result.every else "right")
        for p in s.periods:
            m = p.mix
            periods.add_row(p.start.strftime(fmt), f"{m.count:,}", f"{m.negative:,}", f"{m.neutral:,}",
                            f"{m.positive:,}", _mean(m.mean), _pct(p.share_of_voice))
        out.print(periods)
        if s.languages:
            langs = Table(title="languages (of the mentions still stored)", title_justify="left")
            for column in ("lang", "mentions", "share", "negative", "positive", "mean"):
                langs.add_column(column, justify="left" if column == "lang" else "right")
            for lang, mix, share in s.language_share():
                langs.add_row(lang or UNKNOWN_LANG, f"{mix.count:,}", _pct(share), _pct(mix.share("negative")),
                              _pct(mix.share("positive")), _mean(mix.mean))
            out.print(langs)
        note = (f" (from the {s.sample:,} of {s.population:,} mentions still stored; the rest were purged)"
                if s.sampled else "")
        tops = Table(title=f"top authors, terms and hashtags{note}", title_justify="left")
        for column in ("author", "mentions", "reach", "term", "mentions ", "hashtag", "mentions  "):
            tops.add_column(column, justify="right" if "mentions" in column or column == "reach" else "left")
        for i in range(max(len(s.top_authors), len(s.top_terms), len(s.top_hashtags))):
            a = s.top_authors[i] if i < len(s.top_authors) else None
            term = s.top_terms[i] if i < len(s.top_terms) else None
            tag = s.top_hashtags[i] if i < len(s.top_hashtags) else None
            tops.add_row(Text(f"{a.platform}:{a.author}") if a else "", f"{a.mentions:,}" if a else "",
                         f"{a.reach:,}" if a else "", Text(term[0]) if term else "", f"{term[1]:,}" if term else "",
                         Text(tag[0]) if tag else "", f"{tag[1]:,}" if tag else "")
        out.print(tops)


# -- export ---------------------------------------------------------------------------------

FORMATS = ("csv", "jsonl", "parquet")


def _format_of(fmt: str | None, out: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    return {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix) if suffix in (
        *FORMATS, "json", "ndjson", "pq") else "csv"


@click.command()
@click.option("--query", help='A query, as for search (words, "phrases", OR, NOT, prefix*, #tag, @handle, title:).')
@_filter_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from --out's suffix, else csv.")
@click.option("--out", type=click.Path(dir_okay=False), help="The file to write (default: stdout; parquet needs a file).")
@click.pass_context
def export(ctx: click.Context, query, brands, platforms, sentiments, authors, since, until, min_reach, langs, db, fmt,
           out):
    """Every matching mention, oldest first, as CSV, JSON lines or Parquet; streamed in constant memory."""
    from bot import history

    fmt = _format_of(fmt, out)
    if fmt == "parquet" and not out:
        raise click.UsageError("parquet is binary: give --out FILE.parquet")
    if fmt == "parquet":
        try:
            parquet_schema()  # say so before reading anything when pyarrow is missing
        except HarkError as exc:
            _fail(str(exc))
    now = _now()
    filters = _filters(query, brands, platforms, sentiments, authors, since, until, min_reach, langs, now)
    store, config = _open(ctx, db)
    err = _err()
    try:
        if config is not None:
            _check_brands(brands, _brand_infos(store, config))
        total = history.count_rows(store, filters)
        chunks = history.iter_rows(store, filters)
        written = write_export(chunks, fmt, out, total=total, console=err)
    except HarkError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if out:
        err.print(f"export: {written:,} mentions -> {out} ({fmt})", highlight=False, soft_wrap=True)


def write_export(chunks: Iterable[list], fmt: str, out: str | None, *, total: int, console: Console) -> int:
    """Write row chunks (bot.history.iter_rows) as csv, jsonl or parquet to `out` (None: stdout),
    one chunk at a time, with a progress bar on the terminal; returns the rows written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("", total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        if fmt == "parquet":
            return _write_parquet(chunks, out, advance)
        handle = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout
        try:
            return (_write_csv if fmt == "csv" else _write_jsonl)(chunks, handle, advance)
        finally:
            if out:
                handle.close()


def _write_csv(chunks, handle, advance) -> int:
    from bot.history import COLUMNS

    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for rows in chunks:
        writer.writerows(row.flat() for row in rows)
        n += len(rows)
        advance(len(rows))
    return n


def _write_jsonl(chunks, handle, advance) -> int:
    n = 0
    for rows in chunks:
        handle.write("".join(json.dumps(row.as_dict(), ensure_ascii=False) + "\n" for row in rows))
        n += len(rows)
        advance(len(rows))
    return n


PARQUET_ROW_GROUP = 50_000  # rows per Parquet row group: big enough to compress, small enough to hold


def parquet_schema():
    """The Parquet schema of an export (pyarrow imported here: it is an optional extra)."""
    try:
        import pyarrow as pa
    except ImportError:
        raise HarkError("Parquet export needs pyarrow: pip install 'harkbot[parquet]' "
                        "(or export --format csv or jsonl)") from None
    string = pa.string()
    return pa.schema([("key", string), ("created_at", pa.timestamp("s", tz="UTC")), ("platform", string),
                      ("kind", string), ("author", string), ("author_reach", pa.int64()), ("engagement", pa.int64()),
                      ("label", string), ("polarity", pa.float64()), ("brands", pa.list_(string)),
                      ("title", string), ("text", string), ("url", string), ("language", string),
                      ("lang", string), ("lang_confidence", pa.float64())])


def _write_parquet(chunks, out: str, advance) -> int:
    schema = parquet_schema()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bot.models import parse_iso

    n = 0
    pending: list = []

    def flush(writer) -> None:
        columns = {name: [] for name in schema.names}
        for row in pending:
            for name in schema.names:
                value = getattr(row, name)
                columns[name].append(parse_iso(value) if name == "created_at" else
                                     list(value) if name == "brands" else value)
        writer.write_table(pa.Table.from_pydict(columns, schema=schema))
        pending.clear()

    with pq.ParquetWriter(out, schema) as writer:
        for rows in chunks:
            pending.extend(rows)
            n += len(rows)
            if len(pending) >= PARQUET_ROW_GROUP:
                flush(writer)
            advance(len(rows))
        if pending or not n:
            flush(writer)
    return n


# -- report ---------------------------------------------------------------------------------


@click.command()
@click.option("--since", default="7d", show_default=True, help="7d, or a date.")
@click.option("--until", help="The same forms (default: now).")
@click.option("--brand", "brands", multiple=True,
              help="Brands to report on (repeatable; default: every brand and competitor).")
@click.option("--every", type=click.Choice(["hour", "day", "week"]),
              help="Chart resolution (default: hour up to 3 days, day up to 90, else week).")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False))
@click.option("--png-dir", type=click.Path(file_okay=False), help="Also write each chart as a PNG here.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 50), help="Top posts quoted per brand.")
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.pass_context
def report(ctx: click.Context, since: str, until: str | None, brands, every: str | None, out: str,
           png_dir: str | None, top: int, db: str | None) -> None:
    """An HTML report with charts: volume with alerts, sentiment, share of voice, top posts."""
    from bot import history
    from bot.report import build_report

    now = _now()
    end = _when(until, now, "--until") or now
    begin = _when(since, now, "--since")
    if begin >= end:
        raise click.BadParameter("must be before --until", param_hint="--since")
    span = end - begin
    every = every or ("hour" if span.days < 3 or span.days == 3 and not span.seconds else
                      "day" if span.days <= 90 else "week")
    start = history.period_start(begin, every)
    store, config = _open(ctx, db)
    err = _err()
    try:
        infos = _brand_infos(store, config)
        _check_brands(brands, infos)
        chosen = [b for b in infos if (b.key in brands if brands else b.kind != "topic")] or infos
        with err.status("building the report"):
            result = build_report(store, chosen, start, end, every=every,
                                  versus=[b for b in infos if b.kind != "topic"], top=top, generated=now)
    finally:
        store.close()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(result.html, encoding="utf-8")
    if png_dir:
        folder = Path(png_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for chart in result.charts:
            (folder / chart.filename).write_bytes(chart.png)
    err.print(f"report: {out} ({len(result.charts)} charts embedded"
              + (f"; PNGs in {png_dir}" if png_dir else "") + ")", highlight=False, soft_wrap=True)


# -- browse ---------------------------------------------------------------------------------


@click.command()
@click.option("--db", type=click.Path(dir_okay=False), help="The database (default: config.yaml's).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--metadata", "metadata_out", type=click.Path(dir_okay=False),
              help="Write Datasette's metadata (canned queries, search) to this file and exit.")
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
@click.pass_context
def browse(ctx: click.Context, db: str | None, host: str, port: int, metadata_out: str | None, no_open: bool) -> None:
    """Open the database in Datasette (read-only), with canned queries and full-text search."""
    from bot.browse import DatasetteMissing, metadata, not_sqlite, serve_command
    from bot.store import is_dsn

    database = db or _config_or_none(ctx, db).database
    if is_dsn(database):
        _fail(not_sqlite(database))
    store, config = _open(ctx, db)  # runs any pending migration before Datasette reads it
    path = Path(store.path)
    store.close()
    meta = metadata(path)
    if metadata_out:
        Path(metadata_out).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        _err().print(f"browse: metadata -> {metadata_out}", highlight=False)
        return
    try:
        command = serve_command(path, meta, host=host, port=port, open_browser=not no_open)
    except DatasetteMissing as exc:
        _fail(str(exc))
    import subprocess

    _err().print(f"browse: http://{host}:{port}/{path.stem} (Ctrl-C stops it)", highlight=False)
    try:
        sys.exit(subprocess.call(command))
    except KeyboardInterrupt:
        sys.exit(0)


def register(main: click.Group) -> None:
    for command in (search, stats, export, report, browse):
        main.add_command(command)
