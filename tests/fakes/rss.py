"""Fake news feeds on 127.0.0.1: RSS 2.0 and Atom XML over real HTTP, for the real requests
and feedparser.

    with FakeFeeds() as feeds:
        news = feeds.add_feed("/rss/search?q=mindful", title='"mindful" - Google News')
        news.add_entry("Mindful Health raises $20M", "<p>The app ...</p>", source="Reuters")
        options = RSSListener.Options(feeds=["https://news.google.com/rss/search?q=mindful"],
                                      base_url=feeds.url)

A feed is served at its path (with its query string, as configured). Its answer carries an
ETag (a hash of the document) and a Last-Modified (the time of its newest change), and it
honours conditional requests as RFC 9110 says: If-None-Match (a list, `*`, weak or strong
tags) decides alone when sent; If-Modified-Since only without it. Either matching: a 304
with no body. `etag=False` or `last_modified=False` on a feed leaves that validator out.

Faults, per path, for the next requests in the order injected: `redirect` (301, 302, 307,
308; permanent or for `n` requests), `fail_next` (any status, with Retry-After if given),
`delay_next` (the headers come late: a timeout), `drip` (the headers at once, then the body
a few bytes at a time), `serve_raw` (any bytes and content type: malformed XML, HTML). A
path with no feed is a 404. `requests` records every request as received.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.server import LocalServer

UTC = timezone.utc
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    status: int = 0


@dataclass
class Entry:
    id: str | None
    title: str
    body: str
    link: str | None
    published: datetime | None
    updated: datetime | None
    source: str | None
    source_url: str | None
    author: str | None
    body_type: str  # "html", "text" or "xhtml" (Atom); RSS descriptions are always HTML
    content: str | None  # RSS content:encoded / a second, fuller Atom body


@dataclass
class Feed:
    path: str
    kind: str  # "rss" or "atom"
    title: str
    link: str
    language: str | None
    etag: bool = True
    last_modified: bool = True
    entries: list[Entry] = field(default_factory=list)
    changed: datetime = START
    _ids: int = 0

    def add_entry(self, title: str, body: str = "", *, id: str | None = "", link: str | None = "",
                  published: datetime | None = None, updated: datetime | None = None,
                  source: str | None = None, source_url: str | None = None, author: str | None = None,
                  body_type: str = "html", content: str | None = None, first: bool = True) -> Entry:
        """A new entry, newest first by default (as feeds list them). `id=""` and `link=""`
        make a guid and a link; None leaves them out."""
        self._ids += 1
        n = self._ids
        entry = Entry(
            id=self._default_id(n) if id == "" else id,
            title=title, body=body,
            link=f"https://publisher.example/articles/{n}" if link == "" else link,
            published=published if published is not None else START + timedelta(minutes=n),
            updated=updated, source=source, source_url=source_url, author=author,
            body_type=body_type, content=content,
        )
        self.entries.insert(0 if first else len(self.entries), entry)
        self.touch(max(self.changed, entry.published or START))
        return entry

    def _default_id(self, n: int) -> str:
        # RSS guids are often bare ("123"); an Atom id must be an absolute IRI (RFC 4287).
        slug = self.path.strip("/").replace("/", "-") or "feed"
        return f"{slug}-{n}" if self.kind == "rss" else f"tag:publisher.example,2026:{slug}-{n}"

    def remove(self, entry: Entry) -> None:
        self.entries.remove(entry)
        self.touch(self.changed + timedelta(seconds=1))

    def touch(self, when: datetime) -> None:
        self.changed = when

    def document(self) -> bytes:
        return (_rss(self) if self.kind == "rss" else _atom(self)).encode("utf-8")


@dataclass
class _Fault:
    kind: str  # "status", "redirect", "delay", "drip", "raw"
    count: int  # requests it applies to; -1: every one
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    to: str = ""
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = ""


class FakeFeeds(LocalServer):
    def __init__(self, gzip_answers: bool = False):
        self.feeds: dict[str, Feed] = {}
        self.requests: list[Request] = []
        self.problems: list[str] = []  # the fake's own failures: a test should see none
        self.gzip_answers = gzip_answers  # gzip the body when the request accepts it
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()

    thread_name = "fake-feeds"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # -- feeds and faults

    def add_feed(self, path: str, kind: str = "rss", title: str = "Health News Daily",
                 link: str = "https://publisher.example/", language: str | None = "en-us",
                 etag: bool = True, last_modified: bool = True) -> Feed:
        feed = Feed(path, kind, title, link, language, etag, last_modified)
        self.feeds[path] = feed
        return feed

    def _add(self, path: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(path, []).append(fault)

    def redirect(self, path: str, to: str, status: int = 301, n: int = -1) -> None:
        """Send requests for `path` to `to` (a path here, or an absolute URL)."""
        self._add(path, _Fault("redirect", n, status=status, to=to))

    def fail_next(self, path: str, status: int = 500, n: int = 1, retry_after: str | None = None,
                  body: bytes = b"<html><body>error</body></html>") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._add(path, _Fault("status", n, status=status, headers=headers, body=body))

    def delay_next(self, path: str, seconds: float, n: int = 1) -> None:
        self._add(path, _Fault("delay", n, seconds=seconds))

    def drip(self, path: str, seconds_per_chunk: float, n: int = 1) -> None:
        self._add(path, _Fault("drip", n, seconds=seconds_per_chunk))

    def serve_raw(self, path: str, body: bytes, content_type: str = "application/rss+xml",
                  n: int = -1) -> None:
        self._add(path, _Fault("raw", n, body=body, content_type=content_type))

    def clear_faults(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def calls(self, path: str | None = None) -> list[Request]:
        return [r for r in self.requests if path is None or r.path == path]

    def _take(self, path: str, kinds: tuple[str, ...]) -> _Fault | None:
        with self._lock:
            for fault in self._faults.get(path, []):
                if fault.kind in kinds:
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults[path].remove(fault)
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeFeeds
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout)
        except Exception as exc:  # a bug in the fake: say so in `problems`, answer 500
            self.fake.problems.append(f"the fake failed: {exc!r}")
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _serve(self) -> None:
        fake = self.fake
        path = self.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        index = len(fake.requests)
        with fake._lock:
            fake.requests.append(Request(path, headers))
        drip = 0.0
        fault = fake._take(path, ("status", "redirect", "delay", "drip", "raw"))
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = fake._take(path, ("status", "redirect", "raw"))
        elif fault is not None and fault.kind == "drip":
            drip = fault.seconds
            fault = fake._take(path, ("status", "redirect", "raw"))
        if fault is not None and fault.kind == "redirect":
            return self._send(index, fault.status, b"", {"Location": fault.to})
        if fault is not None and fault.kind == "status":
            return self._send(index, fault.status, fault.body, {"Content-Type": "text/html", **fault.headers})
        if fault is not None and fault.kind == "raw":
            return self._send(index, 200, fault.body, {"Content-Type": fault.content_type}, drip)
        feed = fake.feeds.get(path)
        if feed is None:
            return self._send(index, 404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
        body = feed.document()
        validators = {}
        if feed.etag:
            validators["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if feed.last_modified:
            validators["Last-Modified"] = format_datetime(feed.changed.replace(microsecond=0), usegmt=True)
        if _not_modified(headers, validators):
            return self._send(index, 304, b"", validators)
        kind = "application/rss+xml" if feed.kind == "rss" else "application/atom+xml"
        self._send(index, 200, body, {"Content-Type": f"{kind}; charset=utf-8", **validators}, drip)

    def _send(self, index: int, status: int, body: bytes, headers: dict[str, str], drip: float = 0.0) -> None:
        fake = self.fake
        with fake._lock:
            fake.requests[index] = Request(fake.requests[index].path, fake.requests[index].headers, status)
        if fake.gzip_answers and body and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers = {**headers, "Content-Encoding": "gzip"}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not drip:
            self.wfile.write(body)
            return
        for start in range(0, len(body), 16):
            self.wfile.write(body[start:start + 16])
            self.wfile.flush()
            time.sleep(drip)


def _not_modified(headers: dict[str, str], validators: dict[str, str]) -> bool:
    """RFC 9110 13.1: If-None-Match (weak comparison) decides when sent; else If-Modified-Since."""
    sent_tags = headers.get("if-none-match")
    if sent_tags is not None:
        tag = validators.get("ETag")
        if tag is None:
            return False
        tags = [t.strip().removeprefix("W/") for t in sent_tags.split(",")]
        return "*" in tags or tag.removeprefix("W/") in tags
    since, modified = headers.get("if-modified-since"), validators.get("Last-Modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


# ---- the documents -----------------------------------------------------------------------------


def _rss(feed: Feed) -> str:
    items = []
    for e in feed.entries:
        parts = [f"<title>{escape(e.title)}</title>"]
        if e.link is not None:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.id is not None:
            permalink = "true" if e.id.startswith("http") else "false"
            parts.append(f"<guid isPermaLink=\"{permalink}\">{escape(e.id)}</guid>")
        if e.published is not None:
            parts.append(f"<pubDate>{_rfc822(e.published)}</pubDate>")
        if e.body:
            parts.append(f"<description>{escape(e.body)}</description>")  # HTML, entity-escaped
        if e.content is not None:
            parts.append(f"<content:encoded><![CDATA[{e.content}]]></content:encoded>")
        if e.source is not None:
            url = quoteattr(e.source_url or "https://source.example/")
            parts.append(f"<source url={url}>{escape(e.source)}</source>")
        if e.author is not None:
            parts.append(f"<dc:creator>{escape(e.author)}</dc:creator>")
        items.append("<item>" + "".join(parts) + "</item>")
    language = f"<language>{escape(feed.language)}</language>" if feed.language else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{escape(feed.title)}</title><link>{escape(feed.link)}</link>"
            f"<description>{escape(feed.title)}</description>{language}"
            f"<lastBuildDate>{_rfc822(feed.changed)}</lastBuildDate>"
            + "".join(items) + "</channel></rss>")


def _atom(feed: Feed) -> str:
    entries = []
    for e in feed.entries:
        parts = [f"<title type=\"text\">{escape(e.title)}</title>"]
        if e.id is not None:
            parts.append(f"<id>{escape(e.id)}</id>")
        if e.link is not None:
            parts.append(f"<link rel=\"alternate\" href={quoteattr(e.link)}/>")
        if e.published is not None:
            parts.append(f"<published>{_atom_time(e.published)}</published>")
        parts.append(f"<updated>{_atom_time(e.updated or e.published or feed.changed)}</updated>")
        if e.author is not None:
            parts.append(f"<author><name>{escape(e.author)}</name></author>")
        if e.body:
            if e.body_type == "xhtml":
                parts.append(f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{e.body}</div></content>')
            else:
                parts.append(f'<summary type="{e.body_type}">{escape(e.body)}</summary>')
        if e.content is not None:
            parts.append(f'<content type="html">{escape(e.content)}</content>')
        entries.append("<entry>" + "".join(parts) + "</entry>")
    language = f' xml:lang="{feed.language}"' if feed.language else ""
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom"{language}>'
            f"<title>{escape(feed.title)}</title><id>urn:fake:{escape(feed.path)}</id>"
            f"<link rel=\"alternate\" href={quoteattr(feed.link)}/>"
            f"<updated>{_atom_time(feed.changed)}</updated>"
            + "".join(entries) + "</feed>")


def _rfc822(when: datetime) -> str:
    # In the time's own zone ("+0200"), as publishers write it; UTC as "GMT".
    return format_datetime(when, usegmt=when.utcoffset() == timedelta(0))


def _atom_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
