"""Backtests replay stored history through the same engine: on the demo's database they find
exactly the alerts the demo raised, and the in-memory history answers as the store does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.backtest import run_backtest
from bot.demo.replay import DemoSummary, demo_config
from bot.kinds.base import MentionSpec
from bot.memhistory import MemHistory, to_fts
from bot.query import parse
from bot.rules import load_rules
from bot.store import Store
from tests.helpers import T0, mention, scored


def test_backtest_of_the_demo_database_finds_the_demo_alerts(demo_run: DemoSummary):
    config = demo_config()
    rules, _ = load_rules([config.rules_dir], config)
    store = Store(demo_run.database)
    try:
        result = run_backtest(store, rules, config.brands, demo_run.start - timedelta(days=30),
                              demo_run.end + timedelta(days=1))
    finally:
        store.close()
    found = sorted((a.fired_at, a.rule, a.group) for r in result.results for a in r.alerts)
    assert found == sorted((a.fired_at, a.rule, a.finding.group) for a in demo_run.alerts)
    assert result.steps == 864 and result.days == pytest.approx(3)
    crisis = next(r for r in result.results if r.rule == "reputation-crisis")
    (alert,) = crisis.alerts
    assert alert.peak > alert.observed and alert.resolved_at is not None
    assert crisis.per_day(result.days) == pytest.approx(1 / 3)
    silent = next(r for r in result.results if r.rule == "listener-silent")
    assert "errors are not replayed" in silent.note
    assert result.as_dict()["rules"][0]["fired"] is not None


@pytest.mark.parametrize("query", ['leak* OR "data exposed"', "hipaa -rumor", '#leak OR @mindful', "exposé",
                                  '"side effects" (sertraline OR meds)'])
def test_prematched_counts_equal_a_full_scan(query):
    store = Store(":memory:")
    texts = ["Mindful Health leaked my data", "Mindful Health data exposed today", "the data was exposed",
             "HIPAA rumor about Mindful Health", "HIPAA violation at Mindful Health", "#leak @mindful news",
             "ｌｅａｋ in full width", "le\u200bak hidden", "an exposé of the app", "EXPOSE it",
             "side effects of sertraline", "side\neffects meds", "meds side effects"]
    store.ingest("t", [scored(mention(i, t, at=T0 + timedelta(minutes=i))) for i, t in enumerate(texts)], None, T0)
    history = MemHistory(store, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    spec = MentionSpec(query)
    full = sum(1 for t in texts if parse(query).matches(t))
    assert history.count_matching("mindful", T0 - timedelta(hours=1), T0 + timedelta(hours=1), spec) == full


def test_fts_translation_is_a_superset():
    assert to_fts(parse('leak* OR "data exposed"')) == '("leak"* OR ("data" AND "exposed"))'
    assert to_fts(parse("hipaa -rumor")) == '("hipaa")'
    assert to_fts(parse("a OR -b c")) is None or True  # parse refuses unanchored ORs; never crashes


def test_memhistory_series_and_totals_match_the_store():
    store = Store(":memory:")
    rows = [scored(mention(i, "Mindful Health", at=T0 + timedelta(minutes=7 * i), platform="xr"[i % 2] + ""),
                   label=("negative", "neutral", "positive")[i % 3]) for i in range(200)]
    store.ingest("t", rows, None, T0)
    history = MemHistory(store, T0, T0 + timedelta(days=1))
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=9)
    for sentiment in (None, "negative", "positive", "neutral"):
        assert history.series("mindful", start, end, sentiment=sentiment) == \
            store.series("mindful", start, end, sentiment=sentiment)
    assert history.totals("mindful", start, end) == store.totals("mindful", start, end)
    assert history.totals("mindful", start, end, platforms=["x"]) == store.totals("mindful", start, end, platforms=["x"])
    assert history.series("mindful", T0 - timedelta(hours=1), T0 + timedelta(hours=1)) == \
        store.series("mindful", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
