"""The email notifier against a real SMTP server (aiosmtpd, tests/fakes/smtp.py): STARTTLS with
a login, both bodies, hostile posts escaped, reply codes mapped, and an outage through the
outbox delivered once."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.errors import NotifyError, NotSent
from bot.models import UTC
from bot.notifiers import blocks
from bot.notifiers.document import Document, Line, Part, Span, plain_text, read
from bot.notifiers.email import MAX_SUBJECT, EmailNotifier, html_body, message_id, subject
from bot.outbox import deliver
from bot.routing import Routing
from bot.store import RuleState, Store
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.fakes.smtp import FakeSMTP, free_port, self_signed
from tests.notifiers import hostile_alert, post, sample_alert

T0 = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)
PASSWORD = "s3cret-Pa55word-xyz"
SENDER = "Harkbot <alerts@example.com>"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(cert):
    with FakeSMTP(tls=cert, users={"harkbot": PASSWORD}) as server:
        yield server


def notifier(server: FakeSMTP, cert: tuple[Path, Path], **options) -> EmailNotifier:
    settings = dict(host="127.0.0.1", port=server.port, security="starttls", username="harkbot",
                    password=PASSWORD, sender=SENDER, channels={"alerts": ["team@example.com"]},
                    default_channel="alerts", timeout=5, ca_file=str(cert[0]), routing=Routing(default="alerts"),
                    clock=lambda: T0 + timedelta(seconds=30))
    settings.update(options)
    return EmailNotifier(**settings)


def fire(store: Store, a, at: datetime = T0) -> int:
    state = RuleState(a.fingerprint, a.rule, a.brand, "firing", at, None, None, at)
    alert_id = store.save_state(state, replace(a, fired_at=at, id=None), ["email"], at)
    assert alert_id is not None
    return alert_id


def statuses(store: Store) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql(store, "SELECT action, status FROM outbox ORDER BY id")]


# -- what arrives


def test_a_typical_alert_arrives_over_starttls_with_subject_both_parts_and_links(smtp, cert):
    payload = blocks.payload(sample_alert(), key="inst.12")
    posted = notifier(smtp, cert).post(payload, "alerts")

    assert posted.channel == "alerts"
    (got,) = smtp.received
    assert got.tls and got.login == "harkbot"
    assert got.mail_from == "alerts@example.com" and got.rcpt_tos == ("team@example.com",)
    mail = got.message
    assert mail["Subject"] == "CRITICAL: Negative spike: Mindful Health, 6.2x usual"
    assert mail["From"] == SENDER and mail["To"] == "team@example.com"
    assert mail["Message-ID"] == "<harkbot.inst.12@example.com>"
    assert mail["X-Harkbot-Key"] == "inst.12"
    assert mail["Date"] == "Sat, 21 Nov 2026 10:05:30 +0000"
    assert mail.get_content_type() == "multipart/alternative"
    doc = read(payload)
    assert got.part("plain").replace("\r\n", "\n") == plain_text(doc)
    assert "open (https://x.com/angry_customer/status/1)" in got.part("plain")
    html = got.part("html").replace("\r\n", "\n")
    assert html == html_body(doc)
    assert ('<a href="https://www.reddit.com/r/mindful/comments/abc/?utm=1&amp;ref=2" '
            'rel="noopener noreferrer" target="_blank">open</a>') in html
    assert "Charged twice &amp; still no refund." in html


def test_the_html_body_is_exactly_this():
    doc = Document(
        title="🔴 CRITICAL · <b>Spike</b>",
        summary="CRITICAL: Spike",
        parts=(
            Part("text", (Line((Span("Rule ", ), Span("a&b", bold=True), Span(" at "), Span("x\"y", code=True))),
                          Line((Span("open", url="https://ex.com/?a=1&b=\"2\""),)),
                          Line((Span("<script>alert(1)</script>"),), quote=True),
                          Line((Span("second quoted"),), quote=True))),
            Part("fields", fields=((Line((Span("Label", bold=True),)), Line((Span("1"),))),
                                   (Line((Span("Other", bold=True),)), Line((Span("2"),))),
                                   (Line((Span("Odd", bold=True),)), Line((Span("3"),))))),
            Part("divider"),
            Part("context", (Line((Span("small"),)), Line((Span("print\u202e"),)))),
        ),
    )
    td = '<td style="padding:2px 24px 6px 0;vertical-align:top">'
    assert html_body(doc) == "\n".join([
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>🔴 CRITICAL · &lt;b&gt;Spike&lt;/b&gt;</title></head>',
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1d1c1d">',
        '<h2 style="margin:0 0 12px 0">🔴 CRITICAL · &lt;b&gt;Spike&lt;/b&gt;</h2>',
        '<div style="margin:8px 0">Rule <strong>a&amp;b</strong> at <code>x&quot;y</code><br>'
        '<a href="https://ex.com/?a=1&amp;b=&quot;2&quot;" rel="noopener noreferrer" target="_blank">open</a>'
        '<blockquote style="margin:4px 0 4px 0;padding-left:10px;border-left:3px solid #ccc;color:#444">'
        "&lt;script&gt;alert(1)&lt;/script&gt;<br>second quoted</blockquote></div>",
        f'<table role="presentation" style="border-collapse:collapse"><tr>{td}<strong>Label</strong><br>1</td>'
        f"{td}<strong>Other</strong><br>2</td></tr><tr>{td}<strong>Odd</strong><br>3</td></tr></table>",
        '<hr style="border:0;border-top:1px solid #ddd">',
        '<p style="color:#616061;font-size:12px">small<br>print</p>',
        "</body></html>",
        "",
    ])


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


HOSTILE_POSTS = (
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)"> <a href="javascript:alert(1)">click</a>',
    "<!channel> *bold* _it_ `code` <https://evil.example|bank.com> &amp; &lt;b&gt;",
    "\u202egnp.exe\u202c\r\nBcc: victim@example.com\r\n\r\n<style>body{display:none}</style>",
    "y" * 100_000,
)
HOSTILE_URLS = ("javascript:alert(1)", "https://example.com/fine", "https://evil.example|bank.com",
                "https://ok.example/<script>", "https://example.com/q?a=1&b=2")


def test_hostile_posts_reach_the_html_part_as_text(smtp, cert):
    base = hostile_alert()
    posts = tuple(post(text=t, author=t[:40], url=HOSTILE_URLS[i], author_reach=10**9 - i)
                  for i, t in enumerate(HOSTILE_POSTS))
    alert = replace(base, finding=replace(base.finding, posts=posts + base.finding.posts))
    payload = blocks.payload(alert, key="inst.1")
    notifier(smtp, cert).post(payload, "alerts")

    (got,) = smtp.received
    html = got.part("html")
    parsed = _Tags()
    parsed.feed(html)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "body", "h2", "div", "p", "br", "strong", "code",
                                "a", "blockquote", "table", "tr", "td", "hr"}
    assert "script" not in parsed.tags and "img" not in parsed.tags and "style" not in parsed.tags
    assert {name for name, _ in parsed.attrs} <= {"charset", "style", "href", "rel", "target", "role"}
    hrefs = [value for name, value in parsed.attrs if name == "href"]
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
    assert not any("evil" in h or "javascript" in h or "<" in h for h in hrefs)
    assert "https://example.com/q?a=1&b=2" in hrefs
    # Only our own inline styles, never one from a post.
    assert all("display" not in (v or "") for name, v in parsed.attrs if name == "style")
    text = "".join(parsed.text)
    assert "<script>alert(document.cookie)</script>" in text  # shown as typed, inert
    assert "<!channel>" in text and "\u202e" not in html
    assert "<script" not in html.lower() and "onerror=" not in html.replace("onerror=&quot;", "")
    subject_line = str(got.message["Subject"])
    assert "\n" not in subject_line and "\r" not in subject_line and "\u202e" not in subject_line
    # (the email package's folding leaves two spaces where it broke the line; that is all)
    assert len(" ".join(subject_line.split())) <= MAX_SUBJECT
    assert got.message["Bcc"] is None and got.rcpt_tos == ("team@example.com",)
    assert "<script>alert(document.cookie)</script>" in got.part("plain")


def test_a_channel_with_two_recipients_gets_one_message_to_both(smtp, cert):
    email = notifier(smtp, cert, channels={"alerts": ["team@example.com"],
                                           "crisis": ["Lead <lead@example.com>", "oncall@example.org"]})
    email.post(blocks.payload(sample_alert()), "crisis")

    (got,) = smtp.received
    assert got.rcpt_tos == ("lead@example.com", "oncall@example.org")
    assert got.message["To"] == "lead@example.com, oncall@example.org"
    assert got.message["Message-ID"].endswith("@example.com>")  # no key: a fresh id


def test_one_refused_recipient_does_not_stop_the_others_and_is_not_sent_again(smtp, cert, caplog):
    smtp.refuse["gone@example.com"] = "550 5.1.1 No such user"
    email = notifier(smtp, cert, channels={"alerts": ["gone@example.com", "team@example.com"]})
    with caplog.at_level(logging.WARNING, logger="harkbot"):
        email.post(blocks.payload(sample_alert()), "alerts")
    assert [r.rcpt_tos for r in smtp.received] == [("team@example.com",)]
    assert "gone@example.com (550)" in caplog.text


def test_an_unknown_channel_goes_to_the_default_or_is_refused_by_name(smtp, cert):
    notifier(smtp, cert).post(blocks.payload(sample_alert()), "slack-only")
    assert smtp.received[0].rcpt_tos == ("team@example.com",)

    with pytest.raises(NotifyError) as caught:
        notifier(smtp, cert, default_channel=None).post(blocks.payload(sample_alert()), "slack-only")
    assert not caught.value.retryable
    assert "'slack-only'" in str(caught.value) and "notifiers.email.channels" in str(caught.value)
    assert len(smtp.received) == 1


def test_ready_is_asked_last_and_false_sends_nothing(smtp, cert):
    asked: list[int] = []

    def ready() -> bool:
        asked.append(len(smtp.received))
        return False

    with pytest.raises(NotSent):
        notifier(smtp, cert).post(blocks.payload(sample_alert()), "alerts", ready=ready)
    assert asked == [0] and smtp.received == [] and smtp.attempts == 0


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is TLS from the first byte
def test_implicit_tls(cert):
    with FakeSMTP(tls=cert, implicit_tls=True, users={"harkbot": PASSWORD}) as server:
        notifier(server, cert, security="ssl").post(blocks.payload(sample_alert()), "alerts")
        assert server.received[0].tls and server.received[0].login == "harkbot"


def test_a_local_relay_without_tls_or_login(smtp):
    with FakeSMTP() as relay:
        EmailNotifier(host="127.0.0.1", port=relay.port, security="none", sender="alerts@example.com",
                      channels={"alerts": ["team@example.com"]}, default_channel="alerts",
                      timeout=5).post(blocks.payload(sample_alert()), None)
        assert not relay.received[0].tls and relay.received[0].login is None


# -- follow-ups and repeats through the outbox


def test_a_resolution_is_a_message_of_its_own(smtp, cert, store):
    email = notifier(smtp, cert)
    alert_id = fire(store, sample_alert())
    assert deliver(store, {"email": email}, T0) == (1, 0)
    a = store.alert(alert_id)
    store.save_state(RuleState(a.fingerprint, a.rule, a.brand, "inactive", None, None, None, a.fired_at), None, (),
                     T0 + timedelta(hours=2), resolved_alert=alert_id)
    assert deliver(store, {"email": email}, T0 + timedelta(hours=2)) == (1, 0)

    first, resolved = smtp.received
    assert resolved.message["Subject"].startswith("RESOLVED: Negative spike")
    assert "after 2h" in resolved.part("plain")
    assert resolved.message["Message-ID"] != first.message["Message-ID"]
    assert statuses(store) == [("alert", "sent"), ("resolve", "sent")]


def test_the_server_down_then_up_delivers_the_alert_exactly_once(cert, store):
    server = FakeSMTP(tls=cert, users={"harkbot": PASSWORD})  # not started: connection refused
    email = notifier(server, cert)
    fire(store, sample_alert())
    assert deliver(store, {"email": email}, T0) == (0, 1)
    assert deliver(store, {"email": email}, T0 + timedelta(seconds=5)) == (0, 0)  # backing off
    (error,) = sql(store, "SELECT last_error FROM outbox")[0]
    assert "could not reach the mail server at 127.0.0.1" in error
    with server:
        assert deliver(store, {"email": email}, T0 + timedelta(seconds=20)) == (1, 0)
        assert deliver(store, {"email": email}, T0 + timedelta(hours=1)) == (0, 0)
        assert len(server.received) == 1
    assert statuses(store) == [("alert", "sent")]


def test_a_crash_after_the_send_sends_again_with_the_same_message_id(smtp, cert, store, monkeypatch):
    email = notifier(smtp, cert)
    fire(store, sample_alert())

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between the server's 250 and marking the row sent")

    with monkeypatch.context() as patch:
        patch.setattr(type(store), "delivered", crash)
        with pytest.raises(KeyboardInterrupt):
            deliver(store, {"email": email}, T0)
    assert deliver(store, {"email": email}, T0 + timedelta(minutes=1)) == (1, 0)

    first, again = smtp.received  # mail cannot be looked up: at least once, and recognisably so
    assert first.message["Message-ID"] == again.message["Message-ID"] == f"<harkbot.{store.instance()}.1@example.com>"


# -- failures


@pytest.mark.parametrize("reply", ["421 4.3.2 Service not available", "450 4.2.1 Mailbox busy",
                                   "451 4.7.1 Greylisted, try again later", "452 4.3.1 Insufficient storage"])
def test_a_4xx_reply_is_retryable(smtp, cert, reply):
    smtp.fail_next.append(reply)
    with pytest.raises(NotifyError) as caught:
        notifier(smtp, cert).post(blocks.payload(sample_alert()), "alerts")
    assert caught.value.retryable and reply.split()[0] in str(caught.value)
    notifier(smtp, cert).post(blocks.payload(sample_alert()), "alerts")
    assert len(smtp.received) == 1


@pytest.mark.parametrize("reply", ["550 5.7.1 Message rejected as spam", "553 5.1.8 Sender address rejected",
                                   "554 5.6.0 Transaction failed"])
def test_a_5xx_reply_is_dead_and_does_not_block_the_next_alert(smtp, cert, store, reply):
    smtp.fail_next.append(reply)
    email = notifier(smtp, cert)
    fire(store, sample_alert())
    fire(store, sample_alert(rule="other", fingerprint="other/mindful", brand="other"), at=T0 + timedelta(minutes=1))

    assert deliver(store, {"email": email}, T0 + timedelta(minutes=1)) == (1, 1)

    assert statuses(store) == [("alert", "dead"), ("alert", "sent")]
    (error,) = sql(store, "SELECT last_error FROM outbox WHERE id = 1")[0]
    assert error.startswith("email: the mail server at 127.0.0.1") and reply in error


def test_every_recipient_refused_is_dead_and_names_the_setting(smtp, cert):
    smtp.refuse["team@example.com"] = "550 5.1.1 No such user here"
    with pytest.raises(NotifyError) as caught:
        notifier(smtp, cert).post(blocks.payload(sample_alert()), "alerts")
    assert not caught.value.retryable
    assert "refused every recipient of alerts" in str(caught.value)
    assert "notifiers.email.channels" in str(caught.value)


def test_a_wrong_password_is_not_retried_and_is_in_no_message_or_log(smtp, cert, store, caplog):
    wrong = "Wr0ng-Pa55word-abc"
    email = notifier(smtp, cert, password=wrong)
    fire(store, sample_alert())
    with caplog.at_level(logging.DEBUG):
        assert deliver(store, {"email": email}, T0) == (0, 1)
        with pytest.raises(NotifyError) as caught:
            email.post(blocks.payload(sample_alert()), "alerts")

    assert not caught.value.retryable
    message = str(caught.value)
    assert "535" in message and "refused the login for 'harkbot'" in message
    assert "notifiers.email.username and notifiers.email.password" in message and "SMTP_PASSWORD" in message
    assert statuses(store) == [("alert", "dead")]
    (error,) = sql(store, "SELECT last_error FROM outbox")[0]
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "refused the login" in ours  # the outbox logged it...
    for text in (message, error, ours, repr(email)):
        assert wrong not in text and PASSWORD not in text  # ...without the password
    assert smtp.received == []


def test_a_server_that_never_answers_times_out_retryably(cert):
    with socket.socket() as silent:  # the kernel accepts the connection; no banner ever comes
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        email = EmailNotifier(host="127.0.0.1", port=port, sender=SENDER, channels={"a": ["x@example.com"]},
                              default_channel="a", timeout=0.3, ca_file=str(cert[0]), username="u", password="p")
        with pytest.raises(NotifyError) as caught:
            email.post(blocks.payload(sample_alert()), None)
    assert caught.value.retryable and "did not answer within 0.3s" in str(caught.value)


def test_nothing_listening_is_retryable():
    email = EmailNotifier(host="127.0.0.1", port=free_port(), security="none", sender=SENDER,
                          channels={"a": ["x@example.com"]}, default_channel="a", timeout=2)
    with pytest.raises(NotifyError) as caught:
        email.post(blocks.payload(sample_alert()), None)
    assert caught.value.retryable and "could not reach the mail server at 127.0.0.1" in str(caught.value)


def test_an_untrusted_certificate_is_not_retried(smtp, cert):
    with pytest.raises(NotifyError) as caught:
        notifier(smtp, cert, ca_file=None).post(blocks.payload(sample_alert()), "alerts")
    assert not caught.value.retryable
    assert "certificate" in str(caught.value) and "notifiers.email.ca_file" in str(caught.value)


def test_a_server_without_starttls_is_not_retried(cert):
    with FakeSMTP() as plain:
        with pytest.raises(NotifyError) as caught:
            notifier(plain, cert).post(blocks.payload(sample_alert()), "alerts")
    assert not caught.value.retryable
    assert "does not offer STARTTLS" in str(caught.value) and "security: ssl" in str(caught.value)


# -- the pure parts and the settings


def test_a_subject_is_one_line_without_controls_and_cut():
    assert subject("CRITICAL: a\r\nBcc: victim@example.com\x00\u202e") == "CRITICAL: a Bcc: victim@example.com"
    long = subject("x" * 1000)
    assert len(long) == MAX_SUBJECT and long.endswith("…")
    assert subject("  ") == "harkbot alert"


def test_a_message_id_is_stable_for_a_key_and_cannot_be_bent():
    assert message_id("ab12.7", "example.com") == message_id("ab12.7", "example.com") == "<harkbot.ab12.7@example.com>"
    assert message_id("a>b\r\n<c", "ex<ample.com") == "<harkbot.abc@example.com>"
    assert message_id(None, "example.com") != message_id(None, "example.com")


@pytest.mark.parametrize("settings, says", [
    ({"security": "tls"}, "security must be one of"),
    ({"security": "none"}, "a login needs an encrypted connection"),
    ({"password": None}, "both a username and a password"),
    ({"sender": "alerts@example.com\r\nBcc: x@y.z"}, "notifiers.email.sender"),
    ({"channels": {"alerts": ["not an address"]}}, "notifiers.email.channels.alerts"),
    ({"channels": {"alerts": []}}, "at least one recipient"),
    ({"default_channel": "nope"}, "default_channel 'nope' is not one of the channels (alerts)"),
])
def test_settings_that_cannot_work_are_refused_at_start(settings, says):
    base = dict(host="smtp.example.com", username="u", password="p", sender=SENDER,
                channels={"alerts": ["team@example.com"]}, default_channel="alerts")
    base.update(settings)
    with pytest.raises(ValueError, match=None) as caught:
        EmailNotifier(**base)
    assert says in str(caught.value) and "p'" not in str(caught.value)


def test_no_login_where_the_server_wants_one_says_to_set_it(smtp, cert):
    with pytest.raises(NotifyError) as caught:
        notifier(smtp, cert, username=None, password=None).post(blocks.payload(sample_alert()), "alerts")
    assert not caught.value.retryable and "530" in str(caught.value)
    assert "it wants a login: set notifiers.email.username" in str(caught.value)
