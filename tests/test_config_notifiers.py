"""config.yaml's `notifiers:` (email, webhook, Teams) and the channel names they share with Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.rules import load_rules
from tests.test_config import MINI, only, write

NOTIFIERS = """\
notifiers:
  email:
    host: smtp.example.com
    sender: harkbot@example.com
    channels:
      alerts: [social@example.com, pr@example.com]
      exec: [ceo@example.com]
  webhook:
    channels:
      alerts: ${HOOK_URL}
  teams:
    channels:
      ops: https://example.webhook.office.com/workflows/abc
"""


def test_notifier_sections_load_with_their_defaults(tmp_path):
    config = load_config(write(tmp_path, MINI + NOTIFIERS))
    email = config.model.notifiers.email
    assert (email.port, email.security, email.username, email.password) == (587, "starttls", "${SMTP_USERNAME}",
                                                                          "${SMTP_PASSWORD}")
    assert config.model.notifiers.webhook.secret == "${HARKBOT_WEBHOOK_SECRET}"
    assert list(config.model.notifiers.sections()) == ["email", "webhook", "teams"]
    # Slack's names first, then each notifier's new ones, each once.
    assert config.channels == ["alerts", "exec", "ops"]


@pytest.mark.parametrize("bad, fragment", [
    ("'ceo@example.com, cfo@example.com'", "'ceo@example.com, cfo@example.com' is not an e-mail address"),
    ("'ceo@example.com\\nBcc: all@example.com'", "is not an e-mail address"),
    ('"Boss <ceo@example.com>"', "is not an e-mail address"),
    ("nobody", "'nobody' is not an e-mail address"),
])
def test_a_recipient_must_be_one_bare_address_at_its_line(tmp_path, bad, fragment):
    text = MINI + NOTIFIERS.replace("[ceo@example.com]", f"[{bad}]")
    path, problem = only(tmp_path, text)
    assert problem.path == "notifiers.email.channels"
    assert problem.line == 9 and fragment in problem.message  # the `channels:` key of email


def test_a_hook_url_must_be_http_or_an_env_reference(tmp_path):
    text = MINI + NOTIFIERS.replace("https://example.webhook.office.com/workflows/abc", "ftp://example.com/x")
    _, problem = only(tmp_path, text)
    assert problem.path == "notifiers.teams.channels"
    assert "channel 'ops': 'ftp://example.com/x' is not an http(s) URL or ${ENV_VAR}" in problem.message


def test_an_unknown_notifier_is_named_with_the_known_ones(tmp_path):
    _, problem = only(tmp_path, MINI + "notifiers:\n  emial:\n    channels: {}\n")
    assert problem.path.startswith("notifiers") and "email" in str(problem)


def test_a_rule_may_name_a_channel_only_another_notifier_has(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, channel in (("to-exec", "exec"), ("nowhere", "exce")):
        (rules / f"{name}.yaml").write_text(f"name: {name}\nbrands: [mindful]\nchannel: {channel}\n"
                                            "mention:\n  query: recall\n  window: 1h\n", encoding="utf-8")
    config = load_config(write(tmp_path, MINI + NOTIFIERS))
    loaded, found = load_rules([rules], config)
    assert [r.channel for r in loaded] == ["exec"]
    assert len(found) == 1 and "unknown channel 'exce'" in found[0].message
    assert found[0].hint == ("did you mean 'exec'?; channels are named in config.yaml under slack.channels or "
                             "notifiers.{email,webhook,teams}.channels")


def test_the_safety_channel_may_be_any_notifiers(tmp_path):
    config = load_config(write(tmp_path, MINI + NOTIFIERS + "safety:\n  channel: exec\n"))
    assert config.model.safety.channel == "exec"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINI + NOTIFIERS + "safety:\n  channel: crisis\n"))
    assert "is not one of slack.channels or notifiers.{email,webhook,teams}.channels" in str(caught.value.problems[0])
