"""Hot reload: changed files load, a broken file keeps its last good version, and says so."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.reload import RuleWatcher, reload_rules
from bot.store import Store
from tests.helpers import T0

ROOT = Path(__file__).resolve().parent.parent
GOOD = "name: leaks\nbrands: [mindful]\nmention: {query: leak, min_matches: 2}\n"


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config.yaml")


def touch(path: Path, text: str, tick: int) -> None:
    path.write_text(text)
    stamp = 1_700_000_000 + tick
    os.utime(path, (stamp, stamp))


def test_reload_keeps_the_last_good_version_of_a_broken_file(tmp_path, config):
    touch(tmp_path / "leaks.yaml", GOOD, 1)
    first = reload_rules(tmp_path, None, config)
    assert [r.name for r in first.ruleset.rules] == ["leaks"] and first.added
    same = reload_rules(tmp_path, first.ruleset, config)
    assert not same.any and same.ruleset.rules == first.ruleset.rules
    touch(tmp_path / "leaks.yaml", GOOD.replace("min_matches: 2", "min_matchs: 3"), 2)
    broken = reload_rules(tmp_path, first.ruleset, config)
    assert broken.kept == [str(tmp_path / "leaks.yaml")]
    assert [r.options.min_matches for r in broken.ruleset.rules] == [2]  # still the good version
    assert "did you mean 'min_matches'?" in str(broken.errors[0])
    assert "kept the last good version of leaks.yaml" in broken.summary()
    touch(tmp_path / "leaks.yaml", GOOD.replace("min_matches: 2", "min_matches: 3"), 3)
    fixed = reload_rules(tmp_path, broken.ruleset, config)
    assert fixed.changed and [r.options.min_matches for r in fixed.ruleset.rules] == [3]
    (tmp_path / "leaks.yaml").unlink()
    gone = reload_rules(tmp_path, fixed.ruleset, config)
    assert gone.removed and gone.ruleset.rules == []


def test_a_new_broken_file_loads_nothing_and_the_others_stay(tmp_path, config):
    touch(tmp_path / "leaks.yaml", GOOD, 1)
    first = reload_rules(tmp_path, None, config)
    touch(tmp_path / "new.yaml", "name: [oops\n", 2)
    result = reload_rules(tmp_path, first.ruleset, config)
    assert [r.name for r in result.ruleset.rules] == ["leaks"]
    assert "new.yaml has errors" in result.summary()


def test_the_watcher_logs_one_line_and_sends_an_admin_message(tmp_path, config, caplog):
    touch(tmp_path / "leaks.yaml", GOOD, 1)
    store = Store(":memory:")
    watcher = RuleWatcher(tmp_path, config, store, ["slack"], admin_channel="alerts")
    assert [r.name for r in watcher.refresh(T0)] == ["leaks"]
    assert store.outbox_counts() == {}
    touch(tmp_path / "leaks.yaml", GOOD.replace("brands: [mindful]", "brands: [mindfull]"), 2)
    with caplog.at_level(logging.INFO, logger="harkbot"):
        rules = watcher.refresh(T0 + timedelta(minutes=5))
    assert [r.name for r in rules] == ["leaks"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rules:")]
    assert len(lines) == 1 and "kept the last good version of leaks.yaml" in lines[0]
    assert "unknown brand 'mindfull'" in lines[0]
    assert store.outbox_counts() == {"pending": 1}
    (delivery,) = store.open_deliveries()
    assert delivery.channel == "alerts" and "kept the last good version" in delivery.payload
    assert watcher.refresh(T0 + timedelta(minutes=10)) == rules  # nothing changed: nothing said
    assert store.outbox_counts() == {"pending": 1}


def test_a_problem_that_persists_across_refreshes_is_said_once(tmp_path, config, caplog):
    touch(tmp_path / "a.yaml", GOOD, 1)
    touch(tmp_path / "b.yaml", GOOD, 1)  # the same rule name twice: an error on every reload
    store = Store(":memory:")
    watcher = RuleWatcher(tmp_path, config, store, ["slack"])
    with caplog.at_level(logging.INFO, logger="harkbot"):
        for minute in range(0, 30, 5):
            watcher.refresh(T0 + timedelta(minutes=minute))
    assert store.outbox_counts().get("pending", 0) <= 1
    said = [r for r in caplog.records if "already used" in r.getMessage()]
    assert len(said) <= 1
