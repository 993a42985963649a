from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import main

NO_SECRETS = {k: "" for k in ("X_BEARER_TOKEN", "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "YOUTUBE_API_KEY",
                              "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SLACK_CHANNEL", "SLACK_BASE_URL")}


KEYLESS = ("mastodon", "hackernews", "rss")


@pytest.fixture
def project(tmp_path, repo, monkeypatch):
    """A user's folder: the shipped config.yaml and rules/, and nothing else; but the listeners
    that need no key (Mastodon, Hacker News, RSS) are switched off, since a test never leaves
    127.0.0.1 and they would poll the real services."""
    text = (repo / "config.yaml").read_text(encoding="utf-8")
    for name in KEYLESS:
        head = f"  {name}:\n    enabled: true\n"
        assert head in text, f"the shipped config no longer starts listeners.{name} with enabled: true"
        text = text.replace(head, f"  {name}:\n    enabled: false\n")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=NO_SECRETS, catch_exceptions=False)


def test_demo_command_prints_alerts_and_a_summary(project):
    result = invoke("demo", "--days", "2", "--db", "d.db")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "New term: TheraNow" in out  # the alert, rendered as Slack would show it
    assert "Mentions ingested" in out and "Elapsed" in out and "Database" in out and "d.db" in out
    assert "slack: off, set SLACK_BOT_TOKEN" in out.replace("\n", " ")


def test_demo_refuses_to_overwrite_a_live_database(project):
    from bot.store import Store
    from tests.helpers import T0, mention, scored

    live = Store(project / "live.db")
    live.ingest("x", [scored(mention(1))], None, T0)
    live.close()
    result = invoke("demo", "--db", "live.db")
    assert result.exit_code == 1
    assert "holds 1 mentions that the demo did not write" in result.output


def test_search_after_the_demo(demo_run):
    result = invoke("search", "refund", "--brand", "mindful", "--since", "3000d", "--db", str(demo_run.database),
                    "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows and all("refund" in r["text"].lower() and "mindful" in r["brands"] for r in rows)
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    table = invoke("search", "refund", "--brand", "mindful", "--db", str(demo_run.database), "--since", "2026-03-01")
    assert "mentions matching 'refund'" in table.output


def test_search_errors_are_sentences(demo_run, project):
    bad = invoke("search", '"refund', "--db", str(demo_run.database))
    assert bad.exit_code == 1 and "cannot search" in bad.output
    when = invoke("search", "refund", "--since", "last tuesday", "--db", str(demo_run.database))
    assert when.exit_code == 2 and "write a duration back from now" in when.output
    missing = invoke("search", "refund")
    assert missing.exit_code == 1 and "no database at" in missing.output


@pytest.mark.parametrize("scorer", ["vader", "textblob"])
def test_score_reads_lines_and_writes_json_lines(scorer):
    result = invoke("score", "--scorer", scorer, input="I love it\nthis is terrible\n\n")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative", "neutral"]
    assert all(r["scorer"] == scorer and -1 <= r["polarity"] <= 1 for r in rows)


def test_score_unknown_scorer():
    result = invoke("score", "--scorer", "vadr")
    assert result.exit_code == 2 and "did you mean 'vader'?" in result.output


def test_once_without_credentials_skips_each_listener_in_one_line(project):
    result = invoke("once")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "twitter: skipped, set X_BEARER_TOKEN to enable it" in out
    assert "reddit: skipped, set REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET to enable it" in out
    assert "youtube: skipped, set YOUTUBE_API_KEY to enable it" in out
    assert "bluesky: skipped, set BSKY_HANDLE, BSKY_APP_PASSWORD to enable it" in out
    assert "once: 0 listeners polled (4 skipped), 0 new mentions, 0 alerts" in out
    assert (project / "harkbot.db").exists()


def test_once_refuses_the_demo_database(project):
    from bot.demo.replay import fresh_store

    fresh_store(project / "harkbot.db").close()  # what `harkbot demo` leaves at config.yaml's database
    result = invoke("once")
    assert result.exit_code == 1 and "holds the demo's synthetic data" in result.output


def test_python_dash_m_bot_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True)
    assert "harkbot" in out.stdout and "demo" in out.stdout


def test_spikes_scores_a_csv_causally_and_flags_the_burst(tmp_path):
    from datetime import datetime, timedelta

    start = datetime(2026, 1, 1)
    counts = [10 + (i * 7) % 5 for i in range(288 * 4)] + [120] * 6 + [11] * 30
    lines = ["timestamp,value"] + [f"{start + timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S},{v}"
                                   for i, v in enumerate(counts)]
    path = tmp_path / "series.csv"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("spikes", str(path))
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.splitlines()]
    assert rows[0] == ["timestamp", "value", "anomaly_score"] and len(rows) == len(lines)
    scores = [float(r[2]) for r in rows[1:]]
    burst = 288 * 4
    assert scores[burst] > 0.5 and max(scores[:burst]) < 0.5
    assert all(0 <= s <= 1 for s in scores)
    # causal: the scores before the burst do not change when the burst is cut off
    path.write_text("\n".join(lines[: burst + 1]) + "\n")
    assert [float(r.split(",")[2]) for r in invoke("spikes", str(path)).output.splitlines()[1:]] == scores[:burst]


def test_spikes_reports_a_bad_row_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2026-01-01 00:00:00,3\nyesterday,4\n")
    result = invoke("spikes", str(path))
    assert result.exit_code == 2 and "bad.csv:3: cannot read 'yesterday','4'" in " ".join(result.output.split())
    path.write_text("time,count\n")
    assert "must name timestamp and value" in invoke("spikes", str(path)).output
