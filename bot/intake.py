"""What ingest does to a post beyond normalising it: privacy redaction before storage, and
the self-harm flag. Pure: a Mention in, a Mention (and a flag) out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.models import Mention
from bot.privacy import redact
from bot.selfharm import SafetyFlag, assess


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
        return assess(mention.full_text) if self.safety else None

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
