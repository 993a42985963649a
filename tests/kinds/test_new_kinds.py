"""share_of_voice, new_term, influencer, listener_silent on a real Store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.kinds import influencer, listener_silent, new_term, share_of_voice
from bot.kinds.base import Context, Group
from tests.helpers import T0, brand


def test_share_of_voice_jump_against_our_brand(history):
    history.steady(30, 20)  # mindful
    history.steady(30, 10, brand_key="theranow", text="TheraNow news")
    history.add(30, 50, brand_key="theranow", text="TheraNow launch")
    history.add(30, 20)
    options = share_of_voice.Options(versus=["mindful"], window="1h", baseline="24h", rise=0.25, min_total=30)
    ctx = history.ctx(31, "theranow")
    trigger = share_of_voice.check(options, ctx)
    assert trigger is not None and trigger.observed == pytest.approx(50 / 70, abs=1e-3)
    assert trigger.usual == pytest.approx(1 / 3, abs=1e-3)
    finding = share_of_voice.explain(options, ctx, trigger)
    assert finding.title.startswith("Share of voice: Theranow at 71% against mindful (usual 33%)")
    assert share_of_voice.check(options, history.ctx(30, "theranow")) is None


def test_share_of_voice_needs_volume():
    with pytest.raises(ValidationError, match="set 'above'"):
        share_of_voice.Options(above=None, rise=None)


def test_new_term_fires_on_a_word_never_seen_in_the_lookback(history):
    for h in range(30):
        history.add(h, 10, text=f"Mindful Health session {h % 3} was fine", authors=40)
    history.add(30, 12, text="Mindful Health #deletemindful after the leak", authors=12)
    options = new_term.Options(window="1h", lookback="24h", min_mentions=10, min_authors=5)
    ctx = history.ctx(31)
    trigger = new_term.check(options, ctx)
    assert trigger is not None
    terms = [t for t, _n, _a in trigger.detail]
    assert "#deletemindful" in terms and "leak" in terms and "session" not in terms
    assert "mindful" not in terms  # the brand's own words are never new
    finding = new_term.explain(options, ctx, trigger)
    assert finding.title.startswith("New term: Mindful, '")
    hashtags = new_term.Options(window="1h", lookback="24h", min_mentions=10, hashtags_only=True)
    assert [t for t, _n, _a in new_term.check(hashtags, ctx).detail] == ["#deletemindful"]


def test_new_term_needs_many_authors_and_history(history):
    for h in range(30):
        history.add(h, 10, text="Mindful Health session", authors=40)
    history.add(30, 20, text="Mindful Health spamword", authors=1)
    assert new_term.check(new_term.Options(min_mentions=10, min_authors=5), history.ctx(31)) is None
    assert new_term.check(new_term.Options(min_mentions=10, min_authors=1, min_history="48h"),
                          history.ctx(31)) is None


def test_influencer_by_reach_or_watch_list(history):
    history.steady(5, 10, reach=5000)
    history.add(5, 1, reach=2_000_000, text="Mindful Health is great")
    ctx = history.ctx(6)
    big = influencer.Options(min_reach=1_000_000)
    assert influencer.check(big, ctx).observed == 1
    assert influencer.check(influencer.Options(min_reach=10_000_000), ctx) is None
    watched = influencer.Options(min_reach=None, authors=["@Author3"])
    assert influencer.check(watched, history.ctx(1)) is not None  # author3 posted in the first hour
    finding = influencer.explain(big, ctx, influencer.check(big, ctx))
    assert "2,000,000 followers" in finding.title


def test_influencer_needs_someone_to_watch():
    with pytest.raises(ValidationError, match="set min_reach, or a watch list"):
        influencer.Options(min_reach=None)


def test_listener_silent_after_silence_or_failures(history):
    store = history.store
    store.record_success("twitter", T0, 0, 0)  # polled, nothing new
    history.add(0, 3)  # the "test" listener stores three mentions at T0
    store.record_success("test", T0, 3, 3)
    options = listener_silent.Options(after="1h", max_failures=3)

    def ctx(name: str, hours: float) -> Context:
        return Context(None, T0 + timedelta(hours=hours), store, None, Group(listener=name))

    assert listener_silent.check(options, ctx("test", 0.5)) is None
    trigger = listener_silent.check(options, ctx("test", 2))
    assert trigger is not None and trigger.observed == 120
    assert listener_silent.explain(options, ctx("test", 2), trigger).title == \
        "Listener silent: test, no new mentions for 2h"
    assert listener_silent.check(options, ctx("twitter", 0.1)) is not None  # never stored anything
    for i in range(3):
        store.record_failure("reddit", "HTTP 503", T0 + timedelta(minutes=i))
    failing = listener_silent.check(options, ctx("reddit", 0.1))
    assert failing.detail[0] == "failing" and failing.observed == 3
    assert "3 errors in a row" in listener_silent.explain(options, ctx("reddit", 0.1), failing).title
    assert listener_silent.check(options, ctx("nobody", 1)) is None  # never ran


def test_platform_groups_name_the_platform(history):
    from bot.kinds import volume_spike

    history.steady(30, 10)
    history.add(30, 80, text="Mindful Health down")
    ctx = Context(brand(), T0 + timedelta(hours=31), history.store, ("x",), Group("mindful", "x"))
    trigger = volume_spike.check(volume_spike.Options(), ctx)
    finding = volume_spike.explain(volume_spike.Options(), ctx, trigger)
    assert finding.title.startswith("Volume surge: Mindful on x,") and finding.group == "mindful/x"
