"""`harkbot check`: validates config.yaml and every rule file, prints every problem, exits 1 on errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ("X_BEARER_TOKEN", "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "YOUTUBE_API_KEY",
               "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")
NO_CREDENTIALS = {name: None for name in CREDENTIALS}  # None: unset for the run


def check(config: Path, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "check"], env={**NO_CREDENTIALS, **(env or {})})


def flat(text: str) -> str:
    """The output with line wrapping undone (the console wraps long lines at its width)."""
    return " ".join(text.split())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config.yaml and rules/ to break."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path


def edit(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return path.read_text()


def where(text: str, needle: str) -> str:
    before = text[: text.index(needle)]
    return f"{before.count(chr(10)) + 1}:{len(before) - (before.rfind(chr(10)) + 1) + 1}"


def test_the_shipped_config_passes():
    result = check(ROOT / "config.yaml")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "3 brands, 9 rules loaded from" in out
    assert out.endswith("ok")
    assert "error" not in out and "warning" not in out


def test_each_listener_without_credentials_is_skipped_in_one_line_naming_its_variables():
    result = check(ROOT / "config.yaml")
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert out.count("skipped") == 4
    assert "listener twitter: skipped, set X_BEARER_TOKEN to enable it" in out
    assert "listener reddit: skipped, set REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET to enable it" in out
    assert "listener youtube: skipped, set YOUTUBE_API_KEY to enable it" in out
    assert "listener bluesky: skipped, set BSKY_HANDLE, BSKY_APP_PASSWORD to enable it" in out


def test_the_shipped_config_lists_every_listener_and_notifier_with_what_to_set():
    """Seven listeners (the demo's stream aside) and four notifiers (the console aside), each
    ready, or off with the variables to set."""
    from bot.notifiers import NOTIFIERS
    from listeners import REGISTRY

    out = flat(check(ROOT / "config.yaml").stdout)
    listeners = sorted(set(REGISTRY) - {"demo"})
    assert len(listeners) == 7
    for name in listeners:
        assert f"listener {name}: ready" in out or f"listener {name}: skipped, set " in out, name
    notifiers = sorted(set(NOTIFIERS) - {"console"})
    assert notifiers == ["email", "slack", "teams", "webhook"]
    for name in notifiers:
        assert f"{name}: off, set " in out, name
    assert "email: off, set SMTP_HOST, HARKBOT_MAIL_FROM" in out


def test_a_listener_names_only_the_variables_still_missing():
    result = check(ROOT / "config.yaml", {"REDDIT_CLIENT_ID": "abc"})
    out = flat(result.stdout)
    assert "listener reddit: skipped, set REDDIT_CLIENT_SECRET to enable it" in out
    assert "REDDIT_CLIENT_ID" not in out


def test_a_disabled_listener_is_said_so(project):
    edit(project / "config.yaml", "  youtube:\n    enabled: true", "  youtube:\n    enabled: false")
    result = check(project / "config.yaml")
    assert result.exit_code == 0, result.output
    assert "listener youtube: disabled in config" in result.stdout
    assert "YOUTUBE_API_KEY" not in result.output


def test_a_misspelt_key_exits_1_with_file_line_col_and_the_suggestion(project):
    text = edit(project / "config.yaml", "    every: 5m\n    bearer_token", "    evry: 5m\n    bearer_token")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an exit, not a traceback
    at = where(text, "evry")  # 29:5 in the shipped layout
    assert f"{project / 'config.yaml'}:{at}: listeners.twitter.evry: unknown key (did you mean 'every'?)" in result.output
    assert "ok" not in result.stdout.split()


def test_every_config_error_is_printed(project):
    edit(project / "config.yaml", "scorer: harkbot ", "scorer: vadr ")
    edit(project / "config.yaml", "evaluate_every: 5m ", "evaluate_every: 5 ")
    edit(project / "config.yaml", "query: theranow", "query: theranow OR")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    for expected in ("evaluate_every: 5 has no unit", "brands.theranow.query: query: the query ends",
                     "sentiment.scorer: unknown scorer 'vadr' (did you mean 'vader'?)"):
        assert expected in result.output
    assert "3 error(s)" in result.output


def test_rule_errors_exit_1_with_file_line_col(project):
    text = edit(project / "rules" / "competitor-surge.yaml", "factor: 3", "facter: 3")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    rule = project / "rules" / "competitor-surge.yaml"
    assert f"{rule}:{where(text, 'facter')}: volume_spike.facter: unknown key (did you mean 'factor'?)" in result.output
    assert "3 brands, 8 rules loaded" in flat(result.output)  # the good rules still load
    assert "1 error(s)" in result.output


def test_config_warnings_and_rule_errors_are_all_printed(project):
    edit(project / "config.yaml", "token: ${SLACK_BOT_TOKEN}", "token: xoxb-written-here")
    edit(project / "rules" / "competitor-surge.yaml", "factor: 3", "facter: 3")
    edit(project / "rules" / "reputation-crisis.yaml", "channel: crisis", "channel: crises")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    out = flat(result.output)
    assert "slack.token: a secret is written in the file (write ${SLACK_BOT_TOKEN}" in out
    assert "volume_spike.facter: unknown key (did you mean 'factor'?)" in out
    assert "channel: unknown channel 'crises' (did you mean 'crisis'?" in out
    assert "2 error(s)" in out


def test_a_warning_alone_does_not_fail_the_check(project):
    edit(project / "config.yaml", "token: ${SLACK_BOT_TOKEN}", "token: xoxb-written-here")
    result = check(project / "config.yaml")
    assert result.exit_code == 0, result.output
    assert "slack.token: a secret is written in the file" in flat(result.output)
    assert flat(result.stdout).endswith("ok")


def test_errors_in_config_and_rules_are_all_printed(project):
    edit(project / "config.yaml", "scorer: harkbot ", "scorer: vadr ")
    edit(project / "rules" / "competitor-surge.yaml", "factor: 3", "facter: 3")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert "sentiment.scorer: unknown scorer 'vadr'" in result.output
    assert "volume_spike.facter: unknown key (did you mean 'factor'?)" in result.output


def test_problem_text_is_printed_verbatim(project):
    edit(project / "config.yaml", "query: theranow", "query: '[/]'")
    result = check(project / "config.yaml")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "brands.theranow.query: query: '[/]' has no letters or digits to match" in result.output


def test_a_yaml_syntax_error_is_one_located_problem(project):
    edit(project / "config.yaml", "  reddit:\n", "  reddit\n")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert f"{project / 'config.yaml'}:" in result.output
    assert "YAML syntax:" in result.output
    assert "1 error(s)" in result.output


def test_a_python_tag_is_refused_not_run(project):
    marker = project / "pwned"
    edit(project / "config.yaml", "evaluate_every: 5m ", f"evaluate_every: !!python/object/apply:os.system ['touch {marker}'] ")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert not marker.exists()
    assert "the YAML tag '!!python/object/apply:os.system' is not allowed" in flat(result.output)


def test_a_missing_rules_folder_is_an_error(project):
    shutil.rmtree(project / "rules")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert "the rules folder does not exist" in flat(result.output)


def test_check_says_what_an_incoming_webhook_cannot_do(project: Path) -> None:
    result = check(project / "config.yaml", {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"})
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "slack: on, incoming webhook: one fixed channel, so no routes; no threads" in out
    assert "posted twice" in out and "hooks.slack.com" not in out


def test_check_with_a_bot_token_says_so(project: Path) -> None:
    result = check(project / "config.yaml", {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert "slack: on, bot token" in flat(result.output) and "xoxb-1" not in result.output


def test_an_unknown_channel_in_routes_or_quiet_hours_is_an_error(project: Path) -> None:
    edit(project / "config.yaml", "    - {brands: [theranow, haven], channel: competitors}",
         "    - {brands: [theranow, haven], channel: competitor}")
    result = check(project / "config.yaml")
    assert result.exit_code == 1
    assert "routes[1].channel: 'competitor' is not one of slack.channels (did you mean 'competitors'?)" in flat(
        result.output)


def test_quiet_hours_and_digests_are_checked(project: Path) -> None:
    edit(project / "config.yaml", "  # quiet_hours:                      # hold all but critical alerts overnight\n"
         "  #   alerts: {start: \"22:00\", end: \"07:00\", timezone: Europe/London}",
         "  quiet_hours:\n    alerts: {start: \"22h\", end: \"07:00\", timezone: Europe/Londn}")
    out = flat(check(project / "config.yaml").output)
    assert "'22h' is not a time of day; write it as HH:MM, e.g. 07:00" in out
    assert "unknown time zone 'Europe/Londn'" in out
