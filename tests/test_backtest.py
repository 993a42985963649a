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


# Variants of the shipped rules at the demo's volume, so every kind and grouping fires or holds.
VARIANTS = """
- name: surge-by-platform
  brands: [mindful, theranow]
  group_by: [brand, platform]
  volume_spike: {window: 1h, factor: 2, min_mentions: 5, min_authors: 3, significance: 2}
- name: drop
  brands: [mindful]
  volume_spike: {window: 1h, direction: down, factor: 2, min_mentions: 5}
- name: negative-share-by-platform
  brands: [mindful]
  group_by: [brand, platform]
  negative_share: {window: 1h, above: 0.4, min_mentions: 10}
- name: leak-words
  brands: [mindful, theranow, haven]
  for: 10m
  mention: {query: 'leak* OR breach OR "data exposed" OR refund*', window: 1h, min_matches: 3}
- name: reach
  brands: [mindful, theranow]
  influencer: {min_reach: 20000, authors: [ana_ruiz_news], window: 2h}
- name: new-hashtags
  brands: [mindful, theranow]
  new_term: {window: 1h, lookback: 1d, hashtags_only: true, min_mentions: 3, min_authors: 2, min_history: 6h}
- name: haven-share
  brands: [haven]
  share_of_voice: {versus: [mindful], window: 2h, baseline: 1d, rise: 0.1, min_total: 10, min_mentions: 3}
"""


def _daemon_replay(store, rules, brands, start, end, every):
    """What the daemon would have done: evaluate_once against the store (SQL per check, states in
    the store) at every step, read back into the backtest's terms."""
    from bot.pipeline import evaluate_once

    alerts, open_, reasons = [], {}, {}
    now = start + every
    while now <= end:
        result = evaluate_once(rules, brands, store, now, [])
        for rule, decision in result.decisions:
            reasons.setdefault(rule.name, {}).setdefault(decision.reason, 0)
            reasons[rule.name][decision.reason] += 1
            entry = open_.get((rule.name, decision.state.brand))
            if entry is None:
                continue
            if decision.observed is not None:
                entry["peak"] = max(entry["peak"], decision.observed)
            entry["updates"] += decision.reason == "worse"
            if decision.reason == "resolved":
                entry["resolved_at"] = now
                del open_[(rule.name, decision.state.brand)]
        for alert in result.alerts:
            entry = {"rule": alert.rule, "group": alert.finding.group, "fired_at": alert.fired_at,
                     "title": alert.finding.title, "observed": alert.finding.observed,
                     "peak": alert.finding.observed, "resolved_at": None, "updates": 0}
            alerts.append(entry)
            open_[(alert.rule, alert.finding.group)] = entry
        now += every
    return alerts, reasons


def test_a_backtest_sends_what_the_daemon_would_have_sent(demo_run: DemoSummary, tmp_path):
    """The same alerts at the same times with the same titles, peaks, updates and resolutions, and
    the same decisions counted, as evaluate_once stepping over a real Store of the same data."""
    import shutil
    import sqlite3

    from bot.rules import load_file

    config = demo_config()
    rules, _ = load_rules([config.rules_dir], config)
    (tmp_path / "variants.yaml").write_text(VARIANTS)
    variants, problems = load_file(tmp_path / "variants.yaml", config)
    assert not [p for p in problems if p.severity == "error"], problems
    rules += variants
    store = Store(demo_run.database)
    try:
        result = run_backtest(store, rules, config.brands, demo_run.start, demo_run.end + timedelta(hours=1))
    finally:
        store.close()
    fired = sorted([a.as_dict() for r in result.results for a in r.alerts], key=lambda a: (a["fired_at"], a["rule"],
                                                                                           a["group"]))
    copy = tmp_path / "daemon.db"
    shutil.copy(demo_run.database, copy)
    with sqlite3.connect(copy) as conn:  # the demo's own alert states would hold back the first alerts
        conn.execute("DELETE FROM rule_state")
    daemon = Store(copy)
    try:
        expected, reasons = _daemon_replay(daemon, rules, config.brands, result.start, result.end, result.every)
    finally:
        daemon.close()
    from bot.models import iso

    expected = sorted([{**a, "fired_at": iso(a["fired_at"]),
                        "resolved_at": iso(a["resolved_at"]) if a["resolved_at"] else None} for a in expected],
                      key=lambda a: (a["fired_at"], a["rule"], a["group"]))
    assert fired == expected
    assert {r.rule: r.reasons for r in result.results} == {r.name: reasons.get(r.name, {}) for r in rules}
    kinds = {r.kind for r in result.results if r.alerts}
    assert kinds >= {"volume_spike", "negative_share", "mention", "influencer", "share_of_voice", "new_term"}, kinds
    assert any("/" in a["group"] for a in fired)  # a per-platform group fired too
    assert any(a["updates"] for a in fired) and any(a["peak"] > a["observed"] for a in fired)


def test_memhistory_builds_the_mentions_the_store_does():
    """Evidence read by a backtest is the store's, mention for mention, in the same order."""
    store = Store(":memory:")
    texts = ["Mindful Health leaked my data", "Mindful Health ｌｅａｋ", "TheraNow and Mindful Health", "über Mindful Health",
             "Mindful Health refund", "Mindful Health again"]
    rows = []
    for i in range(120):
        m = mention(i, texts[i % len(texts)], at=T0 + timedelta(minutes=i // 3), platform="xry"[i % 3] + "",
                    reach=(i * 37) % 500)
        rows.append(scored(m, ("mindful", "theranow") if i % 6 == 2 else ("mindful",),
                           label=("negative", "neutral", "positive")[i % 3]))
    store.ingest("t", rows, None, T0)
    history = MemHistory(store, T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    start, end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=35)
    for kw in ({}, {"order": "time"}, {"order": "time", "limit": 7}, {"limit": 5}, {"sentiment": "negative"},
               {"platforms": ["x", "r"], "order": "time"}):
        got, want = history.mentions("mindful", start, end, **kw), store.mentions("mindful", start, end, **kw)
        assert got == want and len(got) > 0
        assert [sm.mention.metrics for sm in got] == [sm.mention.metrics for sm in want]  # not compared by ==
    spec = MentionSpec("leak* OR refund", min_reach=100)
    assert history.matching("mindful", start, end, spec) == [
        sm for sm in store.mentions("mindful", start, end, order="reach") if spec.accepts(sm)]


def test_link_rows_with_fts_and_brands_reads_the_fts_table_once(tmp_path):
    store = Store(tmp_path / "h.db")
    store.ingest("x", [scored(mention(1, "refund please")), scored(mention(2, "refund now"), brands=("haven",)),
                       scored(mention(3, "lovely day"), brands=("haven",))], None, T0)
    end = T0 + timedelta(hours=1)
    both = sorted(store.link_rows(T0, end, fts='"refund"', brands=["haven"]))
    assert both == sorted(r for r in store.link_rows(T0, end, fts='"refund"') if r[1] == "haven")
    assert [r[0] for r in both] == ["x:2"]
    # The MATCH runs once, outermost: driven from the brand index it ran once per link (511 s at 1M).
    plans = []
    real = store.conn

    class Spy:
        def execute(self, sql, args=()):
            plans.extend(r[3] for r in real.execute("EXPLAIN QUERY PLAN " + sql, args))
            return real.execute(sql, args)

    store.conn = Spy()
    try:
        store.link_rows(T0, end, fts='"refund"', brands=["haven"])
    finally:
        store.conn = real
    assert plans[0].startswith("SCAN f VIRTUAL TABLE") and "=M" not in plans[0]
