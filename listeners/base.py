"""The Listener protocol: what every platform module provides.

A listener module holds one class with:
  name      the key used under `listeners:` in config.yaml
  Options   a pydantic model of its options (ListenerOptions and its own fields)
  from_config(options, env) -> listener   raises MissingCredentials naming the variables
  fetch(brands, cursor, now) -> iterator of Batch   network I/O, rate limits
  to_mention(payload) -> Mention | None   pure: one platform payload to a Mention

Listeners import only bot.models, bot.query, bot.errors and option types; a platform
client object never leaves its module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict

from bot.durations import Duration
from bot.errors import MissingCredentials
from bot.models import Batch, Brand, Mention
from bot.secrets import env_name, resolve


class ListenerOptions(BaseModel):
    """Options every listener has; each listener's Options adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    every: Duration = timedelta(minutes=5)
    base_url: str | None = None  # an API-compatible gateway or a local fake; None: the platform


class Listener(Protocol):
    name: ClassVar[str]
    Options: ClassVar[type[ListenerOptions]]

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
