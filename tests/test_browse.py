"""harkbot browse: Datasette metadata whose canned queries run on a real store."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3

import pytest
from click.testing import CliRunner

from bot.browse import QUERIES, DatasetteMissing, metadata, serve_command
from bot.cli import main
from tests.test_history import build_store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "harkdb.db"
    store = build_store(path)
    store.conn.execute(
        "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, payload) VALUES"
        " ('f', 'crisis', 'mindful', 'volume_spike', 'critical', 'alerts', 'firing', '2026-03-03T01:10:00Z',"
        " '{\"finding\": {\"title\": \"Negative spike\", \"reason\": \"6x usual\"}}')")
    store.close()
    return path


def _params(sql: str, **given) -> dict:
    """Every named parameter of a query, '' unless given: what Datasette passes for a blank form field."""
    return {name: given.get(name, "") for name in re.findall(r":(\w+)", sql)}


def _run(db, name: str, **given) -> list[dict]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    sql = QUERIES[name]["sql"]
    rows = [dict(r) for r in conn.execute(sql, _params(sql, **given))]
    conn.close()
    return rows


def test_every_canned_query_runs_and_answers(db):
    since = "2026-03-01"
    found = _run(db, "search", q="refund", since=since)
    assert [(r["platform"], r["author"]) for r in found] == [("youtube", "evil"), ("x", "bob"), ("x", "Alice")]
    assert "[refund]" in found[0]["match"] and found[0]["brands"] == "mindful"
    assert [r["author"] for r in _run(db, "search", q="refund", since=since, brand="theranow")] == ["bob"]
    days = _run(db, "volume_by_day", since=since, brand="mindful")
    assert sum(r["mentions"] for r in days) == 72 and {r["brand"] for r in days} == {"mindful"}
    assert all(r["negative"] + r["neutral"] + r["positive"] == r["mentions"] for r in days)
    share = _run(db, "share_of_voice", since=since)
    for day in {r["day"] for r in share}:
        assert sum(r["share"] for r in share if r["day"] == day) == pytest.approx(1.0, abs=0.01)
    negative = _run(db, "negative_mentions", since=since, brand="mindful")
    assert negative[0]["author"] == "evil" and len(negative) == 2 + sum(1 for i in range(0, 200, 3) if i % 4 == 2)
    authors = _run(db, "top_authors", since=since, brand="mindful")
    assert authors[0]["mentions"] == 5 and sum(a["mentions"] for a in authors) == 72
    assert [r["author"] for r in _run(db, "influencers", since=since, min_reach="1000")] == ["evil", "bob"]
    assert [r["title"] for r in _run(db, "alerts", since=since)] == ["Negative spike"]
    assert _run(db, "listeners") == []
    assert _run(db, "alerts", days="1") == []  # 'days' counts back from now: 2026-03 is long gone


def test_metadata_names_the_database_and_sets_up_search(db):
    meta = metadata(db)
    tables = meta["databases"]["harkdb"]["tables"]
    assert tables["mentions"]["fts_table"] == "mentions_fts" and tables["mentions"]["searchmode"] == "raw"
    assert set(meta["databases"]["harkdb"]["queries"]) == set(QUERIES)
    json.dumps(meta)  # it is written to a file for Datasette


def test_datasette_serves_the_canned_queries_in_process(db):
    pytest.importorskip("datasette")
    from datasette.app import Datasette

    async def fetch():
        ds = Datasette([str(db)], metadata=metadata(db))
        await ds.invoke_startup()
        top = await ds.client.get("/harkdb/top_authors.json?brand=mindful&since=2026-03-01&_shape=array")
        found = await ds.client.get("/harkdb/mentions.json?_search=%22charged+twice%22&_shape=array")
        return top, found

    top, found = asyncio.run(fetch())
    assert top.status_code == 200 and top.json()[0]["mentions"] == 5
    assert found.status_code == 200 and [r["key"] for r in found.json()] == ["x:1"]


def test_serve_command_and_a_missing_datasette(db, monkeypatch):
    command = serve_command(db, metadata(db), host="127.0.0.1", port=8123, open_browser=False)
    assert command[1:5] == ["-m", "datasette", "serve", str(db)] and "8123" in command and "--open" not in command
    saved = json.loads(open(command[command.index("--metadata") + 1]).read())
    assert "queries" in saved["databases"]["harkdb"]
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DatasetteMissing, match=r"pip install 'harkbot\[browse\]'"):
        serve_command(db, metadata(db), host="127.0.0.1", port=8123, open_browser=False)
    result = CliRunner().invoke(main, ["--config", "nowhere.yaml", "browse", "--db", str(db), "--no-open"],
                                catch_exceptions=False)
    assert result.exit_code == 1 and "pip install 'harkbot[browse]'" in result.output


def test_browse_metadata_option_writes_the_file(db, tmp_path):
    out = tmp_path / "meta.json"
    result = CliRunner().invoke(main, ["--config", "nowhere.yaml", "browse", "--db", str(db), "--metadata", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert "top_authors" in json.loads(out.read_text())["databases"]["harkdb"]["queries"]


def test_browse_on_postgresql_says_datasette_reads_sqlite_only(pg_dsn, tmp_path):
    with_password = pg_dsn.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    config = tmp_path / "config.yaml"
    config.write_text("database: h.db\nbrands:\n  mindful: {query: mindful}\n")
    for args, env in ((["--config", "nowhere.yaml", "browse", "--db", pg_dsn, "--no-open"], {}),
                      (["--config", str(config), "browse", "--no-open", "--metadata", str(tmp_path / "m.json")],
                       {"HARKBOT_DATABASE_URL": with_password})):
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
        flat = " ".join(result.output.split())
        assert result.exit_code == 1, result.output
        assert "Datasette, which reads SQLite files only" in flat and "harkbot export" in flat
        assert "harkbot search" in flat and "s3cret" not in flat
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "h.db").exists()
