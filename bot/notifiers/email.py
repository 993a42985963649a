"""Email delivery over SMTP (STARTTLS, implicit TLS, or plain for a local relay), with smtplib.

Each message is the very message Slack would get, read back from its Block Kit payload
(bot/notifiers/document.py) and written twice: text/plain and an HTML part in which every
piece of outside text went through `html.escape` and links come only from the http(s) URLs
the document kept. Mail cannot be edited or looked up once sent, so `threads` is False:
follow-ups (worse, resolved) arrive as messages of their own, and a message re-sent after a
crash carries the same Message-ID as the first, which is how a mail client or a reader can
tell the two apart (delivery is at least once).

One connection per post: connect, STARTTLS, login, send, quit. Every failure becomes a
NotifyError whose `.retryable` says whether waiting can fix it; the password is in none of
them and in no log line.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Callable, Iterable, Mapping

from bot.errors import NotifyError, NotSent
from bot.models import Alert
from bot.notifiers import Posted, blocks
from bot.notifiers.document import Document, Line, Part, Span, plain_text, read
from bot.notifiers.settings import NotifierOff, Served, channel_targets, optional, require
from bot.secrets import redact

log = logging.getLogger("harkbot")

SECURITY = ("starttls", "ssl", "none")
MAX_SUBJECT = 160  # characters; clients show far fewer, and a subject is not where evidence goes
KEY_HEADER = "X-Harkbot-Key"
_SETTING = "notifiers.email"
_PASSWORD_HINT = f"{_SETTING}.username and {_SETTING}.password (usually ${{SMTP_PASSWORD}})"

# Line breaks would end the header (and start a forged one); controls, bidi overrides and
# isolates have no place in a subject either. Tabs and other spaces collapse to one space.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")
# What may stand in a Message-ID's left part (RFC 5322 dot-atom text, less '.' runs).
_ID_CHARS = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


class EmailNotifier(Served):
    name = "email"
    threads = False  # a sent mail cannot be edited, replied to in place, or looked up
    brief_follow_ups = False  # an update or resolution is read on its own, so it says everything

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str,
        channels: Mapping[str, list[str]],
        default_channel: str | None = None,
        timeout: float = 30,
        routing: Any = None,
        privacy: Any = None,
        ca_file: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        """Settings already resolved (the password from its ${VAR}).

        `channels` maps the channel names rules use ("alerts") to recipient addresses;
        `default_channel` is one of those names. `ca_file` trusts a private CA (a company
        relay); by default the system's CAs verify the server's certificate.
        """
        if security not in SECURITY:
            raise ValueError(f"{_SETTING}.security must be one of {', '.join(SECURITY)}, not {security!r}")
        if not host or _UNSAFE.search(host) or any(c.isspace() for c in host):
            raise ValueError(f"{_SETTING}.host must be a host name, not {host!r}")
        if bool(username) != bool(password):
            raise ValueError(f"{_SETTING}: give both a username and a password, or neither")
        if username and security == "none":
            # smtplib would send the password in the clear to anyone on the path.
            raise ValueError(f"{_SETTING}: a login needs an encrypted connection; set security to starttls or ssl")
        address = _address(sender, f"{_SETTING}.sender")
        self.channels = {name: [_address(a, f"{_SETTING}.channels.{name}") for a in addresses]
                         for name, addresses in channels.items()}
        for name, addresses in self.channels.items():
            if not addresses:
                raise ValueError(f"{_SETTING}.channels.{name}: give at least one recipient address")
        if default_channel is not None and default_channel not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none are configured"
            raise ValueError(f"{_SETTING}.default_channel {default_channel!r} is not one of the channels ({known})")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self.username = username
        self.sender = sender.strip()
        self.default_channel = default_channel
        self.routing = routing  # bot.routing.Routing: channels, quiet hours, digests
        self.privacy = privacy  # what shared channels may see of a post
        self._envelope_from = address
        self._domain = address.rpartition("@")[2] or "harkbot.invalid"
        self._clock = clock
        self._context = ssl.create_default_context(cafile=ca_file) if security != "none" else None
        self.__password = password
        self._secrets = _secret_forms(username, password)

    @classmethod
    def from_config(cls, settings: Any, env: Mapping[str, str], *, routing: Any = None,
                    privacy: Any = None) -> EmailNotifier:
        """From `notifiers.email` (bot.config.EmailModel); NotifierOff names what to set."""
        given = require("email", env, host=settings.host, sender=settings.sender)
        channels, unset = channel_targets("email", settings.channels, env)
        username, password = optional(settings.username, env), optional(settings.password, env)
        try:
            notifier = cls(host=given["host"], port=settings.port, security=settings.security, username=username,
                           password=password, sender=given["sender"], channels=channels,
                           default_channel=None, timeout=settings.timeout, ca_file=settings.ca_file,
                           routing=routing, privacy=privacy)
        except ValueError as exc:
            raise NotifierOff("email", problem=str(exc)) from None
        notifier.unset = unset
        return notifier

    def describe(self) -> str:
        """For `harkbot check`: where it connects and who gets what (addresses counted, not shown)."""
        login = "with a login" if self.username else "no login"
        return f"{self.security} to {self.host}:{self.port}, {login}; {super().describe()}"

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"EmailNotifier(host={self.host!r}, port={self.port}, security={self.security!r})"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return blocks.payload(alert, privacy=self.privacy)

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        """Mail the message to the channel's recipients (`thread_ts` is ignored: no threads).
        `ready()` is asked after the connection is up and logged in, just before the send."""
        where, recipients = self._recipients(channel)
        message = build_message(read(payload), sender=self.sender, recipients=recipients, domain=self._domain,
                                now=self._clock())
        refused = self._send(message, recipients, where, ready)
        if refused:
            # Some took it and some did not: sending again would mail the ones who did twice.
            log.warning("email: %d of %d recipients of %s refused the message: %s", len(refused), len(recipients),
                        where, "; ".join(f"{a} ({c})" for a, (c, _) in sorted(refused.items())))
        return Posted(channel)

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """Mail cannot be changed once sent; the resolution arrives as a message of its own."""

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        """Sent mail cannot be looked up, so a post interrupted by a crash may be sent again
        (with the same Message-ID)."""
        return None

    # -- the wire

    def _recipients(self, channel: str | None) -> tuple[str, list[str]]:
        """(the channel name that receives it, its addresses). A channel email does not know (one
        routed to Slack alone, say) falls back to the default, as the channel None does."""
        if channel is not None and channel in self.channels:
            return channel, self.channels[channel]
        if self.default_channel is not None:
            return self.default_channel, self.channels[self.default_channel]
        known = ", ".join(sorted(self.channels)) or "none are configured"
        # (config.yaml has no default for email: the routing's default channel name is passed in.)
        if channel is None:
            raise NotifyError(f"email: no channel given and no default channel; name the channel's recipients "
                              f"under {_SETTING}.channels", retryable=False)
        raise NotifyError(f"email: no recipients for channel {channel!r}; add it under {_SETTING}.channels "
                          f"(known channels: {known})", retryable=False)

    def _send(self, message: EmailMessage, recipients: list[str], where: str,
              ready: Callable[[], bool] | None) -> dict[str, tuple[int, bytes]]:
        server = f"{self.host}:{self.port}"
        try:
            smtp = self._connect()
            try:
                if self.security == "starttls":
                    smtp.starttls(context=self._context)
                if self.username:
                    smtp.login(self.username, self.__password or "")
                if ready is not None and not ready():
                    raise NotSent("not mailed: no longer this process's to send")
                refused = smtp.send_message(message, from_addr=self._envelope_from, to_addrs=recipients)
            finally:
                _close(smtp)
        except smtplib.SMTPAuthenticationError as err:
            raise self._refused(err.smtp_code, err.smtp_error, f"the mail server at {server} refused the login for "
                                f"{self.username!r}", f"check {_PASSWORD_HINT}") from None
        except smtplib.SMTPRecipientsRefused as err:
            # Retryable when any refusal was temporary: nobody got it, so trying again mails no one twice.
            replies = sorted(err.recipients.values(), key=lambda reply: not 400 <= reply[0] < 500)
            code, text = replies[0] if replies else (550, b"")
            raise self._refused(code, text, f"the mail server at {server} refused every recipient of {where}",
                                f"check the addresses in {_SETTING}.channels") from None
        except smtplib.SMTPSenderRefused as err:
            hint = (f"it wants a login: set {_PASSWORD_HINT}" if err.smtp_code == 530 else
                    f"check {_SETTING}.sender (many servers accept only the login's own address)")
            raise self._refused(err.smtp_code, err.smtp_error, f"the mail server at {server} refused the sender "
                                f"{self._envelope_from}", hint) from None
        except smtplib.SMTPNotSupportedError as err:
            what = "STARTTLS" if self.security == "starttls" and "STARTTLS" in str(err) else "a login (AUTH)"
            hint = (f"use security: ssl with the server's TLS port (usually 465) in {_SETTING}"
                    if what == "STARTTLS" else f"check {_SETTING}.security and {_SETTING}.port "
                    "(many servers offer AUTH only after STARTTLS)")
            raise self._error(f"the mail server at {server} does not offer {what}; {hint}", False) from None
        except smtplib.SMTPServerDisconnected as err:
            if isinstance(err.__context__, TimeoutError):  # smtplib's way of saying a read timed out
                raise self._timeout(server) from None
            raise self._error(f"the mail server at {server} closed the connection: {_reason(err)}", True) from None
        except smtplib.SMTPResponseException as err:  # connect, HELO, DATA and the rest
            raise self._refused(err.smtp_code, err.smtp_error, f"the mail server at {server} did not take the "
                                f"message for {where}", "its reply says why; fix that, then "
                                "`harkbot alerts retry`") from None
        except smtplib.SMTPException as err:  # e.g. no authentication method in common
            raise self._error(f"could not mail {where} through {server}: {_reason(err)}; check {_SETTING}", False) \
                from None
        except ssl.SSLCertVerificationError as err:
            raise self._error(f"the certificate of the mail server at {server} is not trusted "
                              f"({err.verify_message}); check {_SETTING}.host is the name on its certificate, "
                              f"or give its CA as {_SETTING}.ca_file", False) from None
        except ssl.SSLError as err:
            # A handshake that fails is a port/security mismatch far more often than a blip.
            raise self._error(f"TLS with the mail server at {server} failed ({err.reason or err}); check "
                              f"{_SETTING}.security and {_SETTING}.port (ssl is usually 465, starttls 587)",
                              False) from None
        except TimeoutError:  # socket.timeout is TimeoutError
            raise self._timeout(server) from None
        except OSError as err:  # refused, unreachable, DNS
            raise self._error(f"could not reach the mail server at {server}: {_reason(err)}", True) from None
        log.info("email: sent to %d recipient%s of %s", len(recipients), "" if len(recipients) == 1 else "s", where)
        return refused

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _timeout(self, server: str) -> NotifyError:
        hint = " (port 465 expects security: ssl)" if self.port == 465 and self.security != "ssl" else ""
        return self._error(f"the mail server at {server} did not answer within {self.timeout:g}s{hint}", True)

    def _refused(self, code: int, reply: bytes | str, what: str, hint: str) -> NotifyError:
        """A reply code: 4xx means try again later (greylisting, a full queue), 5xx means no."""
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        text = _SPACE.sub(" ", _UNSAFE.sub("", text)).strip()[:300]
        retryable = 400 <= code < 500 or code < 0  # -1: smtplib lost the reply
        said = f"{code} {text}".strip()
        message = f"{what} ({said})" + ("; it may pass, retrying" if retryable else f"; {hint}")
        return self._error(message, retryable)

    def _error(self, message: str, retryable: bool) -> NotifyError:
        """Every NotifyError that quotes the server or the network is made here, secrets removed."""
        return NotifyError(f"email: {redact(message, self._secrets)}", retryable)


def build_message(doc: Document, *, sender: str, recipients: Iterable[str], domain: str,
                  now: datetime) -> EmailMessage:
    """The mail for a message: subject, both bodies, and the headers that recognise it again."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = subject(doc.summary or doc.title)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    key = doc.key
    message["Message-ID"] = message_id(key, domain)
    if key:
        message[KEY_HEADER] = _ID_CHARS.sub("", str(key))[:200]
    # Alerts are not to be answered by an out-of-office robot.
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable: readable in the raw message, and safe for any line length.
    message.set_content(plain_text(doc), cte="quoted-printable")
    message.add_alternative(html_body(doc), subtype="html", cte="quoted-printable")
    return message


def subject(summary: str) -> str:
    """One line, no controls, at most MAX_SUBJECT characters."""
    text = _SPACE.sub(" ", _UNSAFE.sub("", summary)).strip() or "harkbot alert"
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1].rstrip() + blocks.ELLIPSIS


def message_id(key: str | None, domain: str) -> str:
    """The same id for every send of one message (its outbox key), else a fresh one."""
    left = _ID_CHARS.sub("", str(key or "")).strip(".")
    right = _ID_CHARS.sub("", domain).strip(".") or "harkbot.invalid"
    if not left:
        return make_msgid("harkbot", domain=right)
    return f"<harkbot.{re.sub(r'[.]{2,}', '.', left)[:200]}@{right}>"


# -- the HTML body: pure, every string escaped

_STYLE_BODY = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1d1c1d"
_STYLE_QUOTE = "margin:4px 0 4px 0;padding-left:10px;border-left:3px solid #ccc;color:#444"
_STYLE_SMALL = "color:#616061;font-size:12px"


def html_body(doc: Document) -> str:
    """The message as an HTML document. Outside text is only ever element content or an
    escaped, quoted attribute value, and an href is only ever a `Span.url` (http(s))."""
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">'
        f"<title>{_esc(doc.title)}</title></head>",
        f'<body style="{_STYLE_BODY}">',
        f'<h2 style="margin:0 0 12px 0">{_esc(doc.title)}</h2>',
    ]
    out.extend(_html_part(part) for part in doc.parts)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_part(part: Part) -> str:
    if part.kind == "divider":
        return '<hr style="border:0;border-top:1px solid #ddd">'
    if part.kind == "fields":
        rows = []
        for i in range(0, len(part.fields), 2):  # two to a row, as Slack lays them out
            cells = "".join(f'<td style="padding:2px 24px 6px 0;vertical-align:top">{_html_lines(f)}</td>'
                            for f in part.fields[i : i + 2])
            rows.append(f"<tr>{cells}</tr>")
        return '<table role="presentation" style="border-collapse:collapse">' + "".join(rows) + "</table>"
    if part.kind == "context":
        return f'<p style="{_STYLE_SMALL}">{_html_lines(part.lines)}</p>'
    return f'<div style="margin:8px 0">{_html_lines(part.lines)}</div>'


def _html_lines(lines: Iterable[Line]) -> str:
    """Lines joined by <br>; a run of quoted lines becomes one blockquote (a block of its own,
    so no <br> on either side of it)."""
    items: list[tuple[bool, list[str]]] = []  # (quoted, rendered lines)
    for line in lines:
        rendered = "".join(_html_span(s) for s in line.spans)
        if items and items[-1][0] == line.quote:
            items[-1][1].append(rendered)
        else:
            items.append((line.quote, [rendered]))
    return "".join(f'<blockquote style="{_STYLE_QUOTE}">' + "<br>".join(group) + "</blockquote>" if quoted
                   else "<br>".join(group) for quoted, group in items)


def _html_span(span: Span) -> str:
    text = _esc(span.text)
    if span.code:
        text = f"<code>{text}</code>"
    if span.bold:
        text = f"<strong>{text}</strong>"
    if span.url:
        text = f'<a href="{_esc(span.url)}" rel="noopener noreferrer" target="_blank">{text}</a>'
    return text


def _esc(text: str) -> str:
    return html.escape(_UNSAFE.sub("", text), quote=True)


# -- small things


def _address(value: str, setting: str) -> str:
    """The bare address in 'Name <a@b>' or 'a@b'; a value that could forge a header is refused."""
    if not isinstance(value, str) or _UNSAFE.search(value) or "\n" in value or "\r" in value:
        raise ValueError(f"{setting}: {value!r} is not an email address")
    _, address = parseaddr(value.strip())
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in address):
        raise ValueError(f"{setting}: {value!r} is not an email address")
    return address


def _secret_forms(username: str | None, password: str | None) -> list[str]:
    """The password and the base64 forms AUTH PLAIN and LOGIN send it in."""
    if not password:
        return []
    forms = [password, base64.b64encode(password.encode()).decode()]
    if username:
        forms.append(base64.b64encode(f"\0{username}\0{password}".encode()).decode())
    return forms


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; the message is already sent (or not) whatever the server says to it."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
