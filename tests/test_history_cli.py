"""harkbot search and stats through click, against a real database: a SQLite file and a
PostgreSQL schema (`--db` takes either), the same output from both."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.backends import backend, make_store  # noqa: F401 - fixtures
from tests.test_history import HOSTILE, history_db  # noqa: F401 - fixtures

ENV = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": None}


@pytest.fixture
def db(history_db):
    return history_db


@pytest.fixture
def configured(tmp_path, repo, db):
    """A folder with the shipped config.yaml (mindful: brand; theranow, haven: competitors)."""
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    return str(tmp_path / "config.yaml")


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})}, catch_exceptions=False)


def test_search_json_rows_and_filters(db):
    result = run("--config", "nowhere.yaml", "search", "refund*", "--db", db, "--json", "--since", "2026-03-01")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["key"] for r in rows] == ["x:6", "youtube:4", "x:2", "x:1"]
    assert list(rows[0]) == ["key", "created_at", "platform", "kind", "author", "author_reach", "engagement", "label",
                             "polarity", "brands", "title", "text", "url", "language", "lang", "lang_confidence"]
    assert rows[1]["text"] == HOSTILE and rows[1]["brands"] == ["mindful"] and rows[1]["created_at"] == "2026-03-03T01:00:00Z"
    narrowed = run("--config", "nowhere.yaml", "search", "refund*", "--db", db, "--json", "--brand", "mindful",
                   "--platform", "x", "--sentiment", "negative", "--author", "@alice", "--min-reach", "50",
                   "--until", "2026-03-03")
    assert [json.loads(line)["key"] for line in narrowed.output.splitlines()] == ["x:1"]
    by_reach = run("--config", "nowhere.yaml", "search", "refund*", "--db", db, "--json", "--sort", "reach", "--limit", "2")
    assert [json.loads(line)["key"] for line in by_reach.output.splitlines()] == ["youtube:4", "x:2"]


def test_search_csv(db):
    result = run("--config", "nowhere.yaml", "search", '"charged twice"', "--db", db, "--csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0][:3] == ["key", "created_at", "platform"] and len(rows) == 2
    assert rows[1][0] == "x:1" and rows[1][rows[0].index("brands")] == "mindful"


def test_search_table_highlights_the_match_and_keeps_hostile_text_literal(db):
    result = run("--config", "nowhere.yaml", "search", "scam", "--db", db, env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0
    out = result.output
    assert "1 mentions matching 'scam', newest first" in out
    assert "\x1b[" in out and "scam" in out
    assert "\x1b[1;30;43mscam\x1b[0m" in out  # the match, bold black on yellow
    assert "\x1b[1;30;43mrefund" not in out  # and nothing else
    assert "<script>alert(1)</script>" in out and "<!channel>" in out  # rich did not read it as markup
    assert "\x02" not in out and "\x03" not in out
    plain = run("--config", "nowhere.yaml", "search", "scam", "--db", db)
    assert "\x1b[" not in plain.output and "refund scam" in plain.output


def test_search_errors(db, configured):
    bad = run("--config", "nowhere.yaml", "search", '"refund', "--db", db)
    assert bad.exit_code == 1 and "cannot search for" in bad.output
    when = run("--config", "nowhere.yaml", "search", "refund", "--since", "last week", "--db", db)
    assert when.exit_code == 2 and "write a duration back from now" in when.output
    missing = run("--config", configured, "search", "refund")
    assert missing.exit_code == 1 and "no database at" in missing.output
    brand = run("--config", configured, "search", "refund", "--brand", "mindfull", "--db", db)
    assert brand.exit_code == 2 and "unknown brand 'mindfull'" in brand.output and "mindful" in brand.output


def test_stats_json_with_config_kinds(db, configured):
    result = run("--config", configured, "stats", "--db", db, "--since", "2026-03-02", "--until", "2026-03-05",
                 "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["every"] == "day" and doc["start"] == "2026-03-02T00:00:00Z" and doc["end"] == "2026-03-05T00:00:00Z"
    by = {b["brand"]: b for b in doc["brands"]}
    assert set(by) == {"mindful", "theranow", "haven"} and by["mindful"]["kind"] == "brand"
    assert by["mindful"]["mentions"] == 72 and by["theranow"]["mentions"] == 68 and by["haven"]["mentions"] == 67
    assert by["mindful"]["share_of_voice"] == round(72 / 207, 4)
    assert [p["start"][:10] for p in by["mindful"]["periods"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert {"platform": "youtube", "mentions": 1, "negative": 1, "neutral": 0, "positive": 0,
            "mean_polarity": -0.6} in by["mindful"]["platforms"]
    assert by["mindful"]["top_hashtags"][0] == {"hashtag": "#selfcare", "mentions": 67}


def test_stats_csv_and_table(db, configured):
    result = run("--config", configured, "stats", "--db", db, "--brand", "haven", "--since", "2026-03-02",
                 "--until", "2026-03-05", "--every", "week", "--csv")
    rows = [r for r in csv.DictReader(io.StringIO(result.output)) if r["period_start"]]  # then rows per language
    assert [(r["brand"], r["period_start"], r["mentions"]) for r in rows] == [("haven", "2026-03-02T00:00:00Z", "67")]
    assert rows[0]["share_of_voice"] == str(round(67 / 207, 4))
    table = run("--config", configured, "stats", "--db", db, "--brand", "mindful", "--since", "2026-03-02",
                "--until", "2026-03-05")
    assert table.exit_code == 0
    assert "Mindful Health (mindful, brand)" in table.output and "#selfcare" in table.output
    assert "2026-03-03 Tue" in table.output


def test_stats_without_a_config_reads_the_brands_stored(db):
    result = run("--config", "nowhere.yaml", "stats", "--db", db, "--since", "2026-03-02", "--until", "2026-03-05",
                 "--json")
    doc = json.loads(result.output)
    assert [b["brand"] for b in doc["brands"]] == ["haven", "mindful", "theranow"]
    assert doc["share_of_voice_among"] == ["haven", "mindful", "theranow"]


def test_search_hashtags_handles_and_fields_unquoted_and_a_plain_message_for_other_fields(db):
    tags = run("--config", "nowhere.yaml", "search", "#selfcare", "--db", db, "--json", "--limit", "1000")
    assert tags.exit_code == 0, tags.output
    assert len(tags.output.splitlines()) == 200
    assert all("#selfcare" in json.loads(line)["text"] for line in tags.output.splitlines())
    refunded = run("--config", "nowhere.yaml", "search", "#refunded", "--db", db, "--json")
    assert [json.loads(line)["key"] for line in refunded.output.splitlines()] == ["x:6"]
    title = run("--config", "nowhere.yaml", "search", "title:review", "--db", db, "--json")
    assert [json.loads(line)["key"] for line in title.output.splitlines()] == ["reddit:3"]
    for query in ("mentions:foo", "@", "refund)"):
        bad = run("--config", "nowhere.yaml", "search", query, "--db", db)
        flat = " ".join(bad.output.split())
        assert bad.exit_code == 1 and f"cannot search for {query!r}" in flat, bad.output
        assert "Traceback" not in bad.output and "fts5" not in flat.lower() and "psycopg" not in flat
    fields = " ".join(run("--config", "nowhere.yaml", "search", "mentions:foo", "--db", db).output.split())
    assert "the searchable fields are text:, title:, author:" in fields
    export = run("--config", "nowhere.yaml", "export", "--query", "brand:mindful", "--db", db)
    assert export.exit_code == 1 and "searchable fields" in " ".join(export.output.split())
