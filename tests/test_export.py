"""harkbot export: CSV, JSON lines and Parquet round trips, stdout, constant memory; on a
SQLite file and a PostgreSQL schema alike."""

from __future__ import annotations

import csv
import io
import json
import sys
import tracemalloc
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot import history
from bot.cli import main
from bot.cli_history import write_export
from bot.history import Filters
from bot.models import Mention, Score, ScoredMention
from bot.store import Store, open_store
from tests.backends import backend, make_store  # noqa: F401 - fixtures
from tests.helpers import T0
from tests.test_history import HOSTILE, history_db  # noqa: F401 - fixtures


@pytest.fixture
def db(history_db):
    return history_db


def run(*args: str):
    return CliRunner().invoke(main, ["--config", "nowhere.yaml", *args], catch_exceptions=False)


def test_csv_to_a_file_round_trips(db, tmp_path):
    out = tmp_path / "all.csv"
    result = run("export", "--db", db, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "export: 206 mentions" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 206 and list(rows[0]) == list(history.COLUMNS)
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    hostile = next(r for r in rows if r["key"] == "youtube:4")
    assert hostile["text"] == HOSTILE and hostile["author_reach"] == "1000000" and hostile["label"] == "negative"
    both = next(r for r in rows if r["key"] == "x:5")
    assert both["brands"] == "haven,mindful"


def test_jsonl_to_stdout_with_filters(db):
    result = run("export", "--db", db, "--format", "jsonl", "--query", "refund*", "--brand", "mindful",
                 "--since", "2026-03-02T00:30Z")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["key"] for r in rows] == ["x:1", "youtube:4", "x:6"]
    assert rows[1]["text"] == HOSTILE and rows[1]["brands"] == ["mindful"] and rows[1]["polarity"] == -0.6


def test_parquet_round_trip(db, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "x.parquet"
    result = run("export", "--db", db, "--out", str(out), "--sentiment", "negative")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.names == list(history.COLUMNS)
    assert str(table.schema.field("created_at").type) in ("timestamp[s, tz=UTC]", "timestamp[ms, tz=UTC]")
    rows = table.to_pylist()
    store = open_store(db)
    expected = sorted(r.key for c in history.iter_rows(store, Filters(sentiments=("negative",))) for r in c)
    store.close()
    assert sorted(r["key"] for r in rows) == expected and len(rows) == 52
    hostile = next(r for r in rows if r["key"] == "youtube:4")
    assert hostile["text"] == HOSTILE and hostile["brands"] == ["mindful"] and hostile["author_reach"] == 1_000_000
    assert hostile["created_at"] == T0 + timedelta(minutes=1500)


def test_parquet_rows_go_in_row_groups(tmp_path, monkeypatch, db):
    pq = pytest.importorskip("pyarrow.parquet")
    import bot.cli_history

    monkeypatch.setattr(bot.cli_history, "PARQUET_ROW_GROUP", 50)
    monkeypatch.setattr(history, "CHUNK", 20)
    out = tmp_path / "g.parquet"
    assert run("export", "--db", db, "--out", str(out)).exit_code == 0
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 206 and meta.num_row_groups >= 4


def test_parquet_without_pyarrow_says_how_to_install(db, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    result = run("export", "--db", db, "--out", str(tmp_path / "x.parquet"))
    assert result.exit_code == 1
    assert "pip install 'harkbot[parquet]'" in result.output
    assert not (tmp_path / "x.parquet").exists()
    assert run("export", "--db", db, "--format", "parquet").exit_code == 2  # binary needs --out


def _fill(path, n: int) -> Store:
    """n plain mentions inserted directly (the real schema and FTS triggers), fast."""
    store = Store(path)
    store.conn.execute("BEGIN")
    store.conn.executemany(
        "INSERT INTO mentions(key, platform, native_id, text, title, author, url, created_at, label, polarity,"
        " author_reach, engagement, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ((f"x:{i}", "x", str(i), f"post number {i} about Mindful Health and refunds " + "z" * 80, "", f"u{i % 97}",
          f"https://x.com/{i}", f"2026-03-02T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z", "neutral",
          0.0, i, 0, "post") for i in range(n)))
    store.conn.executemany("INSERT INTO mention_brands(brand, created_at, mention_key, label, platform)"
                           " SELECT 'mindful', created_at, key, label, platform FROM mentions", [()])
    store.conn.execute("COMMIT")
    return store


def _ingested(store, n: int):
    """n plain mentions through bulk_ingest (either backend)."""
    store.bulk_ingest("test", [ScoredMention(Mention(
        platform="x", id=str(i), text=f"post number {i} about Mindful Health and refunds " + "z" * 80, author=f"u{i % 97}",
        url=f"https://x.com/{i}", created_at=T0 + timedelta(seconds=i), author_reach=i), ("mindful",),
        Score("neutral", 0.0, "t")) for i in range(n)], T0)
    return store


def _peak(store, fmt: str, out) -> int:
    tracemalloc.start()
    try:
        written = write_export(history.iter_rows(store, Filters()), fmt, str(out), total=0,
                               console=__import__("rich.console").console.Console(file=io.StringIO()))
        return tracemalloc.get_traced_memory()[1], written
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_memory_does_not_grow_with_the_rows(tmp_path, fmt, monkeypatch):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    import bot.cli_history

    monkeypatch.setattr(history, "CHUNK", 500)
    monkeypatch.setattr(bot.cli_history, "PARQUET_ROW_GROUP", 1_000)
    small, big = _fill(tmp_path / "s.db", 1_500), _fill(tmp_path / "b.db", 15_000)
    small_peak, n_small = _peak(small, fmt, tmp_path / f"s.{fmt}")
    big_peak, n_big = _peak(big, fmt, tmp_path / f"b.{fmt}")
    assert (n_small, n_big) == (1_500, 15_000)
    # ten times the rows, about the same peak: one chunk (and for parquet one row group) held at a time
    assert big_peak < 1.5 * small_peak + 200_000, (small_peak, big_peak)
    small.close()
    big.close()


def test_postgresql_export_streams_too(backend, make_store, tmp_path, monkeypatch):
    """The PostgreSQL rows come from a server-side cursor, a chunk at a time, as SQLite's do
    (SQLite's constant memory is test_memory_does_not_grow_with_the_rows)."""
    if backend == "sqlite":
        pytest.skip("SQLite: see test_memory_does_not_grow_with_the_rows")
    monkeypatch.setattr(history, "CHUNK", 500)
    small, big = _ingested(make_store(), 1_500), _ingested(make_store(), 15_000)
    small_peak, n_small = _peak(small, "csv", tmp_path / "s.csv")
    big_peak, n_big = _peak(big, "csv", tmp_path / "b.csv")
    assert (n_small, n_big) == (1_500, 15_000)
    assert big_peak < 1.5 * small_peak + 200_000, (small_peak, big_peak)
