"""One JSON POST to a URL that is itself a secret, with every failure said as a NotifyError.

What the webhook and Teams notifiers share. A webhook URL carries its credential (a Teams
Workflows URL ends in `&sig=...`, a connector URL's path is the token), so the URL is never
quoted whole: errors and log lines name `scheme://host/…` only, the exception chain of
requests/urllib3 (whose messages repeat the URL) is dropped, and urllib3's own debug line,
which prints the path and query of every request, has them cut out as well.

One request per post: the outbox owns retries (bot/sending.py), so the session neither
retries nor follows redirects (a redirect would re-send the body, signature and all, to a
host nobody configured). Failures map as HTTP says:

    connection error, timeout, 408, 5xx   retryable (Retry-After honoured when sent)
    429                                    retryable, after Retry-After (seconds or an HTTP date)
    3xx, other 4xx                         not retryable: a sentence naming the config key to fix
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import unquote, urlsplit

import requests

from bot.errors import NotifyError, NotSent

log = logging.getLogger("harkbot")

MAX_RETRY_AFTER = 3600.0  # seconds; a longer Retry-After is a receiver's mistake, not a plan
_EXCERPT = 200  # characters of a refusal's body worth quoting
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_DIGIT = re.compile(r"\d")


def safe_url(url: str) -> str:
    """'https://host/…': enough to tell which receiver, nothing of its credential."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if _port(parts) else ""
    return f"{parts.scheme or '?'}://{host}{port}/…"


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def secret_parts(url: str) -> list[str]:
    """The pieces of a URL that must not be written anywhere: its path and query whole, each
    query value, each path segment that looks like a token (a digit in it, or long), and the
    userinfo; percent-decoded too, as a receiver may echo them either way."""
    parts = urlsplit(url)
    pieces = [url, parts.path, parts.query, parts.fragment, parts.password or "", parts.username or ""]
    if parts.query:
        pieces.append(f"{parts.path}?{parts.query}")
        pieces += [value for _, _, value in (p.partition("=") for p in parts.query.split("&"))]
    pieces += [seg for seg in parts.path.split("/") if len(seg) >= 16 or (len(seg) >= 6 and _DIGIT.search(seg))]
    pieces += [unquote(p) for p in pieces]
    return sorted({p for p in pieces if len(p) >= 4 and p != "/"}, key=len, reverse=True)


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Retry-After as seconds from `now` (unix time): delta-seconds or an HTTP date."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: its status and body (the caller may still find a refusal in it)."""

    status: int
    text: str
    headers: Mapping[str, str]


class Poster:
    """POSTs JSON bodies for one notifier (`name` prefixes every error), paced per URL."""

    def __init__(self, name: str, *, timeout: float = 10, pace: float = 0.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None, hints: Mapping[int, str] | None = None):
        """`hints` replace the default advice for a status ("{where}" is the config key)."""
        self.name, self.timeout = name, timeout
        self._hints = dict(hints or {})
        self.clock, self._sleep, self._pace = clock, sleep, pace
        self._last: dict[str, float] = {}
        self.session = session or requests.Session()  # HTTPS_PROXY and friends apply, as a proxy may be the way out
        self._secrets: list[str] = []

    def keep_secret(self, url: str) -> None:
        """Register a URL whose path and query may appear in no error and no log record."""
        pieces = secret_parts(url)
        self._secrets.extend(pieces)
        _URLLIB3_FILTER.add(pieces)

    def hide(self, secret: str) -> None:
        """Register another secret (a signing key) that no error may quote."""
        if len(secret) >= 4:
            self._secrets.append(secret)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, where: str,
             ready: Callable[[], bool] | None = None) -> Answer:
        """POST `body` (JSON, UTF-8) to `url`. `where` names the config key holding the URL, for
        the sentence a person reads when the receiver refuses. `ready()` is asked last, after
        the wait for the URL's turn: False raises NotSent and nothing is sent."""
        self._wait_turn(url)
        if ready is not None and not ready():
            raise NotSent(f"{self.name}: not posted: no longer this process's to send")
        shown = safe_url(url)
        started = time.monotonic()
        try:
            response = self.session.post(
                url, data=body, timeout=self.timeout, allow_redirects=False,
                headers={"Content-Type": "application/json; charset=utf-8", **headers})
        except requests.Timeout as err:
            what = "could not connect" if isinstance(err, requests.ConnectTimeout) else "no answer"
            raise self.error(f"{what} within {self.timeout:g}s posting to {shown}", True) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, OSError) as err:
            # A connection that broke mid-answer may have delivered: the delivery id lets the
            # receiver drop the retry.
            raise self.error(f"could not reach {shown}: {_reason(err)}", True) from None
        except requests.RequestException as err:  # an invalid URL, say: fixing it is on us
            raise self.error(f"could not post to {shown} ({type(err).__name__}); check {where}", False) from None
        with response:
            text = response.text if response.content else ""
            status, answered = response.status_code, dict(response.headers)
        log.debug("%s: HTTP %d from %s in %.2fs", self.name, status, shown, time.monotonic() - started)
        if 200 <= status < 300:
            return Answer(status, text, answered)
        raise self.refusal(status, text, answered, shown, where)

    def refusal(self, status: int, text: str, headers: Mapping[str, str], shown: str, where: str) -> NotifyError:
        """What an HTTP status from the receiver means, and whether waiting can fix it."""
        said = self.excerpt(text)
        detail = f": {said}" if said else ""
        if status == 429:
            return self.error(f"HTTP 429 from {shown} (rate limited){detail}", True,
                              retry_after(headers, self.clock()))
        if status == 408 or status >= 500:
            return self.error(f"HTTP {status} from {shown}{detail}", True, retry_after(headers, self.clock()))
        if 300 <= status < 400:
            return self.error(f"HTTP {status} from {shown}: the URL redirects, and a webhook is not followed "
                              f"elsewhere; set the final URL in {where}", False)
        if status in self._hints:
            hint = self._hints[status].format(where=where)
        elif status in (401, 403):
            hint = f"the receiver refused the credentials in the URL or the signature; check {where}"
        elif status in (404, 410):
            hint = f"no webhook at this URL (deleted or retired?); create a new one and update {where}"
        elif status == 413:
            hint = "the message is larger than the receiver accepts; this is a harkbot bug, please report it"
        else:
            hint = f"the receiver refused the message; check {where} and the receiver's logs"
        return self.error(f"HTTP {status} from {shown}{detail}: {hint}", False)

    def error(self, message: str, retryable: bool, retry_after: float | None = None) -> NotifyError:
        """Every NotifyError that quotes the receiver or the network is made here, secrets removed."""
        return NotifyError(f"{self.name}: {self.redact(message)}", retryable, retry_after)

    def excerpt(self, text: str) -> str:
        """The start of a receiver's answer, on one line, with no secret in it."""
        return self.redact(_CONTROL.sub(" ", text).strip())[:_EXCERPT]

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "…")
        return text

    def _wait_turn(self, url: str) -> None:
        last = self._last.get(url)
        if last is not None and self._pace > 0:
            wait = last + self._pace - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last[url] = time.monotonic()


def _reason(err: BaseException) -> str:
    """Why a connection failed ('Connection refused'), from the OS error at the bottom of the
    chain; never the exception text of requests or urllib3, which quotes the URL."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = nested or getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(current, BaseException):
            current = None
    return type(err).__name__


def _port(parts) -> bool:
    try:
        return parts.port is not None
    except ValueError:
        return False


class _Redacting(logging.Filter):
    """Cuts registered URL paths and queries out of urllib3's records (its debug line reads
    'POST /workflows/…?sig=SECRET'), whatever level a user turns logging up to."""

    def __init__(self) -> None:
        super().__init__()
        self._pieces: list[str] = []
        self._lock = threading.Lock()

    def add(self, pieces: list[str]) -> None:
        with self._lock:
            self._pieces = sorted(set(self._pieces) | set(pieces), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        pieces = self._pieces
        if not pieces:
            return True
        message = record.getMessage()
        if any(p in message for p in pieces):
            for piece in pieces:
                message = message.replace(piece, "…")
            record.msg, record.args = message, None
        return True


_URLLIB3_FILTER = _Redacting()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_FILTER)
