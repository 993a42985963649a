"""Rule files -> validated Rule objects.

A file in rules/ holds one rule (a mapping) or a list of them. Each rule has the common
fields below and exactly one kind block, keyed by the kind's name:

    name: reputation-crisis
    brands: [mindful]
    severity: critical
    volume_spike: {window: 1h, factor: 4, sentiment: negative}

Every problem in every file is reported at once, each at file:line:col. A broken file does
not stop the good ones from loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import Config
from bot.durations import Duration
from bot.errors import Problem, QueryError
from bot.kinds import KINDS
from bot.kinds.base import KindOptions
from bot.query import parse
from bot.yamlsrc import Source, dotted, load, plain, suggest, validation_problems


class RuleModel(BaseModel):
    """The fields every rule has, whatever its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique; letters, digits, - _ .")
    description: str = ""
    enabled: bool = True
    brands: list[str] | None = Field(None, description="Brand keys from config.yaml; default: every kind: brand")
    platforms: list[str] | None = Field(None, description="Only these platforms (x, reddit, youtube)")
    severity: Literal["info", "warning", "critical"] = "warning"
    channel: str | None = Field(None, description="A name from slack.channels; default: slack.default_channel")
    cooldown: Duration = Field(timedelta(hours=2), description="No new alert for the same brand within this")
    resolve_after: Duration = Field(timedelta(minutes=30), description="Quiet this long before an alert resolves")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    brands: tuple[str, ...]
    platforms: tuple[str, ...] | None
    severity: str
    channel: str | None
    cooldown: timedelta
    resolve_after: timedelta
    kind: str
    options: KindOptions
    file: str
    line: int

    def check(self, ctx: Any) -> Any:
        return KINDS[self.kind].check(self.options, ctx)

    def explain(self, ctx: Any, trigger: Any) -> Any:
        return KINDS[self.kind].explain(self.options, ctx, trigger)


PLATFORMS = ("x", "reddit", "youtube")


def load_rules(paths: list[Path], config: Config | None) -> tuple[list[Rule], list[Problem]]:
    """Load rule files (or folders of *.yaml / *.yml). Returns the valid rules and every problem.

    With `config=None` (config.yaml itself is broken) the files are still checked for all that
    they alone can show, so `check` can report rule problems beside the config's; brands,
    channels and timing are then not checked, and rules name only the brands they list.
    """
    rules: list[Rule] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in _rule_files(paths):
        file_rules, file_problems = load_file(path, config)
        problems += file_problems
        for rule in file_rules:
            if rule.name in seen:
                problems.append(Problem(rule.file, rule.line, 1, "name",
                                        f"rule name '{rule.name}' is already used in {seen[rule.name]}",
                                        "rule names must be unique; rename one"))
                continue
            seen[rule.name] = f"{rule.file}:{rule.line}"
            rules.append(rule)
    return rules, problems


def _rule_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")
                            and not p.name.endswith((".test.yaml", ".test.yml")))
        else:
            files.append(path)
    return files


def load_file(path: Path, config: Config | None) -> tuple[list[Rule], list[Problem]]:
    source, problems = load(path)
    if source is None:
        return [], problems
    root = source.root
    if root is None:
        return [], [Problem(str(path), 1, 1, "", "the file is empty", "write one rule, or a list of rules")]
    items = list(enumerate(root)) if isinstance(root, list) else [(None, root)]
    rules: list[Rule] = []
    for index, node in items:
        prefix = () if index is None else (index,)
        rule, rule_problems = _one(source, node, prefix, config)
        problems += rule_problems
        if rule is not None and not [p for p in rule_problems if p.severity == "error"]:
            rules.append(rule)
    return rules, problems


def _one(source: Source, node: Any, prefix: tuple, config: Config | None) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(node, dict):
        return None, [source.problem(prefix, "a rule must be a mapping of keys",
                                     "see rules/ for examples, or run `harkbot rules schema`")]
    data = plain(node)
    kinds = [k for k in data if k in KINDS]
    common = {k: v for k, v in data.items() if k not in KINDS}
    problems: list[Problem] = []
    unknown = [k for k in common if k not in RuleModel.model_fields]
    for key in unknown:
        choices = list(RuleModel.model_fields) + list(KINDS)
        problems.append(source.problem(prefix + (key,), "unknown key", suggest(str(key), choices), key=True))
        common.pop(key)
    if not kinds and not unknown:
        problems.append(source.problem(prefix, "the rule has no kind block",
                                       "add one of: " + ", ".join(KINDS)))
    if len(kinds) > 1:
        problems.append(source.problem(prefix + (kinds[1],), f"a rule has exactly one kind; found {', '.join(kinds)}",
                                       "split it into two rules", key=True))
    try:
        model = RuleModel.model_validate(common)
    except ValidationError as exc:
        problems += validation_problems(exc, source, RuleModel, prefix)
        model = None
    options = None
    if len(kinds) == 1:
        kind = kinds[0]
        cls = KINDS[kind].Options
        try:
            options = cls.model_validate(data[kind] if data[kind] is not None else {})
        except ValidationError as exc:
            problems += [_at_query_error(source, p, prefix + (kind, "query"))
                         for p in validation_problems(exc, source, cls, prefix + (kind,))]
    if model is None or options is None:
        return None, problems
    if config is not None:
        problems += _references(source, prefix, model, options, config)
    if model.brands or config is None:
        brands = tuple(model.brands or ())
    else:
        brands = tuple(k for k, b in config.brands.items() if b.kind == "brand")
    line, _col = source.position(prefix)  # where the rule starts, after any leading comments
    rule = Rule(model.name, model.description, brands, tuple(model.platforms) if model.platforms else None,
                model.severity, model.channel, model.cooldown, model.resolve_after, kinds[0], options,
                source.file, line)
    return (rule if model.enabled else None), problems


def _at_query_error(source: Source, problem: Problem, loc: tuple) -> Problem:
    """A kind's query that does not parse: point at the character, as config.yaml's do."""
    text = source.node(loc)
    if problem.path != dotted(loc) or not isinstance(text, str):
        return problem
    try:
        parse(text)
    except QueryError as exc:
        line, col = source.value_position(loc, exc.position)
        return Problem(problem.file, line, col, problem.path, problem.message, problem.hint, problem.severity)
    return problem


def _references(source: Source, prefix: tuple, model: RuleModel, options: KindOptions,
                config: Config) -> list[Problem]:
    """Checks that need config.yaml: brands, channels, platforms, timing."""
    problems = []
    for i, brand in enumerate(model.brands or []):
        if brand not in config.brands:
            problems.append(source.problem(prefix + ("brands", i), f"unknown brand '{brand}'",
                                           suggest(brand, list(config.brands))))
    channels = config.model.slack.channels
    if model.channel is not None and model.channel not in channels:
        problems.append(source.problem(prefix + ("channel",), f"unknown channel '{model.channel}'",
                                       suggest(model.channel, list(channels)) + "; channels are named in "
                                       "config.yaml under slack.channels"))
    for i, platform in enumerate(model.platforms or []):
        if platform not in PLATFORMS:
            problems.append(source.problem(prefix + ("platforms", i), f"unknown platform '{platform}'",
                                           suggest(platform, list(PLATFORMS))))
    window = getattr(options, "window", None)
    kind = next(k for k, m in KINDS.items() if isinstance(options, m.Options))
    if window is not None and window < config.evaluate_every:
        problems.append(source.problem(prefix + (kind, "window"),
                                       f"window {_fmt(window)} is shorter than evaluate_every "
                                       f"{_fmt(config.evaluate_every)}: mentions between evaluations would be missed",
                                       f"use at least {_fmt(config.evaluate_every)}"))
    if kind == "negative_share" and getattr(options, "min_mentions", 0) < 10:
        problems.append(source.problem(prefix + (kind, "min_mentions"),
                                       "a share over fewer than 10 mentions is mostly noise",
                                       "raise min_mentions to 10 or more", severity="warning"))
    return problems


def _fmt(delta: timedelta) -> str:
    from bot.durations import format_duration

    return format_duration(delta)
