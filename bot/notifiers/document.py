"""A message read back out of its Block Kit payload, for notifiers that are not Slack.

The sender draws every message once, as Block Kit (bot/notifiers/blocks.py), where all
outside text was already made safe for Slack. Email, Teams and webhooks render that same
message in their own formats, so what each channel says cannot drift from what Slack says.
Reading it back yields plain strings with a little structure (bold, code, links, quotes):
each renderer then escapes for its own format (HTML, Adaptive Card text runs, JSON), so
markup in a post is text in every one of them.

Pure: no I/O, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# Links first: a label may hold `*`. Bold and code as blocks.py writes them (one line each).
_TOKEN = re.compile(r"<([^<>|]+)\|([^<>]*)>|<([^<>|]+)>|\*([^*\n]+)\*|`([^`\n]+)`")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
# What a renderer may turn into a link: http(s) with only the characters RFC 3986 allows.
# Anything else stays text (a `javascript:` URL must never become an href).
_SAFE_URL = re.compile(r"https?://[\w.~:/?#\[\]@!$&'()*+,;=%-]+", re.ASCII | re.IGNORECASE)
# Controls other than tab and newline have no place in any of the formats.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Span:
    """A run of text: plain, bold, code, or a link (`url` set, `text` its label)."""

    text: str
    bold: bool = False
    code: bool = False
    url: str | None = None


@dataclass(frozen=True)
class Line:
    spans: tuple[Span, ...]
    quote: bool = False  # a quoted post

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)


@dataclass(frozen=True)
class Part:
    """One block: `header` (one line), `text`, `fields` (label/value pairs as lines),
    `context` (small print) or `divider`."""

    kind: str
    lines: tuple[Line, ...] = ()
    fields: tuple[tuple[Line, ...], ...] = ()


@dataclass(frozen=True)
class Document:
    title: str  # the header, or the fallback text when there is none
    summary: str  # the one-line fallback text (notification previews, subjects)
    parts: tuple[Part, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)  # key, alert_id(s), fingerprint, state

    @property
    def key(self) -> str | None:
        return self.meta.get("key")

    def links(self) -> list[tuple[str, str]]:
        """(label, url) of every link, in order: the posts an alert quotes."""
        return [(s.text, s.url) for p in self.parts for line in _all_lines(p) for s in line.spans if s.url]


def read(payload: Mapping[str, Any]) -> Document:
    """The message in a Block Kit payload (as blocks.py draws them)."""
    parts: list[Part] = []
    title = ""
    for block in payload.get("blocks") or ():
        part = _part(block)
        if part is None:
            continue
        if part.kind == "header" and not title:
            title = part.lines[0].text if part.lines else ""
            continue
        parts.append(part)
    summary = _decode(str(payload.get("text") or ""))
    meta = dict((payload.get("metadata") or {}).get("event_payload") or {})
    return Document(title=title or summary, summary=summary, parts=tuple(parts), meta=meta)


def plain_text(doc: Document) -> str:
    """The message as plain text: what an email's text/plain part and a webhook's `text` say.
    Links read "label: url" so they survive any mail client."""
    out = [doc.title, "=" * min(len(doc.title), 72), ""]
    for part in doc.parts:
        if part.kind == "divider":
            out.append("-" * 24)
            continue
        if part.kind == "fields":
            out.extend(" ".join(_plain_line(line) for line in pair) for pair in part.fields)
        else:
            out.extend(("> " if line.quote else "") + _plain_line(line) for line in part.lines)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _plain_line(line: Line) -> str:
    return "".join(f"{s.text} ({s.url})" if s.url and s.text != s.url else s.text for s in line.spans)


def _all_lines(part: Part) -> Iterable[Line]:
    yield from part.lines
    for pair in part.fields:
        yield from pair


def _part(block: Mapping[str, Any]) -> Part | None:
    kind = block.get("type")
    if kind == "divider":
        return Part("divider")
    if kind == "header":
        text = (block.get("text") or {}).get("text", "")
        return Part("header", (Line((Span(_clean(text)),)),))
    if kind == "context":
        lines = tuple(line for e in block.get("elements") or () if "text" in e for line in _lines(e["text"]))
        return Part("context", lines) if lines else None
    if kind == "section":
        if block.get("fields"):
            return Part("fields", fields=tuple(tuple(_lines(f.get("text", ""))) for f in block["fields"]))
        text = (block.get("text") or {}).get("text", "")
        lines = tuple(_lines(text))
        return Part("text", lines) if lines else None
    return None  # a block kind blocks.py does not draw: nothing another format could show


def _lines(mrkdwn: str) -> list[Line]:
    out = []
    for raw in mrkdwn.split("\n"):
        quote = raw.startswith("> ")
        if quote:
            # A quote is a post's own text (blocks.py puts nothing else there, and escapes any
            # link in it): `*` and backticks in it are what the author typed, not our styling.
            text = _decode(raw[2:])
            spans: tuple[Span, ...] = (Span(text),) if text else ()
        else:
            spans = _spans(raw)
        if spans:
            out.append(Line(spans, quote))
    return out


def _spans(mrkdwn: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    at = 0
    for m in _TOKEN.finditer(mrkdwn):
        if m.start() > at:
            spans.append(Span(_decode(mrkdwn[at : m.start()])))
        url, label, bare, bold, code = m.groups()
        target = _decode(url or bare or "")
        if bold is not None:
            spans.append(Span(_decode(bold), bold=True))
        elif code is not None:
            spans.append(Span(_decode(code), code=True))
        elif _SAFE_URL.fullmatch(target):
            spans.append(Span(_decode(label) if label is not None else target, url=target))
        else:
            spans.append(Span(_decode(label if label is not None else bare)))
        at = m.end()
    if at < len(mrkdwn):
        spans.append(Span(_decode(mrkdwn[at:])))
    return tuple(s for s in spans if s.text)


def _decode(mrkdwn: str) -> str:
    return _clean(_ENTITY.sub(lambda m: _ENTITIES[m[1]], mrkdwn))


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)
