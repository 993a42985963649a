"""How far a YouTube walk has read: the cursor, and which videos' comments it follows.

The cursor (`State`) holds a `Mark` per brand search, per followed video and per configured
channel, and a `Thread` per comment thread whose replies were read (at most THREADS_MAX). It
is JSON stored with the walk's last Batch only, so a walk that dies half way stores what it
read and re-reads the rest next time (the store drops duplicates). Times are
kept to the second, as YouTube sends them and as its publishedAfter reads them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from bot.models import UTC, iso, utc
from listeners.base import mapping as _mapping
from listeners.base import parse_time, to_int

# The YouTube listener's logger: what the cursor warns about is the listener's to say.
log = logging.getLogger("listeners.youtube")

SEEN_MAX = 100  # ids kept per source in the cursor; a longer list costs more than the duplicates it saves
# Threads whose reply counts the cursor keeps. One forgotten costs its replies read again (the
# store drops the repeats) and, past the 5 a thread carries, a comments.list page or more.
THREADS_MAX = 500
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Mark:
    """How far one source (a brand's search, a video's or a channel's comments) was read.

    after      the newest publishedAt read, to the second (YouTube's publishedAfter is
               inclusive, and times come to the second)
    seen       {id: publishedAt} of what was read in [after - window, after], so the items a
               source sends again (the boundary second, the search overlap) are not new;
               at most SEEN_MAX, the newest
    published  videos only: when the video was published, for the follow window
    """

    after: datetime | None = None
    seen: Mapping[str, datetime] = field(default_factory=dict)
    published: datetime | None = None

    def is_new(self, item_id: str, published: datetime | None, window: timedelta = timedelta(0)) -> bool:
        if not item_id or published is None:
            return False
        if self.after is None:
            return True
        return published >= self.after - window and item_id not in self.seen

    def is_older(self, published: datetime | None) -> bool:
        """Older than anything this source has still to send (comments come newest first)."""
        return self.after is not None and published is not None and published < self.after

    def advanced(self, read: Iterable[tuple[str, datetime]], window: timedelta = timedelta(0)) -> Mark:
        seen = {**self.seen, **dict(read)}
        if not seen:
            return self
        after = max(seen.values())
        kept = sorted(((t, i) for i, t in seen.items() if t >= after - window), reverse=True)[:SEEN_MAX]
        return Mark(after, {i: t for t, i in kept}, self.published)


@dataclass(frozen=True)
class Thread:
    """How far one comment thread's replies were read.

    video   the thread's video: a reply's link names it, and comments.list may leave it out
    read    the thread's totalReplyCount when its replies were last read to the end
    total   its totalReplyCount when last seen; above `read`, replies are still to be read
    token   the comments.list page to go on from, when max_reply_pages stopped a read half way
    mark    the replies read to the end (after: the newest publishedAt; seen: the ids of that
            second), which tells a new reply from one read before; published: the thread's
            own publishedAt
    """

    video: str
    read: int = 0
    total: int = 0
    token: str | None = None
    mark: Mark = field(default_factory=Mark)

    @property
    def pending(self) -> bool:
        return self.total > self.read or self.token is not None

    def done(self, read: Iterable[tuple[str, datetime]] = ()) -> Thread:
        """Every reply counted in `total` read: the mark moves past `read`."""
        return replace(self, read=self.total, token=None, mark=self.mark.advanced(read))


@dataclass
class State:
    """The cursor: a Mark per brand search, per followed video and per configured channel,
    and a Thread per comment thread with replies.

    Bounded: brands and channels are those configured; videos are at most
    `max_followed_videos`, each dropped `follow_days` after it was published; threads at
    most THREADS_MAX (`kept_threads`).
    """

    search: dict[str, Mark] = field(default_factory=dict)
    videos: dict[str, Mark] = field(default_factory=dict)
    channels: dict[str, Mark] = field(default_factory=dict)
    threads: dict[str, Thread] = field(default_factory=dict)


def followed(videos: Mapping[str, Mark], now: datetime, days: int, limit: int) -> dict[str, Mark]:
    """The videos whose comments to read: the newest `limit` published within `days`."""
    since = utc(now) - timedelta(days=days)
    recent = [(m.published, vid) for vid, m in videos.items() if m.published and m.published >= since]
    return {vid: videos[vid] for _t, vid in sorted(recent, reverse=True)[:limit]}


def kept_threads(threads: Mapping[str, Thread], limit: int = THREADS_MAX) -> dict[str, Thread]:
    """The threads the cursor keeps: those with replies still to read, then the most recently
    active (a thread's newest reply read, or its own time)."""
    ranked = sorted(threads, key=lambda tid: (threads[tid].pending, _activity(threads[tid]), tid), reverse=True)
    return {tid: threads[tid] for tid in ranked[:limit]}


def waiting_longest(threads: Mapping[str, Thread]) -> list[str]:
    """The threads with replies to read, the one whose replies were read longest ago first, so
    a thread held back by max_reply_pages comes before the threads found since."""
    return sorted((tid for tid, t in threads.items() if t.pending), key=lambda tid: (_activity(threads[tid]), tid))


def _activity(thread: Thread) -> datetime:
    return thread.mark.after or thread.mark.published or NEVER


def load_state(cursor: str | None) -> State:
    """The stored cursor; an unreadable one starts afresh (with a warning), never a crash."""
    try:
        data = json.loads(cursor) if cursor else {}
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        log.warning("youtube: ignoring an unreadable cursor; reading the newest videos again")
        data = {}
    state = State(*(_marks(data.get(part)) for part in ("search", "videos", "channels")),
                  threads=_threads(data.get("threads")))
    # The first version kept only {brand: newest publishedAt}.
    for brand, value in _mapping(data.get("published_after")).items():
        if (t := parse_time(value)) and brand not in state.search:
            state.search[brand] = Mark(_second(t))
    return state


def dump_state(state: State, brands: Sequence[str]) -> str:
    search = {k: m for k, m in state.search.items() if k in brands}  # a removed brand's mark goes
    return json.dumps(
        {"search": _dump_marks(search), "videos": _dump_marks(state.videos),
         "channels": _dump_marks(state.channels), "threads": _dump_threads(state.threads)},
        sort_keys=True,
    )


def load_cursor(cursor: str | None) -> dict[str, str]:
    """{brand key: newest publishedAt read, RFC 3339}: the search part of the cursor."""
    return {k: iso(m.after) for k, m in load_state(cursor).search.items() if m.after}


def _marks(value: Any) -> dict[str, Mark]:
    return {str(key): _mark(raw) for key, raw in _mapping(value).items()}


def _mark(raw: Any) -> Mark:
    raw = _mapping(raw)
    seen = {str(i): _second(t) for i, v in _mapping(raw.get("seen")).items() if (t := parse_time(v))}
    after, published = parse_time(raw.get("after")), parse_time(raw.get("published"))
    return Mark(after and _second(after), seen, published and _second(published))


def _threads(value: Any) -> dict[str, Thread]:
    out = {}
    for key, raw in _mapping(value).items():
        raw = _mapping(raw)
        token = raw.get("token")
        out[str(key)] = Thread(str(raw.get("video") or ""), to_int(raw.get("read")), to_int(raw.get("total")),
                               token if isinstance(token, str) and token else None, _mark(raw))
    return kept_threads(out)


def _dump_marks(marks: Mapping[str, Mark]) -> dict[str, dict]:
    return {key: _dump_mark(m) for key, m in marks.items()}


def _dump_mark(m: Mark) -> dict[str, Any]:
    entry: dict[str, Any] = {"seen": {i: iso(t) for i, t in m.seen.items()}}
    if m.after:
        entry["after"] = iso(m.after)
    if m.published:
        entry["published"] = iso(m.published)
    return entry


def _dump_threads(threads: Mapping[str, Thread]) -> dict[str, dict]:
    out = {}
    for key, t in kept_threads(threads).items():
        entry = {"video": t.video, "read": t.read, "total": t.total, **_dump_mark(t.mark)}
        if t.token:
            entry["token"] = t.token
        out[key] = entry
    return out


def _second(t: datetime) -> datetime:
    return utc(t).replace(microsecond=0)


def published_at(item: Mapping[str, Any]) -> datetime | None:
    """A search result's or a comment thread's publishedAt, to the second."""
    snippet = _mapping(item.get("snippet"))
    if item.get("kind") == "youtube#commentThread":
        snippet = _mapping(_mapping(snippet.get("topLevelComment")).get("snippet"))
    t = parse_time(snippet.get("publishedAt"))
    return _second(t) if t else None
