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


# -- a rule that goes away while its alert is firing -------------------------------------------------

def _firing(tmp_path, config, text=GOOD):
    """A watched folder with `text` as leaks.yaml, a store whose leaks alert is firing (sent to slack)."""
    from bot.pipeline import evaluate_once
    from tests.helpers import mention, scored

    touch(tmp_path / "leaks.yaml", text, 1)
    store = Store(":memory:")
    store.ingest("t", [scored(mention(i, "Mindful Health leak", at=T0 + timedelta(minutes=i))) for i in range(3)],
                 None, T0)
    watcher = RuleWatcher(tmp_path, config, store, ["slack"])
    now = T0 + timedelta(minutes=10)
    first = evaluate_once(watcher.refresh(now), config.brands, store, now, ["slack"], retire=watcher.retire)
    assert [a.rule for a in first.alerts] == ["leaks"]
    return store, watcher, first.alerts[0].id


def _evaluate(store, watcher, config, minutes):
    from bot.pipeline import evaluate_once

    now = T0 + timedelta(minutes=minutes)
    return evaluate_once(watcher.refresh(now), config.brands, store, now, ["slack"], retire=watcher.retire)


def _resolves(store):
    return [d for d in store.open_deliveries() if d.action == "resolve"]


@pytest.mark.parametrize("edit, reason", [
    (lambda p: p.unlink(), "rule file {folder}/leaks.yaml deleted"),
    (lambda p: touch(p, GOOD.replace("name: leaks", "name: leak-words"), 2), "rule removed from {folder}/leaks.yaml"),
    (lambda p: touch(p, GOOD + "enabled: false\n", 2), "rule removed from {folder}/leaks.yaml"),
], ids=["deleted", "renamed", "disabled"])
def test_a_firing_rule_that_goes_away_resolves_with_a_reason(tmp_path, config, edit, reason):
    store, watcher, alert_id = _firing(tmp_path, config)
    edit(tmp_path / "leaks.yaml")
    result = _evaluate(store, watcher, config, 15)
    why = reason.format(folder=tmp_path.name)
    assert [(s.rule, r) for s, r in result.closed] == [("leaks", why)]
    state = store.rule_state(result.closed[0][0].fingerprint)
    assert state.state == "resolved" and state.alert_id == alert_id
    alert = store.alert(alert_id)
    assert alert.state == "resolved" and alert.finding.title.endswith(f"(closed: {why})")
    assert store.alert_times(alert_id)[1] == T0 + timedelta(minutes=15)
    assert [d.alert_id for d in _resolves(store)] == [alert_id]  # a follow-up, where the alert went
    assert _evaluate(store, watcher, config, 20).closed == []  # once
    assert "leaks" not in [s.rule for s in store.open_states()]  # (a renamed rule fires under its new name)


def test_a_broken_file_keeps_its_alerts_open_while_running_and_after_a_restart(tmp_path, config):
    store, watcher, alert_id = _firing(tmp_path, config)
    touch(tmp_path / "leaks.yaml", GOOD.replace("min_matches: 2", "min_matchs: 2"), 2)  # broken
    assert _evaluate(store, watcher, config, 15).closed == []  # its last good version is in force
    restarted = RuleWatcher(tmp_path, config, store, ["slack"])  # no last good version now
    assert restarted.rules == []
    for minutes in (20, 25, 90):
        assert _evaluate(store, restarted, config, minutes).closed == []
    assert store.rule_state(store.open_states()[0].fingerprint).state == "firing"
    assert store.alert(alert_id).state == "firing" and _resolves(store) == []
    # Fixed, without the rule: now it is gone for good.
    touch(tmp_path / "leaks.yaml", GOOD.replace("name: leaks", "name: leak-words"), 3)
    result = _evaluate(store, restarted, config, 95)
    assert [r for _s, r in result.closed] == [f"rule no longer in {tmp_path.name}/ (deleted, renamed or disabled)"]
    assert store.alert(alert_id).state == "resolved" and len(_resolves(store)) == 1


def test_a_broken_file_that_no_longer_names_the_rule_lets_it_go(tmp_path, config):
    store, watcher, alert_id = _firing(tmp_path, config)
    touch(tmp_path / "leaks.yaml", "name: [other\n", 2)  # broken, and the rule's name is gone from it
    restarted = RuleWatcher(tmp_path, config, store, ["slack"])
    assert [s.rule for s, _r in _evaluate(store, restarted, config, 15).closed] == ["leaks"]


def test_without_retire_nothing_is_closed(tmp_path, config):
    from bot.pipeline import evaluate_once

    store, watcher, alert_id = _firing(tmp_path, config)
    (tmp_path / "leaks.yaml").unlink()
    now = T0 + timedelta(minutes=15)
    assert evaluate_once(watcher.refresh(now), config.brands, store, now, ["slack"]).closed == []
    assert store.alert(alert_id).state == "firing"
