"""YouTube through the Data API v3 (google-api-python-client), API key only.

One walk (one `fetch`) reads, in this order:
  1. per brand, new videos: search.list type=video order=date q=<the brand query>
     publishedAfter=<cursor>, up to `max_pages` pages; per page, videos.list (full
     description, likes, views) and channels.list (subscribers) for the videos on it;
  2. comment threads (commentThreads.list textFormat=plainText order=time), newest first and
     only down to what the previous walk read, on the videos that step 1 found and that
     match a brand (the newest `max_followed_videos` published within `follow_days`), then
     on every channel in `channels` (allThreadsRelatedToChannelId), each thread with the
     replies it carries (part=replies, up to 5);
  3. replies beyond those a thread carries (comments.list parentId=<the thread>), for threads
     new to the cursor or whose reply count grew, up to `max_reply_pages` pages a walk
     (listeners/youtube_replies.py).

What a day of walks costs, and when a spent quota returns, is listeners/youtube_quota.py; how
far each source was read (the cursor) and which videos are followed, listeners/youtube_cursor.py;
a video, comment or reply as a Mention, listeners/youtube_mentions.py; which replies to read,
listeners/youtube_replies.py; the brand query as YouTube's q, listeners/youtube_query.py. The
pure parts here (error mapping) are module-level, tested without a network; the listener walks
pages.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from pydantic import Field

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import Batch, Brand, Mention, iso
from bot.secrets import redact
from listeners.base import (MIN_RETRY_AFTER, Budget, ListenerOptions, QuotaPlan, SecretFilter, Seen, Timeout,
                            credentials, follow_pages, guarded, html_to_text, http_error, options_of)
from listeners.youtube_cursor import (Mark, State, Thread, dump_state, followed, kept_threads, load_state,
                                      published_at)
from listeners.youtube_mentions import channel_id_of, comment_mention, merge_details, video_id_of, video_mention
from listeners.youtube_query import youtube_query, youtube_syntax  # noqa: F401  (re-exported)
from listeners.youtube_quota import SEARCH_UNITS, quota_plan, seconds_until_quota_reset
from listeners.youtube_replies import REPLY_GONE, RESTART, Gone, ReplyCounts, ReplyReader, note_threads

log = logging.getLogger(__name__)

COMMENT_PAGE = 100  # commentThreads.list's largest page
# A comment source that is gone or closed is skipped, not a failure of the whole walk.
GONE = frozenset({"commentsDisabled", "videoNotFound", "channelNotFound"})
_KEY_PARAM = re.compile(r"([?&]key=)[^&\s\"'<>]+")


class YouTubeListener:
    name: ClassVar[str] = "youtube"

    class Options(ListenerOptions):
        api_key: str = Field("${YOUTUBE_API_KEY}", description="Data API v3 key, as ${ENV_VAR}")
        every: Duration = Field(
            timedelta(hours=1),
            description="How often to walk. Each brand's search costs 100 of the 10,000 daily "
            "quota units: the defaults (1h, 1 page, 20 followed videos, 20 reply pages) fit up to 3 brands",
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
        max_reply_pages: int = Field(
            20, ge=0, le=200, description="comments.list pages (100 replies, 1 unit each) a walk may read "
            "for threads with more replies than the 5 a thread carries; 0 reads only those 5",
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
            yield from self._comments(("video", video_id), state.videos, state.threads, walk, now)
        state.channels = {c: state.channels.get(c, Mark()) for c in self.options.channels}
        for channel_id in self.options.channels:
            yield from self._comments(("channel", channel_id), state.channels, state.threads, walk, now)
        yield from self._replies(state, walk, now)
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
            fresh = [i for i in items if mark.is_new(video_id_of(i) or "", published_at(i), window)]
            read += [(vid, t) for i in items if (vid := video_id_of(i)) and (t := published_at(i))]
            mentions = self._emit(self._with_details(fresh, walk, now), walk)
            walk.videos += len(mentions)
            for m in mentions:
                if any(b.matches_mention(m) for b in brands):
                    state.videos.setdefault(m.id, Mark(published=m.created_at))
            if mentions:
                yield Batch(tuple(mentions))
        if page.get("nextPageToken"):
            walk.truncated.append(brand.key)  # older new videos were left unread
        state.search[brand.key] = mark.advanced(read, window)

    def _comments(self, source: tuple[str, str], marks: dict[str, Mark], threads: dict[str, Thread], walk: _Walk,
                  now: datetime) -> Iterator[Batch]:
        kind, ident = source
        mark = marks[ident]
        params = {"part": "snippet,replies", "textFormat": "plainText", "order": "time", "maxResults": COMMENT_PAGE,
                  "videoId" if kind == "video" else "allThreadsRelatedToChannelId": ident}
        read: list[tuple[str, datetime]] = []
        walk.comment_sources += 1
        try:
            for page in self._pages(self.youtube.commentThreads().list, params, self.options.max_comment_pages,
                                    walk, now, skip=GONE):
                items = _items(page)
                walk.comment_pages += 1
                read += [(cid, t) for i in items if (cid := str(i.get("id") or "")) and (t := published_at(i))]
                mentions = self._emit([i for i in items if mark.is_new(str(i.get("id") or ""), published_at(i))],
                                      walk)
                walk.comments += len(mentions)
                replies = self._emit(note_threads(threads, items), walk)
                walk.replies.replies += len(replies)
                if mentions or replies:
                    yield Batch(tuple(mentions + replies))
                if any(mark.is_older(published_at(i)) for i in items):
                    break  # newest first: the rest was read by an earlier walk
        except Gone as gone:
            walk.gone.append(f"{kind} {ident} ({gone.reason})")
            if kind == "video":
                del marks[ident]  # deleted, or comments turned off: stop following it
            return
        marks[ident] = mark.advanced(read)

    def _replies(self, state: State, walk: _Walk, now: datetime) -> Iterator[Batch]:
        """comments.list for the threads with more replies than they carry, max_reply_pages a walk."""
        def comments_page(params: dict[str, Any]) -> dict:
            return self._call(self.youtube.comments().list(**params), walk, now, skip=REPLY_GONE | {RESTART})

        yield from ReplyReader(state.threads, comments_page, walk.emitted.mentions,
                               Budget(self.options.max_reply_pages), walk.replies).batches()
        state.threads = kept_threads(state.threads)

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
        video_ids = [vid for vid in map(video_id_of, items) if vid]
        channel_ids = sorted({cid for cid in map(channel_id_of, items) if cid})
        videos = self._by_id(self.youtube.videos().list(part="snippet,statistics", id=",".join(video_ids)),
                             walk, now)
        channels = self._by_id(self.youtube.channels().list(part="statistics", id=",".join(channel_ids)),
                               walk, now)
        return [merge_details(item, videos.get(video_id_of(item) or ""), channels.get(channel_id_of(item) or ""))
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
                raise Gone(sorted(reasons & skip)[0]) from None
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
            return comment_mention(payload)
        return video_mention(payload)


_TO_MENTION = guarded("youtube", YouTubeListener.to_mention)


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
    replies: ReplyCounts = field(default_factory=ReplyCounts)
    emitted: Seen = field(default_factory=lambda: Seen(_TO_MENTION))

    def __str__(self) -> str:
        text = (f"{self.searches} searches, {self.search_pages} pages, {self.videos} videos; "
                f"{self.comment_sources} comment sources, {self.comment_pages} pages, {self.comments} comments, "
                f"{self.replies}; {self.units} quota units")
        if self.truncated:
            text += f"; max_pages reached for {', '.join(self.truncated)} (older new videos skipped)"
        if self.gone or self.replies.skipped:
            text += f"; skipped {', '.join(self.gone + self.replies.skipped)}"
        return text


def _items(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = page.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


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
    return http_error("youtube", status, {
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


# ---- logging -----------------------------------------------------------------------------


# googleapiclient logs each request URL, ?key= included, at DEBUG.
_REDACT = SecretFilter("googleapiclient.discovery", "googleapiclient.http", "googleapiclient.model")
