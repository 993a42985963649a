"""A Reddit backlog deeper than the listing cap is skipped with a warning, never silently.

Reddit lists about 1,000 items of a listing at most (search fewer); what lies deeper is
returned by no request. FakeReddit has no such cap, so this subclass adds one (20 items here,
with pages of 5 and limit 5, to keep it small). A burst of 30 posts after the floor: the walk
reads 5 a run, resumes, and on the 5th run the listing ends (after=null at the cap) before
the floor. No client can read those posts; the walk must say which span it skipped, as the X
listener does for gaps that age out of recent search.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Mapping

from tests.fakes.reddit import FakeReddit, _listing_body
from tests.listeners.test_reddit_http import (  # noqa: F401  (fixtures)
    CLIENT_ID, NOW, SECRET, listener, poll, posts, scorer, seeded_rng, state, store, stored,
)

CAP = 20


class CappedReddit(FakeReddit):
    """Lists only the newest CAP items, as Reddit lists about 1,000: an `after` anchor that
    has sunk below the cap gets an empty page, and the page at the cap says after=null."""

    def _listing(self, kind: str, subs: list[str], params: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            saved = self._things
            newest = sorted((t for t in saved if t.kind == kind), key=lambda t: t.order)[-CAP:]
            listed = {id(t) for t in newest}
            anchor = params.get("after")
            if anchor and not any(t.fullname == anchor for t in newest):
                return _listing_body([], None)
            self._things = [t for t in saved if id(t) in listed]
            try:
                return super()._listing(kind, subs, params)
            finally:
                self._things = saved


def test_a_backlog_deeper_than_the_listing_cap_is_not_skipped_silently(store, scorer, caplog):
    with CappedReddit(client_id=CLIENT_ID, client_secret=SECRET, page_size=5) as fake:
        posts(fake, 2)
        reddit = listener(fake, limit=5)
        assert poll(reddit, store, scorer).new == 2
        floor = state(store)["floor"]
        burst = [fake.add_submission(f"Mindful burst {i}", "with the app", author=f"b{i}",
                                     subreddit="Meditation") for i in range(30)]
        caplog.set_level(logging.INFO)
        for run in range(1, 8):
            poll(reddit, store, scorer, NOW + timedelta(minutes=5 * run))
        have = set(stored(store))
        skipped = [name for name in burst if name not in have]
        # What happens today: the walk ran out of listing at the cap and moved the floor past them.
        assert state(store)["floor"] != floor
        if skipped:
            warned = [r for r in caplog.records if r.levelno >= logging.WARNING and "reddit" in r.getMessage()]
            assert warned, (f"{len(skipped)} posts of the burst ({skipped[0]}..{skipped[-1]}) lie below "
                            f"the listing cap and were skipped with no warning")


def test_a_listing_that_ends_at_the_floor_post_warns_of_nothing(store, scorer, caplog):
    """The floor post is the oldest the listing holds (a young brand): nothing is skipped."""
    with CappedReddit(client_id=CLIENT_ID, client_secret=SECRET, page_size=5) as fake:
        posts(fake, 2)
        reddit = listener(fake, limit=5)
        poll(reddit, store, scorer)
        posts(fake, 3)
        caplog.set_level(logging.INFO)
        assert poll(reddit, store, scorer, NOW + timedelta(minutes=5)).new == 3
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(stored(store)) == 5
