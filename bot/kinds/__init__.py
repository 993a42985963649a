"""The rule-kind registry: one line per kind. A kind module has `name`, an `Options`
model (its YAML block), a cheap `check(options, context) -> Trigger | None`, and
`explain(options, context, trigger) -> Finding`, the evidence an alert shows (see
bot/kinds/base.py for the optional parts)."""

from __future__ import annotations

from types import ModuleType

from bot.kinds import (influencer, listener_silent, mention, negative_share, new_term, share_of_voice,
                       volume_spike)

KINDS: dict[str, ModuleType] = {}


def register(module: ModuleType) -> ModuleType:
    KINDS[module.name] = module
    return module


register(volume_spike)
register(negative_share)
register(mention)
register(share_of_voice)
register(new_term)
register(influencer)
register(listener_silent)
