"""YouTube video search through the Data API v3 (google-api-python-client), API key only.

Quota drives the design: search.list costs 100 of the default 10,000 daily units, while
videos.list and channels.list (engagement and subscriber counts) cost 1 each. So the
listener searches rarely (every 30m by default) and reads few pages.

The pure parts (query translation, payload mapping, error mapping) are module-level so
they can be tested without a network; `YouTubeListener.fetch` only walks pages.
"""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import datetime, time, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from pydantic import Field

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import Batch, Brand, Mention, iso, parse_iso, utc
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word
from bot.secrets import env_name, redact
from listeners.base import ListenerOptions, SecretFilter, cursor_part, parse_time, require, to_int, to_ints

log = logging.getLogger(__name__)

PLATFORM = "youtube"
WATCH = "https://www.youtube.com/watch?v="
MIN_RETRY_AFTER = 60.0
QUOTA_TZ = ZoneInfo("America/Los_Angeles")  # the daily quota resets at midnight Pacific
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


class YouTubeListener:
    name: ClassVar[str] = "youtube"

    class Options(ListenerOptions):
        api_key: str = Field("${YOUTUBE_API_KEY}", description="Data API v3 key, as ${ENV_VAR}")
        every: Duration = Field(
            timedelta(minutes=30),
            description="How often to search; each search costs 100 of 10,000 daily quota units",
        )
        max_results: int = Field(50, ge=1, le=50, description="Videos per page (at most 50)")
        max_pages: int = Field(
            1, ge=1, le=10, description="Pages to read per brand and run; each costs 100 units"
        )

    def __init__(self, options: YouTubeListener.Options, youtube: Any, api_key: str, hint: str):
        self.options = options
        self.youtube = youtube
        self._secrets = [api_key]  # to scrub from any API message we repeat
        self._hint = hint  # which setting to fix when Google refuses the key

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> YouTubeListener:
        if not isinstance(options, cls.Options):
            options = cls.Options.model_validate(options or {})
        key = require(cls.name, env, api_key=options.api_key)["api_key"]
        _REDACT.add(key)
        # The trailing slash matters: method paths are joined to the endpoint as relative URLs.
        endpoint = options.base_url.rstrip("/") + "/" if options.base_url else None
        client_options = {"api_endpoint": endpoint} if endpoint else None
        # static_discovery: the API description ships with the library, so building the
        # client reads no network; cache_discovery=False: no cache files written.
        youtube = build(
            "youtube", "v3", developerKey=key, static_discovery=True, cache_discovery=False,
            client_options=client_options,
        )
        hint = env_name(options.api_key) or "listeners.youtube.api_key"
        return cls(options, youtube, key, hint)

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        published_after = load_cursor(cursor)
        newest = dict(published_after)
        for brand in brands:
            params: dict[str, Any] = {
                "part": "snippet", "q": youtube_query(brand), "type": "video", "order": "date",
                "maxResults": self.options.max_results,
            }
            if brand.key in published_after:
                params["publishedAfter"] = published_after[brand.key]
            for items in self._pages(params, now):
                mentions = [m for m in map(self.to_mention, self._with_details(items, now)) if m]
                for m in mentions:
                    if m.created_at > parse_iso(newest.get(brand.key, "1970-01-01T00:00:00Z")):
                        newest[brand.key] = iso(m.created_at)
                if mentions:
                    yield Batch(tuple(mentions))
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=json.dumps({"published_after": newest}, sort_keys=True))

    def _pages(self, params: dict[str, Any], now: datetime) -> Iterator[list[dict]]:
        for _ in range(self.options.max_pages):
            page = self._call(self.youtube.search().list(**params), now)
            yield page.get("items") or []
            if not page.get("nextPageToken"):
                return
            params = {**params, "pageToken": page["nextPageToken"]}

    def _with_details(self, items: list[dict], now: datetime) -> list[dict]:
        """Search results carry no counts: add each video's statistics and its channel's.

        Two 1-unit calls per page, against the 100 the search itself cost.
        """
        video_ids = [vid for vid in map(_video_id, items) if vid]
        channel_ids = sorted({cid for cid in map(_channel_id, items) if cid})
        videos = self._statistics(self.youtube.videos(), video_ids, now)
        channels = self._statistics(self.youtube.channels(), channel_ids, now)
        return [
            {
                **item,
                "statistics": videos.get(_video_id(item) or "", {}),
                "_channel": channels.get(_channel_id(item) or "", {}),
            }
            for item in items
        ]

    def _statistics(self, resource: Any, ids: list[str], now: datetime) -> dict[str, dict]:
        if not ids:
            return {}
        page = self._call(resource.list(part="statistics", id=",".join(ids), maxResults=50), now)
        return {item["id"]: item.get("statistics") or {} for item in page.get("items") or ()}

    def _call(self, request: Any, now: datetime) -> dict:
        try:
            return request.execute()
        except HttpError as exc:
            content = redact(exc.content.decode("utf-8", "replace"), self._secrets)
            # from None: HttpError's repr holds the request URL, and the key is in it.
            raise youtube_error(exc.resp.status, content, now, self._hint) from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            cause = type(exc).__name__
            raise ListenerError(f"youtube: network error ({cause}); will retry") from None

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        kind = payload.get("kind")
        if kind in ("youtube#commentThread", "youtube#comment"):
            return _comment_mention(payload)
        return _video_mention(payload)


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


def youtube_syntax(node: Query) -> str:
    if isinstance(node, Word):
        return node.word
    if isinstance(node, Prefix):
        return node.stem  # no wildcard on YouTube: the stem as a word
    if isinstance(node, Hashtag):
        return f"#{node.tag}"  # YouTube search understands hashtags
    if isinstance(node, Handle):
        return node.handle  # an @handle names a channel on YouTube; search the word
    if isinstance(node, Phrase):
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, Not):
        return " ".join(f"-{youtube_syntax(leaf)}" for leaf in _negatable(node.child))
    if isinstance(node, And):
        return " ".join(filter(None, (youtube_syntax(c) for c in node.children)))
    if isinstance(node, Or):
        return "|".join(filter(None, (youtube_syntax(c) for c in node.children)))
    raise TypeError(f"unknown query node {type(node).__name__}")


def _negatable(node: Query) -> list[Query]:
    """The terms whose negation YouTube can say: NOT a -> -a; NOT (a OR b) -> -a -b."""
    if isinstance(node, (Word, Prefix, Hashtag, Handle, Phrase)):
        return [node]
    if isinstance(node, Or) and all(_negatable(c) == [c] for c in node.children):
        return list(node.children)
    return []  # NOT (a b) has no YouTube form; leave it to harkbot's own match


# ---- cursor ------------------------------------------------------------------------------


def load_cursor(cursor: str | None) -> dict[str, str]:
    """{brand key: newest publishedAt seen, RFC 3339}; an unreadable cursor starts afresh."""
    if not cursor:
        return {}
    value = cursor_part(cursor, "published_after", "youtube")
    return {str(k): iso(t) for k, v in value.items() if (t := parse_time(v))}


# ---- payloads ----------------------------------------------------------------------------


def _video_mention(item: Mapping[str, Any]) -> Mention | None:
    video_id = _video_id(item)
    snippet = item.get("snippet") or {}
    title = html.unescape(str(snippet.get("title") or "")).strip()
    text = html.unescape(str(snippet.get("description") or "")).strip()
    created_at = parse_time(snippet.get("publishedAt"))
    if not video_id or not (title or text) or created_at is None:
        return None
    stats = to_ints(item.get("statistics"))
    language = snippet.get("defaultAudioLanguage") or snippet.get("defaultLanguage")
    return Mention(
        platform=PLATFORM,
        id=video_id,
        text=text,
        author=html.unescape(str(snippet.get("channelTitle") or "")),
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
    thread = item.get("snippet") or {}
    comment = thread.get("topLevelComment") if item.get("kind") == "youtube#commentThread" else item
    comment = comment or {}
    snippet = comment.get("snippet") or {}
    comment_id = str(comment.get("id") or "")
    video_id = str(snippet.get("videoId") or thread.get("videoId") or "")
    # textOriginal is plain text but only sent to the comment's author; textDisplay is HTML.
    text = snippet.get("textOriginal") or html_to_text(str(snippet.get("textDisplay") or ""))
    created_at = parse_time(snippet.get("publishedAt"))
    if not comment_id or not video_id or not text or created_at is None:
        return None
    likes, replies = to_int(snippet.get("likeCount")), to_int(thread.get("totalReplyCount"))
    return Mention(
        platform=PLATFORM,
        id=comment_id,
        text=text,
        author=str(snippet.get("authorDisplayName") or ""),
        url=f"{WATCH}{video_id}&lc={comment_id}",  # lc= opens the video at the comment
        created_at=created_at,
        author_reach=_subscribers(item),
        engagement=likes + replies,
        kind="comment",
        metrics={"likeCount": likes, "totalReplyCount": replies},
        raw=dict(item),
    )


def html_to_text(markup: str) -> str:
    """textDisplay HTML (<br>, <a>, <b>, entities) as plain text."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", markup))).strip()


def _video_id(item: Mapping[str, Any]) -> str | None:
    """A search result's id is {"kind", "videoId"}; a video resource's id is the string."""
    ident = item.get("id")
    if isinstance(ident, Mapping):
        return ident.get("videoId") or None  # None for channel and playlist results
    return str(ident) if ident else None


def _channel_id(item: Mapping[str, Any]) -> str | None:
    return (item.get("snippet") or {}).get("channelId") or None


def _subscribers(item: Mapping[str, Any]) -> int:
    channel = item.get("_channel") or {}
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
    if reasons & {"keyInvalid", "keyExpired", "API_KEY_INVALID"} or "API key not valid" in message:
        return ListenerError(
            f"youtube: the API key was refused ({status}); check {hint}", retryable=False
        )
    if status == 403:
        return ListenerError(
            f"youtube: forbidden (403){detail}; enable the YouTube Data API v3 for the key's "
            "project and check the key's API and referrer restrictions",
            retryable=False,
        )
    if status >= 500:
        return ListenerError(f"youtube: server error ({status}){detail}; will retry")
    return ListenerError(f"youtube: request rejected ({status}){detail}", retryable=False)


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
    return reasons, html_to_text(str(error.get("message") or ""))


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds from now to the next midnight in America/Los_Angeles (at least 60)."""
    local = utc(now).astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_TZ)
    return max((midnight - utc(now)).total_seconds(), MIN_RETRY_AFTER)


# ---- logging -----------------------------------------------------------------------------


_REDACT = SecretFilter("googleapiclient.discovery", "googleapiclient.http")
