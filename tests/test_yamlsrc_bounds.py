"""YAML that would hang a check: alias bombs and huge files are refused at file:line, fast,
in every place a YAML file is read (config, rules, rule tests, hot reload)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli_rules import rules
from bot.config import load_config
from bot.errors import ConfigError
from bot.reload import reload_rules
from bot.ruletest import run_test_file
from bot.yamlsrc import MAX_BYTES, MAX_NODES, load

ROOT = Path(__file__).resolve().parent.parent
GOOD = "name: leaks\nbrands: [mindful]\nmention: {query: leak, min_matches: 2}\n"


def bomb(levels: int = 10, width: int = 10) -> str:
    """Ten levels of ten aliases each: 10**10 values once expanded, from eleven short lines."""
    lines = ["a: &a [" + ", ".join(["lol"] * width) + "]"]
    names = "bcdefghijklmnop"
    for i in range(levels - 1):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join([f"*{chr(ord(names[i]) - 1)}"] * width) + "]")
    return "\n".join(lines) + "\n"


def touch(path: Path, text: str, tick: int) -> None:
    path.write_text(text)
    os.utime(path, (1_700_000_000 + tick,) * 2)


def test_an_alias_bomb_is_one_problem_at_its_line_in_well_under_a_second(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("name: boom\n" + bomb())
    started = time.monotonic()
    source, problems = load(path)
    assert time.monotonic() - started < 2
    assert source is None and len(problems) == 1
    problem = problems[0]
    assert problem.line > 1 and f"{MAX_NODES:,}" in problem.message and "aliases" in problem.message
    assert problem.hint


def test_ordinary_anchors_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("defaults: &d {window: 1h, factor: 3}\nfirst: *d\nsecond:\n  <<: *d\n  factor: 4\n")
    source, problems = load(path)
    assert problems == [] and source.root["second"]["factor"] == 4 and source.root["first"]["window"] == "1h"


def test_a_file_over_the_size_limit_is_refused_without_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * (MAX_BYTES // 10 + 10))
    source, problems = load(path)
    assert source is None and "over the limit" in problems[0].message and f"{MAX_BYTES:,}" in problems[0].message


def test_rules_check_reports_the_bomb_and_the_good_files_still_load(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "bomb.yaml").write_text("name: boom\n" + bomb())
    started = time.monotonic()
    result = CliRunner().invoke(rules, ["--config", str(tmp_path / "config.yaml"), "check"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "bomb.yaml:" in result.output and "aliases" in result.output


def test_a_config_bomb_is_a_config_error(tmp_path):
    config = (ROOT / "config.yaml").read_text() + "\nextra:\n" + "".join(f"  {line}\n" for line in bomb().splitlines())
    (tmp_path / "config.yaml").write_text(config)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml")
    assert "aliases" in str(caught.value)


def test_a_rule_test_bomb_is_reported_not_run(tmp_path):
    config = load_config(ROOT / "config.yaml")
    path = tmp_path / "leaks.test.yaml"
    path.write_text("rule: leaks\n" + bomb())
    started = time.monotonic()
    outcome = run_test_file(path, config)
    assert time.monotonic() - started < 5
    assert not outcome.ok and "aliases" in outcome.failures[0].message


def test_hot_reload_keeps_the_last_good_rules_when_a_file_becomes_a_bomb(tmp_path):
    config = load_config(ROOT / "config.yaml")
    touch(tmp_path / "leaks.yaml", GOOD, 1)
    first = reload_rules(tmp_path, None, config)
    touch(tmp_path / "leaks.yaml", GOOD + bomb(), 2)
    started = time.monotonic()
    again = reload_rules(tmp_path, first.ruleset, config)
    assert time.monotonic() - started < 2
    assert [r.options.min_matches for r in again.ruleset.rules] == [2]
    assert again.kept == [str(tmp_path / "leaks.yaml")] and "aliases" in str(again.errors[0])
