"""Bluesky through the atproto SDK: app.bsky.feed.searchPosts, logged in with an app password.

One walk (one `fetch`) sends, for each distinct search the brands need (one per OR branch of a
brand query: Bluesky's search ANDs its words, knows "exact phrases" and has no OR),

    GET /xrpc/app.bsky.feed.searchPosts?q=...&sort=latest&since=...&limit=...&cursor=...

newest first, down to what the previous walk read, at most `max_pages` pages a search. The
search filters `since` on a post's sortAt, the earlier of its createdAt and when the AppView
indexed it, so that is the time the cursor keeps (listeners/search_cursor.py's marks, in
milliseconds): per search, the newest sortAt read, the AT-URIs read within `search_overlap` of
it (the next walk asks from there, for posts indexed late, and skips those: ties at the
boundary are neither lost nor sent twice), and the range a walk cut short left unread, which
the next walks read (`until`) with the pages the new posts leave over. Every post is matched
against the whole brand query again: the search also finds words in alt text and link cards,
and a prefix* is searched as its stem.

The session is one per process (listeners/bluesky_session.py): a log-in on the first walk,
refreshed by the SDK, never a log-in per walk (createSession: 30 per 5 minutes, 300 a day).

Limits: a Bluesky-hosted account's requests go through its PDS, which allows 3,000 requests per
5 minutes per IP across every endpoint (864,000 a day). The answers carry ratelimit-limit,
-remaining, -reset (unix seconds) and -policy; a 429 rests until the reset.

The post is read from the raw JSON, not the SDK's models: the models are strict, and one odd
post (a count sent as a string) would fail the whole page, every walk, until it aged out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Mapping, Sequence

from pydantic import Field, field_validator

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention
from bot.query import Target
from listeners.base import (Budget, ListenerOptions, QuotaPlan, SecretFilter, Seen, Timeout, credentials,
                            guarded, mapping, options_of, parse_time, text_or_none, to_int)
from listeners import search_cursor
from listeners.bluesky_query import searches
from listeners.search_cursor import Mark, Reading, Span

if TYPE_CHECKING:
    from listeners.bluesky_session import Session

# The SDK (and its 1 s of imports) is loaded only once a listener with credentials starts
# (listeners/bluesky_session.py): `harkbot check` and every other command start without it.
REDACT = SecretFilter("httpx", "httpcore", "atproto_client", "atproto")


class SessionError(ListenerError):
    """The account cannot log in, or its session is refused: no further request this walk."""


log = logging.getLogger(__name__)

PLATFORM = "bluesky"
SERVICE = "https://bsky.social"
SEARCH = "app.bsky.feed.searchPosts"
PAGE = 100  # the largest page searchPosts answers
REQUESTS_PER_WINDOW = 3000  # per IP on Bluesky's PDSes, every endpoint together
WINDOW = timedelta(minutes=5)
NO_UNAUTHENTICATED = "!no-unauthenticated"  # the author asked apps not to show them to logged-out people
_AT_URI = re.compile(r"at://(did:[a-z]+:[A-Za-z0-9._:%-]{1,2048}|[A-Za-z0-9.-]{1,253})/app\.bsky\.feed\.post/"
                     r"([A-Za-z0-9._:~-]{1,512})")


class BlueskyListener:
    name: ClassVar[str] = "bluesky"

    class Options(ListenerOptions):
        handle: str = Field("${BSKY_HANDLE}", description="The account's handle (alice.bsky.social), as ${ENV_VAR}")
        app_password: str = Field(
            "${BSKY_APP_PASSWORD}",
            description="An app password of that account (Settings > Privacy and security > App passwords; "
            "never the account password), as ${ENV_VAR}")
        service_url: str = Field(
            SERVICE, description="Where the account logs in: https://bsky.social for Bluesky-hosted accounts, "
            "or your own PDS's address")
        lang: str | None = Field(None, description="Only posts in this language (an ISO 639 code such as en)")
        limit: int = Field(PAGE, ge=1, le=PAGE, description="Posts per request (at most 100)")
        max_pages: int = Field(
            5, ge=1, le=100,
            description="Requests per search and walk; a walk with more new posts leaves the rest to the "
            "next walks (nothing is skipped)")
        max_queries: int = Field(
            10, ge=1, le=100,
            description="Searches per brand at most: Bluesky's search has no OR, so each OR branch of a "
            "brand query is one search; a brand needing more is searched more broadly")
        search_overlap: Duration = Field(
            timedelta(minutes=5),
            description="How far below the newest post already read each search reads again, for posts "
            "indexed late; what was read is not sent on twice")
        respect_opt_outs: bool = Field(
            True, description="Skip posts of accounts that asked apps not to show them to logged-out "
            "people (the !no-unauthenticated self-label)")
        every: Duration = Field(timedelta(minutes=5), description="How often to walk")
        timeout: Timeout = Field(
            timedelta(seconds=15), description="How long to wait for each answer (15s; a bare number is seconds)")

        @field_validator("service_url")
        @classmethod
        def _address(cls, value: str) -> str:
            url = value.strip().rstrip("/").removesuffix("/xrpc")
            if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", url):
                raise ValueError(f"{value!r} is not a server address; write one like https://bsky.social")
            return url

        @field_validator("base_url")
        @classmethod
        def _no_base_url(cls, value: str | None) -> str | None:
            if value:
                raise ValueError("write the server's address as service_url")
            return value

        @field_validator("lang")
        @classmethod
        def _language(cls, value: str | None) -> str | None:
            if value is not None and not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", value):
                raise ValueError(f"{value!r} is not a language code; write one like en or pt-BR")
            return value

    def __init__(self, options: BlueskyListener.Options, session: Session):
        self.options = options
        self.session = session

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> BlueskyListener:
        """No I/O: the log-in waits for the first walk."""
        options = options_of(cls, options)
        values, hint = credentials(cls.name, env, REDACT, ["app_password"], handle=options.handle,
                                   app_password=options.app_password)
        from listeners.bluesky_session import Session

        session = Session(options.service_url, values["handle"], values["app_password"],
                          options.timeout.total_seconds(), hint)
        return cls(options, session)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Worst case: every search reads `max_pages` pages on every walk; plus one log-in per
        process start (createSession allows 30 per 5 minutes, 300 a day per account)."""
        options = options_of(cls, options)
        runs = timedelta(days=1) / options.every
        queries = _queries(options, brands)
        detail = (f"{len(queries)} searches for {len(brands)} brands x {options.max_pages} pages at most "
                  f"x {runs:,.0f} runs, + 1 log-in per process start; the IP's {REQUESTS_PER_WINDOW:,} "
                  f"requests / 5 minutes are shared with everything else on it")
        unsearched = [b.key for b in brands if not searches(b, options.max_queries)]
        if unsearched:
            detail += f"; not searched (nothing to search for): {', '.join(unsearched)}"
        return QuotaPlan(cls.name, len(queries) * options.max_pages * runs,
                         REQUESTS_PER_WINDOW * (timedelta(days=1) / WINDOW), "requests", detail)

    # ---- the walk ----------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        before = load_cursor(cursor)
        queries = _queries(self.options, brands)
        # Searches no longer asked for drop out of the cursor; new ones start at the newest posts.
        marks = {q: before.get(q, Mark()) for q in queries}
        walk = _Walk(sent_before=self.session.sent, seen=Seen(_TO_MENTION), wants=_matcher(brands))
        failure: ListenerError | None = None
        for query in queries:
            try:
                yield from self._query(query, marks, walk, now)
            except ListenerError as exc:
                failure = failure or exc
                walk.failed.append(query)
                if isinstance(exc, (RateLimited, SessionError)):
                    break  # every further request would be refused too
        walk.sent = self.session.sent - walk.sent_before
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=dump_cursor(marks))
        log.info("bluesky: %s", walk)
        if failure is not None:
            raise failure

    def _query(self, query: str, marks: dict[str, Mark], walk: _Walk, now: datetime) -> Iterator[Batch]:
        """One search: its new posts, then, with the pages left over, its backlog. Its mark moves
        as each part is read, to where it got when a request fails."""
        budget = Budget(self.options.max_pages)
        overlap = _ms(self.options.search_overlap)
        room = self.options.limit * self.options.max_pages // 2  # re-read at most half
        mark = marks[query]
        span = mark.fresh(overlap, room)
        walk.queries += 1
        read = Reading()
        try:
            complete = yield from self._span(query, span, budget, walk, read, now)
        except ListenerError:
            marks[query] = mark.read_fresh(span, read, False, overlap)
            raise
        mark = marks[query] = mark.read_fresh(span, read, complete, overlap)
        if mark.backlog is None:
            return
        read, complete = Reading(), False
        try:
            if budget.left:
                complete = yield from self._span(query, mark.backlog, budget, walk, read, now)
        except ListenerError:
            marks[query] = mark.read_backlog(read, False)
            raise
        marks[query] = mark.read_backlog(read, complete)
        if not complete:
            walk.behind.append(query)

    def _span(self, query: str, span: Span, budget: Budget, walk: _Walk, read: Reading,
              now: datetime) -> Iterator[Batch]:
        """The posts of one sortAt range, page by page, noted in `read`; returns whether the
        range was read to its end."""
        params: dict[str, Any] = {"q": query, "sort": "latest", "limit": self.options.limit}
        if span.lo is not None:
            params["since"] = _iso(span.lo)  # inclusive
        if span.hi is not None:
            params["until"] = _iso(span.hi + 1)  # exclusive: the boundary millisecond is read again
        if self.options.lang:
            params["lang"] = self.options.lang
        while budget.take():
            page = self._page(params, now)
            walk.pages += 1
            fresh = []
            for post in page.posts:
                stamp = _stamp(post)
                if stamp is None:
                    fresh.append(post)  # no time to keep it by: to_mention decides (and likely skips)
                    continue
                new = stamp[0] not in span.seen
                read.add(*stamp, new=new)
                if new:
                    fresh.append(post)
            if self.options.respect_opt_outs:
                kept = [p for p in fresh if not opted_out(p)]
                walk.opted_out += len(fresh) - len(kept)
                fresh = kept
            walk.read += len(fresh)
            mentions = [m for m in walk.seen.mentions(fresh) if walk.wants(m)]
            walk.kept += len(mentions)
            if mentions:
                yield Batch(tuple(mentions))
            if not page.cursor or not page.posts:
                return True
            params["cursor"] = page.cursor
        return False

    def _page(self, params: Mapping[str, Any], now: datetime) -> _Page:
        from atproto_client import models

        answer = self.session.query(SEARCH, models.AppBskyFeedSearchPosts.Params(**params), now)
        if not isinstance(answer, Mapping) or not isinstance(answer.get("posts"), list):
            raise ListenerError("bluesky: an unreadable answer (no list of posts); will retry")
        cursor = answer.get("cursor")
        return _Page([p for p in answer["posts"] if isinstance(p, Mapping)],
                     cursor if isinstance(cursor, str) and cursor else None)

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        """One post view (app.bsky.feed.defs#postView, as JSON) as a Mention."""
        if not isinstance(payload, Mapping):
            return None
        uri = text_or_none(payload.get("uri")) or ""
        parts = _AT_URI.fullmatch(uri)
        record = mapping(payload.get("record"))
        text = record.get("text") if isinstance(record.get("text"), str) else ""
        created_at = sort_at(payload)
        if parts is None or not text.strip() or created_at is None:
            return None
        author = mapping(payload.get("author"))
        did = text_or_none(author.get("did")) or ""
        handle = text_or_none(author.get("handle")) or ""
        counts = {k: max(0, to_int(payload.get(f"{k}Count"))) for k in ("like", "repost", "reply", "quote")}
        langs = record.get("langs") if isinstance(record.get("langs"), list) else []
        reply = mapping(record.get("reply"))
        return Mention(
            platform=PLATFORM,
            id=uri,
            text=text,  # Bluesky text is plain text: no markup to strip, and none is added
            # A broken handle shows as handle.invalid in the app; the DID still names the account.
            author=handle if handle and handle != "handle.invalid" else did,
            url=f"https://bsky.app/profile/{parts.group(1)}/post/{parts.group(2)}",
            created_at=created_at,
            # searchPosts' author is a profileViewBasic, which carries no follower count: reach
            # is 0 unless a server sends followersCount anyway (a profile lookup per author
            # would cost a request a mention).
            author_reach=max(0, to_int(author.get("followersCount"))),
            engagement=sum(counts.values()),
            language=text_or_none(langs[0]) if langs else None,
            kind="comment" if reply else "post",
            metrics={f"{k}s" if k != "reply" else "replies": v for k, v in counts.items()},
            raw={"uri": uri, "cid": text_or_none(payload.get("cid")), "did": did,
                 "created_at": text_or_none(record.get("createdAt")),
                 "indexed_at": text_or_none(payload.get("indexedAt")),
                 "reply_to": text_or_none(mapping(reply.get("parent")).get("uri")),
                 "langs": [x for x in langs if isinstance(x, str)][:5]},
        )


_TO_MENTION = guarded(PLATFORM, BlueskyListener.to_mention)


@dataclass(frozen=True)
class _Page:
    posts: list[Mapping[str, Any]]
    cursor: str | None


@dataclass
class _Walk:
    """What one walk did, for its log line."""

    sent_before: int
    seen: Seen
    wants: Callable[[Mention], bool]
    queries: int = 0
    pages: int = 0
    read: int = 0
    kept: int = 0
    opted_out: int = 0
    sent: int = 0
    behind: list[str] = field(default_factory=list)  # searches with posts left for the next walk
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.queries} searches, {self.pages} pages, {self.read} new posts, {self.kept} kept; "
                f"{self.sent} requests")
        if self.opted_out:
            text += f"; {self.opted_out} skipped (the author opted out: !no-unauthenticated)"
        if self.behind:
            text += f"; max_pages reached for {', '.join(self.behind)} (the rest next walk)"
        if self.failed:
            text += f"; failed: {', '.join(self.failed)}"
        return text


# ---- times and the cursor ------------------------------------------------------------------


def sort_at(post: Mapping[str, Any]) -> datetime | None:
    """When the post appeared, as the AppView sorts and filters it: the earlier of the author's
    createdAt and the server's indexedAt. A createdAt in the future (a wrong clock, or a lie)
    is the indexing time; an unreadable one too; a post with neither has no time."""
    created = parse_time(mapping(post.get("record")).get("createdAt"))
    indexed = parse_time(post.get("indexedAt"))
    times = [t for t in (created, indexed) if t is not None and t.year >= 1970]
    return min(times) if times else None


def _stamp(post: Mapping[str, Any]) -> tuple[str, int] | None:
    uri, at = text_or_none(post.get("uri")), sort_at(post)
    return (uri, int(at.timestamp() * 1000)) if uri and at else None


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def load_cursor(cursor: str | None) -> dict[str, Mark]:
    """{search: Mark}; an unreadable cursor (or part of one) starts afresh, loudly."""
    return search_cursor.load_cursor(cursor, "searches", PLATFORM)


def dump_cursor(marks: Mapping[str, Mark]) -> str:
    return search_cursor.dump_cursor(marks, "searches")


# ---- which searches --------------------------------------------------------------------------


def _queries(options: BlueskyListener.Options, brands: Sequence[Brand]) -> list[str]:
    return list(dict.fromkeys(q for b in brands for q in searches(b, options.max_queries)))


def _matcher(brands: Sequence[Brand]) -> Callable[[Mention], bool]:
    def wants(mention: Mention) -> bool:
        target = Target.of(mention)  # once per mention, for every brand: its words, author and links
        return any(b.matches_target(target) for b in brands)

    return wants


def opted_out(post: Mapping[str, Any]) -> bool:
    """Whether the author asked apps not to show their account to logged-out people."""
    labels = mapping(post.get("author")).get("labels")
    return isinstance(labels, list) and any(mapping(label).get("val") == NO_UNAUTHENTICATED for label in labels)

