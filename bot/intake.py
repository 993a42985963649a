"""What ingest does to a post beyond normalising it: privacy redaction before storage, and
the self-harm flag. Pure: a Mention in, a Mention (and a flag) out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from bot.models import Mention
from bot.privacy import redact
from bot.selfharm import SafetyFlag, assess

log = logging.getLogger("harkbot")


@dataclass(frozen=True)
class Intake:
    emails: bool = False  # redact before storage
    phones: bool = False
    safety: bool = True  # flag self-harm cues

    def redact(self, mention: Mention) -> Mention:
        """The mention with e-mails and phone numbers replaced everywhere it is stored (text,
        title and the platform's raw record), so they never reach the database."""
        if not (self.emails or self.phones):
            return mention
        text, title = self._text(mention.text), self._text(mention.title)
        raw = _redact_strings(mention.raw, self._text)
        if text == mention.text and title == mention.title and raw == mention.raw:
            return mention
        return replace(mention, text=text, title=title, raw=raw)

    def flag(self, mention: Mention) -> SafetyFlag | None:
        """The self-harm flag. A detector that fails never drops the post: it is flagged `risk`
        so a person reads it (the log names the error's type and the post's key, never its text)."""
        if not self.safety:
            return None
        try:
            return assess(mention.full_text)
        except Exception as exc:  # noqa: BLE001 - a post at risk must not be lost to a bug
            log.error("selfharm: the detector failed on %s (%s); flagged risk for a person to read",
                      mention.key, type(exc).__name__)
            return SafetyFlag("risk", (), f"the self-harm detector failed ({type(exc).__name__}); "
                              "a person should read this post", 0.0, "error")

    def _text(self, text: str) -> str:
        return redact(text, emails=self.emails, phones=self.phones).text if text else text


def intake_for(config: Any) -> Intake:
    model = config.model
    return Intake(model.privacy.emails, model.privacy.phones, model.safety.enabled)


def _redact_strings(value: Any, redact_text: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_strings(v, redact_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, redact_text) for v in value]
    return value
