"""Rule files -> validated Rule objects.

A file in rules/ holds one rule (a mapping) or a list of them. Each rule has the common
fields below and exactly one kind block, keyed by the kind's name:

    name: reputation-crisis
    brands: [mindful]
    severity: critical
    for: 10m                 # the condition must hold this long before the rule fires
    volume_spike: {window: 1h, factor: 4, sentiment: negative}

Every problem in every file is reported at once, each at file:line:col with the key path and
a suggestion. A broken file does not stop the good ones from loading. `rule_schema()` is the
JSON Schema of a rule file, built from the same models, for editors.

Nothing in a rule file runs: YAML is loaded without tags (bot/yamlsrc.py), there is no eval
and no template, and the only pattern language is the brand-query language (linear time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import Config, channel_places
from bot.durations import Duration, DurationOrZero
from bot.errors import Problem, QueryError
from bot.models import PLATFORMS
from bot.kinds import KINDS
from bot.kinds.base import KindOptions
from bot.query import parse
from bot.terms import tone_terms
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
    cooldown: Duration = Field(timedelta(hours=2), description="No new alert for the same group within this")
    for_: Duration | None = Field(None, alias="for", description="How long the condition must hold before the "
                                  "rule fires (pending until then); default: at once")
    resolve_after: Duration = Field(timedelta(minutes=30), description="Quiet this long before an alert resolves")
    update_every: DurationOrZero = Field(timedelta(minutes=30), description="At most one 'worse' update per "
                                         "alert within this (0: every time it gets worse enough)")
    worse_by: float | None = Field(None, gt=0, le=1000, description="How much worse is news for an update: a "
                                   "factor for counts (2: doubled since the last report), share points for "
                                   "shares (0.1: ten points); default: the kind's (2, or 0.1)")
    group_by: list[Literal["brand", "platform", "listener"]] | None = Field(
        None, description="One alert per brand (default), per brand and platform ([brand, platform]); "
        "listener_silent groups by listener")


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
    for_: timedelta | None = None
    group_by: tuple[str, ...] = ("brand",)
    update_every: timedelta = timedelta(minutes=30)
    worse_by: float | None = None

    def check(self, ctx: Any) -> Any:
        return KINDS[self.kind].check(self.options, ctx)

    def explain(self, ctx: Any, trigger: Any) -> Any:
        finding = KINDS[self.kind].explain(self.options, ctx, trigger)
        flagged = getattr(ctx.history, "safety_flagged", None)
        if flagged is not None and finding.posts:
            # A person who may be at risk is the safety channel's, never quoted as a complaint.
            hidden = flagged([p.key for p in finding.posts if p.key])
            if hidden:
                finding = replace(finding, posts=tuple(p for p in finding.posts if p.key not in hidden))
        if finding.tone or getattr(ctx, "brand", None) is None or not hasattr(ctx.history, "mentions"):
            return finding
        # What the sentiment scorer heard in the window's posts ("negative: 'leaked', 'refund'"),
        # beside the kind's own driving terms (what is new against the baseline).
        found = ctx.history.mentions(ctx.brand.key, finding.window_start, finding.window_end,
                                     platforms=ctx.platforms, limit=500, order="time")
        return replace(finding, tone=tone_terms(found))

    def worse(self, level: float | None, observed: float) -> bool:
        """Whether a firing alert got worse enough to send an update (the kind's say, else doubling)."""
        module = KINDS[self.kind]
        if hasattr(module, "worse"):
            return module.worse(self.options, level, observed, self.worse_by)
        return level is not None and level > 0 and observed >= (self.worse_by or 2.0) * level




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
    return rules, sorted(problems, key=lambda p: p.line)  # read top to bottom


def _one(source: Source, node: Any, prefix: tuple, config: Config | None) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(node, dict):
        return None, [source.problem(prefix, "a rule must be a mapping of keys",
                                     "see rules/ for examples, or run `harkbot rules schema`")]
    data = plain(node)
    kinds = [k for k in data if k in KINDS]
    common = {k: v for k, v in data.items() if k not in KINDS}
    problems: list[Problem] = []
    unknown = [k for k in common if k not in COMMON_KEYS]
    for key in unknown:
        choices = list(COMMON_KEYS) + list(KINDS)
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
    if model is not None and config is not None:
        # The common fields are checked even when the kind block is broken: one run, every error.
        problems += _model_references(source, prefix, model, config)
    if model is None or options is None:
        return None, problems
    kind = kinds[0]
    module = KINDS[kind]
    group_by = tuple(model.group_by or getattr(module, "DEFAULT_GROUP", ("brand",)))
    allowed = getattr(module, "GROUPS", ("brand", "platform"))
    for i, key in enumerate(group_by):
        if key not in allowed:
            problems.append(source.problem(prefix + ("group_by", i), f"{kind} cannot group by {key}",
                                           "it groups by " + " and ".join(allowed)))
    if "brand" in allowed and "brand" not in group_by:
        problems.append(source.problem(prefix + ("group_by",), "group_by must include brand",
                                       "write [brand] or [brand, platform]"))
    problems += _own_checks(source, prefix, kind, model, options)
    if config is not None:
        problems += _references(source, prefix, model, options, config)
    if model.brands or config is None:
        brands = tuple(model.brands or ())
    else:
        brands = tuple(k for k, b in config.brands.items() if b.kind == "brand")
    if kind == "share_of_voice" and options.versus is None and config is not None:
        versus = [k for k, b in config.brands.items() if b.kind == "brand" and k not in brands]
        options = options.model_copy(update={"versus": versus})
    if "listener" in allowed:
        brands = ()
    line, _col = source.position(prefix)  # where the rule starts, after any leading comments
    rule = Rule(model.name, model.description, brands, tuple(model.platforms) if model.platforms else None,
                model.severity, model.channel, model.cooldown, model.resolve_after, kind, options,
                source.file, line, model.for_, group_by, model.update_every, model.worse_by)
    if [p for p in problems if p.severity == "error"]:
        return None, problems
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


def _model_references(source: Source, prefix: tuple, model: RuleModel, config: Config) -> list[Problem]:
    """The common fields' checks that need config.yaml: brands, channel, platforms."""
    problems = []
    for i, brand in enumerate(model.brands or []):
        if brand not in config.brands:
            problems.append(source.problem(prefix + ("brands", i), f"unknown brand '{brand}'",
                                           suggest(brand, list(config.brands))))
    channels = config.channels
    if model.channel is not None and model.channel not in channels:
        problems.append(source.problem(prefix + ("channel",), f"unknown channel '{model.channel}'",
                                       suggest(model.channel, channels) + "; channels are named in "
                                       f"config.yaml under {channel_places(config.model.notifiers)}"))
    for i, platform in enumerate(model.platforms or []):
        if platform not in PLATFORMS:
            problems.append(source.problem(prefix + ("platforms", i), f"unknown platform '{platform}'",
                                           suggest(platform, list(PLATFORMS))))
    return problems


def _references(source: Source, prefix: tuple, model: RuleModel, options: KindOptions,
                config: Config) -> list[Problem]:
    """The kind block's checks that need config.yaml: timing, the brands it compares with."""
    problems = []
    window = getattr(options, "window", None)
    kind = next(k for k, m in KINDS.items() if isinstance(options, m.Options))
    if window is not None and window < config.evaluate_every:
        problems.append(source.problem(prefix + (kind, "window"),
                                       f"window {_fmt(window)} is shorter than evaluate_every "
                                       f"{_fmt(config.evaluate_every)}: mentions between evaluations would be missed",
                                       f"use at least {_fmt(config.evaluate_every)}"))
    for i, brand in enumerate(getattr(options, "versus", None) or []):
        if brand not in config.brands:
            problems.append(source.problem(prefix + (kind, "versus", i), f"unknown brand '{brand}'",
                                           suggest(brand, list(config.brands))))
        elif brand in (model.brands or ()):
            problems.append(source.problem(prefix + (kind, "versus", i), f"'{brand}' is compared with itself",
                                           "versus names the other brands, not the rule's own"))
    if kind == "share_of_voice" and getattr(options, "versus", None) is None and not model.brands:
        problems.append(source.problem(prefix + (kind,), "share_of_voice needs brands to compare",
                                       "name the competitors under brands, and our brand under versus"))
    if kind == "listener_silent":
        from listeners import REGISTRY

        known = sorted(set(config.listeners) | set(REGISTRY))
        for i, listener in enumerate(options.listeners or []):
            if listener not in known:
                problems.append(source.problem(prefix + (kind, "listeners", i), f"unknown listener '{listener}'",
                                               suggest(listener, known)))
    return problems


# Ratio rules and the volume below which their ratio is noise: (kind, option, floor).
VOLUME_GUARDS = (("negative_share", "min_mentions", 10), ("share_of_voice", "min_total", 20),
                 ("volume_spike", "min_mentions", 5))


def _own_checks(source: Source, prefix: tuple, kind: str, model: RuleModel, options: KindOptions) -> list[Problem]:
    """Checks of one rule on its own: impossible combinations, ratios without volume guards."""
    problems = []
    for guarded, option, floor in VOLUME_GUARDS:
        if kind != guarded or getattr(options, option, floor) >= floor:
            continue
        if kind == "volume_spike" and getattr(options, "direction", "up") != "up":
            continue
        what = {"negative_share": "a share over fewer than 10 mentions is mostly noise",
                "share_of_voice": "a share of voice over fewer than 20 mentions is mostly noise",
                "volume_spike": "a ratio over fewer than 5 mentions is mostly noise"}[kind]
        problems.append(source.problem(prefix + (kind, option), what, f"raise {option} to {floor} or more",
                                       severity="warning"))
    if model.worse_by is not None:
        points = getattr(KINDS[kind], "WORSE_BY", "factor") == "points"
        if points and model.worse_by >= 1:
            problems.append(source.problem(prefix + ("worse_by",), f"{kind} measures a share, so worse_by is in "
                                           "share points (0.1: ten points more than the last report)",
                                           "write a number below 1, e.g. 0.1"))
        elif not points and model.worse_by <= 1:
            problems.append(source.problem(prefix + ("worse_by",), f"{kind} counts, so worse_by is a factor "
                                           "(2: doubled since the last report); 1 or less would never be worse",
                                           "write a number above 1, e.g. 1.5 or 2"))
    return problems


COMMON_KEYS = tuple(f.alias or n for n, f in RuleModel.model_fields.items())


def _fmt(delta: timedelta) -> str:
    from bot.durations import format_duration

    return format_duration(delta)


DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*[smhdwSMHDW]\s*$"


def rule_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a rule file: one rule, or a list of rules.

    Built from the same pydantic models that validate the files. Each kind's block is an
    optional property; `oneOf` over "required: [kind]" says a rule has exactly one of them.
    Durations are strings such as 90s, 5m, 2h, 7d. For yaml-language-server, start a rule
    file with `# yaml-language-server: $schema=<path to the printed schema>`.
    """
    defs: dict[str, Any] = {}

    def model_schema(model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        return schema

    common = model_schema(RuleModel)
    properties = dict(common["properties"])
    for kind, module in KINDS.items():
        block = model_schema(module.Options)
        block["title"] = kind
        defs[kind] = block
        properties[kind] = {"anyOf": [{"$ref": f"#/$defs/{kind}"}, {"type": "null"}],
                            "description": f"The {kind} kind's options (exactly one kind block per rule). "
                                           + " ".join((module.Options.__doc__ or "").split())}
    defs["rule"] = {
        "type": "object",
        "title": "harkbot rule",
        "description": "Common fields and exactly one kind block: " + ", ".join(KINDS) + ".",
        "properties": properties,
        "required": list(common.get("required", ["name"])),
        "additionalProperties": False,
        "oneOf": [{"required": [kind]} for kind in KINDS],
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/harkbot/harkbot/schemas/rule-file.json",
        "title": "harkbot rule file",
        "description": "One rule, or a list of rules. Run `harkbot rules check` for the checks a schema "
                       "cannot express (brands, channels, evaluate_every).",
        "oneOf": [{"$ref": "#/$defs/rule"}, {"type": "array", "items": {"$ref": "#/$defs/rule"}, "minItems": 1}],
        "$defs": defs,
    }
    return _durations(schema)


def _durations(node: Any) -> Any:
    """pydantic writes timedelta as {format: duration} (ISO 8601); ours are 90s, 5m, 2h, 7d."""
    if isinstance(node, dict):
        out = {k: _durations(v) for k, v in node.items() if k != "format" or v != "duration"}
        if node.get("format") == "duration":
            out.update(type="string", pattern=DURATION_PATTERN)
        default = node.get("default")
        is_duration = out.get("pattern") == DURATION_PATTERN or any(
            isinstance(alt, dict) and alt.get("pattern") == DURATION_PATTERN for alt in out.get("anyOf", []))
        if isinstance(default, str) and default.startswith("P") and is_duration:
            from pydantic import TypeAdapter

            from bot.durations import format_duration

            out["default"] = format_duration(TypeAdapter(timedelta).validate_python(default))
        return out
    if isinstance(node, list):
        return [_durations(v) for v in node]
    return node
