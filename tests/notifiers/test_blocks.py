from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Iterator

import pytest

from bot.notifiers.blocks import (digest_payload, escape, group_payload, payload, resolved_payload, sparkline,
                                  update_payload)
from tests.fakes.slack import block_problems
from tests.notifiers import hostile_alert, post, sample_alert

# The only `<...>` we write ourselves: a link to a post.
OUR_LINK = re.compile(r"<https?://[^\s<>|]+\|open>")
QUOTE_MARK = re.compile(r"(^|\n)> ")
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def mrkdwn(block: dict[str, Any]) -> str:
    return str(block["text"]["text"])


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def post_sections(message: dict[str, Any]) -> list[str]:
    after_divider = message["blocks"][message["blocks"].index({"type": "divider"}) + 1 :]
    return [mrkdwn(b) for b in after_divider if b["type"] == "section" and "\n> " in mrkdwn(b)]


def test_payload_for_a_typical_alert() -> None:
    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}

    def field(text: str) -> dict[str, Any]:
        return {"type": "mrkdwn", "text": text, "verbatim": True}

    assert payload(sample_alert()) == {
        "text": "CRITICAL: Negative spike: Mindful Health, 6.2x usual",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual",
                    "emoji": True,
                },
            },
            section("31 negative mentions in the last 30m against a usual 5.0 (threshold 3x)."),
            {
                "type": "section",
                "fields": [
                    field("*Negative mentions*\n31"),
                    field("*Usual*\n5.0 per 30m"),
                    field("*Threshold*\n3x"),
                ],
            },
            section("*Driving terms:* refund, double charge"),
            {"type": "divider"},
            section(
                "*angry_customer* · 12.3k reach · x · 21 Nov 10:02 UTC · "
                "<https://x.com/angry_customer/status/1|open>\n"
                "> Charged twice &amp; still no refund. Never again!"
            ),
            section(
                "*throwaway_42* · 830 reach · reddit · 21 Nov 09:45 UTC · "
                "<https://www.reddit.com/r/mindful/comments/abc/?utm=1&amp;ref=2|open>\n"
                "> Anyone else getting double charges from Mindful?"
            ),
            section("*Mentions, last 40m* (one bar per 5m, peak 21)\n`▂▁▂▂▂▄▅█`"),
            {
                "type": "context",
                "elements": [
                    field("Rule *negative-spike* · spike"),
                    field("Fingerprint `3f9a2c71d0e8`"),
                    field(
                        "List these mentions: "
                        "`harkbot mentions --brand mindful --sentiment negative --since 30m`"
                    ),
                ],
            },
        ],
        "metadata": {
            "event_type": "harkbot_alert",
            "event_payload": {"fingerprint": "3f9a2c71d0e84b56", "alert_id": 7, "state": "firing"},
        },
    }


@pytest.mark.parametrize(
    ("severity", "marker"),
    [("critical", "🔴 CRITICAL"), ("warning", "🟠 WARNING"), ("info", "🔵 INFO")],
)
def test_header_marks_the_severity(severity: str, marker: str) -> None:
    message = payload(sample_alert(severity=severity))

    assert mrkdwn(message["blocks"][0]).startswith(f"{marker} · Negative spike")
    assert message["text"].startswith(f"{marker.split()[1]}: ")


def test_resolved_alert() -> None:
    message = payload(sample_alert(state="resolved"))

    assert (
        mrkdwn(message["blocks"][0]) == "✅ RESOLVED · Negative spike: Mindful Health, 6.2x usual"
    )
    assert message["text"] == "RESOLVED: Negative spike: Mindful Health, 6.2x usual"
    assert message["metadata"]["event_payload"]["state"] == "resolved"


def test_metadata_of_an_unsaved_alert_has_no_null_id() -> None:
    event = payload(sample_alert(id=None))["metadata"]["event_payload"]

    assert event == {"fingerprint": "3f9a2c71d0e84b56", "state": "firing"}


def test_optional_sections_are_left_out_when_empty() -> None:
    alert = sample_alert(search="")
    bare = replace(alert, finding=replace(alert.finding, facts=(), terms=(), posts=(), series=()))

    blocks = payload(bare)["blocks"]

    assert [b["type"] for b in blocks] == ["header", "section", "context"]
    assert len(blocks[-1]["elements"]) == 2


def test_a_blank_reason_leaves_no_empty_section() -> None:
    alert = sample_alert()
    blank = replace(alert, finding=replace(alert.finding, reason=" \u202e\n"))

    blocks = payload(blank)["blocks"]

    assert block_problems(blocks) == []
    assert blocks[1]["fields"][0]["text"] == "*Negative mentions*\n31"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here>", "&lt;!here&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil|bank.com>", "&lt;https://evil|bank.com&gt;"),
        ("&lt;", "&amp;lt;"),
        ("A & B > C", "A &amp; B &gt; C"),
        ("plain 👋", "plain 👋"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_hostile_posts_cannot_ping_or_disguise_links() -> None:
    message = payload(hostile_alert())

    for text in strings(message):
        outside = OUR_LINK.sub("", text)
        assert "<" not in outside, text
        assert ">" not in QUOTE_MARK.sub(r"\1", outside), text
        assert not any(c in text for c in BIDI), text
        assert "\x1b" not in text


def test_hostile_posts_stay_within_slack_limits() -> None:
    message = payload(hostile_alert())

    assert block_problems(message["blocks"]) == []
    assert len(message["blocks"]) <= 50
    header = mrkdwn(message["blocks"][0])
    assert 145 <= len(header) <= 150 and header.endswith("…")
    assert message["blocks"][0]["text"]["type"] == "plain_text"
    assert "&amp;" not in header and "<" not in header and ">" not in header
    assert header.startswith("🔴 CRITICAL · Spike: ‹!channel› & ‹https://evil.example|bank.com›")
    fields = message["blocks"][2]["fields"]
    assert len(fields) == 10


def test_hostile_text_reads_as_it_was_typed() -> None:
    quotes = [s.split("\n> ", 1)[1] for s in post_sections(payload(hostile_alert()))]

    assert quotes[0] == "&lt;!channel&gt; everyone look"
    assert quotes[3] == "&lt;https://evil.example|bank.com&gt; log in here"
    assert quotes[4] == "already &amp;lt;escaped&amp;gt; &amp;amp; text"


def test_quotes_stay_on_one_line_and_drop_bidi_controls_but_keep_emoji() -> None:
    alert = sample_alert()
    texts = (
        "\u202egnp.exe\u202c zero\u200bwidth 👩\u200d👩\u200d👧 🇺🇦",
        "first\n> fake quote\n\n• list\r\nend",
    )
    posts = tuple(post(text=t) for t in texts)
    sections = post_sections(payload(replace(alert, finding=replace(alert.finding, posts=posts))))

    assert sections[0].endswith("\n> gnp.exe zero\u200bwidth 👩\u200d👩\u200d👧 🇺🇦")
    assert sections[1].endswith("\n> first &gt; fake quote • list end")
    assert all(s.count("\n") == 1 for s in sections)


def test_a_long_post_is_cut_to_a_quote() -> None:
    alert = sample_alert()
    posts = (post(text="word " * 2_000),)
    (section,) = post_sections(payload(replace(alert, finding=replace(alert.finding, posts=posts))))
    quote = section.split("\n> ", 1)[1]

    assert len(quote) <= 280
    assert quote.endswith("word…")


def test_at_most_five_posts_and_a_count_of_the_rest() -> None:
    message = payload(hostile_alert())

    more = {"type": "mrkdwn", "text": "+55 more posts not shown", "verbatim": True}
    assert len(post_sections(message)) == 5
    assert {"type": "context", "elements": [more]} in message["blocks"]


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://x.com/a/status/1", "<https://x.com/a/status/1|open>"),
        ("HTTP://example.com/a?b=1&c=2", "<HTTP://example.com/a?b=1&amp;c=2|open>"),
        ("https://evil.example|bank.com", None),
        ("https://ok.example/<script>", None),
        ("https://ok.example/a b", None),
        ("javascript:alert(1)", None),
        ("ftp://example.com/file", None),
        ("https://example.com/" + "a" * 1_000, None),
        ("", None),
    ],
)
def test_links_only_to_plain_http_urls(url: str, link: str | None) -> None:
    alert = sample_alert()
    posts = (post(url=url),)
    (section,) = post_sections(payload(replace(alert, finding=replace(alert.finding, posts=posts))))
    meta = section.split("\n", 1)[0]

    if link is None:
        assert "<" not in meta and "open" not in meta
    else:
        assert meta.endswith(f" · {link}")


def test_a_deleted_author_and_big_reach() -> None:
    alert = sample_alert()
    posts = (post(author="", author_reach=2_500_000),)
    (section,) = post_sections(payload(replace(alert, finding=replace(alert.finding, posts=posts))))

    assert section.startswith("*(deleted)* · 2.5M reach · x · ")


@pytest.mark.parametrize(
    ("series", "line"),
    [
        ((), ""),
        ((0, 0, 0), "▁▁▁"),
        ((0, 1, 2, 3, 4, 5, 6, 7), "▁▂▃▄▅▆▇█"),
        ((1, 100), "▂█"),  # any mention shows above an empty bucket
        ((5, 5), "██"),
    ],
)
def test_sparkline(series: tuple[int, ...], line: str) -> None:
    assert sparkline(series) == line


def test_sparkline_sums_adjacent_buckets_to_fit() -> None:
    assert sparkline([1] * 96) == "█" * 48
    assert sparkline([0, 0, 0, 1, 1, 1], width=2) == "▁█"
    # 100 buckets in bars of 3: the oldest bucket is dropped rather than shown as a short bar.
    assert sparkline([99] + [1] * 99) == "█" * 33
    assert len(sparkline(range(1_000))) <= 48


def test_the_trend_section_names_its_span() -> None:
    alert = sample_alert()
    day = replace(alert, finding=replace(alert.finding, series=(1,) * 288))
    trend = [mrkdwn(b) for b in payload(day)["blocks"] if "Mentions, last" in str(b)]

    assert trend == ["*Mentions, last 1d* (one bar per 30m, peak 6)\n`" + "█" * 48 + "`"]


def test_plain_text_headers_read_as_typed_without_entities() -> None:
    # Slack shows a plain_text header as is: an escaped "&" would read "&amp;" (#19 item 2).
    alert = sample_alert()
    alert = replace(alert, finding=replace(alert.finding, title="Spike: Mind & Body, 3x usual"))
    header = payload(alert)["blocks"][0]["text"]
    assert header == {"type": "plain_text", "text": "🔴 CRITICAL · Spike: Mind & Body, 3x usual", "emoji": True}
    for message in (update_payload(alert, "worse", thread=False), resolved_payload(alert, alert.fired_at, thread=False),
                    group_payload([alert, alert]), digest_payload([alert])):
        text = message["blocks"][0]["text"]
        assert text["type"] == "plain_text" and "&amp;" not in text["text"]
