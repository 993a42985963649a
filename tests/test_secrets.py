"""bot/secrets.py: ${VAR} references, resolving them from an environment, and redaction."""

from __future__ import annotations

import pytest

from bot.secrets import env_name, redact, resolve


@pytest.mark.parametrize("value, name", [
    ("${X_BEARER_TOKEN}", "X_BEARER_TOKEN"),
    ("${A}", "A"),
    ("${_PRIVATE_1}", "_PRIVATE_1"),
    ("${lower_case}", "lower_case"),
    (" ${SLACK_BOT_TOKEN} ", "SLACK_BOT_TOKEN"),  # a quoted value with stray spaces is still a reference
])
def test_env_name(value, name):
    assert env_name(value) == name


@pytest.mark.parametrize("value", [
    None, "", "X_BEARER_TOKEN", "$X_BEARER_TOKEN", "${}", "${1ABC}", "${A-B}", "${A B}", "pre${A}", "${A}post",
    "${A}${B}", "{A}", "${A", "xoxb-123-abc",
])
def test_not_a_reference(value):
    assert env_name(value) is None


ENV = {"X_BEARER_TOKEN": "bearer-1234", "EMPTY": ""}


@pytest.mark.parametrize("value, expected", [
    ("${X_BEARER_TOKEN}", "bearer-1234"),
    (" ${X_BEARER_TOKEN}", "bearer-1234"),
    ("${MISSING}", None),  # unset: None, so the caller can name the variable to set
    ("${EMPTY}", None),  # set but empty counts as unset
    ("literal-token", "literal-token"),  # a literal is its own value (config warns about it)
    ("", None),
    (None, None),
])
def test_resolve(value, expected):
    assert resolve(value, ENV) == expected


def test_resolve_reads_only_the_mapping_it_is_given(monkeypatch):
    monkeypatch.setenv("ONLY_IN_OS_ENV", "leaked")
    assert resolve("${ONLY_IN_OS_ENV}", {}) is None


def test_redact_replaces_every_occurrence():
    assert redact("token s3cr3t, again s3cr3t", ["s3cr3t"]) == "token ***, again ***"


def test_redact_replaces_the_longest_secret_first():
    # one secret a prefix of another must not leave the longer one's tail in the log
    text = "short xoxb-1 and long xoxb-12345"
    assert redact(text, ["xoxb-1", "xoxb-12345"]) == "short *** and long ***"
    assert redact(text, ["xoxb-12345", "xoxb-1"]) == "short *** and long ***"


def test_redact_leaves_very_short_or_empty_values_alone():
    # a one-letter "secret" would blank out half the message
    assert redact("a bad day", ["a", "", "bad"]) == "a bad day"
    assert redact("abcd", ["abcd"]) == "***"


def test_redact_without_secrets():
    assert redact("nothing here", []) == "nothing here"
