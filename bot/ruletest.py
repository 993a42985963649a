"""Rule tests: synthetic input, a simulated clock, the real engine, and the alerts expected.

A test file sits next to its rule file, named after it with `.test.yaml`
(`rules/reputation-crisis.test.yaml` tests `rules/reputation-crisis.yaml`; rule loading skips
such files). `harkbot rules test [FILES or FOLDERS]` runs them; so does the test suite.

    rule: reputation-crisis     # optional: the rule to test (default: every rule in the sibling file)
    start: 2026-03-02T00:00:00Z # optional: time 0 (default 2026-03-02 00:00 UTC, a Monday)
    every: 5m                   # optional: the evaluation interval (default: evaluate_every, else 5m)
    until: 40h                  # optional: the last evaluation (default: the last time named in expect)
    input:
      # a series: `count` posts every `every`, from `from` (inclusive) to `to` (exclusive)
      - series: {from: 0h, to: 40h, every: 5m, count: 2, label: neutral, text: "Mindful Health check-in"}
      - series: {from: 30h, to: 31h, every: 1m, count: 2, label: negative, authors: 40,
                 texts: ["Mindful Health leaked my notes", "Mindful Health breach, awful"]}
      # one post
      - post: {at: 30h10m, text: "Mindful Health exposed records", author: ana_ruiz_news, reach: 250000}
      # a listener that fails (each poll in [from, to) records an error) and stores nothing
      - outage: {listener: twitter, from: 10h, to: 12h, error: "HTTP 503"}
    expect:
      - {at: 30h, firing: false}                       # the state after the evaluation at 30h
      - {at: 31h, firing: true, title: "Negative spike", observed: {min: 40}}
      - {at: 30h30m, reason: pending}                  # the decision at that evaluation
      - {from: 0h, to: 29h55m, alerts: 0}              # new alerts raised in [from, to]
      - {from: 30h, to: 40h, alerts: 1, group: mindful}

Times are offsets from `start`: `0`, `90s`, `45m`, `2h30m`, `1d6h`. Every post has `brand`
(default: the rule's first brand; `brands: [a, b]` for several), `platform` (x, reddit or
youtube; default x), `label` (negative, neutral or positive: the sentiment, given rather than
scored, so tests do not depend on a scorer), `author` (default: a new one per post; a series'
`authors: N` cycles N names), `reach` (followers, default 100), `title`, and `text`
(a series may give `texts`, used in turn). A post's listener is its platform's (twitter,
reddit, youtube) unless `listener` says otherwise. Every listener named in the input polls
at each evaluation: it stores the posts created since the last one (so `listener_silent`
sees silence when a series ends) or, during an outage, records an error.

An expectation may name `rule` and `group` (a brand key, `brand/platform`, or
`listener:NAME`); otherwise it looks at every rule and group under test. `firing` and
`state` (inactive, pending, firing, resolved) are read after the evaluation; `reason` is
the decision's (new, pending, still-firing, worse, resolving, resolved, cooldown, ...);
`title` (a substring) and `observed` (a number, or {min, max}) look at the open alert.

The engine is the daemon's: a Store in memory, filled as the clock advances, and
`bot.pipeline.evaluate` at each step. Nothing in a test file runs code: texts are data.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config import Config
from bot.errors import Problem
from bot.models import PLATFORMS, Brand, Mention, Score, ScoredMention, utc
from bot.pipeline import evaluate
from bot.query import parse
from bot.rules import Rule, load_file
from bot.store import Store
from bot.yamlsrc import Source, load, plain, validation_problems

DEFAULT_START = datetime(2026, 3, 2, tzinfo=timezone.utc)
_OFFSET = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
LISTENER_OF = {"x": "twitter", "reddit": "reddit", "youtube": "youtube"}


def parse_offset(value: Any) -> timedelta:
    """'2h30m' -> 2.5 hours; 0 -> zero."""
    if isinstance(value, timedelta):
        return value
    if value == 0 or value == "0":
        return timedelta(0)
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time; write an offset from start such as 0, 45m, 2h30m or 1d6h")
    match = _OFFSET.match(value)
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a time; write an offset from start such as 0, 45m, 2h30m or 1d6h")
    d, h, m, s = (float(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PostFields(_Strict):
    brand: str | None = None
    brands: list[str] | None = None
    platform: Literal[PLATFORMS] = "x"  # type: ignore[valid-type]  # a tuple of literals, spelled once
    listener: str | None = None
    label: Literal["negative", "neutral", "positive"] = "neutral"
    author: str | None = None
    reach: int = Field(100, ge=0)
    title: str = ""


class Post(PostFields):
    at: timedelta
    text: str

    _at = field_validator("at", mode="before")(lambda cls, v: parse_offset(v))


class Series(PostFields):
    from_: timedelta = Field(alias="from")
    to: timedelta
    every: timedelta = timedelta(minutes=5)
    count: int = Field(1, ge=0, le=10_000)
    authors: int | None = Field(None, ge=1, description="Cycle this many author names")
    text: str | None = None
    texts: list[str] | None = None

    _times = field_validator("from_", "to", "every", mode="before")(lambda cls, v: parse_offset(v))

    @model_validator(mode="after")
    def _sane(self) -> Series:
        if self.to <= self.from_:
            raise ValueError("'to' must be after 'from'")
        if self.every <= timedelta(0):
            raise ValueError("'every' must be longer than zero")
        if (self.text is None) == (self.texts is None):
            raise ValueError("give 'text' or 'texts' (a list used in turn), one of them")
        return self


class Outage(_Strict):
    listener: str
    from_: timedelta = Field(alias="from")
    to: timedelta
    error: str = "HTTP 503"

    _times = field_validator("from_", "to", mode="before")(lambda cls, v: parse_offset(v))


class InputItem(_Strict):
    series: Series | None = None
    post: Post | None = None
    outage: Outage | None = None

    @model_validator(mode="after")
    def _one(self) -> InputItem:
        if sum(x is not None for x in (self.series, self.post, self.outage)) != 1:
            raise ValueError("each input item is one of: series, post, outage")
        return self


class Range(_Strict):
    min: float | None = None
    max: float | None = None


class Expect(_Strict):
    at: timedelta | None = None
    from_: timedelta | None = Field(None, alias="from")
    to: timedelta | None = None
    rule: str | None = None
    group: str | None = None
    firing: bool | None = None
    state: Literal["inactive", "pending", "firing", "resolved"] | None = None
    reason: str | None = None
    title: str | None = None
    observed: float | Range | None = None
    alerts: int | None = Field(None, ge=0)

    _times = field_validator("at", "from_", "to", mode="before")(lambda cls, v: None if v is None else parse_offset(v))

    @model_validator(mode="after")
    def _shape(self) -> Expect:
        if self.at is not None:
            if self.from_ is not None or self.to is not None or self.alerts is not None:
                raise ValueError("'at' checks one evaluation (firing, state, reason, title, observed); "
                                 "'from'/'to' count alerts")
            if all(v is None for v in (self.firing, self.state, self.reason, self.title, self.observed)):
                raise ValueError("say what to expect at this time: firing, state, reason, title or observed")
        else:
            if self.from_ is None or self.to is None or self.alerts is None:
                raise ValueError("write 'at' with what to expect then, or 'from', 'to' and 'alerts'")
        return self


class TestFile(_Strict):
    rule: str | None = None
    start: datetime | None = None
    every: timedelta | None = None
    until: timedelta | None = None
    input: list[InputItem] = Field(default_factory=list)
    expect: list[Expect]

    _times = field_validator("every", "until", mode="before")(lambda cls, v: None if v is None else parse_offset(v))


@dataclass
class TestResult:
    file: str
    rules: list[str] = field(default_factory=list)
    checks: int = 0
    failures: list[Problem] = field(default_factory=list)  # expectations not met, and file problems
    timeline: list[str] = field(default_factory=list)  # one line per decision that changed something

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class _Step:
    at: timedelta
    reasons: dict[tuple[str, str], str]
    states: dict[tuple[str, str], str]
    new: list[tuple[str, str, Any]]
    open: dict[tuple[str, str], Any]  # (rule, group) -> the open alert's latest Finding


def rule_file_for(test_file: Path) -> Path:
    name = test_file.name
    for suffix in (".test.yaml", ".test.yml"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            for ext in (".yaml", ".yml"):
                if (test_file.parent / (stem + ext)).exists():
                    return test_file.parent / (stem + ext)
            return test_file.parent / (stem + ".yaml")
    raise ValueError(f"{test_file} is not named NAME.test.yaml")


def find_tests(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.name.endswith((".test.yaml", ".test.yml")))
        else:
            out.append(path)
    return out


def run_test_file(path: Path, config: Config | None = None) -> TestResult:
    """Load a test file and its rule file, run the rules on the synthetic input, check every expectation."""
    result = TestResult(str(path))
    source, problems = load(path)
    if source is None:
        result.failures += problems
        return result
    if not isinstance(source.root, dict):
        result.failures.append(Problem(str(path), 1, 1, "", "a test file is a mapping with input and expect",
                                       "see `harkbot rules test --help` or bot/ruletest.py"))
        return result
    try:
        spec = TestFile.model_validate(plain(source.root))
    except ValidationError as exc:
        result.failures += validation_problems(exc, source, TestFile)
        return result
    try:
        rule_path = rule_file_for(path)
    except ValueError as exc:
        result.failures.append(Problem(str(path), 1, 1, "", str(exc), "name it after its rule file"))
        return result
    rules, rule_problems = load_file(rule_path, config)
    errors = [p for p in rule_problems if p.severity == "error"]
    if errors or not rule_path.exists():
        result.failures += errors or [Problem(str(rule_path), 0, 0, "", "the rule file does not exist",
                                              f"write {rule_path.name} next to {path.name}")]
        return result
    if spec.rule is not None:
        chosen = [r for r in rules if r.name == spec.rule]
        if not chosen:
            from bot.yamlsrc import suggest

            result.failures.append(source.problem(("rule",), f"no rule '{spec.rule}' in {rule_path.name}",
                                                  suggest(spec.rule, [r.name for r in rules])))
            return result
        rules = chosen
    result.rules = [r.name for r in rules]
    logger = logging.getLogger("harkbot")
    level = logger.level
    logger.setLevel(logging.WARNING)  # the timeline tells the story; the engine's log lines would drown it
    try:
        _run(spec, source, rules, config, result)
    finally:
        logger.setLevel(level)
    return result


def _brands(rules: list[Rule], spec: TestFile, config: Config | None) -> dict[str, Brand]:
    keys: list[str] = []
    for rule in rules:
        keys += list(rule.brands) + list(getattr(rule.options, "versus", None) or [])
    for item in spec.input:
        post = item.series or item.post
        if post is not None:
            keys += post.brands or ([post.brand] if post.brand else [])
    brands: dict[str, Brand] = {}
    for key in dict.fromkeys(keys):
        if config is not None and key in config.brands:
            brands[key] = config.brands[key]
        else:
            brands[key] = Brand(key, key.title(), "brand", parse(re.sub(r"\W+", " ", key) or "x"))
    return brands


def _posts(spec: TestFile, default_brand: str) -> list[tuple[timedelta, str, ScoredMention]]:
    """Every synthetic post as (offset, listener, scored mention), in time order."""
    out: list[tuple[timedelta, str, ScoredMention]] = []
    n = 0

    def make(fields: PostFields, at: timedelta, text: str, author: str | None) -> None:
        nonlocal n
        n += 1
        brands = tuple(fields.brands or [fields.brand or default_brand])
        created = start + at
        who = author or f"user{n}"
        mention = Mention(platform=fields.platform, id=f"t{n}", text=text, author=who,
                          url=f"https://example.com/{fields.platform}/{n}", created_at=created,
                          author_reach=fields.reach, engagement=1, title=fields.title)
        polarity = {"negative": -0.6, "positive": 0.6}.get(fields.label, 0.0)
        listener = fields.listener or LISTENER_OF[fields.platform]
        out.append((at, listener, ScoredMention(mention, brands, Score(fields.label, polarity, "test"))))

    start = utc(spec.start or DEFAULT_START)
    for item in spec.input:
        if item.post is not None:
            make(item.post, item.post.at, item.post.text, item.post.author)
        elif item.series is not None:
            s = item.series
            texts = s.texts or [s.text or ""]
            at, i = s.from_, 0
            while at < s.to:
                for k in range(s.count):
                    offset = at + (s.every * k) / max(s.count, 1)  # spread within the step
                    author = s.author or (f"{s.label}-author{i % s.authors}" if s.authors else None)
                    make(s, offset, texts[i % len(texts)], author)
                    i += 1
                at += s.every
    out.sort(key=lambda p: p[0])
    return out


def _run(spec: TestFile, source: Source, rules: list[Rule], config: Config | None, result: TestResult) -> None:
    start = utc(spec.start or DEFAULT_START)
    every = spec.every or (config.evaluate_every if config is not None else timedelta(minutes=5))
    times = [e.at for e in spec.expect if e.at is not None] + [e.to for e in spec.expect if e.to is not None]
    until = spec.until or max(times, default=timedelta(hours=1))
    brands = _brands(rules, spec, config)
    default_brand = next(iter(brands), "brand")
    posts = _posts(spec, default_brand)
    outages = [item.outage for item in spec.input if item.outage is not None]
    listeners = sorted({listener for _at, listener, _sm in posts} | {o.listener for o in outages})
    store = Store(":memory:")
    steps: dict[timedelta, _Step] = {}
    open_alerts: dict[tuple[str, str], Any] = {}
    i, offset = 0, every
    try:
        while offset <= until:
            now = start + offset
            due: dict[str, list[ScoredMention]] = {name: [] for name in listeners}
            while i < len(posts) and posts[i][0] <= offset:
                due[posts[i][1]].append(posts[i][2])
                i += 1
            for name in listeners:
                down = next((o for o in outages if o.listener == name and o.from_ <= offset < o.to), None)
                if down is not None:
                    store.record_failure(name, down.error, now)
                else:
                    new = store.ingest(name, due[name], None, now)
                    if hasattr(store, "record_success"):  # listener health, as poll_once records it
                        store.record_success(name, now, len(due[name]), new)
            evaluation = evaluate(rules, brands, store, store, now, (), listeners=listeners or None)
            step = _Step(offset, {}, {}, [], {})
            for rule, decision in evaluation.decisions:
                key = (rule.name, decision.state.brand)
                step.reasons[key] = decision.reason
                step.states[key] = decision.state.state
                if decision.reason not in ("quiet", "still-firing", "still-pending"):
                    result.timeline.append(f"{_fmt(offset)} {rule.name} [{decision.state.brand}]: {decision.reason}")
                if decision.reason == "resolved":
                    open_alerts.pop(key, None)
            for alert in evaluation.alerts + evaluation.updates:
                key = (alert.rule, alert.finding.group)
                open_alerts[key] = alert.finding
                if alert in evaluation.alerts:
                    step.new.append((alert.rule, alert.finding.group, alert.finding))
                    result.timeline.append(f"{_fmt(offset)} {alert.rule} [{alert.finding.group}]: "
                                           f"{alert.finding.title}")
            step.open = dict(open_alerts)
            steps[offset] = step
            offset += every
    finally:
        store.close()
    for index, expect in enumerate(spec.expect):
        result.checks += 1
        message = _check(expect, steps, every)
        if message:
            result.failures.append(source.problem(("expect", index), message, "the timeline below shows what happened"))


def _pick(mapping: dict[tuple[str, str], Any], expect: Expect) -> dict[tuple[str, str], Any]:
    return {k: v for k, v in mapping.items()
            if (expect.rule is None or k[0] == expect.rule) and (expect.group is None or k[1] == expect.group)}


def _check(expect: Expect, steps: dict[timedelta, _Step], every: timedelta) -> str:
    who = " ".join(part for part in (expect.rule or "", f"[{expect.group}]" if expect.group else "") if part)
    who = f"{who} " if who else ""
    if expect.at is None:
        raised = [(r, g, f) for at, step in steps.items() if expect.from_ <= at <= expect.to for r, g, f in step.new
                  if (expect.rule is None or r == expect.rule) and (expect.group is None or g == expect.group)]
        if len(raised) != expect.alerts:
            listed = "; ".join(f"{r} [{g}]: {f.title}" for r, g, f in raised[:5])
            return (f"expected {expect.alerts} {who}alert(s) from {_fmt(expect.from_)} to {_fmt(expect.to)}, "
                    f"got {len(raised)}" + (f": {listed}" if listed else ""))
        return ""
    step = steps.get(expect.at)
    if step is None:
        return f"{_fmt(expect.at)} is not an evaluation time (the rules are evaluated every {_fmt(every)})"
    states = _pick(step.states, expect)
    if expect.firing is not None:
        firing = any(s == "firing" for s in states.values())
        if firing != expect.firing:
            return (f"at {_fmt(expect.at)} {who}expected {'firing' if expect.firing else 'not firing'}, "
                    f"states: {_show(states)}")
    if expect.state is not None and expect.state not in states.values():
        return f"at {_fmt(expect.at)} {who}expected state {expect.state}, states: {_show(states)}"
    if expect.reason is not None:
        reasons = _pick(step.reasons, expect)
        if expect.reason not in reasons.values():
            return f"at {_fmt(expect.at)} {who}expected reason {expect.reason}, decisions: {_show(reasons)}"
    if expect.title is not None or expect.observed is not None:
        findings = list(_pick(step.open, expect).values())
        if not findings:
            return f"at {_fmt(expect.at)} {who}expected an open alert, there is none"
        if expect.title is not None and not any(expect.title in f.title for f in findings):
            return f"at {_fmt(expect.at)} {who}expected a title with {expect.title!r}, got " + \
                "; ".join(repr(f.title) for f in findings)
        if expect.observed is not None:
            wanted = expect.observed
            ok = [f for f in findings if (f.observed == wanted if isinstance(wanted, (int, float)) else
                                          (wanted.min is None or f.observed >= wanted.min)
                                          and (wanted.max is None or f.observed <= wanted.max))]
            if not ok:
                shown = wanted if isinstance(wanted, (int, float)) else \
                    f"between {wanted.min if wanted.min is not None else '-inf'} and {wanted.max if wanted.max is not None else 'inf'}"
                return f"at {_fmt(expect.at)} {who}expected observed {shown}, got " + \
                    ", ".join(f"{f.observed:g}" for f in findings)
    return ""


def _show(mapping: dict[tuple[str, str], str]) -> str:
    return ", ".join(f"{r} [{g}] {v}" for (r, g), v in mapping.items()) or "none"


def _fmt(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total == 0:
        return "0"
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v)
