"""Rule kinds' count options have upper bounds: `min_matches: 1e38` is refused at file:line
with the bound named, never accepted as a threshold no window can reach (#20 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.kinds.base import MAX_COUNT, MAX_REACH
from bot.rules import load_file

ROOT = Path(__file__).resolve().parent.parent

RULE = """\
name: absurd
brands: [mindful]
severity: warning
{block}
"""


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(ROOT / "config.yaml")


def problems_of(tmp_path: Path, config: Config, block: str) -> list:
    path = tmp_path / "absurd.yaml"
    path.write_text(RULE.format(block=block), encoding="utf-8")
    rules, problems = load_file(path, config)
    assert not rules
    return problems


@pytest.mark.parametrize("block, field, bound", [
    ("mention:\n  query: refund\n  min_matches: 1e38", "mention.min_matches", MAX_COUNT),
    ("mention:\n  query: refund\n  min_matches: 99999999999", "mention.min_matches", MAX_COUNT),
    ("mention:\n  query: refund\n  min_reach: 1e20", "mention.min_reach", MAX_REACH),
    ("volume_spike:\n  min_mentions: 1e38", "volume_spike.min_mentions", MAX_COUNT),
    ("volume_spike:\n  min_authors: 1e38", "volume_spike.min_authors", MAX_COUNT),
    ("negative_share:\n  min_mentions: 1e38", "negative_share.min_mentions", MAX_COUNT),
    ("new_term:\n  min_authors: 1e38", "new_term.min_authors", MAX_COUNT),
    ("share_of_voice:\n  min_total: 1e38", "share_of_voice.min_total", MAX_COUNT),
    ("influencer:\n  min_posts: 1e38", "influencer.min_posts", MAX_COUNT),
    ("listener_silent:\n  max_failures: 1e38", "listener_silent.max_failures", MAX_COUNT),
])
def test_an_absurd_count_is_refused_naming_its_bound(tmp_path, config, block, field, bound):
    (problem,) = problems_of(tmp_path, config, block)
    assert problem.path.endswith(field), problem
    assert problem.line == 4 + block.count("\n")  # the option's own line (the block's last), not the rule's
    assert f"{bound:,}" in problem.message or str(bound) in problem.message, problem.message


def test_the_bound_itself_is_still_a_setting(tmp_path, config):
    path = tmp_path / "big.yaml"
    path.write_text(RULE.format(block=f"mention:\n  query: refund\n  min_matches: {MAX_COUNT}"), encoding="utf-8")
    rules, problems = load_file(path, config)
    assert [r.name for r in rules] == ["absurd"] and not [p for p in problems if p.severity == "error"]
