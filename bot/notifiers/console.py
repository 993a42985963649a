"""Alerts in the terminal, drawn from the very payload Slack would receive.

Rendering the Slack payload (rather than the alert) means what you see locally is what the
channel would get. Only the display differs: the terminal is not Slack, so links read as
"label (url)" and `&lt;` shows as `<`. Text is always passed as `Text`, never as rich markup,
so a post saying "[bold]" prints just that.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any, Callable

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.errors import NotSent
from bot.models import Alert
from bot.notifiers import Posted, blocks

_BOLD = re.compile(r"\*([^*\n]+)\*")
_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>|<([^<>|]+)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
# The payload may not come from blocks.payload; never let it drive the terminal.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


class ConsoleNotifier:
    name = "console"
    threads = False  # follow-ups print as messages of their own...
    brief_follow_ups = True  # ...of one line: the alert itself was printed just above

    def __init__(self, console: Console | None = None, *, routing: Any = None, privacy: Any = None):
        self.console = console or Console()
        self.routing = routing
        self.privacy = privacy

    def payload(self, alert: Alert) -> dict[str, Any]:
        return blocks.payload(alert, privacy=self.privacy)

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        """Print the message under the channel it is for."""
        if ready is not None and not ready():
            raise NotSent("not printed: no longer this process's to send")
        self.console.print(Text(f"→ {channel or '(default channel)'}", style="bold"))
        self.console.print(render(payload))
        return Posted(channel)

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """A terminal cannot change what it printed; the resolved note that follows says it."""

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        return None

    def render_text(self, payload: dict[str, Any], width: int = 100) -> str:
        """The message as plain text (no colour or ANSI codes), `width` columns wide."""
        buffer = io.StringIO()
        Console(file=buffer, width=width, color_system=None, emoji=False).print(render(payload))
        return buffer.getvalue()


def render(payload: dict[str, Any]) -> RenderableType:
    """A rich Panel per message: the header as its title, then each block in order."""
    body = list(payload.get("blocks") or ())
    title: Text | None = None
    if body and body[0].get("type") == "header":
        title = Text(_display(body.pop(0)["text"]["text"]), style="bold")
    parts: list[RenderableType] = []
    for block in body:
        rendered = _block(block)
        if not rendered:
            continue
        # A blank line between blocks, as Slack spaces them; a divider is spacing enough.
        if parts and not isinstance(parts[-1], Rule) and not isinstance(rendered[0], Rule):
            parts.append(Text())
        parts.extend(rendered)
    if not parts:
        parts.append(Text(_display(payload.get("text", ""))))
    return Panel(Group(*parts), title=title, title_align="left")


def _block(block: dict[str, Any]) -> list[RenderableType]:
    kind = block.get("type")
    if kind == "header":
        return [Text(_display(block["text"]["text"]), style="bold")]
    if kind == "divider":
        return [Rule(style="dim")]
    if kind == "context":
        texts = [_styled(e["text"]) for e in block.get("elements", ()) if "text" in e]
        line = Text("  ·  ").join(texts)
        line.stylize("dim")
        return [line]
    if kind == "section":
        return _section(block)
    return [Text(f"[{kind} block]", style="dim")]


def _section(block: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if "text" in block:
        parts.append(_styled(block["text"]["text"]))
    if block.get("fields"):
        # Slack lays fields out two to a row; so does the terminal.
        grid = Table.grid(padding=(0, 4))
        grid.add_column()
        grid.add_column()
        cells = [_styled(f["text"]) for f in block["fields"]]
        for i in range(0, len(cells), 2):
            grid.add_row(*cells[i : i + 2])
        parts.append(grid)
    return parts


def _styled(mrkdwn: str) -> Text:
    """Displayed mrkdwn with Slack's *bold* shown bold, as the reader will see it in Slack."""
    text = Text()
    plain = _display(mrkdwn)
    at = 0
    for match in _BOLD.finditer(plain):
        text.append(plain[at : match.start()])
        text.append(match[1], style="bold")
        at = match.end()
    text.append(plain[at:])
    return text


def _display(mrkdwn: str) -> str:
    """Slack mrkdwn as a terminal shows it: `<url|label>` -> 'label (url)', entities decoded."""
    text = _LINK.sub(lambda m: f"{m[2]} ({m[1]})" if m[1] else m[3], mrkdwn)
    text = _ENTITY.sub(lambda m: _ENTITIES[m[1]], text)
    return _CONTROL.sub("", text)
