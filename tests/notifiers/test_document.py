"""Reading a Block Kit message back for the notifiers that are not Slack."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.notifiers import blocks
from bot.notifiers.document import Span, plain_text, read
from tests.notifiers import FIRED, HOSTILE_TEXTS, HOSTILE_URLS, hostile_alert, post, sample_alert


def test_a_typical_alert_reads_back_with_its_structure() -> None:
    doc = read(blocks.payload(sample_alert(), key="inst.12"))
    assert doc.title == "🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual"
    assert doc.summary == "CRITICAL: Negative spike: Mindful Health, 6.2x usual"
    assert doc.key == "inst.12" and doc.meta["alert_id"] == 7
    kinds = [p.kind for p in doc.parts]
    assert kinds[:3] == ["text", "fields", "text"] and "divider" in kinds and kinds[-1] == "context"
    fields = next(p for p in doc.parts if p.kind == "fields").fields
    assert [tuple(line.text for line in pair) for pair in fields][0] == ("Negative mentions", "31")
    assert fields[0][0].spans == (Span("Negative mentions", bold=True),)
    # Entities decoded once: the reader sees '&', and the link keeps its query string whole.
    assert ("open", "https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2") in doc.links()
    quotes = [line.text for p in doc.parts for line in p.lines if line.quote]
    assert quotes[0] == "Charged twice & still no refund. Never again!"


def test_plain_text_says_everything_with_its_links() -> None:
    text = plain_text(read(blocks.payload(sample_alert())))
    assert text.startswith("🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual\n=")
    assert "31 negative mentions in the last 30m against a usual 5.0 (threshold 3x)." in text
    assert "Negative mentions 31" in text
    assert "open (https://x.com/angry_customer/status/1)" in text
    assert "> Charged twice & still no refund. Never again!" in text
    assert "&amp;" not in text


def test_hostile_posts_come_back_as_text_and_only_safe_links() -> None:
    doc = read(blocks.payload(hostile_alert()))
    urls = [url for _, url in doc.links()]
    assert urls and all(u.startswith(("https://", "http://")) for u in urls)
    assert not any("javascript" in u or "|" in u or "<" in u for u in urls)
    said = plain_text(doc)
    assert "<!channel> everyone look" in said  # shown as typed, decoded from &lt;...&gt;
    assert "\x1b" not in said and "\u202e" not in said
    # A post's own `<https://evil|bank.com>` was escaped by blocks.py: it reads as text, no link.
    assert not any(s.url and "evil" in s.url for p in doc.parts for line in p.lines for s in line.spans)


def test_follow_ups_and_digests_read_back() -> None:
    alert = sample_alert()
    resolved = read(blocks.resolved_payload(alert, FIRED + timedelta(hours=2), thread=False))
    assert resolved.title.startswith(blocks.RESOLVED) and "after 2h" in plain_text(resolved)
    digest = read(blocks.digest_payload([alert, replace(alert, id=8, severity="info")]))
    assert digest.title.startswith("🗞️ Digest · 2 alerts") and digest.meta["alert_ids"] == [7, 8]
    update = read(blocks.update_payload(alert, "worse", thread=False))
    assert update.title.startswith("📈 UPDATE") and "Update: it is getting worse." in plain_text(update)


def test_unknown_blocks_and_odd_payloads_are_skipped_not_fatal() -> None:
    doc = read({"text": "x &amp; y", "blocks": [{"type": "image"}, {"type": "section"}, {"type": "context"}]})
    assert doc.title == doc.summary == "x & y" and doc.parts == ()
    assert read({}).title == ""
