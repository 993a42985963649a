"""A fake YouTube Data API v3 on 127.0.0.1, spoken to over real HTTP by the real
discovery-built googleapiclient.

    with FakeYouTube() as yt:
        vid = yt.add_video("Mindful Health review", published_at="2024-11-12T14:00:00Z")
        yt.add_comment(vid, "mindful health helped me", author="@mira", published_at=...)
        listener = YouTubeListener.from_config(YouTubeListener.Options(base_url=yt.url),
                                               {"YOUTUBE_API_KEY": KEY})

It follows the discovery document that ships inside google-api-python-client
(`DISCOVERY`): the five methods harkbot calls (search.list, commentThreads.list,
comments.list, videos.list, channels.list) at their paths, every query parameter checked against the
method's declared parameters (name, enum, integer bounds, date-time format, required), and
every response checked against the document's schemas. What fails a check is answered 400
and kept in `problems`, so a test can assert the conversation was well-formed.

The wire quirks it reproduces: search results and comment text come HTML-escaped
(&amp; &#39; &quot;); search descriptions are cut to 160 characters (videos.list has them in
full and unescaped); counts in statistics are strings; textOriginal is not sent (only a
comment's author gets it); publishedAfter is inclusive; default page sizes are 5 (search)
and 20 (commentThreads, comments); videos.list and channels.list answer every id asked for.

Replies (`add_reply`, or `add_comment(replies=n)` for n filler ones): a thread asked for with
part=replies carries its first EMBEDDED (5) and says totalReplyCount; comments.list parentId=
pages through all of them. YouTube documents neither order: comments.list sends them oldest
first, and `reply_order = "newest"` turns both around, so a test can show the listener relies
on neither. A reply's id is its thread's id, a dot and its own. comments.list answers 404
commentNotFound for a thread that is gone, 403 commentsDisabled when its video's comments are
off, whatever `close_thread(id, reason)` says for that thread, and 400 invalidPageToken for a
pageToken it did not give out (YouTube refuses stale ones so).

Search is not a search engine: a video matches q when one of its positive terms (words,
"phrases", a|b alternatives, #tags) occurs, case-insensitively, in its title or description,
and none of its -terms does. Results come newest first (order=date; the other orders too).

Quota is kept per key (search.list 100 units, the rest 1); once a key's quota is spent it
answers 403 quotaExceeded in Google's error format. An unknown key gets 400 keyInvalid.
Faults for the next requests: `fail_next(n, status)`, `malformed_next(n)`,
`delay_next(n, seconds)`; `pause_on_page(k)` holds search page k until `release()`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

from googleapiclient.discovery_cache import get_static_doc

DISCOVERY: dict[str, Any] = json.loads(get_static_doc("youtube", "v3"))
SCHEMAS: dict[str, Any] = DISCOVERY["schemas"]
KEY = "AIzaSyFakeHarkbotTestKey-0123456789abcd"  # the shape of a real key: 39 characters
QUOTA = 10_000
COST = {"search": 100}  # every other method costs 1 unit
EMBEDDED = 5  # replies a commentThreads item carries at most
SEARCH_DESCRIPTION = 160  # search.list cuts descriptions short
QUOTA_MESSAGE = ('The request cannot be completed because you have exceeded your '
                 '<a href="/youtube/v3/getting-started#quota">quota</a>.')
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 500: "INTERNAL",
          502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _method(resource: str) -> dict[str, Any]:
    return DISCOVERY["resources"][resource]["methods"]["list"]


# path -> (resource, its list method's description), from the discovery document itself
METHODS = {_method(r)["path"]: (r, _method(r)) for r in ("search", "commentThreads", "comments", "videos", "channels")}


# ---- the corpus ------------------------------------------------------------------------------


@dataclass
class Channel:
    id: str
    title: str
    subscribers: int = 0
    views: int = 0
    hidden: bool = False  # hiddenSubscriberCount


@dataclass
class Video:
    id: str
    title: str
    description: str
    channel_id: str
    published_at: datetime
    likes: int = 0
    views: int = 0
    comments_disabled: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # "snippet.title": value, sent as given


@dataclass
class Comment:
    id: str
    video_id: str
    text: str
    author: str | None  # None: a deleted account, which YouTube shows with no name
    published_at: datetime
    likes: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # paths in the thread item, sent as given
    closed: tuple[int, str] | None = None  # (status, reason) comments.list answers for this thread


@dataclass
class Reply:
    id: str
    parent_id: str
    text: str
    author: str | None
    published_at: datetime
    likes: int = 0


@dataclass
class Request:
    """One request as the fake saw it; `params` holds each parameter's first value."""

    resource: str
    path: str
    params: dict[str, str]
    key: str | None
    status: int = 0
    page: int = 1  # which page of its listing the request asked for (from pageToken)


@dataclass
class _Fault:
    count: int
    apply: Callable[[Any], bool]  # handler -> True when the fault answered the request
    resource: str | None = None


# ---- checks against the discovery document -------------------------------------------------


def parameter_problems(method: Mapping[str, Any], params: Mapping[str, list[str]]) -> list[str]:
    """What in these query parameters the method's description does not allow."""
    declared = {**DISCOVERY["parameters"], **method.get("parameters", {})}
    problems = [f"{method['id']}: missing required parameter {name}"
                for name, p in method.get("parameters", {}).items() if p.get("required") and name not in params]
    for name, values in params.items():
        spec = declared.get(name)
        if spec is None:
            problems.append(f"{method['id']}: undeclared parameter {name}")
            continue
        if len(values) > 1 and not spec.get("repeated"):
            problems.append(f"{method['id']}: {name} given {len(values)} times")
        problems += [f"{method['id']}: {name}={v!r}: {p}" for v in values if (p := _value_problem(spec, v))]
    return problems


def _value_problem(spec: Mapping[str, Any], value: str) -> str | None:
    if "enum" in spec and value not in spec["enum"]:
        return f"not one of {spec['enum']}"
    if spec.get("type") == "integer":
        if not re.fullmatch(r"-?\d+", value):
            return "not an integer"
        if "minimum" in spec and int(value) < int(spec["minimum"]):
            return f"below {spec['minimum']}"
        if "maximum" in spec and int(value) > int(spec["maximum"]):
            return f"above {spec['maximum']}"
    if spec.get("type") == "boolean" and value not in ("true", "false"):
        return "not a boolean"
    if spec.get("format") in ("google-datetime", "date-time") and _time(value) is None:
        return "not an RFC 3339 time"
    return None


def schema_problems(value: Any, schema: Mapping[str, Any], path: str = "$",
                    required: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """What in `value` the discovery schema does not declare, or declares otherwise.

    Follows $ref; every key must be a declared property (or fit additionalProperties);
    strings with an integer format must hold digits, date-times must parse, enums must hold,
    and a `kind` must be the schema's default. `required` names, per schema, keys that must
    be present (the discovery document marks none; pass the ones the listener reads).
    """
    name = schema.get("$ref")
    if name:
        schema = SCHEMAS[name]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        problems = [f"{path}: {name} lacks {k}" for k in (required or {}).get(name or "", ()) if k not in value]
        for k, v in value.items():
            sub = props.get(k) or extra
            if sub is None:
                problems.append(f"{path}.{k}: not declared in {name or 'the schema'}")
            else:
                problems += schema_problems(v, sub, f"{path}.{k}", required)
                if k == "kind" and "default" in sub and v != sub["default"]:
                    problems.append(f"{path}.kind: {v!r} is not {sub['default']!r}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [p for i, v in enumerate(value) for p in schema_problems(v, schema["items"], f"{path}[{i}]", required)]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        problem = _value_problem({**schema, "type": "integer"} if schema.get("format") in ("int64", "uint64")
                                 else schema, value)
        return [f"{path}: {value!r}: {problem}"] if problem else []
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and not (schema.get("format", "").startswith("uint") and value < 0)
        return [] if ok else [f"{path}: expected an integer, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]
    if kind == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number"]
    return []


def google_error(status: int, reason: str, message: str, domain: str = "global", **extra: Any) -> dict:
    """An error body in the shape Google's APIs send."""
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN"),
                      "errors": [{"message": message, "domain": domain, "reason": reason}], **extra}}


# ---- the server ---------------------------------------------------------------------------------


class FakeYouTube:
    def __init__(self, keys: Mapping[str, int] | None = None):
        self.quota = dict(keys or {KEY: QUOTA})  # key -> daily units
        self.used: dict[str, int] = {}
        self.channels: dict[str, Channel] = {}
        self.videos: dict[str, Video] = {}
        self.comments: dict[str, Comment] = {}
        self.replies: dict[str, Reply] = {}
        self.reply_order = "oldest"  # or "newest": see the module's docstring
        self.requests: list[Request] = []
        self.problems: list[str] = []  # requests or responses that break the discovery document
        self.paused = threading.Event()  # set when a paused page is reached
        self._release = threading.Event()
        self._pause: tuple[str, int] | None = None
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._ids = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeYouTube:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a delayed or paused answer must not hold up stop()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-youtube", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeYouTube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    # -- the corpus

    def add_channel(self, channel_id: str, title: str, subscribers: int = 0, views: int = 0,
                    hidden: bool = False) -> str:
        self.channels[channel_id] = Channel(channel_id, title, subscribers, views, hidden)
        return channel_id

    def add_video(self, title: str, description: str = "", channel_id: str = "UCfakeChannel000000000001",
                  channel_title: str = "Fake Channel", published_at: datetime | str = "2024-11-12T12:00:00Z",
                  likes: int = 0, views: int = 0, comments_disabled: bool = False, video_id: str | None = None,
                  overrides: Mapping[str, Any] | None = None) -> str:
        """`overrides` maps dotted paths in the video's search result and videos.list item
        ("snippet.channelTitle", "statistics.likeCount") to values sent exactly as given,
        whatever their type: how a test serves a poison post (#20)."""
        if channel_id not in self.channels:
            self.add_channel(channel_id, channel_title)
        video_id = video_id or self._new_id(11)
        self.videos[video_id] = Video(video_id, title, description, channel_id, _when(published_at), likes, views,
                                      comments_disabled, dict(overrides or {}))
        return video_id

    def add_comment(self, video_id: str, text: str, author: str | None = "@viewer",
                    published_at: datetime | str = "2024-11-12T12:00:00Z", likes: int = 0, replies: int = 0,
                    overrides: Mapping[str, Any] | None = None) -> str:
        """`overrides`: dotted paths in the commentThread item, as for add_video; `replies`:
        this many filler replies ("reply 1", ...), at the comment's time."""
        assert video_id in self.videos, f"no video {video_id}"
        comment_id = "Ugz" + self._new_id(19) + "4AaABAg"
        self.comments[comment_id] = Comment(comment_id, video_id, text, author, _when(published_at), likes,
                                            dict(overrides or {}))
        for n in range(replies):
            self.add_reply(comment_id, f"reply {n + 1}", published_at=published_at)
        return comment_id

    def add_reply(self, parent_id: str, text: str, author: str | None = "@replier",
                  published_at: datetime | str = "2024-11-12T12:00:00Z", likes: int = 0) -> str:
        assert parent_id in self.comments, f"no comment thread {parent_id}"
        reply_id = f"{parent_id}.{self._new_id(22)}"
        self.replies[reply_id] = Reply(reply_id, parent_id, text, author, _when(published_at), likes)
        return reply_id

    def delete_comment(self, comment_id: str) -> None:
        self.comments.pop(comment_id)
        self.replies = {k: r for k, r in self.replies.items() if r.parent_id != comment_id}

    def close_thread(self, comment_id: str, status: int = 403, reason: str = "forbidden") -> None:
        """comments.list answers this for the thread's replies from now on."""
        self.comments[comment_id].closed = (status, reason)

    def delete_video(self, video_id: str) -> None:
        self.videos.pop(video_id)
        for comment_id in [k for k, c in self.comments.items() if c.video_id == video_id]:
            self.delete_comment(comment_id)

    def _new_id(self, length: int) -> str:
        self._ids += 1
        digest = hashlib.sha256(f"harkbot-{self._ids}".encode()).digest()
        return base64.urlsafe_b64encode(digest).decode()[:length]

    # -- faults and inspection

    def fail_next(self, n: int = 1, status: int = 503, message: str = "Backend Error",
                  resource: str | None = None) -> None:
        """Answer the next n requests (to `resource`, if given) with this status. `{url}` in
        the message becomes the request's path and query, key and all, as some proxies do."""
        reason = "backendError" if status >= 500 else "badRequest"
        self._faults.append(_Fault(n, lambda h: h.error(status, reason, message.replace("{url}", h.path)), resource))

    def malformed_next(self, n: int = 1, resource: str | None = None) -> None:
        """Answer 200 with a JSON body cut off half way."""
        self._faults.append(_Fault(n, lambda h: h.send(200, b'{"kind": "youtube#searchListResponse", "items": [{"k'),
                                   resource))

    def delay_next(self, n: int = 1, seconds: float = 1.0, resource: str | None = None) -> None:
        """Hold the next n answers this long (then answer normally)."""
        self._faults.append(_Fault(n, lambda h: bool(time.sleep(seconds)), resource))

    def pause_on_page(self, page: int, resource: str = "search") -> None:
        """Hold the request for this page (1-based) of a listing until `release()`."""
        self._pause = (resource, page)
        self._release.clear()
        self.paused.clear()

    def release(self) -> None:
        self._pause = None
        self._release.set()

    def reset_quota(self) -> None:
        """Midnight Pacific, as far as the fake is concerned."""
        self.used.clear()

    def units_used(self, key: str = KEY) -> int:
        return self.used.get(key, 0)

    def calls(self, resource: str | None = None) -> list[Request]:
        return [r for r in self.requests if resource is None or r.resource == resource]

    # -- answers (called by the handler with the lock released)

    def answer(self, resource: str, params: Mapping[str, str]) -> tuple[int, dict]:
        return getattr(self, f"_{resource}")(params)

    def _search(self, p: Mapping[str, str]) -> tuple[int, dict]:
        if "video" not in p.get("type", "video,channel,playlist").split(","):
            return 200, self._listing("youtube#searchListResponse", [], p, 5)
        after, before = _time(p.get("publishedAfter", "")), _time(p.get("publishedBefore", ""))
        found = [v for v in self.videos.values()
                 if (after is None or v.published_at >= after) and (before is None or v.published_at < before)
                 and _matches(p.get("q", ""), f"{v.title}\n{v.description}")]
        found.sort(key=lambda v: (v.published_at, v.id), reverse=True)
        return 200, self._listing("youtube#searchListResponse", [self._search_result(v) for v in found], p, 5,
                                  regionCode="US")

    def _search_result(self, v: Video) -> dict:
        return _overridden(self._plain_search_result(v), v.overrides)

    def _plain_search_result(self, v: Video) -> dict:
        channel = self.channels[v.channel_id]
        return {
            "kind": "youtube#searchResult",
            "etag": _etag(v.id),
            "id": {"kind": "youtube#video", "videoId": v.id},
            "snippet": {
                "publishedAt": _iso(v.published_at),
                "channelId": v.channel_id,
                "title": _escape(v.title),
                "description": _escape(v.description[:SEARCH_DESCRIPTION]),
                "thumbnails": _thumbnails(v.id),
                "channelTitle": _escape(channel.title),
                "liveBroadcastContent": "none",
            },
        }

    def _videos(self, p: Mapping[str, str]) -> tuple[int, dict]:
        parts = set(p["part"].split(","))
        items = []
        for vid in _ids(p.get("id", "")):
            if (v := self.videos.get(vid)) is None:
                continue
            item: dict[str, Any] = {"kind": "youtube#video", "etag": _etag(vid), "id": vid}
            if "snippet" in parts:
                item["snippet"] = {
                    "publishedAt": _iso(v.published_at), "channelId": v.channel_id, "title": v.title,
                    "description": v.description, "thumbnails": _thumbnails(vid),
                    "channelTitle": self.channels[v.channel_id].title, "categoryId": "22",
                    "liveBroadcastContent": "none", "localized": {"title": v.title, "description": v.description},
                }
            if "statistics" in parts:
                comments = sum(1 for c in self.comments.values() if c.video_id == vid)
                item["statistics"] = {"viewCount": str(v.views), "likeCount": str(v.likes), "favoriteCount": "0",
                                      "commentCount": str(comments)}
            items.append(_overridden(item, v.overrides))
        return 200, self._listing("youtube#videoListResponse", items, p, 5, paged=False)

    def _channels(self, p: Mapping[str, str]) -> tuple[int, dict]:
        items = []
        for cid in _ids(p.get("id", "")):
            if (c := self.channels.get(cid)) is None:
                continue
            videos = sum(1 for v in self.videos.values() if v.channel_id == cid)
            stats: dict[str, Any] = {"viewCount": str(c.views), "hiddenSubscriberCount": c.hidden,
                                     "videoCount": str(videos)}
            if not c.hidden:
                stats["subscriberCount"] = str(c.subscribers)
            items.append({"kind": "youtube#channel", "etag": _etag(cid), "id": cid, "statistics": stats})
        return 200, self._listing("youtube#channelListResponse", items, p, 5, paged=False)

    def _commentThreads(self, p: Mapping[str, str]) -> tuple[int, dict]:
        filters = [k for k in ("videoId", "allThreadsRelatedToChannelId", "channelId", "id") if k in p]
        if len(filters) != 1:
            return 400, google_error(400, "missingRequiredParameter" if not filters else "incompatibleParameters",
                                     "Exactly one of videoId, allThreadsRelatedToChannelId, channelId, id is "
                                     "required.", "youtube.parameter")
        if "videoId" in p:
            video = self.videos.get(p["videoId"])
            if video is None:
                return 404, google_error(404, "videoNotFound", "The video identified by the videoId parameter "
                                         "could not be found.", "youtube.commentThread")
            if video.comments_disabled:
                return 403, google_error(403, "commentsDisabled", "The video identified by the "
                                         '<code><a href="/youtube/v3/docs/commentThreads/list#videoId">videoId</a>'
                                         "</code> parameter has disabled comments.", "youtube.commentThread")
            found = [c for c in self.comments.values() if c.video_id == video.id]
        elif "allThreadsRelatedToChannelId" in p:
            channel = p["allThreadsRelatedToChannelId"]
            if channel not in self.channels:
                return 404, google_error(404, "channelNotFound", "The channel identified by the "
                                         "allThreadsRelatedToChannelId parameter could not be found.",
                                         "youtube.commentThread")
            found = [c for c in self.comments.values() if self.videos[c.video_id].channel_id == channel]
        else:
            found = [c for c in self.comments.values() if c.id in _ids(p.get("id", ""))]
        found.sort(key=lambda c: (c.published_at, c.id), reverse=True)  # order=time; relevance too
        html_format = p.get("textFormat", "html") == "html"
        with_replies = "replies" in p["part"].split(",")
        items = [_overridden(self._thread_item(c, html_format, with_replies), c.overrides) for c in found]
        return 200, self._listing("youtube#commentThreadListResponse", items, p, 20)

    def _comments(self, p: Mapping[str, str]) -> tuple[int, dict]:
        filters = [k for k in ("parentId", "id") if k in p]
        if len(filters) != 1:
            return 400, google_error(400, "missingRequiredParameter" if not filters else "incompatibleParameters",
                                     "Exactly one of id, parentId is required.", "youtube.parameter")
        html_format = p.get("textFormat", "html") == "html"
        if p.get("pageToken") and _offset(p["pageToken"]) == 0:  # not a token this fake gave out
            return 400, google_error(400, "invalidPageToken", "The request specifies an invalid page token.",
                                     "youtube.parameter")
        if "id" in p:
            found = [r for r in self.replies.values() if r.id in _ids(p["id"])]
        else:
            thread = self.comments.get(p["parentId"])
            if thread is None:
                return 404, google_error(404, "commentNotFound", "The comment identified by the parentId "
                                         "parameter could not be found.", "youtube.comment")
            if thread.closed:
                status, reason = thread.closed
                return status, google_error(status, reason, "The comment could not be retrieved.", "youtube.comment")
            if self.videos[thread.video_id].comments_disabled:
                return 403, google_error(403, "commentsDisabled", "The video has disabled comments.",
                                         "youtube.comment")
            found = self._replies_to(thread.id)
        items = [self._reply_item(r, html_format) for r in found]
        return 200, self._listing("youtube#commentListResponse", items, p, 20)

    def _replies_to(self, thread_id: str) -> list[Reply]:
        found = sorted((r for r in self.replies.values() if r.parent_id == thread_id),
                       key=lambda r: (r.published_at, r.id))
        return found[::-1] if self.reply_order == "newest" else found

    def _thread_item(self, c: Comment, html_format: bool, with_replies: bool = False) -> dict:
        video = self.videos[c.video_id]
        comment = self._comment(c.id, video, c.text, c.author, c.likes, c.published_at, html_format)
        replies = self._replies_to(c.id)
        item = {
            "kind": "youtube#commentThread",
            "etag": _etag(c.id),
            "id": c.id,
            "snippet": {"channelId": video.channel_id, "videoId": c.video_id, "topLevelComment": comment,
                        "canReply": True, "totalReplyCount": len(replies), "isPublic": True},
        }
        if with_replies and replies:
            item["replies"] = {"comments": [self._reply_item(r, html_format) for r in replies[:EMBEDDED]]}
        return item

    def _reply_item(self, r: Reply, html_format: bool) -> dict:
        video = self.videos[self.comments[r.parent_id].video_id]
        return self._comment(r.id, video, r.text, r.author, r.likes, r.published_at, html_format, r.parent_id)

    def _comment(self, comment_id: str, video: Video, text: str, author: str | None, likes: int,
                 published_at: datetime, html_format: bool, parent_id: str | None = None) -> dict:
        # YouTube escapes textDisplay even as plainText; as html it also turns newlines into <br>.
        shown = _escape(text).replace("\n", "<br>") if html_format else _escape(text)
        snippet: dict[str, Any] = {"channelId": video.channel_id, "videoId": video.id, "textDisplay": shown,
                                   "canRate": True, "viewerRating": "none", "likeCount": likes,
                                   "publishedAt": _iso(published_at), "updatedAt": _iso(published_at)}
        if parent_id:
            snippet["parentId"] = parent_id
        if author is not None:
            author_channel = "UC" + hashlib.sha256(author.encode("utf-8", "surrogatepass")).hexdigest()[:22]
            snippet.update(authorDisplayName=author, authorChannelId={"value": author_channel},
                           authorChannelUrl=f"http://www.youtube.com/{author}",
                           authorProfileImageUrl=f"https://yt3.ggpht.com/{author_channel}=s48-c-k-c0x00ffffff-no-rj")
        return {"kind": "youtube#comment", "etag": _etag(comment_id + "c"), "id": comment_id, "snippet": snippet}

    def _listing(self, kind: str, items: list[dict], p: Mapping[str, str], default_size: int,
                 paged: bool = True, **extra: Any) -> dict:
        size = int(p.get("maxResults", default_size)) or default_size
        start = _offset(p.get("pageToken")) if paged else 0
        page = items[start:start + size] if paged else items
        body: dict[str, Any] = {"kind": kind, "etag": _etag(json.dumps(page)), **extra}
        if paged and start + size < len(items):
            body["nextPageToken"] = _token(start + size)
        if paged and start > 0 and "prevPageToken" in _schema_of(kind)["properties"]:
            body["prevPageToken"] = _token(max(0, start - size))
        body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": size if paged else len(page)}
        body["items"] = page
        return body


class _Handler(BaseHTTPRequestHandler):
    fake: FakeYouTube
    protocol_version = "HTTP/1.1"  # keep-alive, as Google serves it: connections get reused
    disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms each

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, or a killed process)
        except Exception as exc:  # a bug in the fake: say so in `problems`, answer 500
            self.fake.problems.append(f"the fake failed: {exc!r}")
            self.error(500, "backendError", "the fake failed")

    def _serve(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        path = url.path.lstrip("/")
        params = parse_qs(url.query, keep_blank_values=True)
        first = {k: v[0] for k, v in params.items()}
        resource, method = METHODS.get(path, ("", None))
        self.request_record = Request(resource, path, first, first.get("key"), page=self._page(resource, first))
        with fake._lock:
            fake.requests.append(self.request_record)
        if method is None:
            fake.problems.append(f"GET /{path}: no such method in the discovery document")
            return self.error(404, "notFound", f"Not Found: /{path}")
        if self._fault(resource):
            return
        problems = parameter_problems(method, params)
        if problems:
            fake.problems.extend(problems)
            return self.error(400, "invalidParameter", "; ".join(problems), "youtube.parameter")
        key = first.get("key")
        if not key:
            return self.error(403, "forbidden", "The request is missing a valid API key.")
        if key not in fake.quota:
            return self.error(400, "keyInvalid", "API key not valid. Please pass a valid API key.", "usageLimits",
                              details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                        "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])
        cost = COST.get(resource, 1)
        with fake._lock:
            if fake.used.get(key, 0) + cost > fake.quota[key]:
                return self.error(403, "quotaExceeded", QUOTA_MESSAGE, "youtube.quota")
            fake.used[key] = fake.used.get(key, 0) + cost
        if fake._pause == (resource, self.request_record.page):
            fake.paused.set()
            fake._release.wait(30)
        status, body = fake.answer(resource, first)
        if status == 200:
            problems = schema_problems(body, method["response"])
            fake.problems.extend(f"{resource}.list response: {p}" for p in problems)
        self.send_json(status, body)

    def _page(self, resource: str, params: Mapping[str, str]) -> int:
        default = 20 if resource in ("commentThreads", "comments") else 5
        size = int(params["maxResults"]) if params.get("maxResults", "").isdigit() else default
        return _offset(params.get("pageToken")) // max(size, 1) + 1

    def _fault(self, resource: str) -> bool:
        """Apply the first pending fault for this resource; True when it answered."""
        with self.fake._lock:
            fault = next((f for f in self.fake._faults if f.resource in (None, resource)), None)
            if fault is None:
                return False
            fault.count -= 1
            if fault.count <= 0:
                self.fake._faults.remove(fault)
        return fault.apply(self)

    def error(self, status: int, reason: str, message: str, domain: str = "global", **extra: Any) -> bool:
        self.send_json(status, google_error(status, reason, message, domain, **extra))
        return True

    def send_json(self, status: int, body: Any) -> None:
        try:
            data = json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: valid JSON only as an escape (\ud800)
            data = json.dumps(body).encode()
        self.send(status, data)

    def send(self, status: int, data: bytes) -> bool:
        self.request_record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True


# ---- helpers -------------------------------------------------------------------------------------


def _overridden(item: dict, overrides: Mapping[str, Any]) -> dict:
    """`item` with each dotted path set to its override (the parents made mappings as needed)."""
    for path, value in overrides.items():
        *parents, last = path.split(".")
        node = item
        for name in parents:
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]
        node[last] = value
    return item


def _schema_of(kind: str) -> dict[str, Any]:
    """The schema whose `kind` defaults to this one (commentThreads lists have no prevPageToken)."""
    return next(s for s in SCHEMAS.values() if s.get("properties", {}).get("kind", {}).get("default") == kind)


def _when(value: datetime | str) -> datetime:
    t = _time(value) if isinstance(value, str) else value
    assert t is not None, f"unreadable time {value!r}"
    return t.astimezone(timezone.utc).replace(microsecond=0)


def _time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else None  # RFC 3339 requires the offset


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(text: str) -> str:
    """YouTube's escaping: &#39; for ', not Python's &#x27;."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _ids(value: str) -> list[str]:
    return [i for i in value.split(",") if i]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")[1])
    except (ValueError, IndexError):
        return 0


def _etag(seed: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(seed.encode()).digest()).decode()[:27]


def _thumbnails(video_id: str) -> dict:
    sizes = {"default": (120, 90), "medium": (320, 180), "high": (480, 360)}
    return {name: {"url": f"https://i.ytimg.com/vi/{video_id}/{name}.jpg", "width": w, "height": h}
            for name, (w, h) in sizes.items()}


_TERM = re.compile(r'-?"[^"]*"|\S+')


def _matches(q: str, text: str) -> bool:
    """The simple term check described at the top: any positive term, no negative one."""
    text = text.lower()
    positive, negative = [], []
    for token in _TERM.findall(q.lower()):
        target = negative if token.startswith("-") else positive
        target += [t.strip('"') for t in token.lstrip("-").split("|") if t.strip('"')]
    if any(t in text for t in negative):
        return False
    return not positive or any(t in text for t in positive)
