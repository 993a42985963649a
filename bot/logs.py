"""`--log-format json`: one JSON object per line, for log shippers (Loki, CloudWatch, jq).

    {"ts": "2026-03-02T09:05:00.123Z", "level": "info", "logger": "harkbot",
     "message": "twitter: fetched 100, new 37, 2 pages, 1.2s", ...extra fields}

Extra fields are what a call passes as `extra={...}`; an exception adds `exc` (the
traceback text). Secrets: the listeners' SecretFilter rewrites a record's message on its
logger, before any handler formats it, so JSON lines are redacted as text lines are; on top
of that, an extra field whose name says it is a secret (token, secret, password, key) is
never written.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

# Attributes every LogRecord has: not "extra" fields.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "", (), None))) | {"message", "asctime"}
_SECRETISH = ("token", "secret", "password", "passwd", "api_key", "apikey", "authorization", "cookie")


class JsonFormatter(logging.Formatter):
    """One line of JSON per record; UTC timestamps with milliseconds."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, timezone.utc)
        out: dict[str, Any] = {
            "ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key in out:
                continue
            if any(word in key.lower() for word in _SECRETISH):
                continue
            out[key] = value if _plain(value) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict, tuple))


def json_handler(stream: Any) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    return handler


def use_json(stream: Any = None) -> None:
    """Swap the root logger's handlers (the text ones `--log-level` set up) for one JSON
    handler on stderr; levels and the per-library quieting stay as they were."""
    import sys

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(stream if stream is not None else sys.stderr))
