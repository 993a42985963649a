from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.kinds import volume_spike
from bot.kinds.volume_spike import Options


def test_fires_on_a_many_author_negative_spike_and_explains_it(history):
    history.steady(30, 10, label="negative")
    history.steady(30, 20, label="positive")
    history.add(30, 80, label="negative", text="Mindful Health leaked my therapy notes")
    options = Options(window="1h", sentiment="negative", factor=4, min_mentions=20, min_authors=10)
    ctx = history.ctx(31)
    trigger = volume_spike.check(options, ctx)
    assert trigger is not None and trigger.observed == 80 and trigger.usual == pytest.approx(10)
    finding = volume_spike.explain(options, ctx, trigger)
    assert finding.title == "Negative spike: Mindful, 8.0x usual"
    facts = dict(finding.facts)
    assert facts["Observed (1h)"] == "80 negative mentions" and facts["Usual (1h)"] == "10.0"
    assert facts["Negative share"] == "100% (usual 33%)"
    assert {"leaked", "therapy notes"} & set(finding.terms)
    assert len(finding.posts) == 5 and len(finding.series) == 288


def test_quiet_at_usual_levels_and_daily_rhythm(history):
    for h in range(48):
        history.add(h, 30 if h % 24 in range(14, 22) else 12)
    options = Options(window="1h", factor=3, min_mentions=10)
    assert all(volume_spike.check(options, history.ctx(h)) is None for h in range(25, 49))


def test_small_counts_are_not_a_crisis(history):
    history.steady(30, 0)
    history.add(0, 1)
    history.add(30, 6)  # from ~0 to 6: a huge ratio, but a handful of posts
    assert volume_spike.check(Options(min_mentions=10), history.ctx(31)) is None
    assert volume_spike.check(Options(min_mentions=5, min_authors=1, significance=0), history.ctx(31)) is not None


def test_one_spammer_is_not_a_surge(history):
    history.steady(30, 10)
    history.add(30, 100, authors=2)
    assert volume_spike.check(Options(min_authors=5), history.ctx(31)) is None
    assert volume_spike.check(Options(min_authors=2), history.ctx(31)) is not None


def test_needs_history_before_it_may_fire(history):
    history.add(0, 5)
    history.add(3, 100)
    assert volume_spike.check(Options(), history.ctx(4)) is None  # 3h of history < 24h baseline
    assert volume_spike.check(Options(min_history="2h"), history.ctx(4)) is not None


def test_drop_direction(history):
    history.steady(30, 40)
    history.add(30, 2)
    trigger = volume_spike.check(Options(direction="down", factor=4), history.ctx(31))
    assert trigger is not None
    assert "Volume drop" in volume_spike.explain(Options(direction="down", factor=4), history.ctx(31), trigger).title


@pytest.mark.parametrize("bad, message", [
    ({"factor": 1}, "factor must be above 1"),
    ({"baseline": "30m", "window": "1h"}, "baseline must be at least as long as window"),
    ({"window": "60"}, "is not a duration"),
    ({"facter": 3}, "Extra inputs"),
])
def test_impossible_options_are_errors(bad, message):
    with pytest.raises(ValidationError, match=message):
        Options(**bad)


def _quiet_week(history, hours: int = 168) -> None:
    for h in range(0, hours, 2):  # a quiet brand: one post every other hour
        history.add(h, 1)


def test_a_quiet_brand_fires_under_min_mentions_on_an_improbable_burst(history):
    _quiet_week(history)
    history.add(168, 8)  # 8 posts in an hour, 8 authors, against about 0.5 an hour
    trigger = volume_spike.check(Options(), history.ctx(169))  # min_mentions 10 by default
    assert trigger is not None and trigger.observed == 8
    assert trigger.usual == pytest.approx(85 / 168) and trigger.detail.tail > 6.0
    finding = volume_spike.explain(Options(), history.ctx(169), trigger)
    assert "under 10 mentions, a count this high by chance at most 1 in 10^6, here 1 in 10^" in finding.reason
    assert "over the previous 1w" in finding.reason
    # min_mentions as a hard floor, as before the quiet path
    assert volume_spike.check(Options(quiet_significance=None), history.ctx(169)) is None


def test_the_quiet_path_keeps_its_guards(history):
    _quiet_week(history)
    history.add(168, 8, authors=2)  # one conversation between two accounts is not a surge
    assert volume_spike.check(Options(), history.ctx(169)) is None
    assert volume_spike.check(Options(min_authors=2), history.ctx(169)) is not None
    assert volume_spike.check(Options(min_authors=2, quiet_significance=8), history.ctx(169)) is None
    assert volume_spike.check(Options(min_authors=2, factor=20), history.ctx(169)) is None  # 16x, not 20x


def test_the_quiet_path_needs_days_of_history_and_a_few_posts(history):
    _quiet_week(history, hours=48)
    history.add(48, 8)
    assert volume_spike.check(Options(), history.ctx(49)) is None  # two days: a rate is not learned yet
    history.add(80, 3)  # three posts after a silent day: improbable, but three posts
    assert volume_spike.check(Options(min_authors=1), history.ctx(81)) is None


def test_an_ordinary_hour_of_a_steady_brand_is_not_improbable(history):
    history.steady(168, 1)
    history.add(168, 5)  # five in an hour against one an hour: about 1 in 300
    assert volume_spike.check(Options(min_authors=1), history.ctx(169)) is None
