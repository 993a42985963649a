"""Rule tests: every shipped example rule's NAME.test.yaml passes (this is how CI runs them),
and a failing expectation or a broken test file says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.ruletest import find_tests, parse_offset, run_test_file

ROOT = Path(__file__).resolve().parent.parent
TESTS = find_tests([ROOT / "rules"])


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config.yaml")


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_shipped_rule_tests_pass(config, path):
    result = run_test_file(path, config)
    assert result.ok, "\n".join(map(str, result.failures)) + "\n" + "\n".join(result.timeline)
    assert result.checks >= 3


def test_the_demo_ships_the_same_tests():
    assert [p.name for p in TESTS] == [p.name for p in find_tests([ROOT / "bot" / "demo" / "rules"])]


def write(tmp_path: Path, test: str, rule: str = "name: leaks\nbrands: [mindful]\nmention: {query: leak, min_matches: 2}\n"):
    (tmp_path / "leaks.yaml").write_text(rule)
    (tmp_path / "leaks.test.yaml").write_text(test)
    return tmp_path / "leaks.test.yaml"


def test_a_failed_expectation_points_at_it(tmp_path, config):
    path = write(tmp_path, """\
input:
  - series: {from: 0h, to: 3h, every: 10m, count: 1, text: "Mindful Health leak"}
expect:
  - {at: 10m, firing: true}
  - {from: 0h, to: 3h, alerts: 2}
""")
    result = run_test_file(path, config)
    assert [(p.line, p.path) for p in result.failures] == [(4, "expect[0]"), (5, "expect[1]")]
    assert "expected firing, states: leaks [mindful] inactive" in result.failures[0].message
    assert "expected 2 alert(s) from 0 to 3h, got 1" in result.failures[1].message
    assert any("leaks [mindful]: new" in line for line in result.timeline)


def test_a_broken_test_file_is_located_with_suggestions(tmp_path, config):
    path = write(tmp_path, """\
input:
  - series: {from: 0h, to: 3h, evry: 10m, text: x}
  - post: {at: soon, text: x}
expect:
  - {at: 1h}
""")
    result = run_test_file(path, config)
    messages = [str(p) for p in result.failures]
    assert any(":2:" in m and "evry: unknown key (did you mean 'every'?)" in m for m in messages)
    assert any(":3:" in m and "'soon' is not a time" in m for m in messages)
    assert any(":5:" in m and "say what to expect" in m for m in messages)


def test_an_evaluation_time_off_the_grid_is_said_so(tmp_path, config):
    path = write(tmp_path, "expect:\n  - {at: 7m, firing: false}\n")
    (failure,) = run_test_file(path, config).failures
    assert "7m is not an evaluation time (the rules are evaluated every 5m)" in failure.message


def test_offsets():
    assert parse_offset("2h30m").total_seconds() == 9000
    assert parse_offset("1d6h").total_seconds() == 108000
    assert parse_offset(0).total_seconds() == 0
    with pytest.raises(ValueError):
        parse_offset("90")
