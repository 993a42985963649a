"""`harkbot once` with config.yaml pointed at the three fake platform APIs: every mention is
ingested exactly once across repeated runs and injected faults, and `check` plans quotas."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.store import open_store
from tests.backends import backend, sql  # noqa: F401 - fixture: both backends
from tests.fakes.reddit import FakeReddit
from tests.fakes.x import FakeX
from tests.fakes.youtube import KEY, FakeYouTube

CONFIG = """
database: live.db
rules: rules
brands:
  mindful: {{name: Mindful Health, query: '"mindful health" OR mindfulhealth'}}
  theranow: {{name: TheraNow, kind: competitor, query: theranow}}
listeners:
  twitter: {{base_url: "{x}", bearer_token: "${{X_BEARER_TOKEN}}", timeout: 5}}
  reddit: {{base_url: "{reddit}", subreddits: [therapy, mentalhealth]}}
  youtube: {{base_url: "{youtube}"}}
slack: {{token: null, webhook_url: null}}
"""


@pytest.fixture
def loopback_only(monkeypatch):
    """Nothing may leave this machine: every host lookup must be for the loopback fakes."""
    real = socket.getaddrinfo

    def guard(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a request tried to reach {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guard)


@pytest.fixture
def fakes(tmp_path, loopback_only):
    with FakeX() as x, FakeReddit() as reddit, FakeYouTube() as youtube:
        (tmp_path / "rules").mkdir()
        (tmp_path / "config.yaml").write_text(CONFIG.format(x=x.url, reddit=reddit.url, youtube=youtube.url))
        env = {"X_BEARER_TOKEN": x.token, "REDDIT_CLIENT_ID": reddit.client_id,
               "REDDIT_CLIENT_SECRET": reddit.client_secret, "YOUTUBE_API_KEY": KEY,
               "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": ""}
        yield x, reddit, youtube, tmp_path, env


def once(tmp_path, env, *extra):
    return CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "once", *extra], env=env,
                              catch_exceptions=False)


def add_posts(x: FakeX, reddit: FakeReddit, youtube: FakeYouTube, start: int, n: int) -> None:
    recent = datetime.now(timezone.utc) - timedelta(minutes=30)
    for i in range(start, start + n):
        x.add_post(f"Mindful Health post {i} \u200b😀", author=f"xuser{i}", followers=100 + i)
        reddit.add_submission(f"TheraNow question {i}", "anyone tried it? שלום", author=f"ruser{i}",
                              subreddit="therapy")
    for i in range(start, start + max(1, n // 5)):
        youtube.add_video(f"MindfulHealth review {i}", "my experience &amp; tips", published_at=recent)


def stored(database) -> dict[str, int]:
    store = open_store(database)
    rows = sql(store, "SELECT platform, COUNT(*), COUNT(DISTINCT key) FROM mentions GROUP BY platform")
    counts = {platform: n for platform, n, distinct in rows if n == distinct}
    store.close()
    return counts


def test_once_ingests_every_mention_exactly_once_across_runs_and_faults(fakes, backend, request):
    x, reddit, youtube, tmp_path, env = fakes
    database = tmp_path / "live.db"
    if backend == "postgresql":  # the same config, the database from the environment
        database = env["HARKBOT_DATABASE_URL"] = request.getfixturevalue("pg_dsn")
    add_posts(x, reddit, youtube, 0, 30)
    first = once(tmp_path, env)
    assert first.exit_code == 0, first.output
    assert "once: 3 listeners polled (0 skipped), 66 new mentions" in first.output
    assert stored(database) == {"x": 30, "reddit": 30, "youtube": 6}

    again = once(tmp_path, env)  # nothing new: nothing stored twice
    assert "0 new mentions" in again.output and stored(database) == {"x": 30, "reddit": 30, "youtube": 6}

    add_posts(x, reddit, youtube, 30, 20)
    x.rate_limit_next(1, reset_in=600)
    reddit.rate_limit_next(1, reset=600)
    youtube.malformed_next(1)
    faulted = once(tmp_path, env)
    assert faulted.exit_code == 2  # failures are an exit status a cron job can see
    assert stored(database) == {"x": 30, "reddit": 30, "youtube": 6}  # nothing half-stored, nothing lost

    resting = once(tmp_path, env)
    assert "0 listeners polled (0 skipped, 3 resting after errors or busy elsewhere)" in " ".join(resting.output.split())

    recovered = once(tmp_path, env, "--retry-now")
    assert recovered.exit_code == 0, recovered.output
    assert stored(database) == {"x": 50, "reddit": 50, "youtube": 10}
    assert once(tmp_path, env).exit_code == 0 and stored(database) == {"x": 50, "reddit": 50, "youtube": 10}
    assert youtube.problems == []


def test_check_prints_each_listeners_quota_plan_and_rejects_one_that_cannot_fit(fakes):
    x, reddit, youtube, tmp_path, env = fakes
    config = tmp_path / "config.yaml"
    ok = CliRunner().invoke(main, ["--config", str(config), "check"], env=env)
    assert ok.exit_code == 0, ok.output
    out = " ".join(ok.output.split())
    assert "quota twitter:" in out and "of 43,200 requests a day" in out
    assert "quota reddit:" in out and "of 144,000 requests a day" in out
    assert "quota youtube:" in out and "of 10,000 quota units a day" in out
    config.write_text(config.read_text().replace(f'youtube: {{base_url: "{youtube.url}"}}',
                                                 f'youtube: {{base_url: "{youtube.url}", every: 5m}}'))
    bad = CliRunner().invoke(main, ["--config", str(config), "check"], env=env)
    assert bad.exit_code == 1
    flat = " ".join(bad.output.split())
    assert "listeners.youtube.every: the plan needs" in flat and "over the budget of 10,000" in flat
