"""`--log-format json`: one JSON object per line, secrets redacted as in text logs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

from bot.logs import JsonFormatter, json_handler
from listeners.base import SecretFilter


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers[:] = [json_handler(stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_one_json_object_per_line_with_utc_time_level_logger_message_and_extras():
    logger, stream = _logger("harkbot.test.json")
    logger.info("twitter: fetched %d, new %d", 100, 37, extra={"listener": "twitter", "new": 37})
    logger.warning("line one\nline two")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # a newline inside a message stays inside its JSON string
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "twitter: fetched 100, new 37"
    assert first["level"] == "info" and first["logger"] == "harkbot.test.json"
    assert first["listener"] == "twitter" and first["new"] == 37
    assert first["ts"].endswith("Z") and first["ts"][10] == "T" and len(first["ts"]) == 24
    assert second["message"] == "line one\nline two" and second["level"] == "warning"
    assert "args" not in first and "msg" not in first and "levelno" not in first


def test_exceptions_carry_their_traceback():
    logger, stream = _logger("harkbot.test.exc")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("poll failed unexpectedly")
    record = json.loads(stream.getvalue())
    assert record["level"] == "error" and "ValueError: boom" in record["exc"]


def test_secrets_are_redacted_in_json_lines_as_in_text_lines():
    # A client library logging a request with the token, on a logger the listener's filter guards.
    guard = SecretFilter("harkbot.test.client")
    guard.add("s3cr3t-bearer-token")
    logger, stream = _logger("harkbot.test.client")
    logger.debug("GET /2/tweets headers={'Authorization': 'Bearer %s'}", "s3cr3t-bearer-token")
    logger.info("sending", extra={"api_token": "s3cr3t-bearer-token", "channel": "#alerts"})
    text = stream.getvalue()
    assert "s3cr3t" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert "Bearer ***" in first["message"]
    assert "api_token" not in second and second["channel"] == "#alerts"


def test_unserialisable_extras_are_written_as_their_repr():
    record = logging.LogRecord("harkbot", logging.INFO, __file__, 1, "done", (), None)
    record.when = object()
    assert json.loads(JsonFormatter().format(record))["when"].startswith("<object object")


def test_harkbot_log_format_json_writes_json_lines_on_stderr(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "database: live.db\nrules: rules\nbrands:\n  mindful: {name: Mindful Health, query: '\"mindful health\"'}\n"
        "listeners:\n  demo: {every: 1h, days: 2}\n")
    (tmp_path / "rules").mkdir()
    env = {**os.environ, "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": ""}
    done = subprocess.run([sys.executable, "-m", "bot", "--log-format", "json", "--config",
                           str(tmp_path / "config.yaml"), "once"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    messages = [r["message"] for r in records]
    assert any(m.startswith("demo: fetched") for m in messages), messages
    assert any(m.startswith("evaluate: ") for m in messages)
    assert all(r["ts"].endswith("Z") for r in records)
