"""bot/rules.py: rule files -> Rule objects, every problem at file:line:col, good rules kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.errors import Problem
from bot.kinds import KINDS
from bot.rules import Rule, load_file, load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
DEMO_RULES = ROOT / "bot" / "demo" / "rules"

CRISIS = """\
# a comment first, as the shipped files have
name: crisis
brands: [mindful]
severity: critical
channel: crisis
volume_spike:
  window: 1h
  factor: 4
"""


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(ROOT / "config.yaml")


def write_rules(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def load(tmp_path: Path, config: Config, text: str, name: str = "rule.yaml") -> tuple[list[Rule], list[Problem], Path]:
    folder = write_rules(tmp_path / "rules", {name: text})
    rules, problems = load_rules([folder], config)
    return rules, problems, folder / name


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def strs(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


# --- the shipped rules -------------------------------------------------------------------------------

RULE_FILES = sorted(p for p in RULES.glob("*.yaml") if not p.name.endswith(".test.yaml"))


def test_every_shipped_rule_file_loads_with_zero_problems(config):
    assert RULE_FILES, "rules/ holds the examples the README points to"
    rules, problems = load_rules([RULES], config)
    assert strs(problems) == []
    assert {r.file for r in rules} == {str(f) for f in RULE_FILES}


def test_the_examples_the_issue_asks_for_exist_each_with_a_test_file(config):
    rules, _ = load_rules([RULES], config)
    kinds = {r.name: r.kind for r in rules}
    assert kinds["reputation-crisis"] == "volume_spike" and kinds["privacy-complaint"] == "mention"
    assert kinds["adverse-event"] == "mention" and kinds["influencer"] == "influencer"
    assert kinds["competitor-launch"] == "share_of_voice" and kinds["competitor-new-term"] == "new_term"
    assert kinds["listener-silent"] == "listener_silent"
    for path in RULE_FILES:
        assert (RULES / (path.stem + ".test.yaml")).exists(), f"{path.name} has no test file"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_each_shipped_rule_file_alone(config, path):
    rules, problems = load_file(path, config)
    assert strs(problems) == []
    assert rules[0].name == path.stem  # the files are named after their (first) rule
    for rule in rules:
        assert rule.kind in KINDS
        assert isinstance(rule.options, KINDS[rule.kind].Options)
        assert set(rule.brands) <= set(config.brands)
        assert rule.channel in config.model.slack.channels


def test_the_demo_runs_the_shipped_rules_byte_for_byte():
    shipped = {p.name: p.read_bytes() for p in RULES.iterdir() if p.is_file()}
    demo = {p.name: p.read_bytes() for p in DEMO_RULES.iterdir() if p.is_file()}
    assert sorted(demo) == sorted(shipped)
    for name in shipped:
        assert demo[name] == shipped[name], f"bot/demo/rules/{name} differs from rules/{name}"


def test_the_demo_rules_load_against_the_demo_config():
    demo_config = load_config(ROOT / "bot" / "demo" / "config.yaml")
    rules, problems = load_rules([DEMO_RULES], demo_config)
    assert strs(problems) == []
    assert {r.name for r in rules} == {r.name for r in load_rules([RULES], demo_config)[0]}


def test_a_loaded_rule(tmp_path, config):
    (rule,), problems, path = load(tmp_path, config, CRISIS)
    assert problems == []
    assert rule == Rule(
        name="crisis", description="", brands=("mindful",), platforms=None, severity="critical", channel="crisis",
        cooldown=timedelta(hours=2), resolve_after=timedelta(minutes=30), kind="volume_spike",
        options=KINDS["volume_spike"].Options(window="1h", factor=4), file=str(path), line=2)


# --- unknown keys, with suggestions ------------------------------------------------------------------

def test_misspelt_kind_option(tmp_path, config):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "factor: 4", "facter: 4"))
    assert rules == []
    assert strs(problems) == [f"{path}:8:3: volume_spike.facter: unknown key (did you mean 'factor'?)"]


def test_misspelt_common_field(tmp_path, config):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "severity:", "severty:"))
    assert rules == []
    assert strs(problems) == [f"{path}:4:1: severty: unknown key (did you mean 'severity'?)"]


def test_misspelt_kind_block_is_suggested_and_not_also_called_missing(tmp_path, config):
    _, problems, path = load(tmp_path, config, edit(CRISIS, "volume_spike:", "volume_spik:"))
    assert strs(problems) == [f"{path}:6:1: volume_spik: unknown key (did you mean 'volume_spike'?)"]


def test_two_kind_blocks(tmp_path, config):
    rules, problems, path = load(tmp_path, config, CRISIS + "mention:\n  query: leak\n")
    assert rules == []
    assert strs(problems) == [f"{path}:9:1: mention: a rule has exactly one kind; found volume_spike, mention "
                              "(split it into two rules)"]


def test_no_kind_block(tmp_path, config):
    rules, problems, path = load(tmp_path, config, "# c\nname: lonely\nbrands: [mindful]\n")
    assert rules == []
    assert strs(problems) == [f"{path}:2:1: the rule has no kind block "
                              "(add one of: volume_spike, negative_share, mention, share_of_voice, new_term, "
                              "influencer, listener_silent)"]


def test_missing_name(tmp_path, config):
    _, problems, path = load(tmp_path, config, "# c\nvolume_spike:\n  factor: 2\n")
    assert strs(problems) == [f"{path}:2:1: 'name' is required but missing (add 'name:' here)"]


def test_bad_name_says_what_fits(tmp_path, config):
    _, problems, path = load(tmp_path, config, edit(CRISIS, "name: crisis", "name: bad name!"))
    (problem,) = problems
    assert (problem.line, problem.col, problem.path) == (2, 7, "name")
    assert problem.message == "'bad name!' is not allowed here"
    assert "letters, digits" in problem.hint
    assert "^[" not in str(problem)  # not the raw regular expression


# --- references to config.yaml ---------------------------------------------------------------------------

def test_unknown_brand(tmp_path, config):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "[mindful]", "[theranow, mindfull]"))
    assert rules == []
    assert strs(problems) == [f"{path}:3:20: brands[1]: unknown brand 'mindfull' (did you mean 'mindful'?)"]


def test_unknown_brand_far_from_any(tmp_path, config):
    _, problems, _ = load(tmp_path, config, edit(CRISIS, "[mindful]", "[zzz]"))
    assert [p.hint for p in problems] == ["expected one of: haven, mindful, theranow"]


def test_unknown_channel(tmp_path, config):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "channel: crisis", "channel: crises"))
    assert rules == []
    assert strs(problems) == [f"{path}:5:10: channel: unknown channel 'crises' (did you mean 'crisis'?; "
                              "channels are named in config.yaml under slack.channels or notifiers.{email,webhook,teams}.channels)"]


def test_unknown_platform(tmp_path, config):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "severity:", "platforms: [x, redit]\nseverity:"))
    assert rules == []
    assert strs(problems) == [f"{path}:4:16: platforms[1]: unknown platform 'redit' (did you mean 'reddit'?)"]


def test_known_platforms(tmp_path, config):
    (rule,), problems, _ = load(tmp_path, config, edit(CRISIS, "severity:", "platforms: [x, reddit, youtube]\nseverity:"))
    assert problems == []
    assert rule.platforms == ("x", "reddit", "youtube")


@pytest.mark.parametrize("factor", ["1", "0.5", "1.0"])
def test_factor_of_one_or_less_is_an_error(tmp_path, config, factor):
    rules, problems, path = load(tmp_path, config, edit(CRISIS, "factor: 4", f"factor: {factor}"))
    assert rules == []
    (problem,) = problems
    assert problem.severity == "error"
    assert problem.file == str(path)
    assert (problem.path, problem.line) == ("volume_spike.factor", 8)
    assert "factor must be above 1" in problem.message


def test_update_every_and_worse_by_are_read(tmp_path, config):
    (rule,), problems, _ = load(tmp_path, config, edit(CRISIS, "severity:", "update_every: 2h\nworse_by: 1.5\nseverity:"))
    assert problems == [] and (rule.update_every, rule.worse_by) == (timedelta(hours=2), 1.5)
    (eager,), problems, _ = load(tmp_path, config, edit(CRISIS, "severity:", "update_every: 0m\nseverity:"))
    assert problems == [] and eager.update_every == timedelta(0)
    (default,), _, _ = load(tmp_path, config, CRISIS)
    assert (default.update_every, default.worse_by) == (timedelta(minutes=30), None)


@pytest.mark.parametrize("text, kind, says", [
    ("worse_by: 0.5", "volume_spike", "worse_by is a factor"),
    ("worse_by: 1", "volume_spike", "worse_by is a factor"),
    ("worse_by: 10", "negative_share", "worse_by is in share points"),
])
def test_a_worse_by_in_the_wrong_unit_is_an_error_at_its_line(tmp_path, config, text, kind, says):
    body = CRISIS if kind == "volume_spike" else \
        "name: crisis\nbrands: [mindful]\nseverity: critical\nnegative_share:\n  window: 1h\n  min_mentions: 20\n"
    rules, problems, path = load(tmp_path, config, body.replace("severity:", f"{text}\nseverity:", 1))
    assert rules == []
    (problem,) = problems
    assert (problem.file, problem.path, problem.severity) == (str(path), "worse_by", "error")
    assert problem.line == body.split("\n").index("severity: critical") + 1
    assert says in problem.message and problem.hint


def test_factor_just_above_one_is_fine(tmp_path, config):
    rules, problems, _ = load(tmp_path, config, edit(CRISIS, "factor: 4", "factor: 1.01"))
    assert problems == [] and len(rules) == 1


@pytest.mark.parametrize("kind_block", [
    "volume_spike:\n  window: 1m\n",
    "negative_share:\n  window: 1m\n  min_mentions: 20\n",
    "mention:\n  window: 1m\n  query: leak\n",
])
def test_window_shorter_than_evaluate_every_is_an_error(tmp_path, config, kind_block):
    kind = kind_block.split(":")[0]
    rules, problems, path = load(tmp_path, config, f"name: short\n{kind_block}")
    assert rules == []
    assert strs(problems) == [f"{path}:3:11: {kind}.window: window 1m is shorter than evaluate_every 5m: "
                              "mentions between evaluations would be missed (use at least 5m)"]


def test_the_window_is_compared_with_the_configs_evaluate_every(tmp_path):
    text = (ROOT / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(edit(text, "evaluate_every: 5m", "evaluate_every: 10m"))
    config = load_config(tmp_path / "config.yaml")
    _, problems, _ = load(tmp_path, config, "name: w\nvolume_spike:\n  window: 5m\n")
    assert [p.message.split(":")[0] for p in problems] == ["window 5m is shorter than evaluate_every 10m"]
    rules, problems, _ = load(tmp_path, config, "name: w\nvolume_spike:\n  window: 10m\n")
    assert problems == [] and len(rules) == 1


def test_negative_share_on_few_mentions_is_a_warning(tmp_path, config):
    text = "name: share\nnegative_share:\n  above: 0.5\n  min_mentions: 5\n"
    rules, problems, path = load(tmp_path, config, text)
    assert [r.name for r in rules] == ["share"]  # a warning does not stop the rule
    assert strs(problems) == [f"{path}:4:17: negative_share.min_mentions: a share over fewer than 10 mentions is "
                              "mostly noise (raise min_mentions to 10 or more) [warning]"]
    assert problems[0].severity == "warning"


def test_negative_share_on_ten_mentions_is_fine(tmp_path, config):
    rules, problems, _ = load(tmp_path, config, "name: share\nnegative_share:\n  min_mentions: 10\n")
    assert problems == [] and len(rules) == 1


# --- kind options -------------------------------------------------------------------------------------------

def test_mention_query_errors_point_at_the_character(tmp_path, config):
    text = "name: leaks\nmention:\n  query: 'leak* OR (breach'\n"
    rules, problems, path = load(tmp_path, config, text)
    assert rules == []
    (problem,) = problems
    assert (problem.line, problem.col, problem.path) == (3, 20, "mention.query")
    assert "unbalanced '('" in problem.message


def test_mention_query_error_in_a_block_scalar(tmp_path, config):
    text = "name: leaks\nmention:\n  query: >-\n    leak* OR breach* OR\n    hipaa OR\n"
    _, problems, _ = load(tmp_path, config, text)
    (problem,) = problems
    assert (problem.line, problem.col) == (5, 13)
    assert "the query ends where a term was expected" in problem.message


def test_bad_duration_in_a_kind_block(tmp_path, config):
    _, problems, path = load(tmp_path, config, edit(CRISIS, "window: 1h", "window: 1 hour"))
    assert strs(problems) == [f"{path}:7:11: volume_spike.window: '1 hour' is not a duration; write a number "
                              "and a unit: 90s, 5m, 2h, 7d"]


def test_bad_severity(tmp_path, config):
    _, problems, path = load(tmp_path, config, edit(CRISIS, "critical", "critcal"))
    assert strs(problems) == [f"{path}:4:11: severity: Input should be 'info', 'warning' or 'critical' "
                              "(did you mean 'critical'?)"]


def test_an_empty_kind_block_takes_the_defaults(tmp_path, config):
    (rule,), problems, _ = load(tmp_path, config, "name: surge\nvolume_spike:\n")
    assert problems == []
    assert rule.options == KINDS["volume_spike"].Options()


def test_a_kind_block_must_be_a_mapping(tmp_path, config):
    _, problems, path = load(tmp_path, config, "name: surge\nvolume_spike: [1]\n")
    assert strs(problems) == [f"{path}:2:15: volume_spike: must be a mapping of keys"]


def test_tags_are_refused_in_rule_files(tmp_path, config):
    marker = tmp_path / "pwned"
    text = edit(CRISIS, "factor: 4", f"factor: !!python/object/apply:os.system ['touch {marker}']")
    rules, problems, path = load(tmp_path, config, text)
    assert rules == [] and not marker.exists()
    assert strs(problems) == [f"{path}:8:11: volume_spike.factor: the YAML tag '!!python/object/apply:os.system' "
                              "is not allowed (these files hold plain values only; remove the tag)"]


# --- files, lists, names -------------------------------------------------------------------------------------

def test_duplicate_rule_names_across_files(tmp_path, config):
    folder = write_rules(tmp_path / "rules", {"a.yaml": CRISIS, "b.yaml": edit(CRISIS, "factor: 4", "factor: 5")})
    rules, problems = load_rules([folder], config)
    assert [(r.name, r.file) for r in rules] == [("crisis", str(folder / "a.yaml"))]  # the first one wins
    assert strs(problems) == [f"{folder / 'b.yaml'}:2:1: name: rule name 'crisis' is already used in "
                              f"{folder / 'a.yaml'}:2 (rule names must be unique; rename one)"]


def test_duplicate_rule_names_in_one_list(tmp_path, config):
    text = "- name: twice\n  mention: {query: a}\n- name: twice\n  mention: {query: b}\n"
    rules, problems, path = load(tmp_path, config, text)
    assert [r.line for r in rules] == [1]
    assert [(p.line, p.message) for p in problems] == [(3, f"rule name 'twice' is already used in {path}:1")]


def test_a_list_with_one_broken_rule_keeps_the_good_ones(tmp_path, config):
    text = """\
- name: first
  mention:
    query: leak
- name: broken
  volume_spike:
    facter: 2
- name: third
  volume_spike:
    factor: 3
"""
    rules, problems, path = load(tmp_path, config, text)
    assert [(r.name, r.line) for r in rules] == [("first", 1), ("third", 7)]
    assert strs(problems) == [f"{path}:6:5: [1].volume_spike.facter: unknown key (did you mean 'factor'?)"]


def test_a_list_item_that_is_not_a_mapping(tmp_path, config):
    rules, problems, path = load(tmp_path, config, "- just text\n- name: ok\n  mention: {query: a}\n")
    assert [r.name for r in rules] == ["ok"]
    assert [(p.line, p.col, p.path) for p in problems] == [(1, 3, "[0]")]
    assert problems[0].message == "a rule must be a mapping of keys"


def test_a_broken_file_does_not_stop_the_others(tmp_path, config):
    folder = write_rules(tmp_path / "rules", {"a.yaml": "name: [unclosed\n", "b.yaml": CRISIS})
    rules, problems = load_rules([folder], config)
    assert [r.name for r in rules] == ["crisis"]
    assert [(Path(p.file).name, p.line) for p in problems] == [("a.yaml", 2)]
    assert problems[0].message.startswith("YAML syntax:")


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("# nothing but a comment\n", "the file is empty"),
    ("just text\n", "a rule must be a mapping of keys"),
])
def test_files_that_hold_no_rule(tmp_path, config, text, message):
    rules, problems, path = load(tmp_path, config, text)
    assert rules == []
    assert [(p.file, p.line, p.col, p.message) for p in problems] == [(str(path), 1, 1, message)]


def test_disabled_rules_are_not_loaded_but_still_checked(tmp_path, config):
    disabled = edit(CRISIS, "severity:", "enabled: false\nseverity:")
    rules, problems, _ = load(tmp_path, config, disabled)
    assert rules == [] and problems == []
    _, problems, _ = load(tmp_path, config, edit(disabled, "[mindful]", "[nope]"))
    assert [p.message for p in problems] == ["unknown brand 'nope'"]


def test_a_disabled_rule_does_not_take_its_name(tmp_path, config):
    folder = write_rules(tmp_path / "rules", {
        "a.yaml": edit(CRISIS, "severity:", "enabled: false\nseverity:"), "b.yaml": CRISIS})
    rules, problems = load_rules([folder], config)
    assert problems == [] and [r.file for r in rules] == [str(folder / "b.yaml")]


def test_which_files_in_a_folder_are_read(tmp_path, config):
    folder = write_rules(tmp_path / "rules", {
        "a.yaml": CRISIS,
        "b.yml": edit(CRISIS, "name: crisis", "name: b"),
        "c.test.yaml": "this is: [not even yaml",  # backtest fixtures, not rules
        "d.test.yml": "neither: [is this",
        "notes.txt": "name: [nope",
        "e.yaml.bak": "name: [nope",
    })
    rules, problems = load_rules([folder], config)
    assert problems == []
    assert [r.name for r in rules] == ["crisis", "b"]


def test_a_file_path_is_read_even_if_named_like_a_test(tmp_path, config):
    folder = write_rules(tmp_path / "rules", {"one.test.yaml": CRISIS})
    rules, _ = load_rules([folder / "one.test.yaml"], config)
    assert [r.name for r in rules] == ["crisis"]


def test_brands_default_to_every_brand_of_kind_brand(tmp_path):
    (tmp_path / "config.yaml").write_text("""\
brands:
  ours:
    query: ours
  rival:
    kind: competitor
    query: rival
  also-ours:
    kind: brand
    query: also
  privacy:
    kind: topic
    query: privacy
""")
    config = load_config(tmp_path / "config.yaml")
    (rule,), problems, _ = load(tmp_path, config, "name: all\nmention:\n  query: leak\n")
    assert problems == []
    assert rule.brands == ("ours", "also-ours")


def test_load_rules_without_a_config_checks_what_the_files_alone_show(tmp_path):
    # config.yaml may itself be broken: `check` can still report the rule files' own problems
    folder = write_rules(tmp_path / "rules", {"a.yaml": edit(CRISIS, "factor: 4", "facter: 4"),
                                              "b.yaml": edit(CRISIS, "name: crisis", "name: b")})
    rules, problems = load_rules([folder], None)
    assert [p.path for p in problems] == ["volume_spike.facter"]
    assert [(r.name, r.brands) for r in rules] == [("b", ("mindful",))]


def test_a_broken_kind_block_does_not_hide_the_rules_other_errors(tmp_path, config):
    rules, problems, path = load(tmp_path, config, "name: x\nbrands: [mindfull]\nvolume_spike: {facter: 3}\n")
    assert rules == []
    assert strs(problems) == [
        f"{path}:2:10: brands[0]: unknown brand 'mindfull' (did you mean 'mindful'?)",
        f"{path}:3:16: volume_spike.facter: unknown key (did you mean 'factor'?)",
    ]
