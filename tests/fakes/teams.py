"""What a Teams webhook accepts, for the sink to refuse the rest as Teams would.

    with Sink(validate=teams.check) as sink: ...

Checks the envelope Workflows and Office 365 connectors take (a "message" with one Adaptive
Card attachment), the card version (Workflows refuses cards above 1.4), the size (Teams
answers 413 over about 28 KB), and every element and property the card uses against the
Adaptive Card 1.4 schema (adaptivecards.io/explorer), enumerations included, so a typo such as
`"weight": "Bold"` fails a test instead of rendering wrongly in a real channel. Only the
elements harkbot could draw are known; anything else is refused too.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.sink import Reply

MAX_BYTES = 28 * 1024
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")

SPACING = {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"}
SIZES = {"Default", "Small", "Medium", "Large", "ExtraLarge"}
WEIGHTS = {"Default", "Lighter", "Bolder"}
COLORS = {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"}
FONTS = {"Default", "Monospace"}
STYLES = {"default", "emphasis", "good", "attention", "warning", "accent"}
COMMON = {"type", "id", "spacing", "separator", "isVisible", "requires", "fallback", "height"}

TEXT_RUN = {"type": str, "text": str, "color": COLORS, "fontType": FONTS, "highlight": bool, "isSubtle": bool,
            "italic": bool, "selectAction": dict, "size": SIZES, "strikethrough": bool, "underline": bool,
            "weight": WEIGHTS}


class Invalid(Exception):
    pass


def check(body: bytes) -> Reply | None:
    """None when Teams would take the message; else the refusal Teams answers."""
    if len(body) > MAX_BYTES:
        return Reply(413, b'{"error":{"code":"RequestEntityTooLarge","message":"Request entity too large"}}')
    try:
        card(json.loads(body.decode("utf-8")))
    except (Invalid, ValueError, KeyError, TypeError, AttributeError) as err:
        message = json.dumps({"error": {"code": "InvalidRequestContent", "message": str(err)}})
        return Reply(400, message.encode(), content_type="application/json")
    return None


def card(envelope: dict[str, Any]) -> None:
    _expect(envelope.get("type") == "message", "the envelope's type must be 'message'")
    attachments = envelope["attachments"]
    _expect(isinstance(attachments, list) and len(attachments) == 1, "one attachment expected")
    attachment = attachments[0]
    _expect(attachment["contentType"] == "application/vnd.microsoft.card.adaptive", "not an Adaptive Card")
    content = attachment["content"]
    _expect(content.get("type") == "AdaptiveCard", "Property 'type' must be 'AdaptiveCard'")
    _expect(content.get("version") in VERSIONS, f"card version {content.get('version')!r} is not supported")
    allowed = {"type", "version", "$schema", "body", "actions", "msteams", "fallbackText", "speak", "lang"}
    _keys(content, allowed, "AdaptiveCard")
    for element in content.get("body") or ():
        _element(element)
    for action in content.get("actions") or ():
        _action(action)


def _element(element: dict[str, Any]) -> None:
    kind = element["type"]
    _common(element, kind)
    if kind == "RichTextBlock":
        _keys(element, COMMON | {"inlines", "horizontalAlignment"}, kind)
        _expect(isinstance(element["inlines"], list), "RichTextBlock.inlines must be a list")
        for run in element["inlines"]:
            _text_run(run)
    elif kind == "Container":
        _keys(element, COMMON | {"items", "style", "selectAction", "bleed", "minHeight", "rtl",
                                 "verticalContentAlignment", "backgroundImage"}, kind)
        if "style" in element:
            _one_of(element["style"], STYLES, "Container.style")
        for item in element["items"]:
            _element(item)
    elif kind == "ActionSet":
        _keys(element, COMMON | {"actions"}, kind)
        for action in element["actions"]:
            _action(action)
    else:
        raise Invalid(f"element type {kind!r} is not one harkbot draws")


def _common(element: dict[str, Any], kind: str) -> None:
    if "spacing" in element:
        _one_of(element["spacing"], SPACING, f"{kind}.spacing")
    if "separator" in element:
        _expect(isinstance(element["separator"], bool), f"{kind}.separator must be a boolean")


def _text_run(run: Any) -> None:
    if isinstance(run, str):
        return
    _expect(run.get("type") == "TextRun", f"inline of type {run.get('type')!r}")
    _expect(isinstance(run.get("text"), str), "TextRun.text is required")
    for key, value in run.items():
        rule = TEXT_RUN.get(key)
        _expect(rule is not None, f"TextRun has no property {key!r}")
        if isinstance(rule, set):
            _one_of(value, rule, f"TextRun.{key}")
        else:
            _expect(isinstance(value, rule), f"TextRun.{key} must be a {rule.__name__}")
    if "selectAction" in run:
        _action(run["selectAction"])


def _action(action: dict[str, Any]) -> None:
    _expect(action.get("type") == "Action.OpenUrl", f"action type {action.get('type')!r}")
    _keys(action, {"type", "url", "title", "id", "iconUrl", "style", "tooltip"}, "Action.OpenUrl")
    _expect(isinstance(action["url"], str) and action["url"].startswith(("https://", "http://")),
            "Action.OpenUrl.url must be an http(s) URL")


def _keys(obj: dict[str, Any], allowed: set[str], kind: str) -> None:
    extra = set(obj) - allowed
    _expect(not extra, f"{kind} has no properties {sorted(extra)}")


def _one_of(value: Any, allowed: set[str], what: str) -> None:
    # The schema's enums are case-insensitive in the renderers, but documented as here.
    _expect(value in allowed, f"{what}: {value!r} is not one of {sorted(allowed)}")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise Invalid(message)
