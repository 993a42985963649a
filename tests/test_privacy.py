"""bot.privacy: e-mail, phone and handle redaction, and how authors show in shared channels."""

from __future__ import annotations

import time

import pytest

from bot.privacy import HandlePolicy, Redaction, author_label, redact

POLICY = HandlePolicy.of(["MindfulHealth", "@TheraNow", "BigWellnessCoach"])


@pytest.mark.parametrize("text, expected", [
    ("call +1 (555) 123-4567 now", "call [phone] now"),
    ("my cell is 555-123-4567.", "my cell is [phone]."),
    ("555.123.4567 or 1-800-555-0199", "[phone] or [phone]"),
    ("UK office +44 20 7946 0958", "UK office [phone]"),
    ("ring 0151 496 0000 after 5", "ring [phone] after 5"),
    ("020 7946 0958", "[phone]"),
    ("appelle le 06 12 34 56 78", "appelle le [phone]"),
    ("+33 6 12 34 56 78 und 030 1234567", "[phone] und [phone]"),
    ("0044 20 7946 0958", "[phone]"),
    ("text me at 5551234567", "text me at [phone]"),
    ("+14155551234", "[phone]"),
    ("+44 (0)20 7946 0958", "[phone]"),
])
def test_phone_numbers_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize("text", [
    "session on 2024-05-01 at 10:00",
    "2024-05-01T10:00:00Z",
    "01.05.2024 10:30",
    "05/01/2024",
    "paid $1,299.00 for 12 sessions",
    "€120, or £109 a month",
    "order 5551234567 never arrived",
    "ticket #5551234567",
    "v1.2.3 and build 10.0.19045.2965",
    "3 hour hold",
    "10-20 minutes late",
    "in 2019 2020 2021 and 2022",
    "192.168.100.200",
    "1234567890123456789 digits",
    "555-1234",
    "99.9% uptime, 12 34 56",
])
def test_things_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize("text, expected", [
    ("mail jane.doe@example.co.uk today", "mail [email] today"),
    ("<mailto:x@y.com|x@y.com>", "<[email]|[email]>"),
    ("jane [at] example [dot] com", "[email]"),
    ("jane(at)example(dot)co(dot)uk!", "[email]!"),
    ("reach jane at example dot com", "reach [email]"),
    ("jane%40example.com", "[email]"),
    ("JANE@EXAMPLE.ORG.", "[email]."),
])
def test_emails_and_obfuscated_emails_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize("text", ["look at this dot com bubble", "meet at noon", "a@b", "@@@"])
def test_not_emails(text: str) -> None:
    assert redact(text).emails == 0


def test_odd_unicode_is_seen_through_and_only_the_match_is_replaced() -> None:
    text = "hi 💙 ja\u200bne@exa\u200bmple.com and ５５５-１２３-４５６７ \u200bbye"
    r = redact(text)
    assert r.text == "hi 💙 [email] and [phone] \u200bbye"
    assert (r.emails, r.phones) == (1, 1)
    assert redact("555\u200b-123\u2060-4567").text == "[phone]"
    assert redact("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ").text == "[email]"


def test_handles_of_private_people_go_and_kept_handles_stay() -> None:
    r = redact("@MindfulHealth thanks, @jane_doe and @BIGWELLNESSCOACH! also u/throwaway123 and /u/Foo_Bar",
               handles=POLICY)
    assert r.text == "@MindfulHealth thanks, @[user] and @BIGWELLNESSCOACH! also u/[user] and u/[user]"
    assert r.handles == 3 and r.counts == {"email": 0, "phone": 0, "handle": 3}
    assert redact("u/theranow said hi", handles=POLICY).text == "u/theranow said hi"
    assert redact("@jane hi").text == "@jane hi"  # no policy: handles are left alone


def test_an_email_is_not_a_handle_even_when_emails_are_kept() -> None:
    assert redact("jane@example.com @bob", emails=False, handles=POLICY).text == "jane@example.com @[user]"
    assert redact("jane@example.com @bob", handles=POLICY).text == "[email] @[user]"


def test_kinds_can_be_switched_off() -> None:
    text = "jane@example.com 555-123-4567"
    assert redact(text, emails=False).text == "jane@example.com [phone]"
    assert redact(text, phones=False).text == "[email] 555-123-4567"
    assert redact(text, emails=False, phones=False) == Redaction(text)


def test_redaction_is_frozen() -> None:
    with pytest.raises(AttributeError):
        redact("x").text = "y"  # type: ignore[misc]


@pytest.mark.parametrize("hostile", [
    "1-" * 50000, "a@" * 50000, "@" * 100000, "1" * 100000, "1 " * 50000, "a" * 100000,
    "a." * 50000, "%40" * 33000, "+1 " * 33000, "(1) " * 25000, "u/" * 50000, "x@y." * 25000,
    "a [at] " * 15000, "a at b dot " * 10000, "５-" * 50000, "5\u200b" * 50000,
    "a" * 60 + "@" + "b." * 50000, "a@b.co " * 14000, "555-123-4567 " * 7600, "@ab " * 25000,
])
def test_hostile_100kb_inputs_finish_well_under_a_second(hostile: str) -> None:
    start = time.perf_counter()
    redact(hostile, handles=POLICY)
    assert time.perf_counter() - start < 0.75


def test_author_labels() -> None:
    assert author_label("jane", 312, "x", POLICY) == "an X user (312 followers)"
    assert author_label("jane", 1, "x", POLICY) == "an X user (1 follower)"
    assert author_label("jane", 0, "x", POLICY) == "an X user"
    assert author_label("jane", 25_000, "x", POLICY) == "@jane"
    assert author_label("bigwellnesscoach", 40, "x", POLICY) == "@bigwellnesscoach"
    assert author_label("calm corner", 12, "youtube", POLICY) == "a YouTube user (12 subscribers)"
    assert author_label("calm corner", 12_000, "youtube", POLICY) == "calm corner"
    # Reddit's reach is the subreddit's audience, never the person's: only the keep list shows one.
    assert author_label("throwaway", 31_200, "reddit", POLICY) == "a Reddit user (in a community of 31,200)"
    assert author_label("TheraNow", 31_200, "reddit", POLICY) == "u/TheraNow"
    strict = HandlePolicy.of(public_reach=1_000_000)
    assert author_label("jane", 25_000, "x", strict) == "an X user (25,000 followers)"
