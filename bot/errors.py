"""The exception tree, drawn once so callers know what to catch.

    HarkError
     +-- ConfigError            a config or rule file is wrong; carries every Problem found
     +-- QueryError             a brand/rule query does not parse (position inside the query)
     +-- ListenerError          a listener could not fetch; retryable unless said otherwise
     |    +-- MissingCredentials  an environment variable the listener needs is unset
     |    +-- RateLimited         the platform said slow down; retry_after in seconds
     +-- NotifyError            a notifier could not deliver; retryable or not
     +-- StoreError             the database is not one we can use (wrong kind, newer schema)
     |    +-- LeaseLost         a fenced write from a holder that lost its lease
"""

from __future__ import annotations

from dataclasses import dataclass


class HarkError(Exception):
    """Base of every error harkbot raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, located precisely enough for a person to fix it."""

    file: str
    line: int  # 1-based; 0 when unknown
    col: int  # 1-based; 0 when unknown
    path: str  # dotted key path, e.g. "listeners.twitter.every"
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col}"
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text if self.severity == "error" else f"{text} [warning]"


class ConfigError(HarkError):
    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class QueryError(HarkError):
    def __init__(self, message: str, position: int = 0):
        self.position = position  # 0-based offset into the query text
        super().__init__(message)


class ListenerError(HarkError):
    def __init__(self, message: str, retryable: bool = True):
        self.retryable = retryable
        super().__init__(message)


class MissingCredentials(ListenerError):
    def __init__(self, listener: str, variables: list[str]):
        self.listener = listener
        self.variables = list(variables)
        names = ", ".join(self.variables)
        super().__init__(f"{listener}: skipped, set {names} to enable it", retryable=False)


class RateLimited(ListenerError):
    def __init__(self, message: str, retry_after: float):
        self.retry_after = retry_after
        super().__init__(message, retryable=True)


class NotifyError(HarkError):
    def __init__(self, message: str, retryable: bool, retry_after: float | None = None):
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class NotSent(HarkError):
    """A post given up before its request went out: the caller's `ready()` said no (the lane's
    lease was lost while the notifier waited its turn). Nothing reached the channel."""


class StoreError(HarkError):
    pass


class LeaseLost(StoreError):
    """A write fenced by a lease that another holder has since taken: refused, never applied."""
