"""Microsoft Teams: an Adaptive Card posted to a channel's webhook.

Either kind of Teams webhook URL works: a Workflows one (the "When a Teams webhook request
is received" trigger posting the card to a channel; it answers 202 Accepted) or a legacy
Office 365 connector (it answers 200 with the body "1"). Both take the same envelope:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                          "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}

Version 1.4, because Workflows refuses cards that declare 1.5 (though Teams renders 1.5).

No text from outside is ever parsed as markup. Teams reads Markdown in a TextBlock and in a
FactSet's titles and values (learn.microsoft.com, "Format cards in Teams"), and Markdown has
no escaping every Teams client honours; a TextRun is never parsed ("Markdown is not
supported", Adaptive Cards schema: TextRun.text). So every piece of text here is a TextRun in a
RichTextBlock: the header a large bold run, bold as weight "Bolder", code as fontType
"Monospace", the facts as bold-label runs (no FactSet), a quoted post in an emphasised
container of italic runs. `<at>` in a post is not a mention either: a mention needs an
`msteams.entities` entry, and none is ever written. Links are the Document's (http(s) only):
a run that opens the URL, plus, under a quoted post, an Action.OpenUrl button, as Teams has
at times stopped honouring a TextRun's selectAction.

Size: Teams refuses a message over about 28 KB (and some have seen it refuse ~21 KB), so the
card is cut to fit MAX_BYTES, lines first, then whole blocks from the end with a note of what
was left out: an alert made of hostile 100 KB posts still arrives.

A legacy connector reports most failures as HTTP 200 with a sentence in the body ("Microsoft
Teams endpoint returned HTTP error 429 ..."): that sentence is read as the status it names.
Teams throttles a webhook beyond about four requests a second, so posts are paced.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import requests

from bot.models import Alert
from bot.notifiers import Posted, blocks
from bot.notifiers.document import Document, Line, Part, Span, read
from bot.notifiers.http_post import Answer, Poster, safe_url
from bot.notifiers.settings import Served, hook_channels, hook_from_config

CARD_VERSION = "1.4"
MAX_BYTES = 20_000  # of the UTF-8 JSON sent; under Teams' ~28 KB with room for what it adds
LINE_LIMITS = (2000, 600, 280, 120)  # characters of one line, tried in turn until the card fits
MAX_BUTTONS = 3  # link buttons under one block
ELLIPSIS = "…"
_CONNECTOR_ERROR = re.compile(r"returned HTTP error (\d{3})")
_HINTS = {
    400: "Teams refused the card; this is a harkbot bug, please report it",
    404: ("no webhook at this URL: Office 365 connectors are being retired; add a Workflows webhook to the "
          "channel (\"When a Teams webhook request is received\") and set its URL in {where}"),
    410: ("the webhook was retired; add a Workflows webhook to the channel (\"When a Teams webhook request is "
          "received\") and set its URL in {where}"),
    401: "Teams refused the URL's signature; copy the webhook URL again into {where}",
    403: "Teams refused the URL's signature (or the flow's owner lost access); copy the webhook URL again into {where}",
}


class TeamsNotifier(Served):
    name = "teams"
    threads = False  # a webhook can neither reply in a thread nor edit what it posted

    def __init__(self, *, channels: dict[str, str], default_channel: str | None = None, timeout: float = 10,
                 routing: Any = None, privacy: Any = None, pace: float = 0.25,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None):
        """`channels` maps the channel names rules use ("alerts") to Teams webhook URLs, already
        resolved from the environment; `default_channel` is one of those names."""
        self.channels = hook_channels(self.name, channels, default_channel, "an https:// webhook URL")
        self.default_channel = default_channel
        self.routing = routing
        self.privacy = privacy
        self._http = Poster(self.name, timeout=timeout, pace=pace, clock=clock, sleep=sleep, session=session,
                            hints=_HINTS)
        for url in self.channels.values():
            self._http.keep_secret(url)

    @classmethod
    def from_config(cls, settings: Any, env: Mapping[str, str], *, routing: Any = None,
                    privacy: Any = None) -> TeamsNotifier:
        """From `notifiers.teams` (bot.config.TeamsModel); NotifierOff names what to set."""
        return hook_from_config(cls, settings, env, routing=routing, privacy=privacy)

    def describe(self) -> str:
        return f"{super().describe()}; no threads or edits; after a crash a card may be posted twice"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return blocks.payload(alert, privacy=self.privacy)

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        name = self.channel_name(channel)
        body = encode(message(read(payload)))
        url, where = self.channels[name], f"notifiers.teams.channels.{name}"
        answer = self._http.post(url, body, {"User-Agent": "harkbot-teams/1"}, where=where, ready=ready)
        self._accepted(answer, safe_url(url), where)
        return Posted(channel)

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """A webhook's card cannot be changed; the resolution arrives as a card of its own."""

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        return None  # a webhook cannot look back: after a crash mid-post a card may arrive twice

    def _accepted(self, answer: Answer, shown: str, where: str) -> None:
        """A 2xx is not always delivery: a connector wraps Teams' own refusal in a 200."""
        if answer.status != 200:
            return  # 202: Workflows took it
        found = _CONNECTOR_ERROR.search(answer.text)
        if found is not None:
            raise self._http.refusal(int(found[1]), "", {}, f"{shown} (inside an HTTP 200)", where)
        if "delivery failed" in answer.text.lower():
            raise self._http.error(f"{shown} answered 200 but did not deliver: {self._http.excerpt(answer.text)}",
                                   False)


# -- the card: pure


def message(doc: Document, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The webhook envelope holding the message's card, cut to fit `max_bytes` when sent."""
    for limit in LINE_LIMITS:
        envelope = _envelope(card(doc.title, doc.parts, limit))
        if len(encode(envelope)) <= max_bytes:
            return envelope
    # Still too big: whole blocks go, from the end, with a note saying how many.
    parts = list(doc.parts)
    limit = LINE_LIMITS[-1]
    while parts:
        parts.pop()
        hidden = len(doc.parts) - len(parts)
        envelope = _envelope(card(doc.title, parts, limit, note=_cut_note(hidden, doc)))
        if len(encode(envelope)) <= max_bytes:
            return envelope
    return _envelope(card(_cut(doc.title, 150), [], limit, note=_cut_note(len(doc.parts), doc)))


def encode(envelope: dict[str, Any]) -> bytes:
    """The bytes sent (and measured): compact UTF-8 JSON."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def card(title: str, parts: Sequence[Part], limit: int = LINE_LIMITS[0], note: str | None = None) -> dict[str, Any]:
    """The Adaptive Card: the title, then each part, every line at most `limit` characters."""
    body: list[dict[str, Any]] = [_rich([_run(_cut(title, 300), size="Large", weight="Bolder")])]
    separate = False
    for part in parts:
        if part.kind == "divider":
            separate = True
            continue
        elements = _part(part, limit)
        if not elements:
            continue
        if separate:
            elements[0]["separator"] = True
            separate = False
        body.extend(elements)
    if note:
        body.append(_rich([_run(note, italic=True, isSubtle=True, size="Small")], separator=True))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }


def _envelope(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


def _part(part: Part, limit: int) -> list[dict[str, Any]]:
    if part.kind == "fields":
        return [_fact(pair, limit) for pair in part.fields if pair]
    small = part.kind == "context"
    out: list[dict[str, Any]] = []
    quoted: list[Line] = []
    for line in part.lines:
        if line.quote:
            quoted.append(line)
            continue
        out.extend(_quote(quoted, limit))
        quoted = []
        runs = _runs(line.spans, limit)
        if part.kind == "header":
            runs = [{**r, "size": "Medium", "weight": "Bolder"} for r in runs]
        elif small:
            runs = [{**r, "size": "Small", "isSubtle": True} for r in runs]
        out.append(_rich(runs))
    out.extend(_quote(quoted, limit))
    for element in out[1:]:
        element.setdefault("spacing", "None" if small else "Small")
    # A button for a quoted post's link; elsewhere (a digest's forty lines) the run's link alone.
    buttons = _buttons(s for line in part.lines for s in line.spans) if quoted_post(part) else None
    if buttons:
        out.append(buttons)
    return out


def quoted_post(part: Part) -> bool:
    return any(line.quote for line in part.lines)


def _fact(pair: tuple[Line, ...], limit: int) -> dict[str, Any]:
    """'Label: value' as runs: a FactSet's values would be read as Markdown."""
    label, values = pair[0], pair[1:]
    runs = [{**r, "weight": "Bolder"} for r in _runs(label.spans, min(limit, 200))]
    for line in values:
        runs.append(_run(": " if line is values[0] else " "))
        runs.extend(_runs(line.spans, limit))
    return {**_rich(runs), "spacing": "None"}


def _quote(lines: list[Line], limit: int) -> list[dict[str, Any]]:
    """A quoted post: someone else's words, in a shaded box and in italics."""
    if not lines:
        return []
    items = [_rich([{**r, "italic": True} for r in _runs(line.spans, limit)]) for line in lines]
    return [{"type": "Container", "style": "emphasis", "spacing": "Small", "items": items}]


def _runs(spans: Sequence[Span], limit: int) -> list[dict[str, Any]]:
    """The spans as TextRuns, at most `limit` characters in all."""
    runs: list[dict[str, Any]] = []
    left = limit
    for span in spans:
        if left <= 0:
            break
        text = _cut(span.text, left)
        left -= len(text)
        run = _run(text)
        if span.bold:
            run["weight"] = "Bolder"
        if span.code:
            run["fontType"] = "Monospace"
        if span.url:
            run.update(color="Accent", underline=True, selectAction={"type": "Action.OpenUrl", "url": span.url})
        runs.append(run)
    return runs


def _buttons(spans: Iterable[Span]) -> dict[str, Any] | None:
    seen: dict[str, str] = {}
    for span in spans:
        if span.url and span.url not in seen and len(seen) < MAX_BUTTONS:
            seen[span.url] = _cut(span.text, 40)
    if not seen:
        return None
    return {"type": "ActionSet", "spacing": "Small",
            "actions": [{"type": "Action.OpenUrl", "title": title, "url": url} for url, title in seen.items()]}


def _rich(runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": runs, **extra}


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters. A cut may split an emoji sequence or a combining mark from its
    letter (it falls on a code point, so the text stays valid UTF-8): harmless in a shortened line."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def _cut_note(hidden: int, doc: Document) -> str:
    noun = "block" if hidden == 1 else "blocks"
    alert = doc.meta.get("alert_id")
    where = f"harkbot alerts render {alert} --console" if isinstance(alert, int) else "harkbot alerts list"
    return f"Cut to fit Teams: {hidden} more {noun} not shown. The whole message: {where}"
