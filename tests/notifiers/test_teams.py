"""Teams over real HTTP to a local sink that checks cards as Teams does: the exact card,
text only in TextRuns, hostile posts, the size limit, both kinds of webhook answer, and
delivery through the sender across outages and refusals."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.errors import NotifyError
from bot.notifiers import blocks
from bot.notifiers.document import read
from bot.notifiers.teams import MAX_BYTES, TeamsNotifier, encode, message
from bot.outbox import deliver
from bot.routing import Routing
from tests.backends import backend, make_store, store  # noqa: F401 - fixtures: both backends
from tests.fakes import teams as teams_fake
from tests.fakes.sink import CONNECTOR_OK, WORKFLOWS_OK, Reply, Sink, connector_error
from tests.notifiers import FIRED, hostile_alert, post, sample_alert
from tests.notifiers.outbox_steps import T0, alert, fire, later, resolve, rows, worsen

SIG = "sIg-Wf0rkflow-5ecret-value"
WORKFLOW_PATH = ("/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
                 f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}")
CONNECTOR_PATH = "/webhookb2/1111-2222@3333-4444/IncomingWebhook/c0nnect0rT0ken99/5555-6666"
MORE_HOSTILE = (
    "<script>alert(1)</script>",
    "**x** [a](javascript:alert(1)) <a href=\"javascript:x\">c</a>",
    "<at>General</at> and @everyone",
    "\u202eevil\u202c שלום مرحبا",
    "y" * 100_000,
)
TEXT_TYPES = {"TextRun"}  # the only element that carries text: never Markdown-parsed
CONTAINER_TYPES = {"RichTextBlock", "Container", "ActionSet", "AdaptiveCard", "Action.OpenUrl", "message"}


@pytest.fixture
def sink():
    with Sink(default=WORKFLOWS_OK, validate=teams_fake.check) as s:
        yield s


def notifier(sink: Sink, **options) -> TeamsNotifier:
    return TeamsNotifier(channels={"alerts": sink.url(WORKFLOW_PATH), "legacy": sink.url(CONNECTOR_PATH)},
                         default_channel="alerts", routing=Routing(default="alerts"),
                         timeout=options.pop("timeout", 2), pace=options.pop("pace", 0), **options)


def run(text: str, **style) -> dict:
    return {"type": "TextRun", "text": text, **style}


def rich(*runs: dict, **extra) -> dict:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def link(text: str, url: str) -> dict:
    return run(text, color="Accent", underline=True, selectAction={"type": "Action.OpenUrl", "url": url})


def small(text: str, **style) -> dict:
    return run(text, **style, size="Small", isSubtle=True)


def walk(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def hostile() -> object:
    base = hostile_alert()
    posts = tuple(post(text=t, author=t[:40], url=u) for t, u in zip(
        MORE_HOSTILE, ("javascript:alert(1)", "https://ok.example/a", "data:text/html,x", "https://ok.example/b",
                       "https://ok.example/c")))
    return replace(base, finding=replace(base.finding, posts=posts + base.finding.posts))


# -- the card


def test_a_typical_alert_is_exactly_this_card(sink):
    notifier(sink).post(blocks.payload(sample_alert(), key="inst-1.12"), "alerts")

    (request,) = sink.requests
    assert request.path == WORKFLOW_PATH and request.header("content-type") == "application/json; charset=utf-8"
    x_url, reddit_url = "https://x.com/angry_customer/status/1", "https://www.reddit.com/r/mindful/comments/abc/?utm=1&ref=2"
    assert request.json() == {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                rich(run("🔴 CRITICAL · Negative spike: Mindful Health, 6.2x usual", size="Large", weight="Bolder")),
                rich(run("31 negative mentions in the last 30m against a usual 5.0 (threshold 3x).")),
                rich(run("Negative mentions", weight="Bolder"), run(": "), run("31"), spacing="None"),
                rich(run("Usual", weight="Bolder"), run(": "), run("5.0 per 30m"), spacing="None"),
                rich(run("Threshold", weight="Bolder"), run(": "), run("3x"), spacing="None"),
                rich(run("Driving terms:", weight="Bolder"), run(" refund, double charge")),
                rich(run("angry_customer", weight="Bolder"), run(" · 12.3k reach · x · 21 Nov 10:02 UTC · "),
                     link("open", x_url), separator=True),
                {"type": "Container", "style": "emphasis", "spacing": "Small",
                 "items": [rich(run("Charged twice & still no refund. Never again!", italic=True))]},
                {"type": "ActionSet", "spacing": "Small",
                 "actions": [{"type": "Action.OpenUrl", "title": "open", "url": x_url}]},
                rich(run("throwaway_42", weight="Bolder"), run(" · 830 reach · reddit · 21 Nov 09:45 UTC · "),
                     link("open", reddit_url)),
                {"type": "Container", "style": "emphasis", "spacing": "Small",
                 "items": [rich(run("Anyone else getting double charges from Mindful?", italic=True))]},
                {"type": "ActionSet", "spacing": "Small",
                 "actions": [{"type": "Action.OpenUrl", "title": "open", "url": reddit_url}]},
                rich(run("Mentions, last 40m", weight="Bolder"), run(" (one bar per 5m, peak 21)")),
                rich(run("▂▁▂▂▂▄▅█", fontType="Monospace"), spacing="Small"),
                rich(small("Rule "), small("negative-spike", weight="Bolder"), small(" · spike")),
                rich(small("Fingerprint "), small("3f9a2c71d0e8", fontType="Monospace"), spacing="None"),
                rich(small("List these mentions: "),
                     small("harkbot mentions --brand mindful --sentiment negative --since 30m", fontType="Monospace"),
                     spacing="None"),
            ],
        },
    }]}
    assert sink.accepted() == sink.requests  # the fake found nothing Teams would refuse


def test_text_is_only_ever_in_text_runs_and_links_only_http():
    payloads = [blocks.payload(sample_alert(), key="k"), blocks.payload(hostile(), key="k"),
                blocks.group_payload([sample_alert(), hostile_alert()], key="k"),
                blocks.digest_payload([sample_alert(id=i) for i in range(40)], key="k", now=FIRED),
                blocks.update_payload(sample_alert(), "worse", thread=False),
                blocks.resolved_payload(sample_alert(), FIRED + timedelta(hours=1), thread=False)]
    for payload in payloads:
        envelope = message(read(payload))
        assert teams_fake.check(encode(envelope)) is None
        for node in walk(envelope):
            kind = node.get("type") or node.get("contentType")
            if kind is None:
                assert node == {"width": "Full"}  # the card's msteams property, the one untyped object
                continue
            assert kind in TEXT_TYPES | CONTAINER_TYPES or kind.startswith("application/"), kind
            # TextBlock and FactSet are read as Markdown by Teams; no text may sit anywhere else.
            assert "text" not in node or kind == "TextRun"
            assert "facts" not in node and "entities" not in json.dumps(node.get("msteams", {}))
            if "url" in node:
                assert node["url"].startswith(("https://", "http://")), node["url"]


def test_hostile_posts_arrive_as_plain_text_runs(sink):
    notifier(sink).post(blocks.payload(hostile(), key="h.1"), "alerts")

    (request,) = sink.requests
    assert request.accepted and len(request.body) <= MAX_BYTES
    card = request.json()["attachments"][0]["content"]
    runs = [n["text"] for n in walk(card["body"]) if n.get("type") == "TextRun"]
    quotes = [n["items"][0]["inlines"][0]["text"] for n in walk(card["body"]) if n.get("style") == "emphasis"]
    assert quotes[:4] == ["<script>alert(1)</script>", "**x** [a](javascript:alert(1)) <a href=\"javascript:x\">c</a>",
                          "<at>General</at> and @everyone", "evil שלום مرحبا"]
    assert quotes[4].startswith("yyyy") and len(quotes[4]) <= blocks.QUOTE_CHARS
    assert not any("\u202e" in t or "\x1b" in t for t in runs)
    urls = [n["url"] for n in walk(card) if "url" in n]
    # Only the posts' own http(s) links: no javascript:, data: or the text's evil.example.
    assert set(urls) == {"https://ok.example/a", "https://ok.example/b", "https://ok.example/c"}
    assert "<!channel>" in json.dumps(card, ensure_ascii=False)  # shown as typed, as text


@pytest.mark.parametrize("build", [
    lambda: blocks.payload(hostile(), key="k"),
    lambda: blocks.group_payload([hostile(), hostile_alert(), hostile()], key="k"),
    lambda: blocks.digest_payload([hostile_alert()] * 40, key="k", now=FIRED),
], ids=["alert", "group", "digest"])
def test_the_worst_alert_still_fits_teams_with_its_head_and_a_note_of_what_was_cut(build):
    payload = build()
    envelope = message(read(payload))
    size = len(encode(envelope))
    assert size <= MAX_BYTES and teams_fake.check(encode(envelope)) is None
    body = envelope["attachments"][0]["content"]["body"]
    assert body[0]["inlines"][0]["text"] == read(payload).title[:300] or body[0]["inlines"][0]["text"].endswith("…")


def test_cutting_keeps_whole_blocks_first_then_drops_from_the_end_and_says_so():
    doc = read(blocks.payload(sample_alert(), key="k"))
    full = message(doc)
    tight = message(doc, max_bytes=len(encode(full)) - 1)
    tiny = message(doc, max_bytes=600)
    assert len(encode(tight)) < len(encode(full))
    last = tiny["attachments"][0]["content"]["body"][-1]["inlines"][0]["text"]
    assert last.startswith("Cut to fit Teams:") and "harkbot alerts render 7 --console" in last
    assert tiny["attachments"][0]["content"]["body"][0]["inlines"][0]["text"].startswith("🔴 CRITICAL")


def test_a_card_too_big_or_of_the_wrong_version_is_what_the_fake_refuses():
    good = message(read(blocks.payload(sample_alert())))
    assert teams_fake.check(encode(good)) is None
    newer = json.loads(encode(good))
    newer["attachments"][0]["content"]["version"] = "1.5"
    assert teams_fake.check(encode(newer)).status == 400
    typo = json.loads(encode(good))
    typo["attachments"][0]["content"]["body"][0]["inlines"][0]["weight"] = "Bold"
    assert teams_fake.check(encode(typo)).status == 400
    assert teams_fake.check(b"{" + b" " * 30_000 + b"}").status == 413


# -- answers from both kinds of webhook


def test_a_legacy_connector_answers_200_one_and_that_is_delivery(sink):
    sink.script(CONNECTOR_OK)
    assert notifier(sink).post(blocks.payload(sample_alert()), "legacy").channel == "legacy"
    assert sink.requests[0].path == CONNECTOR_PATH


@pytest.mark.parametrize(("status", "retryable", "says"), [
    (429, True, "rate limited"), (500, True, "HTTP 500"), (502, True, "HTTP 502"),
    (413, False, "harkbot bug"), (400, False, "Teams refused the card"),
    (404, False, "Workflows webhook"),
])
def test_a_connectors_200_that_says_it_failed_is_the_failure_it_names(sink, status, retryable, says):
    sink.script(connector_error(status))
    with pytest.raises(NotifyError) as caught:
        notifier(sink).post(blocks.payload(sample_alert()), "legacy")
    assert caught.value.retryable is retryable and says in str(caught.value)
    assert "inside an HTTP 200" in str(caught.value) and "c0nnect0rT0ken99" not in str(caught.value)


def test_a_200_saying_delivery_failed_without_a_status_is_a_refusal(sink):
    sink.script(Reply(200, b"Webhook message delivery failed with error: the connector is disabled"))
    with pytest.raises(NotifyError) as caught:
        notifier(sink).post(blocks.payload(sample_alert()), "legacy")
    assert not caught.value.retryable and "connector is disabled" in str(caught.value)


# -- through the sender, exactly once


def test_an_outage_delivers_exactly_once_when_teams_is_back(sink, store):
    fire(store, alert(), ("teams",))
    notifiers = {"teams": notifier(sink)}
    sink.script(Reply(500), Reply(503), connector_error(429), Reply(500))

    now = T0
    for _ in range(4):
        assert deliver(store, notifiers, now) == (0, 1)
        now += timedelta(minutes=10)
    assert deliver(store, notifiers, now) == (1, 0)
    assert deliver(store, notifiers, now + timedelta(hours=1)) == (0, 0)

    assert len(sink.requests) == 5 and len(sink.accepted()) == 1
    assert len({r.body for r in sink.requests}) == 1  # the same card each time
    assert [r[1] for r in rows(store)] == ["sent"]


def test_follow_ups_are_cards_of_their_own(sink, store):
    alert_id = fire(store, alert(), ("teams",))
    notifiers = {"teams": notifier(sink)}
    deliver(store, notifiers, T0)
    worsen(store, alert_id, later(5))
    resolve(store, alert_id, later(60))
    deliver(store, notifiers, later(60))

    titles = [r.json()["attachments"][0]["content"]["body"][0]["inlines"][0]["text"] for r in sink.accepted()]
    assert [t.split(" · ")[0] for t in titles] == ["🔴 CRITICAL", "📈 UPDATE", "✅ RESOLVED"]


def test_a_429_waits_for_retry_after(sink, store):
    fire(store, alert(), ("teams",))
    notifiers = {"teams": notifier(sink)}
    sink.script(Reply(429, headers={"Retry-After": "45"}))

    assert deliver(store, notifiers, T0) == (0, 1)
    assert deliver(store, notifiers, T0 + timedelta(seconds=44)) == (0, 0)
    assert deliver(store, notifiers, T0 + timedelta(seconds=45)) == (1, 0)
    assert len(sink.requests) == 2


def test_a_400_is_dead(sink, store):
    fire(store, alert(), ("teams",))
    sink.script(Reply(400, b'{"error":{"code":"TriggerInputSchemaMismatch","message":"bad input"}}'))

    assert deliver(store, {"teams": notifier(sink)}, T0) == (0, 1)

    (_, status, error), = rows(store)
    assert status == "dead" and "TriggerInputSchemaMismatch" in error
    assert deliver(store, {"teams": notifier(sink)}, later(30)) == (0, 0)


def test_the_url_signature_is_in_no_error_and_no_log_record(sink, store, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # a CLI test before may have quietened it
    fire(store, alert(), ("teams",))
    sink.script(Reply(403, f"signature {SIG} is invalid for {WORKFLOW_PATH}".encode()))
    deliver(store, {"teams": notifier(sink)}, T0)
    slow = notifier(sink, timeout=0.3)
    sink.script(Reply(202, delay=1))
    with pytest.raises(NotifyError) as timed_out:
        slow.post(blocks.payload(sample_alert()), "alerts")

    errors = [rows(store)[0][2], str(timed_out.value)]
    assert "copy the webhook URL again into notifiers.teams.channels.alerts" in errors[0]
    assert timed_out.value.retryable and "http://127.0.0.1:" in errors[1] and "/…" in errors[1]
    logged = [r.getMessage() for r in caplog.records]
    assert any("POST" in m and "…" in m for m in logged)  # urllib3's request line, redacted
    for text in errors + logged:
        assert SIG not in text and "0a1b2c3d4e5f" not in text


def test_bad_config_is_refused_without_quoting_the_url():
    with pytest.raises(ValueError) as caught:
        TeamsNotifier(channels={"alerts": f"outlook.office.com/webhook/{SIG}"}, default_channel="alerts")
    assert SIG not in str(caught.value) and "notifiers.teams.channels.alerts" in str(caught.value)


def test_an_unknown_channel_is_a_refusal_naming_the_config_key(sink):
    with pytest.raises(NotifyError) as caught:
        notifier(sink).post(blocks.payload(sample_alert()), "crisis")
    assert not caught.value.retryable and "notifiers.teams.channels" in str(caught.value)
    assert sink.requests == []


def test_teams_is_paced_under_its_four_a_second(sink):
    slept: list[float] = []
    teams = notifier(sink, pace=0.25, sleep=slept.append)
    for _ in range(3):
        teams.post(blocks.payload(sample_alert()), "alerts")
    assert len(slept) == 2 and all(0 < s <= 0.25 for s in slept)


def test_a_receiver_echoing_one_token_segment_of_the_path_is_redacted_too(sink):
    sink.script(Reply(400, b"unknown webhook c0nnect0rT0ken99 (sig=" + SIG.encode() + b")"))
    with pytest.raises(NotifyError) as caught:
        notifier(sink).post(blocks.payload(sample_alert()), "legacy")
    assert "unknown webhook … (sig=…)" in str(caught.value)
