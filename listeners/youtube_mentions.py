"""A YouTube video, comment thread or reply as a Mention (what `YouTubeListener.to_mention` reads).

A video comes as a search result, or, with `statistics` on, as the video resource that
replaces it (full description, counts) with its channel's statistics under "_channel"; a
comment as a commentThreads item (its top-level comment) or a bare comment; a reply as a bare
comment whose snippet names its thread (parentId): a mention of kind "comment", as a reply is
on Reddit, Mastodon and Hacker News, its thread kept in `raw`.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from bot.models import Mention
from listeners.base import mapping as _mapping
from listeners.base import parse_time, text_or_none, to_int, to_ints

PLATFORM = "youtube"
WATCH = "https://www.youtube.com/watch?v="


def merge_details(item: Mapping[str, Any], video: Mapping[str, Any] | None,
           channel: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The video resource (full description, statistics) in place of its search result, with
    its channel's statistics; the search result itself if the video has gone meanwhile."""
    merged = dict(video) if video else dict(item)
    merged["_channel"] = _mapping((channel or {}).get("statistics"))
    return merged


def video_mention(item: Mapping[str, Any]) -> Mention | None:
    video_id = video_id_of(item)
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
        author_reach=subscribers(item),
        engagement=stats.get("likeCount", 0) + stats.get("commentCount", 0),
        language=language or None,
        title=title,
        kind="video",
        metrics=stats,
        raw=dict(item),
    )


def comment_mention(item: Mapping[str, Any]) -> Mention | None:
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
    # A reply has no replies of its own (YouTube threads are one level deep).
    metrics = {"likeCount": likes} if snippet.get("parentId") else {"likeCount": likes, "totalReplyCount": replies}
    return Mention(
        platform=PLATFORM,
        id=comment_id,
        text=text,
        # A deleted or closed account has no name: "" is how harkbot says unknown.
        author=html.unescape(str(snippet.get("authorDisplayName") or "")),
        url=f"{WATCH}{video_id}&lc={comment_id}",  # lc= opens the video at the comment
        created_at=created_at,
        author_reach=subscribers(item),
        engagement=likes + replies,
        kind="comment",
        metrics=metrics,
        raw=dict(item),
    )


def video_id_of(item: Mapping[str, Any]) -> str | None:
    """A search result's id is {"kind", "videoId"}; a video resource's id is the string."""
    ident = item.get("id")
    if isinstance(ident, Mapping):
        ident = ident.get("videoId")  # None for channel and playlist results
    return ident if isinstance(ident, str) and ident else None  # anything else is no id we can ask about


def channel_id_of(item: Mapping[str, Any]) -> str | None:
    ident = _mapping(item.get("snippet")).get("channelId")
    return ident if isinstance(ident, str) and ident else None


def subscribers(item: Mapping[str, Any]) -> int:
    channel = _mapping(item.get("_channel"))
    return 0 if channel.get("hiddenSubscriberCount") else to_int(channel.get("subscriberCount"))
