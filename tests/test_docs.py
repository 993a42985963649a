"""The README is the user's manual: these tests keep it true."""

from __future__ import annotations

import re

import pytest

from bot.config import ConfigModel
from bot.kinds import KINDS
from bot.notifiers import NOTIFIERS
from listeners import REGISTRY


@pytest.fixture
def readme(repo) -> str:
    return (repo / "README.md").read_text()


def _section(readme: str, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", readme, re.M | re.S)
    assert match, f"README has no section '{heading}'"
    return match.group(1)


def _commands(readme: str) -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_quickstart_has_the_two_commands_and_ci_runs_the_second(readme, repo):
    first, second = _commands(readme)[:2]
    assert first.endswith("harkbot demo") and "pip install" in first
    assert "pytest" in second and ".[test]" in second
    ci = (repo / ".ci" / "run").read_text()
    assert second in ci.splitlines()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_listener_has_a_section_naming_its_options(readme, name):
    section = _section(readme, name)
    base = {"enabled", "every", "base_url"}
    for option in set(REGISTRY[name].Options.model_fields) - base:
        assert f"`{option}`" in section, f"README section '{name}' does not mention `{option}`"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_rule_kind_has_a_section_naming_its_options(readme, name):
    section = _section(readme, name)
    for option in KINDS[name].Options.model_fields:
        assert f"`{option}`" in section, f"README section '{name}' does not mention `{option}`"


@pytest.mark.parametrize("name", sorted(NOTIFIERS))
def test_every_notifier_has_a_section(readme, name):
    assert _section(readme, name).strip()


@pytest.mark.parametrize("key", sorted(ConfigModel.model_fields))
def test_every_config_key_has_a_section(readme, key):
    assert _section(readme, key).strip()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_listener_has_a_retention_default_and_its_platform_is_known(name):
    """A listener's mentions are purged by its `retention:` key, and rules may name its platform."""
    import importlib

    from bot.config import RetentionModel
    from bot.models import PLATFORMS

    assert name in RetentionModel.model_fields, f"retention has no key for listener '{name}'"
    platform = getattr(importlib.import_module(REGISTRY[name].__module__), "PLATFORM", None)
    assert platform is None or platform in PLATFORMS, f"listener '{name}' stores platform '{platform}'"
