"""The generic webhook over real HTTP to a local sink: the exact body, its JSON Schema, the
signature, hostile posts, and delivery through the sender across outages and refusals."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import timedelta

import jsonschema
import pytest

from bot.errors import NotifyError, NotSent
from bot.notifiers import blocks
from bot.notifiers.document import read
from bot.notifiers.http_post import retry_after, safe_url
from bot.notifiers.webhook import SCHEMA_ID, WebhookNotifier, build, schema, sign, verify
from bot.outbox import deliver
from bot.routing import Routing
from tests.backends import backend, make_store, store  # noqa: F401 - fixtures: both backends
from tests.fakes.sink import Reply, Sink
from tests.notifiers import FIRED, HOSTILE_TEXTS, hostile_alert, post, sample_alert
from tests.notifiers.outbox_steps import T0, alert, fire, later, resolve, rows, worsen

SECRET = "whsec-test-0123456789"
TOKEN = "tok3n-ZX81-never-shown"
NOW = FIRED.timestamp()
# What a post may say: markup of every kind, a script, an RTL override, and 100 KB of it.
MORE_HOSTILE = (
    "<script>alert(1)</script>",
    "**x** [a](javascript:alert(1)) [b](https://evil.example) <a href=\"javascript:x\">c</a>",
    "<at>General</at> and @everyone",
    "\u202eevil\u202c שלום مرحبا",
    "y" * 100_000,
)


@pytest.fixture
def sink():
    with Sink(default=Reply(202)) as s:
        yield s


def hook(sink: Sink, **options) -> WebhookNotifier:
    options.setdefault("secret", SECRET)
    return WebhookNotifier(
        channels={"alerts": sink.url(f"/hooks/alerts?token={TOKEN}"), "ops": sink.url(f"/hooks/ops/{TOKEN}")},
        default_channel="alerts", routing=Routing(default="alerts"), timeout=options.pop("timeout", 2),
        clock=options.pop("clock", lambda: NOW), **options)


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def urls(value) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "url"] + [u for v in value.values() for u in urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in urls(v)]
    return []


# -- the body


def test_a_typical_alert_arrives_as_exactly_this_body(sink):
    hook(sink).post(blocks.payload(sample_alert(), key="inst-1.12"), "alerts")

    (request,) = sink.requests
    assert request.method == "POST" and request.path == f"/hooks/alerts?token={TOKEN}"
    assert request.header("content-type") == "application/json; charset=utf-8"
    text = lambda t: {"text": t, "quote": False, "spans": [{"text": t}]}  # noqa: E731
    assert request.json() == {
        "schema": "harkbot.alert.v1",
        "delivery_id": "inst-1.12",
        "sent_at": "2026-11-21T10:05:00Z",
        "channel": "alerts",
        "alert_id": 7,
        "alert_ids": [7],
        "fingerprint": "3f9a2c71d0e84b56",
        "state": "firing",
        "title": "🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual",
        "summary": "CRITICAL: Negative spike: Mindful Health, 6.2x usual",
        "text": (
            "🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual\n" + "=" * 55 + "\n\n"
            "31 negative mentions in the last 30m against a usual 5.0 (threshold 3x).\n\n"
            "Negative mentions 31\nUsual 5.0 per 30m\nThreshold 3x\n\n"
            "Driving terms: refund, double charge\n\n" + "-" * 24 + "\n"
            "angry_customer · 12.3k reach · x · 21 Nov 10:02 UTC · open (https://x.com/angry_customer/status/1)\n"
            "> Charged twice & still no refund. Never again!\n\n"
            "throwaway_42 · 830 reach · reddit · 21 Nov 09:45 UTC · open "
            "(https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2)\n"
            "> Anyone else getting double charges from Mindful?\n\n"
            "Mentions, last 40m (one bar per 5m, peak 21)\n▂▁▂▂▂▄▅█\n\n"
            "Rule negative-spike · spike\nFingerprint 3f9a2c71d0e8\n"
            "List these mentions: harkbot mentions --brand mindful --sentiment negative --since 30m\n"
        ),
        "parts": [
            {"kind": "text", "lines": [text("31 negative mentions in the last 30m against a usual 5.0 (threshold 3x).")]},
            {"kind": "fields", "fields": [{"label": "Negative mentions", "value": "31"},
                                          {"label": "Usual", "value": "5.0 per 30m"},
                                          {"label": "Threshold", "value": "3x"}]},
            {"kind": "text", "lines": [{"text": "Driving terms: refund, double charge", "quote": False,
                                        "spans": [{"text": "Driving terms:", "bold": True},
                                                  {"text": " refund, double charge"}]}]},
            {"kind": "divider"},
            {"kind": "text", "lines": [
                {"text": "angry_customer · 12.3k reach · x · 21 Nov 10:02 UTC · open", "quote": False,
                 "spans": [{"text": "angry_customer", "bold": True},
                           {"text": " · 12.3k reach · x · 21 Nov 10:02 UTC · "},
                           {"text": "open", "url": "https://x.com/angry_customer/status/1"}]},
                {**text("Charged twice & still no refund. Never again!"), "quote": True}]},
            {"kind": "text", "lines": [
                {"text": "throwaway_42 · 830 reach · reddit · 21 Nov 09:45 UTC · open", "quote": False,
                 "spans": [{"text": "throwaway_42", "bold": True},
                           {"text": " · 830 reach · reddit · 21 Nov 09:45 UTC · "},
                           {"text": "open", "url": "https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2"}]},
                {**text("Anyone else getting double charges from Mindful?"), "quote": True}]},
            {"kind": "text", "lines": [
                {"text": "Mentions, last 40m (one bar per 5m, peak 21)", "quote": False,
                 "spans": [{"text": "Mentions, last 40m", "bold": True}, {"text": " (one bar per 5m, peak 21)"}]},
                {"text": "▂▁▂▂▂▄▅█", "quote": False, "spans": [{"text": "▂▁▂▂▂▄▅█", "code": True}]}]},
            {"kind": "context", "lines": [
                {"text": "Rule negative-spike · spike", "quote": False,
                 "spans": [{"text": "Rule "}, {"text": "negative-spike", "bold": True}, {"text": " · spike"}]},
                {"text": "Fingerprint 3f9a2c71d0e8", "quote": False,
                 "spans": [{"text": "Fingerprint "}, {"text": "3f9a2c71d0e8", "code": True}]},
                {"text": "List these mentions: harkbot mentions --brand mindful --sentiment negative --since 30m",
                 "quote": False,
                 "spans": [{"text": "List these mentions: "},
                           {"text": "harkbot mentions --brand mindful --sentiment negative --since 30m",
                            "code": True}]}]},
        ],
        "links": [{"label": "open", "url": "https://x.com/angry_customer/status/1"},
                  {"label": "open", "url": "https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2"}],
    }
    # UTF-8 on the wire, not \u escapes: what is signed is what a receiver reads.
    assert "🔴".encode() in request.body and b"\\u" not in request.body


def test_every_kind_of_message_matches_the_schema():
    validator().check_schema(schema())
    a, b = sample_alert(), sample_alert(id=8, severity="info", state="resolved")
    hostile = replace(hostile_alert(), finding=replace(
        hostile_alert().finding, posts=tuple(post(text=t, author=t[:50]) for t in MORE_HOSTILE + HOSTILE_TEXTS)))
    payloads = [
        blocks.payload(a, key="i.1"),
        blocks.payload(sample_alert(id=None), key="i.2"),  # not saved: no id
        blocks.group_payload([a, b], key="i.3"),
        blocks.update_payload(a, "worse", key="i.4", thread=False),
        blocks.resolved_payload(a, FIRED + timedelta(hours=2), key="i.5", thread=False),
        blocks.digest_payload([a, b] * 30, key="i.6", now=FIRED),
        blocks.payload(hostile, key="i.7"),
        blocks.group_payload([hostile, hostile_alert()], key="i.8"),
        {"text": "bare"},  # no blocks, no metadata: still a valid body
    ]
    for payload in payloads:
        body = build(read(payload), channel=None, now=NOW)
        errors = [e.message for e in validator().iter_errors(body)]
        assert errors == [], (payload.get("text"), errors)
    assert build(read({"text": "bare"}), channel=None, now=NOW)["delivery_id"].startswith("sha256-")


def test_the_schema_refuses_what_the_docs_say_a_receiver_never_gets():
    good = build(read(blocks.payload(sample_alert(), key="i.1")), channel="alerts", now=NOW)
    bad_link = {**good, "links": [{"label": "x", "url": "javascript:alert(1)"}]}
    bad_schema = {**good, "schema": "harkbot.alert.v2"}
    missing = {k: v for k, v in good.items() if k != "delivery_id"}
    for body in (bad_link, bad_schema, missing, {**good, "surprise": 1}):
        assert list(validator().iter_errors(body)), body.keys()


def test_the_schema_file_is_what_the_docs_and_the_code_say():
    text = schema()
    assert text["properties"]["schema"]["const"] == SCHEMA_ID
    assert set(text["required"]) <= set(build(read({"text": "x"}), channel=None, now=NOW))


# -- the signature


def test_the_signature_verifies_and_a_tampered_body_does_not(sink):
    hook(sink).post(blocks.payload(sample_alert(), key="inst-1.12"), None)

    (request,) = sink.requests
    stamp, signature = request.header("x-harkbot-timestamp"), request.header("x-harkbot-signature")
    assert stamp == str(int(NOW)) and request.header("x-harkbot-delivery") == "inst-1.12"
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature)
    assert verify(SECRET, request.body, stamp, signature, now=NOW + 10)

    tampered = request.body.replace(b"Mindful", b"Mindfull", 1)
    assert not verify(SECRET, tampered, stamp, signature, now=NOW)
    assert not verify("another-secret", request.body, stamp, signature, now=NOW)
    assert not verify(SECRET, request.body, str(int(NOW) + 1), signature, now=NOW)  # the stamp is signed too
    assert not verify(SECRET, request.body, stamp, signature, now=NOW + 301)  # a replay, too late
    assert not verify(SECRET, request.body, "soon", signature, now=NOW)
    # Independent of our sign(): HMAC-SHA256 over "TIMESTAMP.BODY", as the docs tell receivers.
    import hashlib
    import hmac
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}" == sign(SECRET, stamp, request.body)


def test_without_a_secret_there_is_no_signature_but_still_a_delivery_id(sink):
    hook(sink, secret=None).post(blocks.payload(sample_alert(), key="k.1"), "ops")
    (request,) = sink.requests
    assert request.path == f"/hooks/ops/{TOKEN}"
    assert request.header("x-harkbot-signature") is None and request.header("x-harkbot-delivery") == "k.1"


# -- hostile posts


def test_hostile_posts_arrive_only_as_plain_strings_and_http_links(sink):
    base = hostile_alert()
    hostile = replace(base, finding=replace(base.finding, posts=tuple(
        post(text=t, url=u) for t, u in zip(MORE_HOSTILE, ("javascript:alert(1)", "https://ok.example/a",
                                                           "data:text/html,x", "https://ok.example/b",
                                                           "https://ok.example/c")))))
    notifier = hook(sink)
    notifier.post(blocks.payload(hostile, key="h.1"), "alerts")
    notifier.post(blocks.payload(hostile_alert(), key="h.2"), "alerts")

    for request in sink.requests:
        body = request.json()
        assert not list(validator().iter_errors(body))
        assert all(re.match(r"https?://", u) for u in urls(body)), urls(body)
        said = strings(body)
        assert not any("\u202e" in s or "\x1b" in s for s in said)
        assert len(request.body) < 64_000  # 100 KB of post is cut to a quote's length
    quotes = [line["text"] for p in sink.requests[0].json()["parts"] for line in p.get("lines", ()) if line["quote"]]
    # Shown as typed: the markup is text for the receiver to escape, not something we rendered.
    assert quotes[:4] == ["<script>alert(1)</script>",
                          "**x** [a](javascript:alert(1)) [b](https://evil.example) <a href=\"javascript:x\">c</a>",
                          "<at>General</at> and @everyone", "evil שלום مرحبا"]
    assert quotes[4] == "y" * (blocks.QUOTE_CHARS - 1) + "…"
    links = sink.requests[0].json()["links"]
    assert [link["url"] for link in links] == ["https://ok.example/a", "https://ok.example/b", "https://ok.example/c"]


# -- through the sender, exactly once


def test_an_outage_is_retried_with_one_delivery_id_and_delivers_once(sink, store):
    fire(store, alert(), ("webhook",))
    notifiers = {"webhook": hook(sink)}
    sink.script(Reply(500), Reply(503, b"upstream down"), Reply(502))

    now = T0
    for _ in range(3):
        assert deliver(store, notifiers, now) == (0, 1)
        now += timedelta(minutes=10)
    assert rows(store)[0][:2] == ("alert", "pending") and "HTTP 502" in rows(store)[0][2]
    assert deliver(store, notifiers, now) == (1, 0)
    assert deliver(store, notifiers, now + timedelta(hours=1)) == (0, 0)

    assert len(sink.requests) == 4 and len(sink.accepted()) == 1
    assert {r.header("x-harkbot-delivery") for r in sink.requests} == {f"{store.instance()}.1"}
    assert rows(store)[0][:2] == ("alert", "sent")


def test_a_timeout_whose_message_arrived_is_resent_with_the_same_id_for_the_receiver_to_drop(sink, store):
    fire(store, alert(), ("webhook",))
    notifiers = {"webhook": hook(sink, timeout=0.5)}
    sink.script(Reply(202, delay=2))  # the receiver takes it, the answer comes too late

    assert deliver(store, notifiers, T0) == (0, 1)
    assert "no answer within 0.5s" in rows(store)[0][2]
    assert deliver(store, notifiers, later(5)) == (1, 0)

    ids = [r.header("x-harkbot-delivery") for r in sink.accepted()]
    assert len(ids) == 2 and len(set(ids)) == 1  # at least once, and a dedupe key that makes it once


def test_follow_ups_are_messages_of_their_own(sink, store):
    alert_id = fire(store, alert(), ("webhook",))
    notifiers = {"webhook": hook(sink)}
    deliver(store, notifiers, T0)
    worsen(store, alert_id, later(5))
    resolve(store, alert_id, later(60))
    deliver(store, notifiers, later(60))

    bodies = [r.json() for r in sink.requests]
    assert [b["title"].split(" · ")[0] for b in bodies] == ["🔴 CRITICAL", "📈 UPDATE", "✅ RESOLVED"]
    assert [b["state"] for b in bodies] == ["firing", "firing", "resolved"]
    assert len({b["delivery_id"] for b in bodies}) == 3 and {b["alert_id"] for b in bodies} == {alert_id}
    assert [r[1] for r in rows(store)] == ["sent", "sent", "sent"]


def test_a_429_waits_for_retry_after(sink, store):
    fire(store, alert(), ("webhook",))
    notifiers = {"webhook": hook(sink)}
    sink.script(Reply(429, headers={"Retry-After": "30"}))

    assert deliver(store, notifiers, T0) == (0, 1)
    assert deliver(store, notifiers, T0 + timedelta(seconds=29)) == (0, 0)
    assert len(sink.requests) == 1
    assert deliver(store, notifiers, T0 + timedelta(seconds=30)) == (1, 0)
    assert len(sink.accepted()) == 1


def test_retry_after_is_seconds_or_an_http_date():
    assert retry_after({"Retry-After": "12"}, NOW) == 12
    assert retry_after({"retry-after": "Sat, 21 Nov 2026 10:06:30 GMT"}, NOW) == 90
    assert retry_after({"Retry-After": "Sat, 21 Nov 2026 10:00:00 GMT"}, NOW) == 0  # already past
    assert retry_after({"Retry-After": "999999"}, NOW) == 3600  # capped
    assert retry_after({"Retry-After": "soon"}, NOW) is None
    assert retry_after({}, NOW) is None


@pytest.mark.parametrize(("reply", "retryable", "says"), [
    (Reply(400, b"missing field"), False, "HTTP 400 from http://127.0.0.1:"),
    (Reply(401), False, "check notifiers.webhook.channels.alerts"),
    (Reply(404), False, "create a new one and update notifiers.webhook.channels.alerts"),
    (Reply(413), False, "harkbot bug"),
    (Reply(302, headers={"Location": "https://elsewhere.example/"}), False, "redirects"),
    (Reply(408), True, "HTTP 408"),
    (Reply(500), True, "HTTP 500"),
    (Reply(503, headers={"Retry-After": "7"}), True, "HTTP 503"),
    (Reply(429), True, "rate limited"),
])
def test_each_answer_means_what_http_says(sink, reply, retryable, says):
    sink.script(reply)
    with pytest.raises(NotifyError) as caught:
        hook(sink).post(blocks.payload(sample_alert(), key="k"), "alerts")
    assert caught.value.retryable is retryable and says in str(caught.value)
    assert str(caught.value).startswith("webhook: ")
    assert len(sink.requests) == 1  # one request: the sender owns retries, a redirect is not followed
    if reply.status == 503:
        assert caught.value.retry_after == 7


def test_a_400_is_dead_and_says_which_key_to_check(sink, store):
    fire(store, alert(), ("webhook",))
    sink.script(Reply(400, b'{"error": "unknown field alert_ids"}'))

    assert deliver(store, {"webhook": hook(sink)}, T0) == (0, 1)

    (action, status, error), = rows(store)
    assert status == "dead" and "notifiers.webhook.channels.alerts" in error and "unknown field" in error
    assert deliver(store, {"webhook": hook(sink)}, later(30)) == (0, 0) and len(sink.requests) == 1


def test_the_url_token_is_in_no_error_and_no_log_record(sink, store, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # a CLI test before may have quietened it
    fire(store, alert(), ("webhook",))
    fire(store, alert("other", channel="ops", at=later(1)), ("webhook",))
    # A receiver that echoes the URL back, then one that is not there at all.
    sink.script(Reply(400, f"bad request to /hooks/alerts?token={TOKEN}".encode()))
    notifiers = {"webhook": hook(sink)}
    deliver(store, notifiers, later(1))
    closed = WebhookNotifier(channels={"alerts": f"http://127.0.0.1:9/hooks?token={TOKEN}"},
                             default_channel="alerts", secret=SECRET, timeout=1)
    with pytest.raises(NotifyError) as caught:
        closed.post(blocks.payload(sample_alert(), key="k"), None)

    errors = [r[2] or "" for r in rows(store)] + [str(caught.value)]
    assert "bad request to …" in errors[0] and "could not reach http://127.0.0.1:9/…" in errors[2]
    logged = [r.getMessage() for r in caplog.records]
    assert any("POST" in m for m in logged if "…" in m)  # urllib3's request line was logged, redacted
    for text in errors + logged:
        assert TOKEN not in text and SECRET not in text
    assert caught.value.__suppress_context__  # requests' exception, which quotes the URL, is dropped


def test_bad_config_is_refused_without_quoting_the_url():
    with pytest.raises(ValueError) as caught:
        WebhookNotifier(channels={"alerts": f"ftp://host/{TOKEN}"}, default_channel="alerts", secret=None)
    assert TOKEN not in str(caught.value) and "notifiers.webhook.channels.alerts" in str(caught.value)
    with pytest.raises(ValueError, match="default_channel"):
        WebhookNotifier(channels={"alerts": "https://h.example/x"}, default_channel="nope", secret=None)
    assert safe_url(f"https://user:pw@hooks.example:8443/a/{TOKEN}?sig={TOKEN}") == "https://hooks.example:8443/…"


def test_an_unknown_channel_is_a_refusal_naming_the_config_key(sink):
    with pytest.raises(NotifyError) as caught:
        hook(sink).post(blocks.payload(sample_alert()), "crisis")
    assert not caught.value.retryable and "notifiers.webhook.channels" in str(caught.value)
    assert "known: alerts, ops" in str(caught.value) and sink.requests == []


def test_ready_is_asked_last_and_no_means_nothing_is_sent(sink):
    with pytest.raises(NotSent):
        hook(sink).post(blocks.payload(sample_alert()), "alerts", ready=lambda: False)
    assert sink.requests == []


def test_posts_to_one_url_are_paced(sink):
    slept: list[float] = []
    notifier = hook(sink, pace=0.5, sleep=slept.append)
    for _ in range(3):
        notifier.post(blocks.payload(sample_alert()), "alerts")
    notifier.post(blocks.payload(sample_alert()), "ops")
    assert len(slept) == 2 and all(0 < s <= 0.5 for s in slept)
    assert json.loads(sink.requests[-1].body)["channel"] == "ops"


def test_edit_and_find_do_nothing(sink):
    notifier = hook(sink)
    notifier.edit(blocks.payload(sample_alert()), "alerts", None, None)
    assert notifier.find("k", "alerts", FIRED) is None and sink.requests == []
    assert notifier.threads is False and notifier.name == "webhook"
