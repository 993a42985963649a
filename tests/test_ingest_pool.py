"""The prepare pool (config `ingest.workers`): worker processes prepare exactly what the
polling process would, poison posts set aside the same way, and the single writer stores it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.config import IngestModel
from bot.intake import Intake
from bot.pipeline import POOL_MIN, PreparePool, poll_once, prepare_page, prepare_pool
from bot.sentiment import make_scorer
from bot.store import Store
from tests.helpers import T0, ScriptedListener, brand, mention

BRANDS = {"mindful": brand(exclude='"mindful eating"'), "haven": brand("haven", '"haven therapy"', "competitor")}
SCORER = make_scorer("harkbot")
TEXTS = ("Mindful Health kept me on hold for 3 hours, thanks a lot", "Haven Therapy helped, Mindful Health did not",
         "Mindful eating tips (not the brand)", "nothing here", "MINDFUL HEALTH IS GREAT :)",
         "i want to disappear, even mindful health can't help")


def page(start: int, n: int = 80):
    out = [mention(start + i, TEXTS[i % len(TEXTS)]) for i in range(n)]
    out[5] = replace(out[5], created_at="not a time")  # a listener bug: set aside at prepare
    out[9] = replace(out[9], id=out[8].id)  # a repeat inside the page: the first is kept
    return out


@pytest.fixture(scope="module")
def pool():
    p = PreparePool(2, BRANDS, SCORER, Intake(emails=True))
    yield p
    p.close()


def test_workers_prepare_what_this_process_prepares(pool):
    items = page(1)
    assert len(items) >= POOL_MIN
    here = prepare_page(items, BRANDS, SCORER, Store(":memory:"), Intake(emails=True), listener="x")
    there = prepare_page(items, BRANDS, SCORER, Store(":memory:"), Intake(emails=True), listener="x", pool=pool)
    assert there == here
    scored, dead = there
    assert [d.key for d in dead] == ["x:6"] and dead[0].stage == "prepare"
    assert len({sm.mention.key for sm in scored}) == len(scored) > 30
    assert any(sm.safety is not None for sm in scored)


def test_a_stored_page_is_not_sent_to_the_workers_again(pool):
    store = Store(":memory:")
    scored, dead = prepare_page(page(1), BRANDS, SCORER, store, Intake(emails=True), listener="x", pool=pool)
    store.ingest_page("x", scored, None, T0, rejected=dead)
    again, dead_again = prepare_page(page(1), BRANDS, SCORER, store, Intake(emails=True), listener="x", pool=pool)
    assert again == [] and [d.key for d in dead_again] == ["x:6"]  # the bad post is still refused, nothing else


def test_poll_once_with_workers_stores_what_it_stores_without():
    stores = {}
    for workers in (0, 1):
        stores[workers] = s = Store(":memory:")
        listener = ScriptedListener([page(1), page(81), page(41)], cursor="done")
        result = poll_once(listener, BRANDS, SCORER, s, T0 + timedelta(days=1), workers=workers)
        assert result.dead == 3 and s.cursor("scripted") == "done"
    rows = {w: s.conn.execute("SELECT key, label, polarity, terms FROM mentions ORDER BY key").fetchall()
            for w, s in stores.items()}
    assert [tuple(r) for r in rows[1]] == [tuple(r) for r in rows[0]] and len(rows[0]) > 60
    assert prepare_pool(1, BRANDS, SCORER, Intake()) is prepare_pool(1, BRANDS, SCORER, Intake())  # kept
    assert prepare_pool(0, BRANDS, SCORER, Intake()) is None


def test_the_knob_is_off_by_default_and_refuses_nonsense():
    assert IngestModel().workers == 0
    assert IngestModel(workers=3).workers == 3
    for bad in (-1, 1000, "many"):
        with pytest.raises(ValidationError):
            IngestModel(workers=bad)
