"""Hacker News through the Algolia HN Search API (hn.algolia.com/api), plain HTTP, no account.

One walk (one `fetch`) sends, for each distinct Algolia query the brands need (one per OR
branch of a brand query: listeners/hackernews_query.py),

    GET /api/v1/search_by_date?query=...&tags=(story,comment)&numericFilters=created_at_i>=N
        &hitsPerPage=...&page=0,1,...&queryType=...&typoTolerance=false

newest first, down to what the previous walk read (listeners/search_cursor.py keeps where
each query stopped, the boundary second's objectIDs included), at most `max_pages` pages;
what a walk leaves unread is read by the next ones. Every hit is matched against the whole
brand query again before it is kept: Algolia's search is broader than ours. A story is a
"post" (its title and text), a comment a "comment" (its text; the story's title stays in
`raw` as story_title, not in the title, so a brand in a story's title does not make every
comment under it a mention of the brand). Both link to news.ycombinator.com/item?id=.

Algolia's limits: 10,000 requests an hour from one IP (documented at hn.algolia.com/api; an IP
that goes over may be blocked), no rate-limit headers, 1,000 hits at most per page and per
query (page x hitsPerPage beyond that returns nothing).
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Iterator, Literal, Mapping, Sequence

import requests
from pydantic import Field, field_validator, model_validator

from bot.durations import Duration
from bot.errors import ListenerError, RateLimited
from bot.models import UTC, Batch, Brand, Mention
from bot.query import Target
from listeners.base import (MIN_RETRY_AFTER, Budget, ListenerOptions, QuotaPlan, Seen, Timeout, Transport, follow_pages,
                            guarded, header, html_to_text, http_error, number, options_of, parse_time,
                            text_or_none, to_int)
from listeners.search_cursor import Mark, Reading, Span, dump_cursor, load_cursor
from listeners.hackernews_query import Search, searches, why_unsearched

log = logging.getLogger(__name__)

PLATFORM = "hackernews"
HOST = "https://hn.algolia.com"  # requests go to base_url instead when it is set
SEARCH_PATH = "/api/v1/search_by_date"
ITEM = "https://news.ycombinator.com/item?id="
REQUESTS_PER_HOUR = 10_000  # Algolia's documented limit per IP for HN Search
MAX_HITS = 1000  # Algolia's paginationLimitedTo on the HN index: hits reachable per query
_ITEM_ID = re.compile(r"[0-9]{1,20}")


class HackerNewsListener:
    name: ClassVar[str] = "hackernews"

    class Options(ListenerOptions):
        every: Duration = Field(timedelta(minutes=5), description="How often to walk")
        tags: list[Literal["story", "comment"]] = Field(
            default_factory=lambda: ["story", "comment"], min_length=1,
            description="What to search: stories (title, text and link), comments, or both",
        )
        hits_per_page: int = Field(100, ge=1, le=MAX_HITS, description="Hits per request (Algolia allows up to 1,000)")
        max_pages: int = Field(
            3, ge=1, le=MAX_HITS,
            description="Requests per Algolia query and walk; a walk with more new hits leaves "
            "the rest to the next walks (nothing is skipped)",
        )
        max_queries: int = Field(
            10, ge=1, le=100,
            description="Algolia queries per brand at most: Algolia has no OR, so each OR branch "
            "of a brand query is one query; a brand needing more is searched more broadly",
        )
        search_overlap: Duration = Field(
            timedelta(minutes=5),
            description="How far below the newest hit already read each search reads again: "
            "Algolia indexes some items late; what was read is not sent on twice",
        )
        exclude_on_server: bool = Field(
            False,
            description="Send a brand's excluded words to Algolia as -word: fewer hits to read, "
            "but Algolia also drops a hit whose link, author or story title holds the word",
        )
        timeout: Timeout = Field(
            timedelta(seconds=15), description="How long to wait for each answer from Algolia (15s; a bare number is seconds)"
        )

        @field_validator("tags")
        @classmethod
        def _once_each(cls, value: list[str]) -> list[str]:
            return list(dict.fromkeys(value))

        @model_validator(mode="after")
        def _reachable(self) -> HackerNewsListener.Options:
            if self.hits_per_page * self.max_pages > MAX_HITS:
                raise ValueError(
                    f"hits_per_page x max_pages is {self.hits_per_page * self.max_pages:,}: Algolia "
                    f"returns at most {MAX_HITS:,} hits per query, so write a product of at most {MAX_HITS:,} "
                    f"(max_pages: {max(1, MAX_HITS // self.hits_per_page)} with hits_per_page: {self.hits_per_page})")
            return self

    def __init__(self, options: HackerNewsListener.Options, session: requests.Session, transport: Transport):
        self.options = options
        self._session = session
        self._transport = transport  # counts requests, sets the timeout, moves HOST to base_url

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> HackerNewsListener:
        """No credentials: HN Search is open; env is not read."""
        options = options_of(cls, options)
        transport = Transport(options.timeout.total_seconds(), options.base_url, HOST)
        session = requests.Session()  # no retries: the pipeline's backoff is the one policy
        session.mount("http://", transport)
        session.mount("https://", transport)
        session.headers["User-Agent"] = "harkbot/0.1 (social listening)"
        return cls(options, session, transport)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Worst case: every query reads `max_pages` pages on every walk.

        Algolia allows one IP 10,000 requests an hour, 240,000 a day (everything else on the
        same IP counts too)."""
        options = options_of(cls, options)
        runs = timedelta(days=1) / options.every
        queries = _queries(options, brands)
        unsearched = [b.key for b in brands if not searches(b, options.max_queries, options.exclude_on_server)]
        detail = (f"{len(queries)} Algolia queries for {len(brands)} brands x {options.max_pages} pages at most "
                  f"x {runs:,.0f} runs")
        if unsearched:
            detail += f"; not searched (more than max_queries branches): {', '.join(unsearched)}"
        return QuotaPlan(cls.name, len(queries) * options.max_pages * runs, REQUESTS_PER_HOUR * 24, "requests", detail)

    # ---- the walk ----------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        before = load_cursor(cursor)
        queries = _queries(self.options, brands)
        for brand in brands:
            if not searches(brand, self.options.max_queries, self.options.exclude_on_server):
                log.warning("hackernews: brand %s: %s; not searched", brand.key,
                            why_unsearched(brand, self.options.max_queries))
        # Queries no longer asked for drop out of the cursor; new ones start at the newest hits.
        marks = {q.key: before.get(q.key, Mark()) for q in queries}
        walk = _Walk(sent_before=self._transport.sent, emitted=Seen(_TO_MENTION), wants=_matcher(brands))
        failure: ListenerError | None = None
        for query in queries:
            try:
                yield from self._query(query, marks, walk)
            except RateLimited as exc:
                failure = exc
                break  # every further request would be refused too
            except ListenerError as exc:
                # One query's failure does not stop the others; the walk fails at its end.
                failure = failure or exc
                walk.failed.append(query.key)
        walk.sent = self._transport.sent - walk.sent_before
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=dump_cursor(marks))
        if failure is not None:
            log.info("hackernews: %s; stopped early", walk)
            raise failure
        log.info("hackernews: %s", walk)

    def _query(self, query: Search, marks: dict[str, Mark], walk: _Walk) -> Iterator[Batch]:
        """One Algolia query: its new hits, then, with the pages left over, its backlog. Its
        mark moves as each part is read, to where it got when a request fails."""
        budget = Budget(self.options.max_pages)
        overlap = int(self.options.search_overlap.total_seconds())
        room = self.options.hits_per_page * self.options.max_pages // 2  # re-read at most half
        mark = marks[query.key]
        span = mark.fresh(overlap, room)
        walk.queries += 1
        read = Reading()
        try:
            complete = yield from self._span(query, span, budget, walk, read)
        except ListenerError:
            marks[query.key] = mark.read_fresh(span, read, False, overlap)
            raise
        mark = marks[query.key] = mark.read_fresh(span, read, complete, overlap)
        if mark.backlog is None:
            return
        read, complete = Reading(), False
        try:
            if budget.left:
                complete = yield from self._span(query, mark.backlog, budget, walk, read)
        except ListenerError:
            marks[query.key] = mark.read_backlog(read, False)
            raise
        marks[query.key] = mark.read_backlog(read, complete)
        if not complete:
            walk.behind.append(query.key)

    def _span(self, query: Search, span: Span, budget: Budget, walk: _Walk, read: Reading) -> Iterator[Batch]:
        """The hits of one created_at_i range, page by page, noted in `read`; returns whether
        the range was read to its end."""
        params: dict[str, Any] = {
            "query": query.query, "tags": _tags(self.options.tags), "hitsPerPage": self.options.hits_per_page,
            "page": 0, "queryType": query.query_type, "typoTolerance": "false",
        }
        if span.filters():
            params["numericFilters"] = span.filters()
        more = True
        for page in follow_pages(self._get, params, "page", _next_page, budget.take):
            walk.pages += 1
            hits = []
            for hit in _hits(page):
                stamp = _stamp(hit)
                if stamp is None or not span.holds(stamp[1]):
                    continue  # no id or time to keep it by, or outside what was asked for
                new = stamp[0] not in span.seen
                read.add(*stamp, new=new)
                if new:
                    hits.append(hit)
            walk.read += len(hits)
            mentions = [m for m in walk.emitted.mentions(hits) if walk.wants(m)]
            walk.kept += len(mentions)
            if mentions:
                yield Batch(tuple(mentions))
            more = _next_page(page) is not None
        return not more

    def _get(self, params: dict[str, Any]) -> Mapping[str, Any]:
        try:
            response = self._session.get(HOST + SEARCH_PATH, params=params)  # the transport moves HOST
        except requests.Timeout:
            raise ListenerError("hackernews: no answer from Algolia in time; will retry") from None
        except requests.RequestException as exc:
            raise ListenerError(f"hackernews: network error ({type(exc).__name__}); will retry") from None
        if response.status_code != 200:
            raise algolia_error(response.status_code, response.text, response.headers)
        try:
            page = response.json()
        except ValueError:
            raise ListenerError("hackernews: Algolia's answer was not valid JSON; will retry") from None
        if not isinstance(page, Mapping) or not isinstance(page.get("hits"), list):
            raise ListenerError("hackernews: Algolia's answer had no list of hits; will retry")
        return page

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        object_id = _object_id(payload.get("objectID"))
        created_at = _created(payload)
        tags = payload.get("_tags") if isinstance(payload.get("_tags"), list) else []
        comment = "comment" in tags or (payload.get("comment_text") is not None and not payload.get("title"))
        title = "" if comment else _title(payload.get("title"))
        text = html_to_text(_str(payload.get("comment_text" if comment else "story_text")))
        if object_id is None or created_at is None or not (title or text):
            return None
        points, replies = to_int(payload.get("points")), to_int(payload.get("num_comments"))
        metrics = {"points": points} | ({} if comment else {"num_comments": replies})
        raw = {k: v for k, v in payload.items() if k != "_highlightResult"}  # a second copy of the text
        return Mention(
            platform=PLATFORM,
            id=object_id,
            text=text,
            author=text_or_none(payload.get("author")) or "",
            url=ITEM + object_id,
            created_at=created_at,
            engagement=max(0, points + (0 if comment else replies)),
            title=title,
            kind="comment" if comment else "post",
            metrics=metrics,
            # story_title, story_id, parent_id and the story's own link (url) stay here.
            raw=raw,
            # a story's own link (a comment's story_url is the thread's, not the comment's)
            links=(str(payload["url"]),) if not comment and isinstance(payload.get("url"), str) and payload["url"] else (),
        )


_TO_MENTION = guarded(PLATFORM, HackerNewsListener.to_mention)


@dataclass
class _Walk:
    """What one walk did, for its log line."""

    sent_before: int
    emitted: Seen
    wants: Callable[[Mention], bool]
    queries: int = 0
    pages: int = 0
    read: int = 0
    kept: int = 0
    sent: int = 0
    behind: list[str] = field(default_factory=list)  # queries with hits left for the next walk
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.queries} queries, {self.pages} pages, {self.read} hits, {self.kept} kept; {self.sent} requests"
        if self.behind:
            text += f"; max_pages reached for {', '.join(self.behind)} (the rest next walk)"
        if self.failed:
            text += f"; failed: {', '.join(self.failed)}"
        return text


def _queries(options: HackerNewsListener.Options, brands: Sequence[Brand]) -> list[Search]:
    return list(dict.fromkeys(s for b in brands for s in searches(b, options.max_queries, options.exclude_on_server)))


def _matcher(brands: Sequence[Brand]) -> Callable[[Mention], bool]:
    def wants(mention: Mention) -> bool:
        target = Target.of(mention)  # once per mention, for every brand: its words, author and links
        return any(b.matches_target(target) for b in brands)

    return wants


def _tags(tags: Sequence[str]) -> str:
    """Algolia's tags filter: a comma is AND, parentheses OR."""
    return tags[0] if len(tags) == 1 else "(" + ",".join(tags) + ")"


def _next_page(page: Mapping[str, Any]) -> int | None:
    """The next page number, or None at the end (nbPages says; without it, a short page)."""
    current = page.get("page")
    current = current if isinstance(current, int) and not isinstance(current, bool) and current >= 0 else None
    pages, per_page = page.get("nbPages"), page.get("hitsPerPage")
    if current is None:
        return None
    if isinstance(pages, int) and not isinstance(pages, bool):
        return current + 1 if current + 1 < pages else None
    full = isinstance(per_page, int) and len(_hits(page)) >= per_page > 0
    return current + 1 if full else None


def _hits(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    hits = page.get("hits")
    return [h for h in hits if isinstance(h, Mapping)] if isinstance(hits, list) else []


def _stamp(hit: Mapping[str, Any]) -> tuple[str, int] | None:
    """(objectID, created_at_i) of a hit, what the cursor keeps; None for a hit without them."""
    object_id, created = _object_id(hit.get("objectID")), _created(hit)
    return (object_id, int(created.timestamp())) if object_id and created else None


def _object_id(value: Any) -> str | None:
    """An HN item id: digits (it goes into a link, so nothing else passes)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return text if _ITEM_ID.fullmatch(text) else None


def _created(hit: Mapping[str, Any]) -> datetime | None:
    stamp = hit.get("created_at_i")
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    parsed = parse_time(hit.get("created_at"))
    return parsed.replace(microsecond=0) if parsed else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _title(value: Any) -> str:
    # HN titles hold no markup, but come HTML-escaped (&amp;, &#x27;): decode only, so a title
    # about "<script> tags" keeps its words.
    return html.unescape(_str(value)).strip()


# ---- errors ------------------------------------------------------------------------------


def algolia_error(status: int, body: str, headers: Mapping[str, str]) -> ListenerError:
    """Our error for an HN Search error answer; Algolia's own message, when it sends one."""
    if status == 429:
        wait = number(header(headers, "retry-after"), float)
        wait = wait if wait and wait > 0 else MIN_RETRY_AFTER
        return RateLimited(f"hackernews: rate limited by Algolia (429; it allows {REQUESTS_PER_HOUR:,} requests an "
                           f"hour from one IP); retry in {wait:.0f}s", retry_after=wait)
    message = _message(body)
    detail = f": {message}" if message else ""
    return http_error("hackernews", status, {
        400: "Algolia refused the search (400){detail}; check the brand queries and listeners.hackernews options",
        403: "Algolia refused the request (403){detail}; an IP over the hourly limit may be blocked: "
             "write to support@algolia.com",
        404: "not found (404): check listeners.hackernews.base_url",
    }, detail)


def _message(body: str) -> str:
    """Algolia's error message from a body: JSON {"message": ...}, or HN Search's plain text
    (which ends with Algolia's JSON); at most 200 characters, no markup."""
    start = body.find("{")
    try:
        message = json.loads(body[start:]).get("message") if start >= 0 else None
    except (ValueError, AttributeError):
        message = None
    text = message if isinstance(message, str) else ""
    return " ".join(html_to_text(text).split())[:200]
