"""Absurd numbers are refused at file:line with the bound named, never accepted silently or
left to overflow date arithmetic later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import MAX_DAYS, load_config
from bot.durations import parse_duration
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def config_with(tmp_path: Path, retention: str) -> Path:
    text = (ROOT / "config.yaml").read_text()
    start = text.index("\nretention:")
    end = text.index("\n\n", start + 1)
    (tmp_path / "config.yaml").write_text(text[:start] + "\nretention:\n" + retention + text[end:])
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path / "config.yaml"


@pytest.mark.parametrize("value, expected", [
    ("1e26", f"1e+26 is far too large: at most {MAX_DAYS:,}"),
    ("100000", f"less than or equal to {MAX_DAYS}"),
])
def test_retention_days_have_a_named_upper_bound(tmp_path, value, expected):
    path = config_with(tmp_path, f"  alerts_days: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.path == "retention.alerts_days" and expected in problem.message and problem.line > 1


def test_a_hundred_years_of_retention_is_still_accepted(tmp_path):
    config = load_config(config_with(tmp_path, f"  alerts_days: {MAX_DAYS}\n"))
    assert config.model.retention.alerts_days == MAX_DAYS


@pytest.mark.parametrize("text", ["521w", "100000w", "99999999999d"])
def test_durations_past_ten_years_name_the_limit(text):
    with pytest.raises(ValueError, match="too long: the limit is 520w"):
        parse_duration(text)


def test_ten_years_is_a_duration():
    assert parse_duration("520w").days == 3640
