"""Wiring: a Config and the environment -> the scorer, listeners, notifiers and rules the
daemon, `harkbot once` and the demo run with. Reads the environment it is given, no other."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from bot.config import Config
from bot.errors import MissingCredentials, Problem
from bot.routing import Digest, QuietHours, Route, Routing, parse_time_of_day
from bot.rules import Rule, load_rules
from bot.secrets import env_name, resolve
from bot.sentiment import Scorer, make_scorer

log = logging.getLogger("harkbot")


@dataclass
class Listeners:
    ready: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: why, and what to set
    disabled: list[str] = field(default_factory=list)


def scorer_for(config: Config) -> Scorer:
    s = config.model.sentiment
    lexicon = config.path.parent / s.lexicon if s.lexicon else None
    return make_scorer(s.scorer, s.negative_below, s.positive_above, lexicon=lexicon)


def build_listeners(config: Config, env: Mapping[str, str]) -> Listeners:
    from listeners import REGISTRY

    out = Listeners()
    for name, options in config.listeners.items():
        if not options.enabled:
            out.disabled.append(name)
            continue
        try:
            out.ready.append(REGISTRY[name].from_config(options, env))
        except MissingCredentials as exc:
            out.skipped.append(str(exc))
    return out


def rules_for(config: Config) -> tuple[list[Rule], list[Problem]]:
    if not config.rules_dir.is_dir():
        return [], [Problem(str(config.rules_dir), 0, 0, "rules", "the rules folder does not exist",
                            f"create it, or set `rules:` in {config.path.name}")]
    return load_rules([config.rules_dir], config)


def routing_for(config: Config) -> Routing:
    slack = config.model.slack
    return Routing(
        default=slack.default_channel,
        routes=tuple(Route(r.channel, frozenset(r.brands), frozenset(r.severities), frozenset(r.kinds),
                           frozenset(r.rules)) for r in slack.routes),
        quiet={name: QuietHours(parse_time_of_day(q.start), parse_time_of_day(q.end), q.timezone)
               for name, q in slack.quiet_hours.items()},
        digests={name: Digest(parse_time_of_day(d.at), frozenset(d.severities), d.timezone)
                 for name, d in slack.digest.items()},
    )


@dataclass
class Notifiers:
    active: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_notifiers(config: Config, env: Mapping[str, str], console: Any = None,
                    with_console: bool = False, every_note: bool = False) -> Notifiers:
    """Slack when a token (with channels) or a webhook is set; email, webhook and Teams when
    configured with their settings set; the console when asked. `every_note` also names the
    notifiers not configured at all (for `harkbot check`, which lists every notifier)."""
    from bot.notifiers import NOTIFIERS

    out = Notifiers()
    if with_console:
        # The same redaction as Slack's: the console shows what the channel would receive.
        out.active["console"] = NOTIFIERS["console"](console, privacy=privacy_for(config))
    _slack(config, env, out)
    _other_notifiers(config, env, out, every_note)
    return out


def _slack(config: Config, env: Mapping[str, str], out: Notifiers) -> None:
    from bot.notifiers import NOTIFIERS

    slack = config.model.slack
    token, webhook = resolve(slack.token, env), resolve(slack.webhook_url, env)
    if not token and not webhook:
        token_var, hook_var = env_name(slack.token), env_name(slack.webhook_url)
        out.notes.append(f"slack: off, set {token_var or 'slack.token'} (with channels) or "
                         f"{hook_var or 'slack.webhook_url'} to send alerts to Slack")
        return
    channels = {name: resolve(value, env) for name, value in slack.channels.items()}
    unset = sorted({env_name(slack.channels[n]) or n for n, v in channels.items() if not v})
    if token and not webhook and unset:
        out.notes.append(f"slack: off, the bot token is set but channels are not: set {', '.join(unset)}")
        return
    out.active["slack"] = NOTIFIERS["slack"](
        token=None if webhook and not token else token,
        webhook_url=webhook if not token else None,
        base_url=resolve(slack.base_url, env),
        channels={n: v for n, v in channels.items() if v},
        default_channel=slack.default_channel,
        routing=routing_for(config),
        privacy=privacy_for(config),
        pace=slack.pace,
        interactive=bool(token and resolve(slack.app_token, env)),
    )
    if token:
        out.notes.append("slack: on, bot token")
    else:
        out.notes.append("slack: on, incoming webhook: one fixed channel, so no routes; no threads (updates and "
                         "resolutions arrive as messages of their own) and no edits; after a crash a message may "
                         "be posted twice. A bot token (chat:write, channels:history) does all of these")


def _other_notifiers(config: Config, env: Mapping[str, str], out: Notifiers, every_note: bool) -> None:
    """Email, webhook, Teams: each configured one on, or off naming what to set; with
    `every_note`, the rest named as not configured."""
    from bot.notifiers import NOTIFIERS
    from bot.notifiers.settings import NotifierOff

    sections = config.model.notifiers.sections()
    routing, privacy = routing_for(config), privacy_for(config)
    for name, settings in sections.items():
        try:
            notifier = NOTIFIERS[name].from_config(settings, env, routing=routing, privacy=privacy)
        except NotifierOff as exc:
            out.notes.append(str(exc))
            continue
        out.active[name] = notifier
        out.notes.append(f"{name}: on, {notifier.describe()}")
    for name in config.model.notifiers.model_fields if every_note else ():
        if name not in sections:
            out.notes.append(f"{name}: not configured (add notifiers.{name} to config.yaml; README \"Notifiers\")")
    safety = config.model.safety
    crisis = safety.channel or config.model.slack.default_channel
    served = [n for n in out.active.values() if n.name != "console"
              and (getattr(n, "serves", None) is None or n.serves(crisis))]
    if safety.enabled and every_note and not served:
        # A post from someone who may be at risk must reach a person; skipped by every notifier
        # it would reach no one, and nothing else would say so.
        out.notes.append(f"safety: no notifier that is on has the channel '{crisis}' (safety.channel): posts "
                         "from people who may be at risk would reach no one; set that notifier's variables")


def privacy_for(config: Config):
    """The Slack privacy mode's redaction (None when `slack.privacy` is not set)."""
    settings = config.model.slack.privacy
    if settings is None:
        return None
    from bot.notifiers.redact import SlackPrivacy

    return SlackPrivacy.from_settings(settings, [b.query for b in config.brands.values()])
