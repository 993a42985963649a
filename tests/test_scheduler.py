"""`harkbot run` as a user runs it: a real process, a real scheduler, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bot.store import Store

CONFIG = """
database: live.db
rules: rules
evaluate_every: 5m
brands:
  mindful: {name: Mindful Health, query: '"mindful health" OR mindfulhealth OR "mindful app"'}
  theranow: {name: TheraNow, kind: competitor, query: theranow}
  haven: {name: Haven Therapy, kind: competitor, query: '"haven therapy" OR haventherapy'}
listeners:
  demo: {every: 1h, days: 2}
  twitter: {every: 5m}
"""


def test_run_polls_enabled_listeners_and_stops_cleanly_on_sigterm(tmp_path, repo):
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "rules").mkdir()
    env = {**os.environ, "X_BEARER_TOKEN": "", "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": ""}
    log = (tmp_path / "run.log").open("w")  # a file, not a pipe: a full pipe would block the daemon
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.yaml"), "run"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (tmp_path / "live.db").exists():
                store = Store(tmp_path / "live.db")
                polled = store.cursor("demo")
                store.close()
                if polled:
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert proc.returncode == 0, output
    flat = " ".join(output.split())
    assert "twitter: skipped, set X_BEARER_TOKEN to enable it" in flat
    assert "demo: fetched" in flat and "shutting down" in flat
    store = Store(tmp_path / "live.db")
    assert store.count("mentions") > 1000
    store.close()
