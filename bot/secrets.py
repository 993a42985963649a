"""Secrets live in the environment; config files only name them as ${VAR}."""

from __future__ import annotations

import re
from typing import Mapping

_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def env_name(value: str | None) -> str | None:
    """'${X_BEARER_TOKEN}' -> 'X_BEARER_TOKEN'; anything else -> None."""
    match = _REF.match((value or "").strip())  # a quoted " ${X}" is still a reference
    return match.group(1) if match else None


def resolve(value: str | None, env: Mapping[str, str]) -> str | None:
    """The secret's value: from the environment for a ${VAR} reference, else the literal.

    An unset or empty variable resolves to None, so callers can say which one to set.
    """
    if value is None:
        return None
    name = env_name(value)
    if name is None:
        return value or None
    return env.get(name) or None


def resolve_all(prefix: str, env: Mapping[str, str], **refs: str | None) -> tuple[dict[str, str], list[str]]:
    """Resolve references; the values found, and for each one unset what to set: its variable,
    or the config key (`prefix`.option) when it was written as a literal left empty."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for option, ref in refs.items():
        value = resolve(ref, env)
        if value is None:
            missing.append(env_name(ref) or f"{prefix}.{option}")
        else:
            values[option] = value
    return values, missing


def redact(text: str, secrets: list[str]) -> str:
    """Remove secret values from a message before it is logged."""
    # Longest first: replacing "xoxb-1" before "xoxb-12345" would leave "***2345" in the log.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
