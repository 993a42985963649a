"""config.yaml -> Config: brands, listeners, sentiment, Slack, rules folder, database.

Every problem is reported at once, each with file:line:col, the key path and a fix.
Secrets are never written here: credentials are `${ENV_VAR}` references resolved when a
listener or notifier starts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from bot.durations import Duration
from bot.errors import ConfigError, Problem, QueryError
from bot.models import Brand
from bot.query import parse
from bot.secrets import env_name
from bot.store import is_dsn
from bot.yamlsrc import Source, load, plain, suggest, validation_problems

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandModel(_Strict):
    """A brand, competitor or topic, and the query that finds its mentions."""

    name: str | None = Field(None, description="Display name; defaults to the key")
    kind: Literal["brand", "competitor", "topic"] = "brand"
    query: str = Field(description='Boolean query: words, "phrases", #tags, @handles, AND OR NOT ( )')
    exclude: str | None = Field(None, description="Mentions matching this query are dropped")


class SentimentModel(_Strict):
    scorer: str = "harkbot"
    lexicon: str | None = Field(None, description="A YAML lexicon of extra and neutral terms, relative to "
                                "config.yaml (a clinic's own service words, say)")
    negative_below: float | None = Field(None, ge=-1, le=1, description="None: the scorer's own")
    positive_above: float | None = Field(None, ge=-1, le=1, description="None: the scorer's own")

    @field_validator("scorer")
    @classmethod
    def _known_scorer(cls, value: str) -> str:
        from bot.sentiment import SCORERS

        if value not in SCORERS:
            raise ValueError(f"unknown scorer '{value}' ({suggest(value, list(SCORERS))})")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SentimentModel:
        low, high = self.negative_below, self.positive_above
        if low is not None and high is not None and low > high:
            raise ValueError("negative_below must not be above positive_above")
        return self


def _time_of_day(value: str) -> str:
    from bot.routing import parse_time_of_day

    parse_time_of_day(value)
    return value


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}'; use an IANA name such as Europe/London, "
                         "America/New_York or UTC") from None
    return value


class RouteModel(_Strict):
    """Alerts whose rule names no channel go to the first route that matches them all."""

    channel: str
    brands: list[str] = Field(default_factory=list, description="Brand keys; empty: any")
    severities: list[Literal["info", "warning", "critical"]] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list, description="Rule kinds; empty: any")
    rules: list[str] = Field(default_factory=list, description="Rule names; empty: any")


class _LocalTimes(_Strict):
    """Times of day (HH:MM) in a channel's own time zone: "07:00" is the team's morning."""

    timezone: str = "UTC"

    @field_validator("start", "end", "at", check_fields=False)
    @classmethod
    def _times(cls, value: str) -> str:
        return _time_of_day(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)


class QuietHoursModel(_LocalTimes):
    start: str = Field(description="HH:MM, local to `timezone`")
    end: str = Field(description="HH:MM; earlier than start means the next morning")


class DigestModel(_LocalTimes):
    at: str = Field(description="HH:MM, local to `timezone`: when the day's digest goes out")
    severities: list[Literal["info", "warning"]] = Field(default_factory=lambda: ["info"])


class SlackPrivacyModel(_Strict):
    """Minimum necessary in shared channels: the store keeps the full text."""

    emails: bool = True
    phones: bool = True
    handles: bool = Field(True, description="Hide the handles of private individuals")
    public_reach: int = Field(10_000, ge=0, description="Authors with at least this reach are public accounts")
    keep_handles: list[str] = Field(default_factory=list, description="Handles always shown (the brand's own)")


class SlackModel(_Strict):
    token: str | None = Field("${SLACK_BOT_TOKEN}", description="Bot token, as ${ENV_VAR}")
    webhook_url: str | None = Field("${SLACK_WEBHOOK_URL}", description="Incoming webhook, as ${ENV_VAR}")
    app_token: str | None = Field("${SLACK_APP_TOKEN}", description="App-level token (xapp-..., "
                                  "connections:write) for Socket Mode: triage buttons on alerts, as ${ENV_VAR}")
    base_url: str | None = Field(None, description="Web API base URL (GovSlack, a local fake)")
    channels: dict[str, str] = Field(default_factory=lambda: {"alerts": "#brand-alerts"})
    default_channel: str = "alerts"
    admin_channel: str | None = Field(None, description="Where messages about harkbot itself go (a rule file "
                                      "broken on reload); default: default_channel")
    routes: list[RouteModel] = Field(default_factory=list)
    quiet_hours: dict[str, QuietHoursModel] = Field(default_factory=dict, description="Per channel name")
    digest: dict[str, DigestModel] = Field(default_factory=dict, description="Per channel name")
    privacy: SlackPrivacyModel | None = Field(None, description="Redact what shared channels see")
    pace: float = Field(1.0, ge=0, le=60, description="Seconds between two messages to one channel "
                        "(Slack allows about one a second)")

    # Field validators (not a model one), so an error points at the key itself; `channels`
    # is declared above them, so it is already in info.data when valid.
    @field_validator("default_channel", "admin_channel")
    @classmethod
    def _channel_is_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        channels = info.data.get("channels")
        if value is not None and channels is not None and value not in channels:
            hint = suggest(value, list(channels)) if channels else "none are defined under slack.channels"
            raise ValueError(f"'{value}' is not one of slack.channels ({hint})")
        return value

    @model_validator(mode="after")
    def _channels_known(self) -> SlackModel:
        known = list(self.channels)
        named = [(f"routes[{i}].channel", r.channel) for i, r in enumerate(self.routes)]
        named += [(f"quiet_hours.{c}", c) for c in self.quiet_hours] + [(f"digest.{c}", c) for c in self.digest]
        for where, channel in named:
            if channel not in self.channels:
                hint = suggest(channel, known) if known else "none are defined under slack.channels"
                raise ValueError(f"{where}: '{channel}' is not one of slack.channels ({hint})")
        return self


_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")


def _address(value: str, where: str) -> str:
    # One bare address each: a comma, a display name or a newline here would add recipients or
    # headers the config does not show.
    if not _ADDRESS.fullmatch(value) and not env_name(value):
        raise ValueError(f"{where}: '{value}' is not an e-mail address; write one bare address "
                         "(name@example.com) per list item, or ${ENV_VAR}")
    return value


class EmailModel(_Strict):
    """SMTP (smtplib): each alert a message of its own, plain text and HTML; a channel named in
    slack.digest gets one digest message a day instead."""

    host: str | None = Field("${SMTP_HOST}", description="SMTP server, as text or ${ENV_VAR}")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for SSL")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (default) or ssl; none only for a relay on localhost")
    username: str | None = Field("${SMTP_USERNAME}", description="null: no login")
    password: str | None = Field("${SMTP_PASSWORD}", description="As ${ENV_VAR}, never in the file")
    sender: str = Field("${HARKBOT_MAIL_FROM}", description="The From: address")
    channels: dict[str, list[str]] = Field(description="Channel name -> recipient addresses")
    timeout: float = Field(30, gt=0, le=300, description="Seconds for each SMTP step")
    ca_file: str | None = Field(None, description="PEM file of a private CA the server's certificate is "
                                "signed by (a company relay); default: the system's CAs")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        # A display name is welcome here ("harkbot <alerts@example.com>"): it is one address.
        from email.utils import parseaddr

        if env_name(value) or ("\n" not in value and "\r" not in value and _ADDRESS.fullmatch(parseaddr(value)[1])):
            return value
        raise ValueError(f"sender: '{value}' is not an e-mail address; write name@example.com, "
                         "\"harkbot <alerts@example.com>\" or ${ENV_VAR}")

    @field_validator("channels")
    @classmethod
    def _recipients(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, addresses in value.items():
            if not addresses:
                raise ValueError(f"channel '{name}' lists no recipients")
            for address in addresses:
                _address(address, f"channel '{name}'")
        return value


class HookModel(_Strict):
    """An HTTP endpoint per channel name; URLs carry their own tokens, so write them as ${ENV_VAR}."""

    channels: dict[str, str] = Field(description="Channel name -> URL, as ${ENV_VAR}")
    timeout: float = Field(10, gt=0, le=120, description="Seconds per request")

    @field_validator("channels")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not env_name(url) and not re.match(r"https?://", url):
                raise ValueError(f"channel '{name}': '{url}' is not an http(s) URL or ${{ENV_VAR}}")
        return value


class WebhookModel(HookModel):
    """JSON to any HTTP endpoint (bot/notifiers/webhook.schema.json), signed with HMAC-SHA256."""

    secret: str | None = Field("${HARKBOT_WEBHOOK_SECRET}", description="HMAC key, as ${ENV_VAR}; "
                               "null: unsigned")
    pace: float = Field(0.0, ge=0, le=60, description="Seconds between two posts to one URL")


class TeamsModel(HookModel):
    """Microsoft Teams: a Workflows (or incoming webhook) URL per channel; Adaptive Cards."""

    pace: float = Field(0.25, ge=0, le=60, description="Seconds between two posts to one URL (Teams "
                        "throttles a webhook beyond about 4 requests a second)")


class NotifiersModel(_Strict):
    """Notifiers besides Slack. Channel names are one namespace: an alert routed to a channel
    goes to every notifier that has a target for that name."""

    email: EmailModel | None = None
    webhook: WebhookModel | None = None
    teams: TeamsModel | None = None

    def sections(self) -> dict[str, HookModel | EmailModel]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}


MAX_DAYS = 36_500  # retention: a hundred years is "keep"; more is a typo (and overflows date arithmetic)


class RetentionModel(_Strict):
    """How long stored mentions are kept, in days, by the listener that fetched them (null:
    forever). Defaults follow the platforms' terms; see README "retention" (not legal advice)."""

    twitter: int | None = Field(30, ge=1, le=MAX_DAYS, description="Days; X expects deleted posts removed, harkbot cannot see deletions")
    reddit: int | None = Field(90, ge=1, le=MAX_DAYS, description="Days; Reddit expects deleted content removed")
    youtube: int | None = Field(30, ge=1, le=MAX_DAYS, description="Days; YouTube allows storing API data for 30 days")
    mastodon: int | None = Field(30, ge=1, le=MAX_DAYS, description="Days; a deleted toot cannot be seen "
                                 "from here, and instance rules vary, so keep no longer than needed")
    bluesky: int | None = Field(30, ge=1, le=MAX_DAYS, description="Days; a deleted post cannot be seen "
                                "from search, and Bluesky asks apps to honour deletions")
    rss: int | None = Field(90, ge=1, le=MAX_DAYS, description="Days; headlines and excerpts of public "
                            "articles, under each publisher's own terms")
    hackernews: int | None = Field(90, ge=1, le=MAX_DAYS, description="Days; public posts, deletions unseen")
    demo: int | None = Field(14, ge=1, le=MAX_DAYS, description="Days; synthetic data")
    alerts_days: int | None = Field(365, ge=1, le=MAX_DAYS, description="Days a resolved alert (and its post excerpts) is kept")


class MetricsModel(_Strict):
    """The Prometheus endpoint of `harkbot run` (needs `pip install 'harkbot[metrics]'`)."""

    port: int | None = Field(None, ge=1, le=65535, description="null: off (default)")
    address: str = Field("127.0.0.1", description="The address to listen on; 0.0.0.0 for every interface")


class IngestModel(_Strict):
    """How posts are prepared (normalise, match, score, flag) before the store writes them."""

    workers: int = Field(0, ge=0, le=64, description=(
        "Worker processes that prepare pages while this process writes: 0 (default) prepares in-process, "
        "which keeps up with a few thousand new posts a second; more helps a CPU-bound backlog on a "
        "machine with idle cores (each worker holds its own copy of the lexicons, ~100 MB)"))


class PrivacyModel(_Strict):
    """Redaction before storage: what is redacted here is never written to the database."""

    emails: bool = Field(False, description="Replace e-mail addresses in posts with [email] before storing")
    phones: bool = Field(False, description="Replace phone numbers in posts with [phone] before storing")


class SafetyModel(_Strict):
    """Posts that may come from a person at risk of self-harm (bot/selfharm.py)."""

    enabled: bool = True
    channel: str | None = Field(None, description="A slack.channels name; default: slack.default_channel")
    alert_levels: list[Literal["intent", "ideation", "self-harm", "risk", "none"]] = Field(
        default_factory=lambda: ["intent", "ideation", "self-harm", "risk"],
        description="Flag levels that raise an alert (default: all but `none`, a past disclosure told in "
                    "care); every flag is kept out of other alerts")
    resources: str = Field(
        "If you are in the US, call or text 988 (Suicide & Crisis Lifeline). Elsewhere, findahelpline.com "
        "lists local services.", description="Crisis resources quoted in every safety alert")


DATABASE_ENV = "HARKBOT_DATABASE_URL"  # a DSN here beats config.yaml's `database:`


class ConfigModel(_Strict):
    database: str = Field("harkbot.db", description="SQLite file, relative to config.yaml, or a PostgreSQL DSN"
                          " (postgresql://...); the environment's HARKBOT_DATABASE_URL overrides it")
    rules: str = Field("rules", description="Folder of rule files, relative to config.yaml")
    evaluate_every: Duration = timedelta(minutes=5)
    brands: dict[str, BrandModel]
    listeners: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sentiment: SentimentModel = SentimentModel()
    slack: SlackModel = SlackModel()
    notifiers: NotifiersModel = NotifiersModel()
    retention: RetentionModel = RetentionModel()
    metrics: MetricsModel = MetricsModel()
    ingest: IngestModel = IngestModel()
    privacy: PrivacyModel = PrivacyModel()
    safety: SafetyModel = SafetyModel()

    # A field validator (`slack` is declared above it, so it is in info.data), so the error
    # points at the `safety` key rather than the top of the file.
    @field_validator("safety")
    @classmethod
    def _safety_channel_known(cls, value: SafetyModel, info: ValidationInfo) -> SafetyModel:
        slack, notifiers = info.data.get("slack"), info.data.get("notifiers")
        channel = value.channel
        if slack is None or notifiers is None or channel is None:
            return value
        known = channel_names(slack, notifiers)
        if channel not in known:
            raise ValueError(f"safety.channel: '{channel}' is not one of {channel_places(notifiers)} "
                             f"({suggest(channel, known) if known else 'none are defined'})")
        return value

    @field_validator("brands")
    @classmethod
    def _some_brands(cls, value: dict[str, BrandModel]) -> dict[str, BrandModel]:
        if not value:
            raise ValueError("define at least one brand")
        return value


def channel_names(slack: SlackModel, notifiers: NotifiersModel) -> list[str]:
    """Every channel name some notifier can deliver to, Slack's first."""
    names = dict.fromkeys(slack.channels)
    for section in notifiers.sections().values():
        names.update(dict.fromkeys(section.channels))
    return list(names)


def channel_places(notifiers: NotifiersModel) -> str:
    """Where channel names are defined, for an error about one that is not."""
    names = list(notifiers.sections())
    if not names:
        return "slack.channels"
    return f"slack.channels or notifiers.{names[0] if len(names) == 1 else '{' + ','.join(names) + '}'}.channels"


@dataclass(frozen=True)
class Config:
    path: Path
    model: ConfigModel
    brands: dict[str, Brand]
    listeners: dict[str, Any]  # listener name -> its validated Options
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def database(self) -> Path | str:
        """A SQLite file (a Path) or a PostgreSQL DSN (a str: it may hold a password, so show
        it with bot.store.display). HARKBOT_DATABASE_URL wins, so a secret DSN need not be
        written in config.yaml."""
        override = os.environ.get(DATABASE_ENV)
        if override:
            return override
        if is_dsn(self.model.database):
            return self.model.database
        return self.path.parent / self.model.database

    @property
    def channels(self) -> list[str]:
        """The channel names a rule, route or safety setting may name."""
        return channel_names(self.model.slack, self.model.notifiers)

    @property
    def rules_dir(self) -> Path:
        return self.path.parent / self.model.rules

    @property
    def evaluate_every(self) -> timedelta:
        return self.model.evaluate_every


def load_config(path: str | Path) -> Config:
    """Load and validate config.yaml; raise ConfigError listing every problem."""
    path = Path(path)
    source, problems = load(path)
    if source is None:
        raise ConfigError(problems)
    if source.root is None:
        raise ConfigError([Problem(str(path), 1, 1, "", "the file is empty",
                                   "start from the shipped config.yaml")])
    if not isinstance(source.root, dict):
        raise ConfigError([Problem(str(path), 1, 1, "", f"{path.name} must be a mapping of keys, "
                                   f"not a {'list' if isinstance(source.root, list) else 'single value'}",
                                   "start from the shipped config.yaml")])
    data = plain(source.root)
    problems += _check_keys(source, data)
    listener_options, listener_problems = _listeners(source, data.get("listeners"))
    problems += listener_problems
    try:
        model = ConfigModel.model_validate({**data, "listeners": {}})
    except ValidationError as exc:
        problems += validation_problems(exc, source, ConfigModel)
        model = None
    brands, brand_problems = _brands(source, data, model)
    problems += brand_problems
    problems.sort(key=lambda p: (p.line, p.col))  # read top to bottom, as the file is
    errors = [p for p in problems if p.severity == "error"]
    if errors or model is None:
        raise ConfigError(errors)
    model = model.model_copy(update={"listeners": data.get("listeners") or {}})
    warnings = tuple(p for p in problems if p.severity != "error") + _secret_warnings(source, data)
    return Config(path, model, brands, listener_options, warnings)


def _check_keys(source: Source, data: dict) -> list[Problem]:
    problems = []
    for key in (data.get("brands") or {}) if isinstance(data.get("brands"), dict) else ():
        if not KEY.match(str(key)):
            problems.append(source.problem(("brands", key), f"brand key '{key}' is not a simple name",
                                           "use lower-case letters, digits, - and _", key=True))
    return problems


def _listeners(source: Source, section: Any) -> tuple[dict[str, Any], list[Problem]]:
    from listeners import REGISTRY

    if section is None:
        return {}, []
    if not isinstance(section, dict):
        return {}, [source.problem(("listeners",), "must be a mapping of listener name to options")]
    options: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, raw in section.items():
        cls = REGISTRY.get(name)
        if cls is None:
            problems.append(source.problem(("listeners", name), f"unknown listener '{name}'",
                                           suggest(str(name), list(REGISTRY)), key=True))
            continue
        if raw is not None and not isinstance(raw, dict):
            # `youtube: false` used to read as `raw or {}`: the listener on, with defaults
            problems.append(source.problem(("listeners", name), "must be a mapping of options",
                                           "to switch it off, write `enabled: false` under it"))
            continue
        try:
            options[name] = cls.Options.model_validate(raw or {})
        except ValidationError as exc:
            problems += validation_problems(exc, source, cls.Options, ("listeners", name))
    return options, problems


def _brands(source: Source, data: dict, model: ConfigModel | None) -> tuple[dict[str, Brand], list[Problem]]:
    """Parse every brand's queries from the file's data, so a query error is reported even when
    another key's error leaves no model; Brands are built only from a valid model."""
    brands: dict[str, Brand] = {}
    problems: list[Problem] = []
    section = data.get("brands")
    for key, raw in section.items() if isinstance(section, dict) else ():
        parsed = {}
        for field_name in ("query", "exclude"):
            text = raw.get(field_name) if isinstance(raw, dict) else None
            if not isinstance(text, str):
                continue  # missing or not text: the model's validation says so
            try:
                parsed[field_name] = parse(text)
            except QueryError as exc:
                problems.append(source.problem(("brands", key, field_name), f"query: {exc}",
                                               'see "Brand queries" in the README', at=exc.position))
        spec = model.brands.get(key) if model is not None else None
        if spec is not None and "query" in parsed:
            brands[key] = Brand(key, spec.name or key, spec.kind, parsed["query"], parsed.get("exclude"))
    return brands, problems


def _secret_warnings(source: Source, data: dict) -> tuple[Problem, ...]:
    """A literal token in a config file leaks through version control and backups."""
    from listeners import REGISTRY

    warnings = []
    slack = data.get("slack") or {}
    for key in ("token", "webhook_url"):
        value = slack.get(key)
        if value and not env_name(value):
            # name the variable the shipped config uses (SLACK_BOT_TOKEN, not SLACK_TOKEN)
            var = env_name(SlackModel.model_fields[key].default)
            warnings.append(source.problem(("slack", key), "a secret is written in the file",
                                           f"write ${{{var}}} and set it in the environment",
                                           severity="warning"))
    for name, options in (data.get("listeners") or {}).items():
        for key, value in (options or {}).items() if isinstance(options, dict) else ():
            secretish = any(w in key for w in ("token", "secret", "password", "key"))
            if secretish and isinstance(value, str) and value and not env_name(value):
                field_info = REGISTRY[name].Options.model_fields.get(key) if name in REGISTRY else None
                var = env_name(field_info.default) if field_info and isinstance(field_info.default, str) else None
                warnings.append(source.problem(("listeners", name, key), "a secret is written in the file",
                                               f"write it as ${{{var or 'ENV_VAR'}}} and set that in the "
                                               "environment", severity="warning"))
    return tuple(warnings)


def rules_dir_of(path: str | Path) -> Path:
    """The rules folder a config file names, even when the file has other problems."""
    path = Path(path)
    source, _problems = load(path)
    root = source.root if source is not None else None
    folder = root.get("rules") if isinstance(root, dict) else None
    return path.parent / (folder if isinstance(folder, str) and folder else "rules")
