from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.kinds import negative_share
from bot.kinds.negative_share import Options


def test_fires_above_share_and_rise_with_evidence(history):
    history.steady(24, 8, label="positive")
    history.steady(24, 2, label="negative")
    for h in (24, 25, 26):
        history.add(h, 20, label="negative", text="Mindful Health refund never again")
        history.add(h, 10, label="positive")
    options = Options(window="3h", above=0.5, rise=0.25, baseline="24h", min_mentions=40)
    ctx = history.ctx(27)
    trigger = negative_share.check(options, ctx)
    assert trigger is not None
    finding = negative_share.explain(options, ctx, trigger)
    assert finding.title == "Negative share: Mindful, 67% negative (usual 20%)"
    assert dict(finding.facts)["Negative mentions"] == "60 of 90"
    assert all(p.label == "negative" for p in finding.posts)


def test_needs_min_mentions_and_a_real_rise(history):
    history.steady(24, 6, label="negative")
    history.steady(24, 4, label="positive")
    history.add(24, 6, label="negative")
    history.add(24, 4, label="positive")
    assert negative_share.check(Options(window="1h", above=0.5, min_mentions=20), history.ctx(25)) is None
    steady_but_high = Options(window="1h", above=0.5, rise=0.2, min_mentions=10, baseline="24h")
    assert negative_share.check(steady_but_high, history.ctx(25)) is None  # 60% is its usual
    assert negative_share.check(Options(window="1h", above=0.5, min_mentions=10), history.ctx(25)) is not None


def test_needs_a_threshold():
    with pytest.raises(ValidationError, match="set 'above'"):
        Options(above=None, rise=None)
