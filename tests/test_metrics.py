"""The Prometheus endpoint: scraped over HTTP on 127.0.0.1, fed by the daemon's job wrappers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from bot.metrics import INSTALL_HINT, Metrics, MetricsUnavailable, serve
from bot.pipeline import Evaluation, PollResult
from tests.backends import backend  # noqa: F401 - fixture

pytest.importorskip("prometheus_client")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}" + (rf"\{{{re.escape(want)}\}}" if want else "") + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{{{want}}} not in:\n{text}"
    return float(match.group(1))


def test_counters_histogram_and_gauges_over_http():
    metrics = Metrics()
    endpoint = serve(metrics, 0)  # any free port
    try:
        metrics.poll(PollResult("twitter", fetched=100, new=37, pages=2, seconds=1.2), 1_700_000_000.0)
        metrics.poll(PollResult("twitter", seconds=0.4, error="x: 503"), 1_700_000_300.0)
        metrics.poll(PollResult("twitter", skipped=True), 1_700_000_600.0)
        metrics.evaluation(Evaluation(alerts=[object(), object()], errors=["broken-rule"]), 0.3)
        metrics.delivery(2, 1)
        metrics.outbox_depth({"pending": 4, "sent": 10, "dead": 1})
        text = scrape(endpoint.port)
    finally:
        endpoint.stop()
    assert value(text, "harkbot_polls_total", listener="twitter") == 2
    assert value(text, "harkbot_poll_errors_total", listener="twitter") == 1
    assert value(text, "harkbot_poll_resting_total", listener="twitter") == 1
    assert value(text, "harkbot_mentions_ingested_total", listener="twitter") == 37
    assert value(text, "harkbot_mentions_fetched_total", listener="twitter") == 100
    # the failed poll does not move the last success
    assert value(text, "harkbot_listener_last_success_timestamp_seconds", listener="twitter") == 1_700_000_000.0
    assert value(text, "harkbot_alerts_raised_total") == 2
    assert value(text, "harkbot_evaluation_errors_total") == 1
    assert value(text, "harkbot_evaluation_duration_seconds_count") == 1
    assert value(text, "harkbot_evaluation_duration_seconds_bucket", le="0.5") == 1
    assert value(text, "harkbot_evaluation_duration_seconds_bucket", le="0.25") == 0
    assert value(text, "harkbot_deliveries_sent_total") == 2 and value(text, "harkbot_deliveries_failed_total") == 1
    assert value(text, "harkbot_outbox_depth", status="pending") == 4


def test_each_metrics_has_its_own_registry_not_the_global_one():
    import prometheus_client

    first, second = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    first.delivery(3, 0)
    assert b"harkbot_deliveries_sent_total 3.0" in first.text()
    assert b"harkbot_deliveries_sent_total 0.0" in second.text()
    assert b"harkbot_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_a_missing_extra_is_an_error_naming_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now raises ImportError
    with pytest.raises(MetricsUnavailable, match=re.escape(INSTALL_HINT)):
        Metrics()
    from bot.cli import main

    (tmp_path / "config.yaml").write_text("database: live.db\nbrands:\n  mindful: {query: mindful}\n")
    (tmp_path / "rules").mkdir()
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "run", "--metrics-port", "9108"])
    assert result.exit_code == 1
    assert "pip install 'harkbot[metrics]'" in " ".join(result.output.split())
    assert not (tmp_path / "live.db").exists()  # refused before anything started


def test_harkbot_run_serves_metrics_fed_by_its_jobs(tmp_path, backend, request):
    """On SQLite and on PostgreSQL (the database from HARKBOT_DATABASE_URL): the same series."""
    (tmp_path / "config.yaml").write_text(
        "database: live.db\nrules: rules\nbrands:\n"
        "  mindful: {name: Mindful Health, query: '\"mindful health\" OR mindfulhealth OR \"mindful app\"'}\n"
        "  theranow: {name: TheraNow, kind: competitor, query: theranow}\n"
        "listeners:\n  demo: {every: 1h, days: 2}\n")
    (tmp_path / "rules").mkdir()
    env = {**os.environ, "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": ""}
    env.pop("HARKBOT_DATABASE_URL", None)
    if backend == "postgresql":
        env["HARKBOT_DATABASE_URL"] = request.getfixturevalue("pg_dsn")
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.yaml"), "run",
                             "--metrics-port", "0"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, text = time.monotonic() + 60, ""
        port = None
        while time.monotonic() < deadline:
            found = re.search(r"metrics: http://127\.0\.0\.1:(\d+)/metrics", (tmp_path / "run.log").read_text())
            if found:
                port = int(found.group(1))
                text = scrape(port)
                if 'harkbot_polls_total{listener="demo"} 1.0' in text:
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert port is not None, (tmp_path / "run.log").read_text()
    assert value(text, "harkbot_mentions_ingested_total", listener="demo") > 1000
    assert value(text, "harkbot_listener_last_success_timestamp_seconds", listener="demo") > time.time() - 120
    assert value(text, "harkbot_outbox_depth", status="pending") >= 0
    assert proc.returncode == 0
    assert (tmp_path / "live.db").exists() == (backend == "sqlite")  # PostgreSQL: nothing written beside the config
