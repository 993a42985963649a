"""From a `notifiers.<name>` config section and the environment to a notifier's arguments.

Secrets (SMTP passwords, webhook URLs, which carry their own tokens) are `${VAR}` references
resolved here, at start-up; a notifier whose required settings are unset is off, and
`harkbot check` says which variables to set.
"""

from __future__ import annotations

from typing import Mapping, TypeVar

from bot.errors import HarkError, NotifyError
from bot.secrets import env_name, resolve, resolve_all

T = TypeVar("T", str, list)


class NotifierOff(HarkError):
    """A configured notifier that cannot start, and what to do about it: the settings to give
    it by name, or (`problem`) what is wrong with the ones given."""

    def __init__(self, notifier: str, variables: list[str] = (), problem: str = ""):  # type: ignore[assignment]
        self.notifier, self.variables = notifier, list(variables)
        super().__init__(f"{notifier}: off, {problem or 'set ' + ', '.join(self.variables)}")


def require(notifier: str, env: Mapping[str, str], **refs: str | None) -> dict[str, str]:
    """Resolve required settings; NotifierOff names every one unset."""
    values, missing = resolve_all(f"notifiers.{notifier}", env, **refs)
    if missing:
        raise NotifierOff(notifier, missing)
    return values


def optional(value: str | None, env: Mapping[str, str]) -> str | None:
    """A setting that may stay unset (a login, a signing secret): None when it is."""
    return resolve(value, env)


def channel_targets(notifier: str, channels: Mapping[str, T], env: Mapping[str, str]) -> tuple[dict[str, T], list[str]]:
    """Each channel's target(s) resolved; channels with an unset variable are left out and named
    in the second value. None resolved at all: NotifierOff."""
    out: dict[str, T] = {}
    unset: list[str] = []
    for name, target in channels.items():
        refs = target if isinstance(target, list) else [target]
        resolved = [resolve(ref, env) for ref in refs]
        if any(v is None for v in resolved):
            unset += [env_name(ref) or f"notifiers.{notifier}.channels.{name}" for ref, v in zip(refs, resolved)
                      if v is None]
            continue
        out[name] = resolved if isinstance(target, list) else resolved[0]  # type: ignore[assignment]
    if not out:
        raise NotifierOff(notifier, sorted(set(unset)) or [f"notifiers.{notifier}.channels"])
    return out, sorted(set(unset))


class Served:
    """What every notifier with its own `channels` map says about them: which names it
    serves (bot/outbox.py skips the rest), and for `harkbot check`, which it has."""

    name: str
    channels: Mapping[str, object]
    unset: list[str] = []  # the variables of channels left out because they are unset

    def serves(self, channel: str) -> bool:
        return channel in self.channels

    def describe(self) -> str:
        left = f" (set {', '.join(self.unset)} for the rest)" if self.unset else ""
        return "channels " + ", ".join(self.channels) + left

    def channel_name(self, channel: str | None) -> str:
        """The channel a message goes to (None: the notifier's default), or NotifyError naming the
        config key to add it under."""
        name = channel if channel is not None else getattr(self, "default_channel", None)
        if name is None:
            raise NotifyError(f"{self.name}: no channel given and no default channel; name the channel under "
                              f"notifiers.{self.name}.channels", retryable=False)
        if name not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none are configured"
            raise NotifyError(f"{self.name}: no URL for channel {name!r}; add it under notifiers.{self.name}.channels "
                              f"(known: {known})", retryable=False)
        return name


def hook_channels(name: str, channels: Mapping[str, str], default_channel: str | None, what: str) -> dict[str, str]:
    """A webhook-style notifier's channel URLs checked (`what` says which URL is wanted); a URL
    is itself a secret, so no message quotes it."""
    from bot.notifiers.http_post import is_http_url

    for channel, url in channels.items():
        if not is_http_url(url):
            raise ValueError(f"{name}: notifiers.{name}.channels.{channel} must be {what}")
    if default_channel is not None and default_channel not in channels:
        raise ValueError(f"{name}: default_channel {default_channel!r} is not one of notifiers.{name}.channels")
    return dict(channels)


def hook_from_config(cls, settings, env: Mapping[str, str], *, routing, privacy, **extra):
    """A webhook-style notifier (one URL per channel) from its config section."""
    name = cls.name
    channels, unset = channel_targets(name, settings.channels, env)
    try:
        notifier = cls(channels=channels, timeout=settings.timeout, pace=settings.pace, routing=routing,
                       privacy=privacy, **extra)
    except ValueError as exc:
        raise NotifierOff(name, problem=str(exc)) from None
    notifier.unset = unset
    return notifier
