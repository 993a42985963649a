"""Alerts for the notifier tests: a typical one, and one built from hostile posts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.models import UTC, Alert, Finding, Post

FIRED = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)

HOSTILE_TEXTS = (
    "<!channel> everyone look",
    "<!here|here> now",
    "hey <@U123> and <#C999|general>",
    "<https://evil.example|bank.com> log in here",
    "already &lt;escaped&gt; &amp; text",
    "\u202egnp.exe\u202c override, zero\u200bwidth, family 👩\u200d👩\u200d👧 and 🇺🇦",
    "```code``` *bold* _it_ ~strike~ `tick`\n> fake quote\n• list\n\n\nend",
    "\x1b[31mansi red\x1b[0m [bold red]rich markup[/]",
    "x" * 10_000,
    "&" * 10_000,
)
HOSTILE_URLS = (
    "https://example.com/fine",
    "https://evil.example|bank.com",
    "javascript:alert(1)",
    "https://ok.example/<script>",
    "https://example.com/" + "a&" * 2000,
    "https://example.com/q?a=1&b=2",
)


def post(**changes: Any) -> Post:
    base = Post(
        platform="x",
        author="angry_customer",
        text="Charged twice & still no refund.\nNever again!",
        url="https://x.com/angry_customer/status/1",
        created_at=FIRED - timedelta(minutes=3),
        author_reach=12_345,
        engagement=40,
        label="negative",
    )
    return replace(base, **changes)


def sample_alert(**changes: Any) -> Alert:
    finding = Finding(
        group="mindful",
        title="Negative spike: Mindful Health, 6.2x usual",
        reason="31 negative mentions in the last 30m against a usual 5.0 (threshold 3x).",
        observed=31,
        usual=5.0,
        window_start=FIRED - timedelta(minutes=30),
        window_end=FIRED,
        facts=(("Negative mentions", "31"), ("Usual", "5.0 per 30m"), ("Threshold", "3x")),
        posts=(
            post(),
            post(
                platform="reddit",
                author="throwaway_42",
                text="Anyone else getting double charges from Mindful?",
                url="https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2",
                created_at=FIRED - timedelta(minutes=20),
                author_reach=830,
                engagement=12,
            ),
        ),
        terms=("refund", "double charge"),
        series=(1, 0, 2, 1, 3, 8, 13, 21),
    )
    base = Alert(
        id=7,
        fingerprint="3f9a2c71d0e84b56",
        rule="negative-spike",
        kind="spike",
        severity="critical",
        brand="mindful",
        channel="alerts",
        fired_at=FIRED,
        finding=finding,
        search="harkbot mentions --brand mindful --sentiment negative --since 30m",
    )
    return replace(base, **changes)


def hostile_alert() -> Alert:
    """Every outside string hostile, oversized and overabundant at once."""
    posts = tuple(
        post(
            author=("<!channel>", "<@U123>", "\u202eeviL", "x" * 5_000)[i % 4],
            text=HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)],
            url=HOSTILE_URLS[i % len(HOSTILE_URLS)],
            platform="<!here>" * 50,
        )
        for i in range(60)
    )
    alert = sample_alert(rule="<!channel>", kind="<@U123>", search="harkbot q '<!here>'")
    finding = replace(
        alert.finding,
        title="Spike: <!channel> & <https://evil.example|bank.com> " + "&" * 300,
        reason="<!here> " * 1_000,
        facts=tuple((f"<!channel> {i}" * 50, "<@U123>" * 500) for i in range(15)),
        posts=posts,
        terms=tuple(f"<!here> {t}" for t in HOSTILE_TEXTS) * 3,
        series=tuple(range(1_000)),
    )
    return replace(alert, finding=finding)
