"""How far a YouTube walk has read: the cursor, and which videos' comments it follows.

The cursor (`State`) holds a `Mark` per brand search, per followed video and per configured
channel. It is JSON stored with the walk's last Batch only, so a walk that dies half way
stores what it read and re-reads the rest next time (the store drops duplicates). Times are
kept to the second, as YouTube sends them and as its publishedAfter reads them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from bot.models import iso, utc
from listeners.base import mapping as _mapping
from listeners.base import parse_time

# The YouTube listener's logger: what the cursor warns about is the listener's to say.
log = logging.getLogger("listeners.youtube")

SEEN_MAX = 100  # ids kept per source in the cursor; a longer list costs more than the duplicates it saves


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


@dataclass
class State:
    """The cursor: a Mark per brand search, per followed video and per configured channel.

    Bounded: brands and channels are those configured; videos are at most
    `max_followed_videos`, each dropped `follow_days` after it was published.
    """

    search: dict[str, Mark] = field(default_factory=dict)
    videos: dict[str, Mark] = field(default_factory=dict)
    channels: dict[str, Mark] = field(default_factory=dict)


def followed(videos: Mapping[str, Mark], now: datetime, days: int, limit: int) -> dict[str, Mark]:
    """The videos whose comments to read: the newest `limit` published within `days`."""
    since = utc(now) - timedelta(days=days)
    recent = [(m.published, vid) for vid, m in videos.items() if m.published and m.published >= since]
    return {vid: videos[vid] for _t, vid in sorted(recent, reverse=True)[:limit]}


def load_state(cursor: str | None) -> State:
    """The stored cursor; an unreadable one starts afresh (with a warning), never a crash."""
    try:
        data = json.loads(cursor) if cursor else {}
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        log.warning("youtube: ignoring an unreadable cursor; reading the newest videos again")
        data = {}
    state = State(*(_marks(data.get(part)) for part in ("search", "videos", "channels")))
    # The first version kept only {brand: newest publishedAt}.
    for brand, value in _mapping(data.get("published_after")).items():
        if (t := parse_time(value)) and brand not in state.search:
            state.search[brand] = Mark(_second(t))
    return state


def dump_state(state: State, brands: Sequence[str]) -> str:
    search = {k: m for k, m in state.search.items() if k in brands}  # a removed brand's mark goes
    return json.dumps(
        {"search": _dump_marks(search), "videos": _dump_marks(state.videos),
         "channels": _dump_marks(state.channels)},
        sort_keys=True,
    )


def load_cursor(cursor: str | None) -> dict[str, str]:
    """{brand key: newest publishedAt read, RFC 3339}: the search part of the cursor."""
    return {k: iso(m.after) for k, m in load_state(cursor).search.items() if m.after}


def _marks(value: Any) -> dict[str, Mark]:
    out = {}
    for key, raw in _mapping(value).items():
        raw = _mapping(raw)
        seen = {str(i): _second(t) for i, v in _mapping(raw.get("seen")).items() if (t := parse_time(v))}
        after, published = parse_time(raw.get("after")), parse_time(raw.get("published"))
        out[str(key)] = Mark(after and _second(after), seen, published and _second(published))
    return out


def _dump_marks(marks: Mapping[str, Mark]) -> dict[str, dict]:
    out = {}
    for key, m in marks.items():
        entry: dict[str, Any] = {"seen": {i: iso(t) for i, t in m.seen.items()}}
        if m.after:
            entry["after"] = iso(m.after)
        if m.published:
            entry["published"] = iso(m.published)
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
