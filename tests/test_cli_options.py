"""harkbot's own options (--log-level, --log-format) in any case, before or after the sub-command."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from bot.cli import hoist_global_options, main


@pytest.mark.parametrize("args, expected", [
    (["run", "--log-level", "DEBUG"], ["--log-level", "DEBUG", "run"]),
    (["rules", "check", "--log-level=debug", "x.yaml"], ["--log-level=debug", "rules", "check", "x.yaml"]),
    (["--log-level", "info", "once"], ["--log-level", "info", "once"]),
    (["search", "--", "--log-level"], ["search", "--", "--log-level"]),  # after --, it is the user's text
    (["alerts", "list", "--log-format", "JSON"], ["--log-format", "JSON", "alerts", "list"]),
])
def test_global_options_move_in_front_of_the_sub_command(args, expected):
    assert hoist_global_options(args) == expected


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_level_in_any_case_before_or_after_the_sub_command(tmp_path, where):
    config = tmp_path / "config.yaml"
    config.write_text("brands:\n  mindful: {name: Mindful Health, query: '\"mindful health\"'}\n")
    (tmp_path / "rules").mkdir()
    level = ["--log-level", "DEBUG"]
    args = ["--config", str(config)] + (level + ["check"] if where == "before" else ["check"] + level)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG


def test_an_unknown_level_names_the_choices(tmp_path):
    result = CliRunner().invoke(main, ["check", "--log-level", "loud"])
    assert result.exit_code == 2 and "debug" in result.output and "loud" in result.output
