"""RSS and Atom news feeds, fetched with requests and read by feedparser. No credentials.

Any list of feed URLs: a publisher's own feed, a press-release wire, or a news search. The
example people start from is Google News search RSS for a brand query:

    listeners:
      rss:
        feeds:
          - https://news.google.com/rss/search?q=%22Mindful+Health%22+when:1d&hl=en-US&gl=US&ceid=US:en
          - https://www.example-health-news.com/feed/

(`q` is Google News search syntax, URL-encoded: "quotes" for a phrase, OR, -word; `when:1d`
keeps a search to the last day; hl/gl/ceid pick the edition.) Each entry is kept only when it
matches a brand's query, the same match every listener's mentions pass: a publisher's whole
feed can be listened to, and only what names a brand is stored.

One walk reads each feed once, in the configured order:
  - a conditional GET: the feed's last ETag (If-None-Match) and Last-Modified
    (If-Modified-Since) go with it, so an unchanged feed answers 304 and costs one small
    answer; redirects are followed (a permanent one is logged once: update the URL);
  - the bytes go to feedparser, which never does HTTP here;
  - an entry whose id the feed already gave (a hash of it is kept, `max_seen` per feed) is
    skipped, so a publisher re-dating or re-publishing an entry does not make it new again.
A feed that fails (429, 5xx, timeout, not a feed) rests on its own (Retry-After, or doubling
from a minute to an hour; a 404 an hour) while the others carry on; the walk then ends with
an error naming each failed feed, so `harkbot status` shows it.

What a feed entry becomes, and what the cursor keeps, is listeners/rss_entries.py.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import requests
import urllib3
from pydantic import Field, field_validator

from bot.durations import Duration
from bot.errors import ListenerError
from bot.models import Batch, Brand, Mention, utc
from bot.query import Target
from listeners.base import (ListenerOptions, QuotaPlan, Timeout, Transport, cursor_part, guarded, header,
                            options_of)
from listeners.rss_entries import FeedState, clipped, entry_mention, entry_payload, remembered, seen_hash
from listeners.rss_errors import feed_rest, is_timeout, shown, status_error, timed_out, walk_error

log = logging.getLogger(__name__)

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1")
MAX_REDIRECTS = 5
PERMANENT = frozenset({301, 308})



class RSSListener:
    name: ClassVar[str] = "rss"

    class Options(ListenerOptions):
        """RSS 2.0 and Atom feeds; see the module docstring for a Google News search feed."""

        feeds: list[str] = Field(
            min_length=1,
            description="Feed URLs (http or https), read in this order each walk. Google News "
            "search for a brand: https://news.google.com/rss/search?q=%22Mindful+Health%22"
            "&hl=en-US&gl=US&ceid=US:en",
        )
        every: Duration = Field(
            timedelta(minutes=15),
            description="How often to read every feed. News feeds change every few minutes at "
            "most; an unchanged feed costs one 304",
        )
        timeout: Timeout = Field(
            timedelta(seconds=20),
            description="How long each feed may take to answer in full (20s; a bare number is seconds)",
        )
        user_agent: str = Field(
            "harkbot/0.1 (news listening; RSS/Atom reader)",
            description="Sent with every request; some publishers refuse a blank or a library's default",
        )
        max_age: Duration = Field(
            timedelta(days=7),
            description="Entries published longer ago are skipped: a new feed's archive is not news",
        )
        max_entry_chars: int = Field(
            10_000, ge=200, le=40_000,
            description="Longest entry text kept, in characters once HTML is stripped; a longer "
            "one is cut at a word and marked with an ellipsis",
        )
        max_feed_bytes: int = Field(
            10_000_000, ge=10_000, le=100_000_000,
            description="Largest feed document read; a larger one is an error for that feed",
        )
        max_seen: int = Field(
            1_000, ge=50, le=20_000,
            description="Entry ids remembered per feed, newest first (every entry the feed still "
            "holds is always remembered); an entry forgotten and published again is stored once, "
            "as harkbot dedupes by id",
        )

        @field_validator("feeds")
        @classmethod
        def _web_urls(cls, value: list[str]) -> list[str]:
            urls = [v.strip() for v in value]
            for i, url in enumerate(urls):
                parts = urlsplit(url)
                if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                    raise ValueError(f"feeds[{i}]: {url!r} is not an http(s) URL; write the full address, "
                                     "https://...")
            return list(dict.fromkeys(urls))  # a feed listed twice is read once

    def __init__(self, options: RSSListener.Options, session: requests.Session, transport: Transport):
        self.options = options
        self.session = session
        self._transport = transport  # sets our timeout, rebases onto base_url, counts requests
        self._moved_noted: set[str] = set()  # feeds whose permanent redirect was logged

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> RSSListener:
        options = options_of(cls, options)
        transport = _FeedTransport(options.timeout.total_seconds(), options.base_url)
        session = requests.Session()
        session.mount("http://", transport)
        session.mount("https://", transport)
        session.max_redirects = MAX_REDIRECTS
        session.headers.update({"User-Agent": options.user_agent, "Accept": ACCEPT})
        return cls(options, session, transport)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """One request per feed and run (a redirect adds one); feeds set no shared budget."""
        options = options_of(cls, options)
        runs = timedelta(days=1) / options.every
        return QuotaPlan(listener=cls.name, used=len(options.feeds) * runs, budget=None, unit="requests",
                         detail=f"{len(options.feeds)} feeds x {runs:,.0f} runs (an unchanged feed: a 304)")

    # -- the walk ----------------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        before = cursor_part(cursor, "feeds", self.name)
        # Feeds no longer configured drop out of the cursor; new ones start with no state.
        states = {url: FeedState.of(before.get(url)) for url in self.options.feeds}
        walk = _Walk(feeds=len(states), sent_before=self._transport.sent)
        failed: list[ListenerError] = []
        for url in self.options.feeds:
            state = states[url]
            if state.retry_at is not None and now < state.retry_at:
                walk.resting += 1
                continue
            try:
                mentions = self._read(url, state, brands, now, walk)
            except ListenerError as exc:
                failed.append(exc)
                state.failures += 1
                state.retry_at = now + feed_rest(exc, state.failures)
                walk.failed += 1
                continue
            state.failures, state.retry_at = 0, None
            if mentions:
                yield Batch(tuple(mentions))
        # Only now, with every feed's entries stored, may the cursor move past them.
        yield Batch((), cursor=_dump(states))
        walk.sent = self._transport.sent - walk.sent_before
        log.info("rss: %s", walk)
        if failed:
            # A feed that answered 304 worked too: the listener as a whole need not rest.
            raise walk_error(failed, delivered=walk.read + walk.unchanged > 0)

    def _read(self, url: str, state: FeedState, brands: Sequence[Brand], now: datetime,
              walk: _Walk) -> list[Mention]:
        answer = self._get(url, state, now)
        if answer is None:
            walk.unchanged += 1
            return []
        parsed = _parse(url, answer)
        walk.read += 1
        fetched_at = utc(now)
        oldest = fetched_at - self.options.max_age
        out: list[Mention] = []
        current: list[str] = []
        seen = set(state.seen)
        for entry in parsed.entries:
            payload = entry_payload(entry, parsed.feed, url, fetched_at)
            mark = seen_hash(payload["id"])
            current.append(mark)
            walk.entries += 1
            if mark in seen:
                continue
            walk.new += 1
            seen.add(mark)  # a feed listing one entry twice yields it once
            mention = _TO_MENTION(payload)
            if mention is None:
                walk.unreadable += 1
            elif mention.created_at < oldest:
                walk.old += 1
            elif not _matches(mention, brands):
                walk.unmatched += 1
            elif mention.id not in walk.emitted:  # two feeds may carry one entry
                walk.emitted.add(mention.id)
                kept = clipped(mention, self.options.max_entry_chars)
                walk.truncated += int(kept is not mention)
                out.append(kept)
        walk.kept += len(out)
        state.seen = remembered(current, state.seen, self.options.max_seen)
        state.etag = answer.etag or None
        state.modified = answer.modified or None
        return out

    def _get(self, url: str, state: FeedState, now: datetime) -> _Answer | None:
        """The feed's bytes, or None when it has not changed since the last read (304)."""
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        deadline = time.monotonic() + self.options.timeout.total_seconds()
        try:
            with self.session.get(url, headers=headers, stream=True, allow_redirects=True) as response:
                self._note_moves(url, response)
                if response.status_code == 304:
                    return None
                if not 200 <= response.status_code < 300:
                    raise status_error(url, response, now)
                body = self._body(url, response, deadline)
                # Relative links resolve against where the feed was found; through base_url
                # (a fake, a proxy) that is the configured URL, not the proxy's.
                where = url if self.options.base_url else response.url or url
                return _Answer(body, where, response.headers,
                               header(response.headers, "etag"), header(response.headers, "last-modified"))
        except (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError):
            raise timed_out(url, self.options.timeout) from None
        except urllib3.exceptions.HTTPError as exc:  # the body, read below requests
            raise ListenerError(f"rss: the answer from {shown(url)} broke off or could not be decoded "
                                f"({type(exc).__name__}); will retry") from None
        except requests.exceptions.TooManyRedirects:
            raise ListenerError(f"rss: {shown(url)} redirects more than {MAX_REDIRECTS} times (a loop?); "
                                "check the URL in listeners.rss.feeds", retryable=False) from None
        except requests.exceptions.ConnectionError as exc:
            if is_timeout(exc):  # a read that stalls mid-body arrives as a ConnectionError
                raise timed_out(url, self.options.timeout) from None
            raise ListenerError(f"rss: could not reach {shown(url)} ({type(exc).__name__}); will retry") from None
        except requests.exceptions.RequestException as exc:
            # from None: the exception holds the full request URL, secrets and all.
            raise ListenerError(f"rss: {shown(url)} could not be requested ({type(exc).__name__}); check "
                                "the URL in listeners.rss.feeds", retryable=False) from None

    def _body(self, url: str, response: requests.Response, deadline: float) -> bytes:
        """The whole body (decompressed), within `max_feed_bytes` and the timeout overall.

        requests' own timeout is per socket read, so a server that drips a byte a second never
        trips it; read1 returns what each read brought (iter_content would wait for 64 KB), so
        the deadline is checked as the bytes come. The size counts decompressed bytes: a small
        gzip bomb stops at the limit too.
        """
        limit = self.options.max_feed_bytes
        chunks: list[bytes] = []
        size = 0
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > limit:
                raise ListenerError(f"rss: {shown(url)} is larger than max_feed_bytes ({limit:,} bytes); raise "
                                    "listeners.rss.max_feed_bytes if the feed is really that large", retryable=False)
            if time.monotonic() > deadline:
                raise timed_out(url, self.options.timeout)
            chunks.append(chunk)
        return b"".join(chunks)

    def _note_moves(self, url: str, response: requests.Response) -> None:
        moved = [r for r in response.history if r.status_code in PERMANENT]
        if moved and url not in self._moved_noted:
            self._moved_noted.add(url)
            # Where the publisher said, not where base_url (a fake, a proxy) sent us.
            target = urljoin(url, header(moved[-1].headers, "location") or "")
            log.warning("rss: %s has moved permanently (%d) to %s; put the new URL in listeners.rss.feeds",
                        shown(url), moved[-1].status_code, shown(target))

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        return entry_mention(payload)


_TO_MENTION = guarded("rss", RSSListener.to_mention)


class _FeedTransport(Transport):
    """Feeds live on any host, so with base_url (a caching proxy, a local fake) every request,
    redirects included, keeps its path and query and goes to base_url's origin."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.base_url:
            request.url = onto(request.url or "", self.base_url)
        return super().send(request, **kwargs)


def onto(url: str, base_url: str) -> str:
    """`url` with its scheme and host (and port) replaced by base_url's, base_url's path before its own."""
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))


@dataclass(frozen=True)
class _Answer:
    body: bytes
    url: str  # after redirects: relative links in the feed resolve against it
    headers: Mapping[str, str]
    etag: str | None
    modified: str | None


def _parse(url: str, answer: _Answer) -> Any:
    headers = {"content-location": answer.url}
    for name in ("content-type", "content-language"):
        value = header(answer.headers, name)
        if value:
            headers[name] = value  # the charset and language as HTTP gave them (RFC 7303)
    # A BytesIO, never the bytes: feedparser reads a str or bytes that names a file as the file.
    parsed = feedparser.parse(io.BytesIO(answer.body), response_headers=headers)
    # An empty body, or XML that is no feed (feedparser knows no version for it), is as
    # unreadable as broken XML: a feed with no entries yet is still a feed with a version.
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        problem = parsed.get("bozo_exception")
        why = (str(problem).splitlines() or [""])[0][:200] if problem else "no RSS or Atom in it"
        kind = header(answer.headers, "content-type") or "no content type"
        raise ListenerError(f"rss: {shown(url)} is not a readable RSS or Atom feed ({why}; {kind}); check "
                            "the URL, or the publisher may be serving an error or consent page; will retry")
    return parsed


def _matches(mention: Mention, brands: Sequence[Brand]) -> bool:
    target = Target.of(mention)  # once per entry, for every brand: its words, author and links
    return any(b.matches_target(target) for b in brands)


def _dump(states: Mapping[str, FeedState]) -> str:
    return json.dumps({"feeds": {url: s.to_json() for url, s in states.items()}}, separators=(",", ":"))


@dataclass
class _Walk:
    """What one walk did, for its log line."""

    feeds: int
    sent_before: int
    sent: int = 0
    read: int = 0
    unchanged: int = 0
    resting: int = 0
    failed: int = 0
    entries: int = 0
    new: int = 0
    kept: int = 0
    old: int = 0
    unmatched: int = 0
    unreadable: int = 0
    truncated: int = 0
    emitted: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        text = (f"{self.feeds} feeds: {self.read} read, {self.unchanged} unchanged, {self.resting} resting, "
                f"{self.failed} failed; {self.entries} entries, {self.new} new, {self.kept} kept")
        skipped = [f"{n} {what}" for n, what in ((self.old, "older than max_age"),
                                                 (self.unmatched, "matching no brand"),
                                                 (self.unreadable, "unreadable")) if n]
        if skipped:
            text += f" ({', '.join(skipped)} skipped)"
        if self.truncated:
            text += f", {self.truncated} cut to max_entry_chars"
        return f"{text}; {self.sent} requests"

