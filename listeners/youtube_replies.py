"""YouTube replies: those a comment thread carries, and comments.list for the rest.

A commentThreads page asked for with part=snippet,replies carries a few replies of each thread
(`replies.comments`, up to 5) and how many there are (`snippet.totalReplyCount`); both come
at no extra cost. A thread with more replies than it carries is read with comments.list
(parentId=the thread, 100 a page, 1 unit a page), and only when it is new to the cursor or its
count grew since: `max_reply_pages` such pages a walk at most. What the cap holds back waits in
the cursor (the thread's count not yet read, and the page to go on from) and comes first in the
next walk's reply pages, ahead of the threads found since.

YouTube documents neither the order of comments.list's replies nor which replies a thread
carries, so nothing here depends on either: a thread's replies are read to the end whenever its
count grew, and the thread's Mark (the newest reply read to the end, and the ids of its second)
tells the new replies from those read before. A reply a thread carries and comments.list sends
again is one mention (the walk's Seen; across walks, the store drops repeats).

Only the newest threads' counts are looked at: the commentThreads pages a walk reads
(`max_comment_pages`, newest first). A reply to an older thread is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping

from bot.models import Batch, Mention
from listeners.base import Budget, mapping, to_int
from listeners.youtube_cursor import Mark, Thread, published_at, waiting_longest

REPLY_PAGE = 100  # comments.list's largest page
# Answers about one thread that skip that thread, not the walk: the thread or its video is gone
# (404), or its comments are closed to us (403 commentsDisabled; forbidden: held for review,
# or its video made private). quotaExceeded is a 403 too, but not one of these reasons.
REPLY_GONE = frozenset({"commentNotFound", "commentsDisabled", "forbidden", "videoNotFound"})
RESTART = "invalidPageToken"  # a stored page token YouTube no longer takes: read the thread afresh


class Gone(Exception):
    """A comment source or thread that no longer answers (deleted, or comments turned off)."""

    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class ReplyCounts:
    """What one walk did with replies, for its log line."""

    replies: int = 0  # new replies, carried and read
    pages: int = 0  # comments.list pages (1 unit each)
    held: int = 0  # threads still to read when max_reply_pages ran out
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.replies} replies, {self.pages} reply pages"
        if self.held:
            text += f" (max_reply_pages reached: {self.held} threads wait for the next walk)"
        return text


# ---- what a commentThreads page carries (pure) -----------------------------------------------


def as_reply(comment: Mapping[str, Any], parent: str, video: str) -> dict[str, Any]:
    """A reply with its thread and video in its snippet (as YouTube sends parentId), so that
    its mention can link to it: comments.list may leave the videoId out."""
    snippet = dict(mapping(comment.get("snippet")))
    if not snippet.get("parentId"):
        snippet["parentId"] = parent
    if not snippet.get("videoId") and video:
        snippet["videoId"] = video
    return {**comment, "kind": "youtube#comment", "snippet": snippet}


def carried(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The replies a commentThreads item carries (part=replies)."""
    comments = mapping(item.get("replies")).get("comments")
    if not isinstance(comments, list):
        return []
    video = str(mapping(item.get("snippet")).get("videoId") or "")
    return [as_reply(c, str(item.get("id") or ""), video) for c in comments if isinstance(c, Mapping)]


def note_threads(threads: dict[str, Thread], items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Record each thread's reply count in `threads`; the new replies its items carry.

    A thread that carries all its replies is read to the end here; one that does not is left
    pending for comments.list, its mark unmoved until then (the replies it carries are sent on
    again until it is read: the store drops the repeats, and none is lost in between).
    """
    new: list[dict[str, Any]] = []
    for item in items:
        thread_id = str(item.get("id") or "")
        snippet = mapping(item.get("snippet"))
        total = to_int(snippet.get("totalReplyCount"))
        if not thread_id or (total <= 0 and thread_id not in threads):
            continue
        video = str(snippet.get("videoId") or "")
        old = threads.get(thread_id) or Thread(video, mark=Mark(published=published_at(item)))
        replies = carried(item)
        new += [r for r in replies if old.mark.is_new(str(r.get("id") or ""), published_at(r))]
        # Replies deleted since: the count read drops with the total.
        thread = replace(old, video=video or old.video, read=min(old.read, total), total=total)
        if len(replies) >= total:
            thread = thread.done(_read(replies))
        threads[thread_id] = thread
    return new


def _read(replies: Iterable[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    return [(str(r.get("id")), t) for r in replies if r.get("id") and (t := published_at(r))]


# ---- comments.list for the rest ----------------------------------------------------------------


class ReplyReader:
    """comments.list for the threads with replies still to read, longest waiting first,
    within one walk's `budget` of pages.

    call    one comments.list request (its parameters) -> the page; raises Gone(reason) for
            the REPLY_GONE and RESTART reasons, our ListenerError for any other failure
    emit    payloads -> the mentions not yet sent in this walk
    """

    def __init__(self, threads: dict[str, Thread], call: Callable[[dict[str, Any]], Mapping[str, Any]],
                 emit: Callable[[Iterable[Mapping[str, Any]]], list[Mention]], budget: Budget,
                 counts: ReplyCounts):
        self.threads, self.call, self.emit, self.budget, self.counts = threads, call, emit, budget, counts

    def batches(self) -> Iterator[Batch]:
        for thread_id in waiting_longest(self.threads):
            if self.budget.left <= 0:
                break
            yield from self._thread(thread_id)
        self.counts.held = sum(1 for t in self.threads.values() if t.pending)

    def _thread(self, thread_id: str) -> Iterator[Batch]:
        thread = self.threads[thread_id]
        params = {"part": "snippet", "parentId": thread_id, "maxResults": REPLY_PAGE, "textFormat": "plainText"}
        token, read = thread.token, []
        try:
            while self.budget.take():
                page = self.call({**params, "pageToken": token} if token else params)
                self.counts.pages += 1
                items = page.get("items")
                replies = [as_reply(c, thread_id, thread.video) for c in items if isinstance(c, Mapping)] \
                    if isinstance(items, list) else []
                read += _read(replies)
                mentions = self.emit(r for r in replies if thread.mark.is_new(str(r.get("id") or ""), published_at(r)))
                self.counts.replies += len(mentions)
                if mentions:
                    yield Batch(tuple(mentions))
                token = page.get("nextPageToken")
                if not (isinstance(token, str) and token):
                    self.threads[thread_id] = thread.done(read)
                    return
        except Gone as gone:
            if gone.reason == RESTART:
                self.threads[thread_id] = replace(thread, token=None)
            else:  # read no more of it unless its count grows
                self.threads[thread_id] = thread.done()
                self.counts.skipped.append(f"replies to {thread_id} ({gone.reason})")
            return
        # The budget ran out half way: the next walk goes on from this page.
        self.threads[thread_id] = replace(thread, token=token)
