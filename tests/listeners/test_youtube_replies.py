"""YouTube replies over real HTTP: the replies a comment thread carries, comments.list for the
rest, max_reply_pages, quota and faults, against the fake Data API in tests/fakes/youtube.py
through the discovery-built googleapiclient, the real pipeline and a real SQLite file."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from listeners.youtube_quota import seconds_until_quota_reset
from tests.fakes.youtube import KEY, FakeYouTube
from tests.listeners.test_youtube_http import (  # noqa: F401  (fixtures)
    NOW, UTC, assert_counted_once, at, cursor, fake, listen, only_localhost, poll, scorer, store, stored,
)

HOUR = timedelta(hours=1)


def thread_with(fake: FakeYouTube, n: int, minute: int = 10, text: str = "mindful health reply {k}",
                video: str | None = None) -> tuple[str, str, list[str]]:
    """A followed video (one the search finds) with one thread of n replies, a minute apart."""
    video = video or fake.add_video("Mindful Health review", published_at=at(0))
    thread = fake.add_comment(video, "what do you think of mindful health?", published_at=at(minute))
    replies = [fake.add_reply(thread, text.format(k=k), published_at=at(minute + 1 + k)) for k in range(n)]
    return video, thread, replies


def reply_calls(fake: FakeYouTube) -> list[dict[str, str]]:
    return [r.params for r in fake.calls("comments")]


def walk_line(caplog) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "listeners.youtube"]
    return [line for line in lines if "quota units" in line][-1]


# ---- reading -----------------------------------------------------------------------------------


def test_the_replies_a_thread_carries_are_read_at_no_extra_cost(fake, store, scorer):
    vid, thread, _ = thread_with(fake, 0)
    first = fake.add_reply(thread, "mindful health support answered me in an hour", author="@ana",
                           published_at=at(11), likes=7)
    unmatched = fake.add_reply(thread, "same here", published_at=at(12))  # no brand term: the pipeline drops it
    result = poll(listen(fake), store, scorer)
    assert result.error is None
    row = stored(store)[first]
    assert (row["kind"], row["author"], row["engagement"]) == ("comment", "@ana", 7)
    assert row["url"] == f"https://www.youtube.com/watch?v={vid}&lc={first}"
    assert row["created_at"] == at(11) and row["text"] == "mindful health support answered me in an hour"
    assert first.startswith(thread + ".") and unmatched not in stored(store)
    assert [r.params["part"] for r in fake.calls("commentThreads")] == ["snippet,replies"]
    assert reply_calls(fake) == []  # the thread carried both: no comments.list
    assert fake.units_used() == 2 * 100 + 2 + 1
    state = cursor(store).threads[thread]
    assert (state.video, state.read, state.total, state.pending) == (vid, 2, 2, False)


def test_a_thread_with_twelve_replies_is_read_with_comments_list(fake, store, scorer, caplog):
    vid, thread, replies = thread_with(fake, 12)
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        result = poll(listen(fake), store, scorer)
    assert result.error is None
    assert set(replies) <= set(stored(store, "comment"))
    assert reply_calls(fake) == [{"part": "snippet", "parentId": thread, "maxResults": "100",
                                  "textFormat": "plainText", "key": KEY, "alt": "json"}]
    assert stored(store)[replies[7]]["url"] == f"https://www.youtube.com/watch?v={vid}&lc={replies[7]}"
    # 5 carried, 12 read: the 5 are one mention each, sent on once.
    assert result.fetched == 1 + 1 + 12
    assert "12 replies, 1 reply pages;" in walk_line(caplog)
    assert_counted_once(store)


def test_a_thread_of_230_replies_pages_through_comments_list(fake, store, scorer):
    _, thread, replies = thread_with(fake, 230, text="mindful health {k}")
    assert poll(listen(fake), store, scorer).error is None
    assert set(replies) <= set(stored(store, "comment"))
    calls = reply_calls(fake)
    assert [c["parentId"] for c in calls] == [thread] * 3
    assert ["pageToken" in c for c in calls] == [False, True, True]
    assert cursor(store).threads[thread].read == 230


@pytest.mark.parametrize("order", ["oldest", "newest"])
def test_a_grown_thread_is_read_again_for_its_new_replies_only(fake, store, scorer, order):
    fake.reply_order = order  # YouTube documents no order: neither may matter
    _, thread, replies = thread_with(fake, 12)
    listener = listen(fake)
    assert poll(listener, store, scorer).error is None

    same_second = fake.add_reply(thread, "mindful health, a second later", published_at=at(10 + 12))
    later = fake.add_reply(thread, "mindful health, an hour later", published_at=at(75))
    again = poll(listener, store, scorer, NOW + HOUR)
    assert again.error is None and again.new == 2
    assert again.fetched == 2  # nothing read before is sent on again
    assert len(reply_calls(fake)) == 2
    assert {*replies, same_second, later} <= set(stored(store, "comment"))

    unchanged = poll(listener, store, scorer, NOW + 2 * HOUR)
    assert unchanged.fetched == 0 and len(reply_calls(fake)) == 2  # its count did not grow: not read
    assert_counted_once(store)


def test_a_thread_that_grows_within_what_it_carries_needs_no_call(fake, store, scorer):
    _, thread, _ = thread_with(fake, 3)
    listener = listen(fake)
    poll(listener, store, scorer)
    newer = fake.add_reply(thread, "mindful health again", published_at=at(70))
    again = poll(listener, store, scorer, NOW + HOUR)
    assert again.fetched == 1 and newer in stored(store) and reply_calls(fake) == []


def test_replies_on_a_configured_channels_threads_are_read_too(fake, store, scorer):
    fake.add_channel("UCmindfulHealthOfficial01", "Mindful Health")
    own = fake.add_video("Sleep better tonight", channel_id="UCmindfulHealthOfficial01", published_at=at(0))
    _, thread, replies = thread_with(fake, 8, video=own)
    assert poll(listen(fake, channels=["UCmindfulHealthOfficial01"]), store, scorer).error is None
    assert set(replies) <= set(stored(store))
    assert [c["parentId"] for c in reply_calls(fake)] == [thread]


# ---- the per-walk cap ---------------------------------------------------------------------------


def test_max_reply_pages_holds_threads_back_and_the_next_walk_resumes_them(fake, store, scorer, caplog):
    vid, first, first_replies = thread_with(fake, 150, minute=1, text="mindful health a{k}")
    _, second, second_replies = thread_with(fake, 150, minute=2, text="mindful health b{k}", video=vid)
    _, third, third_replies = thread_with(fake, 12, minute=3, text="mindful health c{k}", video=vid)
    listener = listen(fake, max_reply_pages=3)
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        assert poll(listener, store, scorer).error is None
    # The oldest thread first: both its pages, then the second's first page; the third waits.
    assert [(c["parentId"], "pageToken" in c) for c in reply_calls(fake)] == [
        (first, False), (first, True), (second, False)]
    assert "max_reply_pages reached: 2 threads wait for the next walk" in walk_line(caplog)
    have = set(stored(store))
    assert set(first_replies) <= have and not set(second_replies) <= have and not set(third_replies) <= have
    state = cursor(store).threads
    assert state[first].pending is False and state[second].token and state[third].pending

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        again = poll(listener, store, scorer, NOW + HOUR)
    assert again.error is None
    assert [(c["parentId"], "pageToken" in c) for c in reply_calls(fake)[3:]] == [(second, True), (third, False)]
    assert {*first_replies, *second_replies, *third_replies} <= set(stored(store))
    assert not any(t.pending for t in cursor(store).threads.values())
    assert "max_reply_pages reached" not in walk_line(caplog)
    assert_counted_once(store)


def test_max_reply_pages_zero_reads_only_what_threads_carry(fake, store, scorer):
    _, thread, replies = thread_with(fake, 12)
    assert poll(listen(fake, max_reply_pages=0), store, scorer).error is None
    assert reply_calls(fake) == [] and len(set(replies) & set(stored(store))) == 5
    assert cursor(store).threads[thread].pending


# ---- quota and faults -----------------------------------------------------------------------------


def test_every_reply_page_is_one_quota_unit_and_the_log_line_agrees(fake, store, scorer, caplog):
    vid, _, _ = thread_with(fake, 230)
    thread_with(fake, 12, minute=20, video=vid)
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        poll(listen(fake), store, scorer)
    # two searches, statistics for one page, one commentThreads page, 3 + 1 reply pages
    assert fake.units_used() == 200 + 2 + 1 + 4
    assert walk_line(caplog).endswith(f"4 reply pages; {fake.units_used()} quota units")


def test_quota_used_up_among_the_reply_pages_rests_until_midnight_pacific(store, scorer):
    with FakeYouTube({KEY: 203}) as fake:
        _, thread, replies = thread_with(fake, 230)
        listener = listen(fake, statistics=False)
        failed = poll(listener, store, scorer)  # 2 searches, 1 thread page, 2 of 3 reply pages
        assert failed.error and "daily quota used up" in failed.error
        assert fake.units_used() == 200 + 1 + 2 and len(fake.calls("comments")) == 3
        assert store.cursor("youtube") is None  # nothing read past: the next day reads it all again
        assert store.retry_at("youtube") == NOW + timedelta(seconds=seconds_until_quota_reset(NOW))
        assert set(stored(store)) & set(replies)  # the pages read are kept

        fake.reset_quota()
        fake.quota[KEY] = 1000  # a new day; the whole walk costs 204
        done = poll(listener, store, scorer, store.retry_at("youtube"))
        assert done.error is None and set(replies) <= set(stored(store))
        assert cursor(store).threads[thread].read == 230
        assert fake.problems == []
    assert_counted_once(store)


@pytest.mark.parametrize("status,reason", [(403, "commentsDisabled"), (403, "forbidden"), (404, "commentNotFound")])
def test_a_thread_whose_replies_cannot_be_read_is_skipped_not_the_walk(fake, store, scorer, caplog, status, reason):
    vid, closed, _ = thread_with(fake, 12, minute=1)
    _, open_, replies = thread_with(fake, 12, minute=2, text="mindful health open {k}", video=vid)
    fake.close_thread(closed, status, reason)
    listener = listen(fake)
    with caplog.at_level(logging.INFO, logger="listeners.youtube"):
        result = poll(listener, store, scorer)
    assert result.error is None and set(replies) <= set(stored(store))
    assert f"skipped replies to {closed} ({reason})" in walk_line(caplog)
    assert store.cursor("youtube") is not None
    poll(listener, store, scorer, NOW + HOUR)
    assert [c["parentId"] for c in reply_calls(fake)] == [closed, open_]  # not asked again unless it grows


def test_a_held_back_thread_deleted_before_the_next_walk_is_skipped(fake, store, scorer):
    vid, gone, _ = thread_with(fake, 12, minute=1)
    _, kept, replies = thread_with(fake, 12, minute=2, text="mindful health kept {k}", video=vid)
    listener = listen(fake, max_reply_pages=0)
    poll(listener, store, scorer)
    fake.delete_comment(gone)
    again = poll(listen(fake, max_reply_pages=5), store, scorer, NOW + HOUR)
    assert again.error is None and set(replies) <= set(stored(store))
    assert [c["parentId"] for c in reply_calls(fake)] == [gone, kept]
    assert not any(t.pending for t in cursor(store).threads.values())


def test_a_server_error_on_a_reply_page_is_retried_next_walk_without_doubles(fake, store, scorer):
    _, _, replies = thread_with(fake, 12)
    fake.fail_next(1, 503, resource="comments")
    listener = listen(fake)
    failed = poll(listener, store, scorer)
    assert failed.error and store.cursor("youtube") is None
    done = poll(listener, store, scorer, NOW + timedelta(minutes=5))
    assert done.error is None and set(replies) <= set(stored(store))
    assert_counted_once(store)


# ---- what a reply says -------------------------------------------------------------------------------


HOSTILE = ('mindful health <script>alert("x")</script> <b>bold</b> <a href="javascript:x">link</a> '
           "*mrkdwn* <@U123|here> <!channel> &amp; &lt;tag&gt; \u202eRTL override\u202c \u200b end")


def test_hostile_reply_text_stays_plain_text_carried_or_read(fake, store, scorer):
    vid = fake.add_video("Mindful Health review", published_at=at(0))
    small = fake.add_comment(vid, "mindful health?", published_at=at(1))
    carried = fake.add_reply(small, HOSTILE, author="<b>@evil</b>", published_at=at(2))
    _, _, replies = thread_with(fake, 12, minute=3, text=HOSTILE + " {k}", video=vid)
    assert poll(listen(fake), store, scorer).error is None
    rows = stored(store)
    assert rows[carried]["text"] == HOSTILE and rows[carried]["author"] == "<b>@evil</b>"
    assert rows[replies[11]]["text"] == HOSTILE + " 11"  # from comments.list
    assert reply_calls(fake) and all(c["textFormat"] == "plainText" for c in reply_calls(fake))


def test_a_replys_time_is_its_own(fake, store, scorer):
    _, _, replies = thread_with(fake, 1, minute=30)
    poll(listen(fake), store, scorer)
    assert datetime.fromisoformat(stored(store)[replies[0]]["created_at"].replace("Z", "+00:00")) == \
        datetime(2024, 11, 12, 12, 31, tzinfo=UTC)


def test_a_stored_page_token_youtube_refuses_starts_the_thread_again(fake, store, scorer):
    _, thread, replies = thread_with(fake, 150)
    listener = listen(fake, max_reply_pages=1)
    poll(listener, store, scorer)
    state = cursor(store)
    assert state.threads[thread].token
    stale = store.cursor("youtube").replace(state.threads[thread].token, "c3RhbGU")  # base64 "stale"
    store.conn.execute("UPDATE cursors SET cursor = ?", (stale,))
    store.conn.commit()
    refused = poll(listener, store, scorer, NOW + HOUR)
    assert refused.error is None and fake.calls("comments")[-1].status == 400
    assert cursor(store).threads[thread].token is None and cursor(store).threads[thread].pending
    poll(listen(fake, max_reply_pages=2), store, scorer, NOW + 2 * HOUR)
    assert set(replies) <= set(stored(store)) and not cursor(store).threads[thread].pending
