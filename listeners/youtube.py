"""YouTube through the Data API v3 (google-api-python-client), API key only.

One walk (one `fetch`) reads, in this order:
  1. per brand, new videos: search.list type=video order=date q=<the brand query>
     publishedAfter=<cursor>, up to `max_pages` pages; per page, videos.list (full
     description, likes, views) and channels.list (subscribers) for the videos on it;
  2. comment threads (commentThreads.list textFormat=plainText order=time), newest first and
     only down to what the previous walk read, on the videos that step 1 found and that
     match a brand (the newest `max_followed_videos` published within `follow_days`), then
     on every channel in `channels` (allThreadsRelatedToChannelId).
Top-level comments only: replies are not read.

Quota drives the design: search.list costs 100 of the default 10,000 daily units; every
other call costs 1. `plan()` reckons a day of walks against `daily_quota`, and a
quotaExceeded answer rests the listener until the quota resets at midnight Pacific.

The cursor (see `State`) is JSON stored with the walk's last Batch only, so a walk that dies
half way stores what it read and re-reads the rest next time (the store drops duplicates).

The pure parts (query translation, payload mapping, error mapping, cursor arithmetic, the
plan) are module-level so they can be tested without a network; the listener walks pages.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from pydantic import Field

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import Batch, Brand, Mention, iso, utc
from bot.query import Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word
from bot.secrets import redact
from listeners.base import (MIN_RETRY_AFTER, Budget, ListenerOptions, QuotaPlan, SecretFilter, Seen, Syntax, Timeout,
                            credentials, follow_pages, guarded, http_error, options_of, parse_time, text_or_none,
                            to_int, to_ints)
from listeners.base import mapping as _mapping

log = logging.getLogger(__name__)

PLATFORM = "youtube"
WATCH = "https://www.youtube.com/watch?v="
QUOTA_TZ = ZoneInfo("America/Los_Angeles")  # the daily quota resets at midnight Pacific
SEARCH_UNITS = 100  # search.list; every other call here costs 1 unit
COMMENT_PAGE = 100  # commentThreads.list's largest page
SEEN_MAX = 100  # ids kept per source in the cursor; a longer list costs more than the duplicates it saves
# A comment source that is gone or closed is skipped, not a failure of the whole walk.
GONE = frozenset({"commentsDisabled", "videoNotFound", "channelNotFound"})
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_KEY_PARAM = re.compile(r"([?&]key=)[^&\s\"'<>]+")


class YouTubeListener:
    name: ClassVar[str] = "youtube"

    class Options(ListenerOptions):
        api_key: str = Field("${YOUTUBE_API_KEY}", description="Data API v3 key, as ${ENV_VAR}")
        every: Duration = Field(
            timedelta(hours=1),
            description="How often to walk. Each brand's search costs 100 of the 10,000 daily "
            "quota units: the defaults (1h, 1 page, 20 followed videos) fit up to 3 brands",
        )
        max_results: int = Field(50, ge=1, le=50, description="Videos per search page (at most 50)")
        max_pages: int = Field(
            1, ge=1, le=10, description="Search pages per brand and walk; each costs 100 units"
        )
        search_overlap: Duration = Field(
            timedelta(hours=1),
            description="How far before the newest video seen each search starts again: YouTube "
            "indexes some videos late. Costs no units unless it spills onto another page",
        )
        statistics: bool = Field(
            True, description="Read likes, views and subscribers (2 units per search page)"
        )
        channels: list[str] = Field(
            default_factory=list,
            description="Channel ids (UC...) whose comment threads to follow; 1 unit each per walk",
        )
        follow_days: int = Field(
            7, ge=0, le=90, description="Follow comments on videos published in the last N days"
        )
        max_followed_videos: int = Field(
            20, ge=0, le=200, description="At most this many videos followed (the newest); 1 unit each per walk"
        )
        max_comment_pages: int = Field(
            1, ge=1, le=10, description="Comment pages (100 threads) per video or channel and walk"
        )
        daily_quota: int = Field(
            10_000, ge=1, description="The key's daily quota in units, as the Cloud console shows it"
        )
        timeout: Timeout = Field(
            timedelta(seconds=30),
            description="How long to wait for each answer from YouTube (30s; a bare number is seconds)",
        )

    def __init__(self, options: YouTubeListener.Options, youtube: Any, http: httplib2.Http,
                 api_key: str, hint: str):
        self.options = options
        self.youtube = youtube
        self._http = http
        self._secrets = [api_key]  # to scrub from any API message we repeat
        self._hint = hint  # which setting to fix when Google refuses the key

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> YouTubeListener:
        options = options_of(cls, options)
        values, hint = credentials(cls.name, env, _REDACT, ["api_key"], api_key=options.api_key)
        key = values["api_key"]
        http = httplib2.Http(timeout=options.timeout.total_seconds())
        youtube = build_from_document(
            discovery_document(options.base_url), developerKey=key, http=http,
            # api_endpoint too: without it an env var GOOGLE_CLOUD_UNIVERSE_DOMAIN could
            # rewrite the host; passing `http` also skips the mTLS endpoint switch.
            client_options={"api_endpoint": _root(options.base_url)} if options.base_url else None,
        )
        return cls(options, youtube, http, key, hint)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        return quota_plan(options_of(cls, options), len(brands))

    # ---- the walk ----------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        state = load_state(cursor)
        walk = _Walk()
        for brand in brands:
            yield from self._search(brand, brands, state, walk, now)
        state.videos = followed(state.videos, now, self.options.follow_days, self.options.max_followed_videos)
        for video_id in list(state.videos):
            yield from self._comments(("video", video_id), state.videos, walk, now)
        state.channels = {c: state.channels.get(c, Mark()) for c in self.options.channels}
        for channel_id in self.options.channels:
            yield from self._comments(("channel", channel_id), state.channels, walk, now)
        log.info("youtube: %s", walk)
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=dump_state(state, [b.key for b in brands]))

    def _search(self, brand: Brand, brands: Sequence[Brand], state: State, walk: _Walk,
                now: datetime) -> Iterator[Batch]:
        q = youtube_query(brand)
        if not q:
            log.warning("youtube: brand %s has no terms YouTube can search for; skipped", brand.key)
            return
        mark = state.search.get(brand.key, Mark())
        window = self.options.search_overlap
        params: dict[str, Any] = {"part": "snippet", "q": q, "type": "video", "order": "date",
                                  "maxResults": self.options.max_results}
        if mark.after is not None:
            params["publishedAfter"] = iso(mark.after - window)  # inclusive, to the second
        walk.searches += 1
        read: list[tuple[str, datetime]] = []
        page: dict = {}
        for page in self._pages(self.youtube.search().list, params, self.options.max_pages, walk, now,
                                units=SEARCH_UNITS):
            items = _items(page)
            walk.search_pages += 1
            fresh = [i for i in items if mark.is_new(_video_id(i) or "", _published(i), window)]
            read += [(vid, t) for i in items if (vid := _video_id(i)) and (t := _published(i))]
            mentions = self._emit(self._with_details(fresh, walk, now), walk)
            walk.videos += len(mentions)
            for m in mentions:
                if any(b.matches(m.full_text) for b in brands):
                    state.videos.setdefault(m.id, Mark(published=m.created_at))
            if mentions:
                yield Batch(tuple(mentions))
        if page.get("nextPageToken"):
            walk.truncated.append(brand.key)  # older new videos were left unread
        state.search[brand.key] = mark.advanced(read, window)

    def _comments(self, source: tuple[str, str], marks: dict[str, Mark], walk: _Walk,
                  now: datetime) -> Iterator[Batch]:
        kind, ident = source
        mark = marks[ident]
        params = {"part": "snippet", "textFormat": "plainText", "order": "time", "maxResults": COMMENT_PAGE,
                  "videoId" if kind == "video" else "allThreadsRelatedToChannelId": ident}
        read: list[tuple[str, datetime]] = []
        walk.comment_sources += 1
        try:
            for page in self._pages(self.youtube.commentThreads().list, params, self.options.max_comment_pages,
                                    walk, now, skip=GONE):
                items = _items(page)
                walk.comment_pages += 1
                read += [(cid, t) for i in items if (cid := str(i.get("id") or "")) and (t := _published(i))]
                mentions = self._emit([i for i in items if mark.is_new(str(i.get("id") or ""), _published(i))],
                                      walk)
                walk.comments += len(mentions)
                if mentions:
                    yield Batch(tuple(mentions))
                if any(mark.is_older(_published(i)) for i in items):
                    break  # newest first: the rest was read by an earlier walk
        except _Gone as gone:
            walk.gone.append(f"{kind} {ident} ({gone.reason})")
            if kind == "video":
                del marks[ident]  # deleted, or comments turned off: stop following it
            return
        marks[ident] = mark.advanced(read)

    def _emit(self, items: Iterable[Mapping[str, Any]], walk: _Walk) -> list[Mention]:
        """Mentions for these payloads, each once per walk (two searches may find one video)."""
        return walk.emitted.mentions(items)

    def _pages(self, method: Any, params: dict[str, Any], max_pages: int, walk: _Walk, now: datetime,
               units: int = 1, skip: frozenset[str] = frozenset()) -> Iterator[Mapping[str, Any]]:
        return follow_pages(lambda p: self._call(method(**p), walk, now, units, skip), params, "pageToken",
                            lambda page: page.get("nextPageToken"), Budget(max_pages).take)

    def _with_details(self, items: list[Mapping[str, Any]], walk: _Walk,
                      now: datetime) -> list[Mapping[str, Any]]:
        """Search results carry a cut-short description and no counts: add the video's full
        snippet and statistics, and its channel's (two 1-unit calls per page)."""
        if not self.options.statistics or not items:
            return items
        video_ids = [vid for vid in map(_video_id, items) if vid]
        channel_ids = sorted({cid for cid in map(_channel_id, items) if cid})
        videos = self._by_id(self.youtube.videos().list(part="snippet,statistics", id=",".join(video_ids)),
                             walk, now)
        channels = self._by_id(self.youtube.channels().list(part="statistics", id=",".join(channel_ids)),
                               walk, now)
        return [_merge(item, videos.get(_video_id(item) or ""), channels.get(_channel_id(item) or ""))
                for item in items]

    def _by_id(self, request: Any, walk: _Walk, now: datetime) -> dict[str, dict]:
        return {str(i["id"]): i for i in _items(self._call(request, walk, now)) if i.get("id")}

    def _call(self, request: Any, walk: _Walk, now: datetime, units: int = 1,
              skip: frozenset[str] = frozenset()) -> dict:
        walk.units += units  # Google charges a call whatever its answer
        try:
            page = request.execute()
        except HttpError as exc:
            content = self._scrub(exc.content.decode("utf-8", "replace"))
            reasons, _ = error_reasons(content)
            if reasons & skip:
                raise _Gone(sorted(reasons & skip)[0]) from None
            # from None: HttpError's repr holds the request URL, and the key is in it.
            raise youtube_error(exc.resp.status, content, now, self._hint) from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            self._http.close()  # a timed-out connection may still deliver its late answer
            cause = "timed out" if isinstance(exc, TimeoutError) else f"network error ({type(exc).__name__})"
            raise ListenerError(f"youtube: {cause}; will retry") from None
        except ValueError:  # a body that is not even UTF-8
            page = None
        # googleapiclient hands back the raw text when a 200's body is not JSON.
        if not isinstance(page, dict):
            raise ListenerError("youtube: the API sent an unreadable answer (not a JSON object); will retry")
        return page

    def _scrub(self, text: str) -> str:
        return _KEY_PARAM.sub(r"\1***", redact(text, self._secrets))

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        kind = payload.get("kind")
        if kind in ("youtube#commentThread", "youtube#comment"):
            return _comment_mention(payload)
        return _video_mention(payload)


_TO_MENTION = guarded("youtube", YouTubeListener.to_mention)


class _Gone(Exception):
    """A comment source that no longer answers (deleted, or comments turned off)."""

    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class _Walk:
    """What one walk did, for its log line."""

    searches: int = 0
    search_pages: int = 0
    videos: int = 0
    comment_sources: int = 0
    comment_pages: int = 0
    comments: int = 0
    units: int = 0
    truncated: list[str] = field(default_factory=list)  # brands with more new videos than max_pages
    gone: list[str] = field(default_factory=list)
    emitted: Seen = field(default_factory=lambda: Seen(_TO_MENTION))

    def __str__(self) -> str:
        text = (f"{self.searches} searches, {self.search_pages} pages, {self.videos} videos; "
                f"{self.comment_sources} comment sources, {self.comment_pages} pages, {self.comments} comments; "
                f"{self.units} quota units")
        if self.truncated:
            text += f"; max_pages reached for {', '.join(self.truncated)} (older new videos skipped)"
        if self.gone:
            text += f"; skipped {', '.join(self.gone)}"
        return text


# ---- setup -------------------------------------------------------------------------------


def discovery_document(base_url: str | None) -> dict[str, Any]:
    """The Data API's description as shipped inside the library: reading it needs no network.

    With `base_url`, every root in it (requests, batch, mTLS) points there, so nothing can
    reach googleapis.com.
    """
    doc = json.loads(get_static_doc("youtube", "v3"))
    if base_url:
        root = _root(base_url)
        doc.update(rootUrl=root, baseUrl=root, mtlsRootUrl=root, servicePath="")
    return doc


def _root(base_url: str) -> str:
    # The trailing slash matters: method paths are joined to the root as relative URLs.
    return base_url.rstrip("/") + "/"


# ---- quota -------------------------------------------------------------------------------


def quota_plan(options: YouTubeListener.Options, brands: int) -> QuotaPlan:
    """Units a day at most: every walk reads every page it may (fewer is the usual case)."""
    runs = math.ceil(timedelta(days=1) / options.every)
    searches = brands * runs * options.max_pages
    statistics = 2 * searches if options.statistics else 0
    sources = options.max_followed_videos + len(options.channels)
    comments = runs * sources * options.max_comment_pages
    used = searches * SEARCH_UNITS + statistics + comments
    detail = (f"{brands} brands x {runs} walks x {options.max_pages} pages x {SEARCH_UNITS} (search)"
              f" + {statistics} (statistics) + {runs} walks x {sources} videos and channels"
              f" x {options.max_comment_pages} pages (comments)")
    return QuotaPlan(PLATFORM, used, options.daily_quota, "quota units", detail)


# ---- query translation -------------------------------------------------------------------


def youtube_query(brand: Brand) -> str:
    """The brand's query as YouTube's q: words, "phrases", | for OR, - for NOT.

    YouTube has no parentheses, so nesting flattens and a NOT of a group is left out:
    the search may be broader than the brand query, never narrower, and harkbot matches
    every fetched mention against the whole brand query again.
    """
    parts = [youtube_syntax(brand.query)]
    if brand.exclude is not None:
        parts.append(youtube_syntax(Not(brand.exclude)))
    return " ".join(p for p in parts if p)


YOUTUBE_SYNTAX = Syntax(
    prefix=lambda node: node.stem,  # no wildcard on YouTube: the stem as a word
    hashtag=lambda node: f"#{node.tag}",  # YouTube search understands hashtags
    handle=lambda node: node.handle,  # an @handle names a channel on YouTube; search the word
    negate=lambda syntax, child: " ".join(f"-{syntax.render(leaf)}" for leaf in _negatable(child)),
    both=" ",
    either="|",
    grouped=False,  # no parentheses on YouTube: nesting flattens
    drop_empty=True,
)


def youtube_syntax(node: Query) -> str:
    return YOUTUBE_SYNTAX.render(node)


def _negatable(node: Query) -> list[Query]:
    """The terms whose negation YouTube can say: NOT a -> -a; NOT (a OR b) -> -a -b."""
    if isinstance(node, (Word, Prefix, Hashtag, Handle, Phrase)):
        return [node]
    if isinstance(node, Or) and all(_negatable(c) == [c] for c in node.children):
        return list(node.children)
    return []  # NOT (a b) has no YouTube form; leave it to harkbot's own match


# ---- cursor ------------------------------------------------------------------------------


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


def _items(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = page.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _second(t: datetime) -> datetime:
    return utc(t).replace(microsecond=0)


def _published(item: Mapping[str, Any]) -> datetime | None:
    """A search result's or a comment thread's publishedAt, to the second."""
    snippet = _mapping(item.get("snippet"))
    if item.get("kind") == "youtube#commentThread":
        snippet = _mapping(_mapping(snippet.get("topLevelComment")).get("snippet"))
    t = parse_time(snippet.get("publishedAt"))
    return _second(t) if t else None


# ---- payloads ----------------------------------------------------------------------------


def _merge(item: Mapping[str, Any], video: Mapping[str, Any] | None,
           channel: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The video resource (full description, statistics) in place of its search result, with
    its channel's statistics; the search result itself if the video has gone meanwhile."""
    merged = dict(video) if video else dict(item)
    merged["_channel"] = _mapping((channel or {}).get("statistics"))
    return merged


def _video_mention(item: Mapping[str, Any]) -> Mention | None:
    video_id = _video_id(item)
    snippet = _mapping(item.get("snippet"))
    # search.list sends its snippets HTML-escaped (&amp; &#39;); videos.list sends plain text.
    plain = html.unescape if item.get("kind") != "youtube#video" else str
    title = plain(str(snippet.get("title") or "")).strip()
    text = plain(str(snippet.get("description") or "")).strip()
    created_at = parse_time(snippet.get("publishedAt"))
    if not video_id or not (title or text) or created_at is None:
        return None
    stats = to_ints(item.get("statistics"))
    language = text_or_none(snippet.get("defaultAudioLanguage")) or text_or_none(snippet.get("defaultLanguage"))
    return Mention(
        platform=PLATFORM,
        id=video_id,
        text=text,
        author=plain(str(snippet.get("channelTitle") or "")),
        url=f"{WATCH}{video_id}",
        created_at=created_at,
        author_reach=_subscribers(item),
        engagement=stats.get("likeCount", 0) + stats.get("commentCount", 0),
        language=language or None,
        title=title,
        kind="video",
        metrics=stats,
        raw=dict(item),
    )


def _comment_mention(item: Mapping[str, Any]) -> Mention | None:
    # A commentThread wraps its top-level comment; a bare comment is its own top level.
    thread = _mapping(item.get("snippet"))
    comment = thread.get("topLevelComment") if item.get("kind") == "youtube#commentThread" else item
    comment = _mapping(comment)
    snippet = _mapping(comment.get("snippet"))
    comment_id = str(comment.get("id") or "")
    video_id = str(snippet.get("videoId") or thread.get("videoId") or "")
    # textOriginal goes only to the comment's author; we ask for textDisplay as plainText,
    # which still carries entities (&#39; &quot;): no tags to strip, entities to decode.
    text = str(snippet.get("textOriginal") or html.unescape(str(snippet.get("textDisplay") or "")))
    created_at = parse_time(snippet.get("publishedAt"))
    if not comment_id or not video_id or not text.strip() or created_at is None:
        return None
    likes, replies = to_int(snippet.get("likeCount")), to_int(thread.get("totalReplyCount"))
    return Mention(
        platform=PLATFORM,
        id=comment_id,
        text=text,
        # A deleted or closed account has no name: "" is how harkbot says unknown.
        author=html.unescape(str(snippet.get("authorDisplayName") or "")),
        url=f"{WATCH}{video_id}&lc={comment_id}",  # lc= opens the video at the comment
        created_at=created_at,
        author_reach=_subscribers(item),
        engagement=likes + replies,
        kind="comment",
        metrics={"likeCount": likes, "totalReplyCount": replies},
        raw=dict(item),
    )


def html_to_text(markup: str) -> str:
    """HTML (<br>, <a>, <b>, entities) as plain text: Google's error messages hold links."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", markup))).strip()


def _video_id(item: Mapping[str, Any]) -> str | None:
    """A search result's id is {"kind", "videoId"}; a video resource's id is the string."""
    ident = item.get("id")
    if isinstance(ident, Mapping):
        ident = ident.get("videoId")  # None for channel and playlist results
    return ident if isinstance(ident, str) and ident else None  # anything else is no id we can ask about


def _channel_id(item: Mapping[str, Any]) -> str | None:
    ident = _mapping(item.get("snippet")).get("channelId")
    return ident if isinstance(ident, str) and ident else None


def _subscribers(item: Mapping[str, Any]) -> int:
    channel = _mapping(item.get("_channel"))
    return 0 if channel.get("hiddenSubscriberCount") else to_int(channel.get("subscriberCount"))


# ---- errors ------------------------------------------------------------------------------


def youtube_error(
    status: int, content: str, now: datetime, hint: str = "YOUTUBE_API_KEY"
) -> ListenerError:
    """Our error for a Data API error response (content: its JSON body, secrets removed)."""
    reasons, message = error_reasons(content)
    detail = f": {message}" if message else ""
    if reasons & {"quotaExceeded", "dailyLimitExceeded"}:
        wait = seconds_until_quota_reset(now)
        return RateLimited(
            f"youtube: daily quota used up; it resets at midnight Pacific, in {wait:.0f}s",
            retry_after=wait,
        )
    if status == 429 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        return RateLimited("youtube: rate limited; retry in 60s", retry_after=MIN_RETRY_AFTER)
    key_refused = reasons & {"keyInvalid", "keyExpired", "API_KEY_INVALID"} or "API key not valid" in message
    if key_refused or status == 401:
        return ListenerError(
            f"youtube: the API key was refused ({status}); check {hint}", retryable=False
        )
    return http_error(PLATFORM, status, {
        403: "forbidden (403){detail}; enable the YouTube Data API v3 for the project of the key in "
             f"{hint} and check the key's API and referrer restrictions",
    }, detail, otherwise="request rejected ({status}){detail}")


def error_reasons(content: str) -> tuple[set[str], str]:
    """The reason codes and the plain-text message of a Google API error body."""
    try:
        error = json.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        return set(), ""
    if not isinstance(error, Mapping):
        return set(), ""
    entries = [*(error.get("errors") or ()), *(error.get("details") or ())]
    reasons = {str(e["reason"]) for e in entries if isinstance(e, Mapping) and e.get("reason")}
    # The quota message holds an <a href> link: keep the words only.
    return reasons, html_to_text(str(error.get("message") or ""))[:300]


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds from now to the next midnight in America/Los_Angeles (at least 60)."""
    local = utc(now).astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_TZ)
    return max((midnight - utc(now)).total_seconds(), MIN_RETRY_AFTER)


# ---- logging -----------------------------------------------------------------------------


# googleapiclient logs each request URL, ?key= included, at DEBUG.
_REDACT = SecretFilter("googleapiclient.discovery", "googleapiclient.http", "googleapiclient.model")
