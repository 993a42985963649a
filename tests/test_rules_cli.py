"""`harkbot rules check | schema | test | backtest`, and the rule format's newer fields."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from bot.cli_rules import rules
from bot.config import load_config
from bot.rules import load_rules, rule_schema
from bot.yamlsrc import load, plain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path


def run(project: Path, *args: str):
    return CliRunner().invoke(rules, ["--config", str(project / "config.yaml"), *args])


def test_check_passes_the_shipped_rules(project):
    result = run(project, "check")
    assert result.exit_code == 0, result.output
    assert "9 rules loaded" in result.output and result.output.rstrip().endswith("ok")


def test_check_prints_every_error_of_every_file_and_exits_1(project):
    crisis = project / "rules" / "reputation-crisis.yaml"
    crisis.write_text(crisis.read_text().replace("factor: 4", "facter: 4").replace("cooldown: 6h", "fro: 10m"))
    (project / "rules" / "x.yaml").write_text("name: x\nbrands: [mindfull]\nmention: {query: leak}\n")
    result = run(project, "check")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"{crisis}:8:1: fro: unknown key (did you mean 'for'?)" in out
    assert "volume_spike.facter: unknown key (did you mean 'factor'?)" in out
    assert "x.yaml:2:10: brands[0]: unknown brand 'mindfull' (did you mean 'mindful'?)" in out
    assert "3 error(s)" in out


def test_check_json_for_ci(project):
    (project / "rules" / "x.yaml").write_text("name: x\nnegative_share: {min_mentions: 5}\n")
    result = run(project, "check", "--format", "json", str(project / "rules" / "x.yaml"))
    assert result.exit_code == 0
    (problem,) = json.loads(result.output)
    assert problem["severity"] == "warning" and problem["path"] == "negative_share.min_mentions"
    assert (problem["line"], problem["col"]) == (2, 32)


def test_schema_is_draft_2020_12_and_accepts_the_shipped_rules():
    result = CliRunner().invoke(rules, ["schema"])
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        source, _ = load(path)
        assert not list(validator.iter_errors(plain(source.root))), path
    assert list(validator.iter_errors({"name": "two", "mention": {"query": "a"}, "volume_spike": {}}))
    assert list(validator.iter_errors({"name": "none"}))
    assert list(validator.iter_errors({"name": "bad", "volume_spike": {"window": "1 hour"}}))
    assert not list(validator.iter_errors({"name": "ok", "for": "10m", "volume_spike": None}))
    assert set(schema["$defs"]["rule"]["properties"]) >= {"for", "group_by", "listener_silent", "new_term"}


def test_rules_test_runs_the_test_files(project):
    result = run(project, "test")
    assert result.exit_code == 0, result.output
    assert "8 passed, 0 failed" in result.output
    broken = project / "rules" / "influencer.test.yaml"
    broken.write_text(broken.read_text().replace("{from: 5h05m, to: 12h, alerts: 1}", "{from: 5h05m, to: 12h, alerts: 3}"))
    result = run(project, "test", str(broken))
    assert result.exit_code == 1
    assert "expected 3 alert(s) from 5h5m to 12h, got 1" in " ".join(result.output.split())


def test_backtest_on_a_database(project, tmp_path):
    from datetime import timedelta

    from bot.store import Store
    from tests.helpers import T0, mention, scored

    store = Store(tmp_path / "h.db")
    rows = [scored(mention(i, "Mindful Health leaked my records", at=T0 + timedelta(minutes=i)), label="negative")
            for i in range(30)]
    store.ingest("twitter", rows, None, T0 + timedelta(minutes=30))
    store.close()
    result = run(project, "backtest", "privacy-complaint", "--since", "2026-03-01", "--until", "2026-03-03",
                 "--db", str(tmp_path / "h.db"), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (rule,) = report["rules"]
    assert rule["rule"] == "privacy-complaint" and rule["alerts"] == 1
    assert rule["fired"][0]["title"].startswith("Keyword match: Mindful Health")
    text = run(project, "backtest", "--since", "2026-03-01", "--until", "2026-03-03", "--db", str(tmp_path / "h.db"))
    assert text.exit_code == 0 and "privacy" in text.output and "Alerts it would have sent" in text.output
    unknown = run(project, "backtest", "privacy-complain", "--db", str(tmp_path / "h.db"))
    assert unknown.exit_code == 1 and "did you mean 'privacy-complaint'?" in unknown.output


def load_text(tmp_path: Path, text: str):
    (tmp_path / "r").mkdir(exist_ok=True)
    (tmp_path / "r" / "rule.yaml").write_text(text)
    return load_rules([tmp_path / "r"], load_config(ROOT / "config.yaml"))


def test_for_and_group_by(tmp_path):
    (rule,), problems = load_text(tmp_path, "name: a\nfor: 10m\ngroup_by: [brand, platform]\nmention: {query: x}\n")
    assert problems == [] and rule.for_.total_seconds() == 600 and rule.group_by == ("brand", "platform")
    _, problems = load_text(tmp_path, "name: a\nfor: 10\nmention: {query: x}\n")
    assert [str(p).split(": ", 1)[1] for p in problems] == ["for: 10 has no unit; write 10s, 10m, 10h or 10d"]
    _, problems = load_text(tmp_path, "name: a\ngroup_by: [listener]\nmention: {query: x}\n")
    assert [p.message for p in problems] == ["mention cannot group by listener", "group_by must include brand"]
    (silent,), problems = load_text(tmp_path, "name: s\nlistener_silent: {listeners: [twitter]}\n")
    assert problems == [] and silent.group_by == ("listener",) and silent.brands == ()


@pytest.mark.parametrize("block, message", [
    ("share_of_voice: {versus: [mindfull]}", "unknown brand 'mindfull'"),
    ("share_of_voice: {versus: [mindful]}", "'mindful' is compared with itself"),
    ("listener_silent: {listeners: [twiter]}", "unknown listener 'twiter'"),
    ("volume_spike: {sensitivity: high, factor: 2}", "set sensitivity, or factor and significance, not both"),
    ("new_term: {window: 2h, lookback: 1h}", "lookback must be at least as long as window"),
    ("influencer: {min_reach: null}", "set min_reach, or a watch list of authors, or both"),
    ("influencer: {window: 1m}", "window 1m is shorter than evaluate_every 5m"),
])
def test_impossible_settings_are_errors(tmp_path, block, message):
    rules_, problems = load_text(tmp_path, f"name: a\nbrands: [mindful]\n{block}\n")
    assert rules_ == [] and any(message in p.message for p in problems), problems


@pytest.mark.parametrize("block, path", [
    ("share_of_voice: {versus: [theranow], min_total: 5}", "share_of_voice.min_total"),
    ("volume_spike: {min_mentions: 2}", "volume_spike.min_mentions"),
])
def test_ratio_rules_without_volume_guards_are_warned_about(tmp_path, block, path):
    rules_, problems = load_text(tmp_path, f"name: a\nbrands: [mindful]\n{block}\n")
    assert len(rules_) == 1 and [(p.path, p.severity) for p in problems] == [(path, "warning")]


def test_backtest_reads_at_80_columns(project, tmp_path, monkeypatch):
    """Every line fits a terminal 80 columns wide: headers whole, rule names broken only after a
    hyphen, every alert with its group, title, values and resolution."""
    from datetime import timedelta

    from rich.console import Console

    from bot import cli_rules
    from bot.store import Store
    from tests.helpers import T0, mention, scored

    store = Store(tmp_path / "h.db")
    rows = [scored(mention(i, "Mindful Health leaked my records, a privacy breach", at=T0 + timedelta(minutes=i),
                           reach=500_000 if i % 7 == 0 else 100), label="negative") for i in range(40)]
    store.ingest("twitter", rows, None, T0 + timedelta(minutes=40))
    store.close()
    (project / "rules" / "long.yaml").write_text(
        "name: a-rather-long-rule-name-for-privacy-complaints-on-every-platform\nbrands: [mindful]\n"
        "group_by: [brand, platform]\nmention: {query: 'leak* OR breach', min_matches: 5}\n")
    monkeypatch.setattr(cli_rules, "console", Console(width=80, highlight=False))
    result = run(project, "backtest", "--since", "2026-03-01", "--until", "2026-03-03", "--db", str(tmp_path / "h.db"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    header = next(line for line in lines if " alerts " in line)
    assert header.split() == ["rule", "alerts", "/day", "first", "last", "peak"]
    listing = next(line for line in lines if "fired (UTC)" in line)
    assert listing.split() == ["fired", "(UTC)", "rule", "·", "group,", "title", "value", "resolved"]
    # The long name is broken after hyphens only, and reads whole again when its lines are joined.
    name = "a-rather-long-rule-name-for-privacy-complaints-on-every-platform"
    i = next(k for k, line in enumerate(lines) if line.split() and line.split()[0].startswith("a-rather"))
    joined = ""
    while len(joined) < len(name):
        token = lines[i].split()[0]
        assert token.endswith("-") or joined + token == name, lines[i]
        joined, i = joined + token, i + 1
    assert joined == name
    assert "Keyword match: Mindful Health" in result.output and "mindful/x" in result.output
