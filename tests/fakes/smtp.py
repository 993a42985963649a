"""A real SMTP server for the email notifier's tests: aiosmtpd on 127.0.0.1, in a thread.

It speaks SMTP as any mail server does (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA and their
reply codes) and keeps what it received. Faults are reply codes a real server sends:
`refuse` makes RCPT TO answer with a reply for an address, `fail_next` makes the next DATA
answers the given replies (421 busy, 451 greylisted, 550 rejected...), and `stop()` /
`start()` take it down and bring it back on the same port.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)
    login: str | None  # who authenticated, if anyone

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype, f"no text/{subtype} part"
        return body.get_content()


class _Handler:
    def __init__(self, server: FakeSMTP):
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        reply = self.server.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.attempts += 1
        if self.server.fail_next:
            return self.server.fail_next.pop(0)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        login = getattr(session, "auth_data", None)
        self.server.received.append(Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,  # type: ignore[arg-type] - policy.default parses to EmailMessage
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=login.login.decode() if isinstance(login, LoginPassword) else None,
        ))
        return "250 2.0.0 Message accepted for delivery"


class FakeSMTP:
    """`with FakeSMTP(...) as smtp:` a server on a free port of 127.0.0.1.

    `tls`: (certfile, keyfile) to offer STARTTLS (or, with `implicit_tls`, TLS from the first
    byte, as port 465 does). `users`: {login: password} to require AUTH (only over TLS).
    """

    def __init__(self, *, tls: tuple[Path, Path] | None = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.users = users
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.fail_next: list[str] = []
        self.attempts = 0  # DATA commands answered, refused ones included
        self._context: ssl.SSLContext | None = None
        if tls is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(str(tls[0]), str(tls[1]))
        self._implicit = implicit_tls
        self._controller: Controller | None = None

    def start(self) -> FakeSMTP:
        kwargs: dict[str, Any] = {}
        if self._context is not None and self._implicit:
            kwargs["ssl_context"] = self._context
        elif self._context is not None:
            kwargs["tls_context"] = self._context
        if self.users is not None:
            # aiosmtpd counts only STARTTLS as TLS; a connection that is TLS from its first byte is too.
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=not self._implicit)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      server_hostname="fake-smtp.test", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        users = self.users or {}
        if (isinstance(auth_data, LoginPassword)
                and users.get(auth_data.login.decode()) == auth_data.password.decode()):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A certificate for `name` and 127.0.0.1 (cert.pem, key.pem): with `cryptography` when it is
    installed (google-auth needs it), else with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
                        "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"],
                       check=True, capture_output=True)
        return cert, key
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key
