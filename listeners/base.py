"""The Listener protocol: what every platform module provides.

A listener module holds one class with:
  name      the key used under `listeners:` in config.yaml
  Options   a pydantic model of its options (ListenerOptions and its own fields)
  from_config(options, env) -> listener   raises MissingCredentials naming the variables
  fetch(brands, cursor, now) -> iterator of Batch   network I/O, rate limits
  to_mention(payload) -> Mention | None   pure: one platform payload to a Mention
  plan(options, brands) -> QuotaPlan   planned daily API use against the platform's budget

Listeners import only bot.models, bot.query, bot.errors and option types; a platform
client object never leaves its module.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Callable, ClassVar, Iterator, Mapping, Protocol, Sequence

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from bot.durations import Duration
from bot.errors import MissingCredentials
from bot.models import Batch, Brand, Mention, parse_iso
from bot.secrets import env_name, redact, resolve

log = logging.getLogger("harkbot")


def _bare_seconds(value: Any) -> Any:
    # HTTP clients (requests, httplib2) all take a timeout in seconds, so a bare number here can
    # only mean seconds; every other duration option needs its unit.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value <= MAX_TIMEOUT.total_seconds():
            raise ValueError(f"a timeout of {value} seconds: write more than 0 and at most 300 (or a duration: 30s)")
        return timedelta(seconds=value)
    return value


def _at_most_five_minutes(value: timedelta) -> timedelta:
    if value > MAX_TIMEOUT:
        raise ValueError(f"a timeout of {value.total_seconds():g}s is too long; write at most 300s")
    return value


MAX_TIMEOUT = timedelta(minutes=5)
# The one unit of every listener's `timeout`: a duration (30s, 2m); a bare number is seconds.
Timeout = Annotated[Duration, BeforeValidator(_bare_seconds), AfterValidator(_at_most_five_minutes)]


class ListenerOptions(BaseModel):
    """Options every listener has; each listener's Options adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    every: Duration = timedelta(minutes=5)
    base_url: str | None = None  # an API-compatible gateway or a local fake; None: the platform


@dataclass(frozen=True)
class QuotaPlan:
    """A listener's planned API use per day against the platform's budget for it."""

    listener: str
    used: float  # per day, in `unit`
    budget: float | None  # per day, in `unit`; None when the platform sets no daily cap
    unit: str  # "requests", "quota units", ...
    detail: str  # how `used` was reckoned, e.g. "3 brands x 288 runs x 1 search"

    @property
    def fits(self) -> bool:
        return self.budget is None or self.used <= self.budget

    def __str__(self) -> str:
        budget = f" of {self.budget:,.0f}" if self.budget is not None else ""
        share = f" ({self.used / self.budget:.0%})" if self.budget else ""
        return f"{self.listener}: {self.used:,.0f}{budget} {self.unit} a day{share}: {self.detail}"


class Listener(Protocol):
    name: ClassVar[str]
    Options: ClassVar[type[ListenerOptions]]

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Planned daily API use for these brands at options.every (no network)."""
        ...

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> Listener: ...

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]: ...

    @staticmethod
    def to_mention(payload: Any) -> Mention | None: ...


def require(listener: str, env: Mapping[str, str], **refs: str | None) -> dict[str, str]:
    """Resolve credential references; raise MissingCredentials naming every unset variable.

    `refs` maps an option name to its configured value (normally '${VAR}').
    """
    values: dict[str, str] = {}
    missing: list[str] = []
    for option, ref in refs.items():
        value = resolve(ref, env)
        if value is None:
            missing.append(env_name(ref) or f"listeners.{listener}.{option}")
        else:
            values[option] = value
    if missing:
        raise MissingCredentials(listener, missing)
    return values


# -- helpers every platform module needs ---------------------------------------------------


def to_int(value: Any) -> int:
    """A count from a payload; platforms send some as strings, and broken ones as junk
    (NaN, infinity, a list: 0)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object from a payload field, or {} when the field holds anything else."""
    return value if isinstance(value, Mapping) else {}


def text_or_none(value: Any) -> str | None:
    """A string field (a language code, say) that may come as any JSON type: only a string counts."""
    return value if isinstance(value, str) and value else None


def guarded(listener: str, to_mention: Callable[[Any], Mention | None]) -> Callable[[Any], Mention | None]:
    """`to_mention` that never raises past the listener: a payload it fails on (a bug against
    some odd payload; the fuzz tests look for them) is skipped with a warning naming its id,
    never its text, so one post cannot stop the walk."""

    def convert(payload: Any) -> Mention | None:
        try:
            return to_mention(payload)
        except Exception as exc:  # noqa: BLE001 - see above
            ident = payload.get("id") if isinstance(payload, Mapping) else None
            shown = str(ident).encode("ascii", "backslashreplace").decode()[:80] if ident is not None else "?"
            log.warning("%s: skipped a post it could not read (id %s, %s); please report this as a bug",
                        listener, shown, type(exc).__name__)
            return None

    return convert


def to_ints(values: Any) -> dict[str, int]:
    if not isinstance(values, Mapping):
        return {}
    return {str(k): to_int(v) for k, v in values.items()}


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from a payload, or None when it is missing or unreadable."""
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


def cursor_part(cursor: str | None, field: str, listener: str) -> dict[str, Any]:
    """One mapping from a stored JSON cursor; an unreadable cursor starts afresh, loudly."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor).get(field) or {}
        if not isinstance(value, dict):
            raise ValueError(field)
        return value
    except (ValueError, AttributeError):
        log.warning("%s: ignoring an unreadable cursor; reading the newest posts again", listener)
        return {}


class SecretFilter(logging.Filter):
    """Client libraries log request headers and URLs (tokens, ?key=...) at DEBUG: blank them."""

    def __init__(self, *loggers: str):
        super().__init__()
        self.loggers = loggers
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self.secrets.add(secret)
        for name in self.loggers:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, sorted(self.secrets))
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
