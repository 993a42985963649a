"""Alerts as signed JSON to any HTTP endpoint: the generic webhook.

The body is one JSON object, the message the sender drew for Slack read back as data
(bot/notifiers/document.py), described by the JSON Schema beside this module
(webhook.schema.json, `SCHEMA_ID` below). In short:

    {
      "schema": "harkbot.alert.v1",
      "delivery_id": "inst-a1b2.12",     same as the X-Harkbot-Delivery header
      "sent_at": "2026-11-21T10:05:00Z", when this attempt was made (UTC)
      "channel": "alerts",               the configured channel name it was sent for
      "alert_id": 7, "alert_ids": [7],   every alert the message reports (a group, a digest)
      "fingerprint": "3f9a…", "state": "firing",
      "title": "🔴 CRITICAL · …", "summary": "CRITICAL: …",
      "text": "…",                       the whole message as plain text
      "parts": [...],                    its blocks: header, text, fields, context, divider
      "links": [{"label": "open", "url": "https://…"}]
    }

Every string is plain text, exactly as a person should read it: no HTML, Markdown or Slack
markup is in it or interpreted in it, so a receiver must escape it for whatever it renders
into. Every `url` is http(s) (a `javascript:` link in a post never becomes one).

Headers, on every request:

    X-Harkbot-Delivery:  the message's delivery id. The same message retried (after a 5xx, a
                         timeout, a crash) carries the same id: a receiver drops an id it has
                         seen. harkbot cannot ask a webhook what it received, so it delivers
                         at least once and relies on this to make it exactly once.
    X-Harkbot-Timestamp: unix seconds when this attempt was signed.
    X-Harkbot-Signature: with a secret configured, "sha256=" + hex HMAC-SHA256, keyed with the
                         secret, of the bytes  TIMESTAMP + "." + BODY  (the raw request body).

A receiver verifies by recomputing the HMAC over the raw body it read (before any JSON
parsing), comparing in constant time, and refusing a timestamp more than a few minutes off
its clock, so a captured request cannot be replayed later: `verify()` below does exactly this
and is what the tests use. The receiver answers 2xx to accept; 429 (with Retry-After), 408 or
5xx to have harkbot retry later; any other status refuses the message for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import requests

from bot.models import Alert
from bot.notifiers import Posted, blocks
from bot.notifiers.document import Document, Line, Part, Span, plain_text, read
from bot.notifiers.http_post import Poster
from bot.notifiers.settings import Served, hook_channels, hook_from_config, optional

SCHEMA_ID = "harkbot.alert.v1"
SCHEMA_PATH = Path(__file__).with_name("webhook.schema.json")
TOLERANCE = 300  # seconds a signed timestamp may differ from the receiver's clock
# Fields of the message metadata a receiver may route on, copied when the sender provides them.
_EXTRA_META = ("severity", "brand", "rule", "event")


class WebhookNotifier(Served):
    name = "webhook"
    threads = False  # follow-ups (worse, resolved) arrive as messages of their own

    def __init__(self, *, channels: dict[str, str], default_channel: str | None = None,
                 secret: str | None = None, timeout: float = 10, routing: Any = None, privacy: Any = None,
                 pace: float = 0.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        """`channels` maps the channel names rules use ("alerts") to endpoint URLs, already
        resolved from the environment; `default_channel` is one of those names. `secret`
        signs each request (X-Harkbot-Signature)."""
        self.channels = hook_channels(self.name, channels, default_channel, "an http(s) URL")
        self.default_channel = default_channel
        self.routing = routing
        self.privacy = privacy
        self._secret = secret.encode("utf-8") if secret else None
        self._http = Poster(self.name, timeout=timeout, pace=pace, clock=clock, sleep=sleep, session=session)
        for url in self.channels.values():
            self._http.keep_secret(url)
        if secret:
            self._http.hide(secret)

    @classmethod
    def from_config(cls, settings: Any, env: Mapping[str, str], *, routing: Any = None,
                    privacy: Any = None) -> WebhookNotifier:
        """From `notifiers.webhook` (bot.config.WebhookModel); NotifierOff names what to set."""
        return hook_from_config(cls, settings, env, routing=routing, privacy=privacy,
                                secret=optional(settings.secret, env))

    def describe(self) -> str:
        signed = "signed (X-Harkbot-Signature)" if self._secret else "UNSIGNED: set a secret so receivers can check"
        return f"{super().describe()}; {signed}; at least once, deduplicate on X-Harkbot-Delivery"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return blocks.payload(alert, privacy=self.privacy)

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        """POST the message to the channel's URL; a 2xx answer is delivery."""
        name = self.channel_name(channel)
        now = self._http.clock()
        doc = read(payload)
        body = encode(build(doc, channel=name, now=now))
        stamp = str(int(now))
        headers = {"X-Harkbot-Delivery": delivery_id(doc), "X-Harkbot-Timestamp": stamp,
                   "User-Agent": "harkbot-webhook/1"}
        if self._secret is not None:
            headers["X-Harkbot-Signature"] = sign(self._secret, stamp, body)
        self._http.post(self.channels[name], body, headers, where=f"notifiers.webhook.channels.{name}", ready=ready)
        return Posted(channel)

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """A receiver's copy cannot be changed; the resolution arrives as a message of its own."""

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        return None  # no way to ask; the delivery id makes a repeat harmless


# -- the body: pure


def build(doc: Document, *, channel: str | None, now: float) -> dict[str, Any]:
    """The JSON object for one message (see the module docstring and webhook.schema.json)."""
    meta = doc.meta
    ids = list(dict.fromkeys(i for i in (meta.get("alert_ids") or [meta.get("alert_id")]) if isinstance(i, int)))
    body: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "delivery_id": delivery_id(doc),
        "sent_at": datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "channel": channel,
        "alert_id": ids[0] if ids else None,
        "alert_ids": ids,
        "fingerprint": meta.get("fingerprint"),
        "state": meta.get("state"),
    }
    body.update({k: meta[k] for k in _EXTRA_META if isinstance(meta.get(k), str)})
    body.update({
        "title": doc.title,
        "summary": doc.summary,
        "text": plain_text(doc),
        "parts": [_part(p) for p in doc.parts],
        "links": [{"label": label, "url": url} for label, url in doc.links()],
    })
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON (non-ASCII as itself, not \\u escapes)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def delivery_id(doc: Document) -> str:
    """The outbox key (stable across retries); a message drawn without one (a test send) gets a
    digest of what it says, which is as stable."""
    key = doc.key
    if key:
        return str(key)
    return "sha256-" + hashlib.sha256(plain_text(doc).encode("utf-8")).hexdigest()[:32]


def _part(part: Part) -> dict[str, Any]:
    if part.kind == "divider":
        return {"kind": "divider"}
    if part.kind == "fields":
        return {"kind": "fields", "fields": [_field(pair) for pair in part.fields]}
    return {"kind": part.kind, "lines": [_line(line) for line in part.lines]}


def _field(pair: tuple[Line, ...]) -> dict[str, str]:
    label = pair[0].text if pair else ""
    return {"label": label, "value": "\n".join(line.text for line in pair[1:])}


def _line(line: Line) -> dict[str, Any]:
    return {"text": line.text, "quote": line.quote, "spans": [_span(s) for s in line.spans]}


def _span(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {"text": span.text}
    if span.bold:
        out["bold"] = True
    if span.code:
        out["code"] = True
    if span.url:
        out["url"] = span.url
    return out


# -- signing, and how a receiver checks it


def sign(secret: bytes | str, timestamp: str, body: bytes) -> str:
    """'sha256=' + hex HMAC-SHA256 of TIMESTAMP.BODY."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes | str, body: bytes, timestamp: str, signature: str, *, now: float | None = None,
           tolerance: float = TOLERANCE) -> bool:
    """A receiver's check: is `signature` (X-Harkbot-Signature) ours for this raw `body` and
    `timestamp` (X-Harkbot-Timestamp), signed within `tolerance` seconds of `now`?"""
    try:
        signed_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - signed_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def schema() -> dict[str, Any]:
    """The body's JSON Schema (draft 2020-12)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
