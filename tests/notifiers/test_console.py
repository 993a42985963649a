from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from bot.notifiers import NOTIFIERS, blocks
from bot.notifiers.console import ConsoleNotifier
from tests.notifiers import hostile_alert, post, sample_alert


def test_payload_is_exactly_what_slack_would_get() -> None:
    alert = sample_alert()

    assert ConsoleNotifier().payload(alert) == blocks.payload(alert)
    assert NOTIFIERS["console"] is ConsoleNotifier


def test_render_text_reads_like_the_slack_message() -> None:
    notifier = ConsoleNotifier()
    text = notifier.render_text(notifier.payload(sample_alert()), width=140)
    lines = [line.strip("│ ") for line in text.splitlines()]

    assert lines[0].startswith("╭─ 🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual ─")
    assert "31 negative mentions in the last 30m against a usual 5.0 (threshold 3x)." in lines
    assert any(line.startswith("Negative mentions") and "Usual" in line for line in lines)
    assert "Driving terms: refund, double charge" in lines  # Slack's *bold*, shown bold
    assert (
        "angry_customer · 12.3k reach · x · 21 Nov 10:02 UTC · "
        "open (https://x.com/angry_customer/status/1)"
    ) in lines
    assert "> Charged twice & still no refund. Never again!" in lines
    reddit = "open (https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2)"
    assert any(line.endswith(reddit) for line in lines)
    assert "`▂▁▂▂▂▄▅█`" in lines
    assert any(line.startswith("Rule negative-spike · spike  ·  Fingerprint") for line in lines)
    assert "\x1b" not in text


def test_hostile_text_shows_as_typed_and_cannot_drive_the_terminal() -> None:
    alert = sample_alert()
    text = "<!channel> \x1b[31mred\x1b[0m [bold red]markup[/] &amp;"
    notifier = ConsoleNotifier()
    finding = replace(alert.finding, posts=(post(text=text),))
    payload = notifier.payload(replace(alert, finding=finding))

    rendered = notifier.render_text(payload)

    assert "> <!channel> [31mred[0m [bold red]markup[/] &amp;" in rendered
    assert "\x1b" not in rendered


def test_every_hostile_alert_renders() -> None:
    notifier = ConsoleNotifier()

    rendered = notifier.render_text(notifier.payload(hostile_alert()), width=80)

    assert "+55 more posts not shown" in rendered
    assert "\x1b" not in rendered and "\u202e" not in rendered


def test_send_prints_the_channel_then_the_message() -> None:
    out = io.StringIO()
    notifier = ConsoleNotifier(Console(file=out, width=100, color_system=None))
    payload = notifier.payload(sample_alert())

    assert notifier.post(payload, "alerts").ts is None
    assert notifier.post(payload, None).ts is None

    printed = out.getvalue()
    assert printed.startswith("→ alerts\n╭─ 🔴 CRITICAL")
    assert "\n→ (default channel)\n╭─ 🔴 CRITICAL" in printed


def test_render_text_of_any_slack_payload() -> None:
    notifier = ConsoleNotifier()
    payload = {
        "text": "fallback",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "see <https://a.example/x>"}},
            {"type": "image", "image_url": "https://a.example/i.png", "alt_text": "chart"},
        ],
    }

    rendered = notifier.render_text(payload)

    assert "see https://a.example/x" in rendered
    assert "[image block]" in rendered
    assert "fallback" in notifier.render_text({"text": "fallback", "blocks": []})
