"""`harkbot browse`: the database in Datasette (the optional `browse` extra), set up for the
questions reputation teams ask.

`metadata(path)` is Datasette's metadata: the mentions table searchable through its FTS5
index (raw FTS5 syntax: "phrases", OR, NOT, prefix*), newest first, and canned queries with
named parameters. Their SQL is kept here because Datasette runs it; every query only reads.
Times are compared as harkbot stores them, ISO text ('2026-11-01T09:00:00Z'), so a `since`
may be a date ('2026-11-01'); `days` counts back from now.

Datasette reads SQLite files only: on a PostgreSQL `database:` the command says so and what
to use instead (`not_sqlite`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

INSTALL = "pip install 'harkbot[browse]'"


class DatasetteMissing(Exception):
    pass


def not_sqlite(database: str) -> str:
    """The message for `harkbot browse` on a PostgreSQL database (passwords never shown)."""
    from bot.store import display

    return (f"harkbot browse opens Datasette, which reads SQLite files only, and the database is PostgreSQL"
            f" ({display(database)}). Use `harkbot search`, `harkbot stats` or `harkbot report` against it, or"
            " `harkbot export --format csv|jsonl|parquet` for a spreadsheet or notebook; a PostgreSQL browser"
            " (psql, pgAdmin) reads its tables as they are. `harkbot copy` only copies SQLite into PostgreSQL,"
            " not back.")


# The start of a window: :since when given, else :days back from now (default 7).
_SINCE = ("coalesce(nullif(:since, ''), strftime('%Y-%m-%dT%H:%M:%SZ', 'now',"
          " '-' || coalesce(nullif(:days, ''), '7') || ' days'))")

QUERIES: dict[str, dict] = {
    "search": {
        "title": "Search mentions",
        "description": 'Full-text search (words, "exact phrases", OR, NOT, prefix*), newest first; '
                       "brand optional; since: a date, or days back (default 7).",
        "sql": f"""select m.created_at, m.platform, m.author, m.author_reach, m.label,
  (select group_concat(b.brand, ', ') from mention_brands b where b.mention_key = m.key) as brands,
  snippet(mentions_fts, -1, '[', ']', '…', 24) as match, m.url
from mentions_fts join mentions m on m.rowid = mentions_fts.rowid
where mentions_fts match :q and m.created_at >= {_SINCE}
  and (:brand = '' or exists (select 1 from mention_brands b where b.mention_key = m.key and b.brand = :brand))
order by m.created_at desc limit 200""",
    },
    "volume_by_day": {
        "title": "Volume and sentiment by day",
        "description": "Mentions per brand and day with the sentiment mix and mean polarity.",
        "sql": f"""select substr(start, 1, 10) as day, brand, sum(count) as mentions, sum(negative) as negative,
  sum(count) - sum(negative) - sum(positive) as neutral, sum(positive) as positive,
  round(sum(polarity_sum) / sum(count), 3) as mean_polarity
from buckets where start >= {_SINCE} and (:brand = '' or brand = :brand)
group by day, brand order by day desc, brand""",
    },
    "share_of_voice": {
        "title": "Share of voice by day",
        "description": "Each brand's share of all stored brands' mentions, per day.",
        "sql": f"""with daily as (select substr(start, 1, 10) as day, brand, sum(count) as n from buckets
  where start >= {_SINCE} group by day, brand)
select day, brand, n as mentions, round(1.0 * n / sum(n) over (partition by day), 3) as share
from daily order by day desc, share desc""",
    },
    "negative_mentions": {
        "title": "Latest negative mentions of a brand",
        "description": "Newest first, with reach: what to answer first.",
        "sql": f"""select m.created_at, m.platform, m.author, m.author_reach, m.engagement, m.title, m.text, m.url
from mention_brands b join mentions m on m.key = b.mention_key
where b.brand = :brand and b.label = 'negative' and b.created_at >= {_SINCE}
order by b.created_at desc limit 200""",
    },
    "top_authors": {
        "title": "Top authors of a brand",
        "description": "Who writes about the brand most, with their reach and sentiment mix.",
        "sql": f"""select m.platform, m.author, count(*) as mentions, max(m.author_reach) as reach,
  sum(b.label = 'negative') as negative, sum(b.label = 'positive') as positive
from mention_brands b join mentions m on m.key = b.mention_key
where b.brand = :brand and b.created_at >= {_SINCE} and m.author != ''
group by m.platform, m.author order by mentions desc limit 50""",
    },
    "influencers": {
        "title": "Mentions by big accounts",
        "description": "Authors with at least min_reach followers (default 10,000), largest first.",
        "sql": f"""select m.created_at, m.platform, m.author, m.author_reach, m.label,
  (select group_concat(b.brand, ', ') from mention_brands b where b.mention_key = m.key) as brands, m.text, m.url
from mentions m where m.created_at >= {_SINCE} and m.author_reach >= coalesce(nullif(:min_reach, ''), 10000)
order by m.author_reach desc limit 200""",
    },
    "alerts": {
        "title": "Alerts",
        "description": "Alerts fired, newest first, with what they said.",
        "sql": f"""select fired_at, severity, rule, brand, state, resolved_at,
  json_extract(payload, '$.finding.title') as title, json_extract(payload, '$.finding.reason') as reason
from alerts where state != 'notice' and fired_at >= {_SINCE} order by fired_at desc limit 200""",
    },
    "listeners": {
        "title": "Listener health",
        "description": "Each listener's last poll, last success, last error and failure streak.",
        "sql": "select listener, last_poll, last_success, failures, last_error, last_error_at, retry_at, fetched, new"
               " from listener_health order by listener",
    },
}


def metadata(path: Path) -> dict:
    """Datasette metadata for the database at `path` (its name in Datasette is the file stem)."""
    return {
        "title": "harkbot mentions",
        "description": "Stored mentions, brand links, 5-minute rollups and alerts. Read-only.",
        "databases": {
            path.stem: {
                "tables": {
                    "mentions": {"fts_table": "mentions_fts", "fts_pk": "rowid", "searchmode": "raw",
                                 "sort_desc": "created_at", "label_column": "text"},
                    "buckets": {"sort_desc": "start"},
                    "alerts": {"sort_desc": "fired_at"},
                },
                "queries": QUERIES,
            }
        },
    }


def serve_command(path: Path, meta: dict, *, host: str, port: int, open_browser: bool) -> list[str]:
    """The `datasette serve` command line; raises DatasetteMissing (with the pip line) when
    the extra is not installed. The metadata goes into a file beside nothing: a temp file."""
    import json
    import tempfile

    if importlib.util.find_spec("datasette") is None:
        raise DatasetteMissing(f"harkbot browse needs Datasette: {INSTALL}")
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="harkbot-datasette-", delete=False)
    with handle:
        json.dump(meta, handle)
    command = [sys.executable, "-m", "datasette", "serve", str(path), "--metadata", handle.name,
               "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000"]
    if open_browser:
        command.append("--open")
    return command
