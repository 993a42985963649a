"""One poison post never stops intake (#20 item 1): poll_once stores the rest of the page,
moves the cursor, sets the post aside with a logged reason (never its text) and a count, and
`retry_dead_letters` stores it once whatever refused it is fixed. Both backends."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from bot.models import Score
from bot.pipeline import poll_once, retry_dead_letters
from bot.sentiment import make_scorer
from tests.backends import backend, make_store, store  # noqa: F401 - fixtures: both backends
from tests.helpers import T0, ScriptedListener, brand, mention

BRANDS = {"mindful": brand()}
SCORER = make_scorer("vader")
SECRET = "do-not-log-this-post"


class Fussy:
    """A scorer with a bug on some posts: it raises on one word, and on another returns a
    label no database can store (a lone surrogate), so one post fails before the store and
    one in it."""

    name = "fussy"

    def score(self, text: str) -> Score:
        if "explode" in text:
            raise RuntimeError(f"cannot score {text!r}")  # its message quotes the post
        if "garble" in text:
            return Score("neg\ud800", -0.5, "fussy")
        return SCORER.score(text)


def page():
    return [
        mention(1, f"Mindful Health fine {SECRET}"),
        mention(2, f"Mindful Health explode {SECRET}"),
        mention(3, f"Mindful Health garble {SECRET}"),
        replace(mention(4, f"Mindful Health \ud800\x00\x07 {SECRET}"), author="\udfff", url="https://x.com/\ud800",
                raw={"text": "\ud800", "n": 10**5000}),  # normalise makes this one storable
    ]


def test_a_page_with_poison_posts_stores_the_rest_and_says_so(caplog, store):
    caplog.set_level(logging.INFO, logger="harkbot")
    listener = ScriptedListener([page(), [mention(5, "Mindful Health later page")]], cursor="newest")
    result = poll_once(listener, BRANDS, Fussy(), store, T0)
    assert (result.fetched, result.new, result.pages, result.dead, result.error) == (5, 3, 2, 2, None)
    assert sorted(sm.mention.id for sm in store.recent(limit=10)) == ["1", "4", "5"]
    assert store.cursor("scripted") == "newest"  # the walk went on past the poison page
    letters = {d.key: d for d in store.dead_letters()}
    assert set(letters) == {"x:2", "x:3"} and store.dead_letter_count() == 2
    assert letters["x:2"].stage == "prepare" and letters["x:2"].reason == "RuntimeError"
    assert letters["x:3"].stage == "store" and letters["x:3"].reason.startswith("UnicodeEncodeError")
    assert "fetched 5, new 3, 2 pages" in caplog.text and "2 set aside (harkbot deadletters list)" in caplog.text
    assert "set aside x:2 at prepare (RuntimeError)" in caplog.text
    assert SECRET not in caplog.text  # nothing of the posts' text reaches the log


def test_the_health_record_counts_a_poison_page_as_a_success(store):
    poll_once(ScriptedListener([page()]), BRANDS, Fussy(), store, T0)
    health = store.health_of("scripted")
    assert health["failures"] == 0 and health["new"] == 2


def test_retry_stores_what_a_fixed_stage_now_takes_and_closes_the_letters(store):
    poll_once(ScriptedListener([page()]), BRANDS, Fussy(), store, T0)
    later = T0 + timedelta(hours=1)
    still = retry_dead_letters(store, store.dead_letters(), BRANDS, Fussy(), later)
    assert [r.outcome for r in still] == ["still refused", "still refused"]
    assert [d.attempts for d in store.dead_letters()] == [2, 2] and store.dead_letter_count() == 2
    fixed = retry_dead_letters(store, store.dead_letters(), BRANDS, SCORER, later)
    assert [r.outcome for r in fixed] == ["stored", "stored"] and store.dead_letter_count() == 0
    assert sorted(sm.mention.id for sm in store.recent(limit=10)) == ["1", "2", "3", "4"]
    assert store.cursor("scripted") == "c1"  # a retry never moves a cursor
    again = retry_dead_letters(store, store.dead_letters(everything=True), BRANDS, SCORER, later)
    assert [r.outcome for r in again] == ["already stored", "already stored"]


def test_a_retried_post_no_brand_matches_any_more_is_closed_as_such(store):
    poll_once(ScriptedListener([page()]), BRANDS, Fussy(), store, T0)
    (first, second) = retry_dead_letters(store, store.dead_letters(), {"other": brand("other", "zebra")}, SCORER, T0)
    assert first.outcome == second.outcome == "no brand matches" and store.dead_letter_count() == 0


def test_a_listener_yielding_something_odd_costs_one_letter_not_the_walk(store):
    odd = replace(mention(7, "Mindful Health odd"), created_at="yesterday")  # a listener bug
    result = poll_once(ScriptedListener([[odd, mention(8)]]), BRANDS, SCORER, store, T0)
    assert (result.new, result.dead, result.error) == (1, 1, None)
    (d,) = store.dead_letters()
    assert d.key == "x:7" and d.stage == "prepare" and d.reason == "TypeError"  # its message is withheld


def test_the_lease_still_fences_a_poll_with_poison_posts(store):
    mine = store.acquire_lease("poll:scripted", "me", T0, timedelta(seconds=60))
    store.acquire_lease("poll:scripted", "them", T0 + timedelta(seconds=61), timedelta(seconds=60))
    result = poll_once(ScriptedListener([page()]), BRANDS, Fussy(), store, T0, lease=mine)
    assert result.skipped and result.new == 0
    assert store.recent(limit=10) == [] and store.dead_letter_count() == 0 and store.cursor("scripted") is None


def test_a_post_dated_year_5_is_set_aside_with_a_plain_reason(store):
    from datetime import datetime, timezone

    ancient = replace(mention(6, "Mindful Health from antiquity"), created_at=datetime(5, 1, 1, tzinfo=timezone.utc))
    result = poll_once(ScriptedListener([[ancient, mention(7)]]), BRANDS, SCORER, store, T0)
    assert (result.new, result.dead) == (1, 1)
    (d,) = store.dead_letters()
    assert d.key == "x:6" and d.reason == "Unstorable: its time, year 5, is outside 1970-8999"
    store.recent(limit=10)  # what is stored still reads back (year 5 as ISO text would not)
