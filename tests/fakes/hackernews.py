"""A fake Algolia HN Search API on 127.0.0.1, spoken to over real HTTP by the real listener.

    with FakeHN() as hn:
        hn.add_story("Mindful Health raises a seed round", created_at_i=1_772_452_800)
        options = HackerNewsListener.Options(base_url=hn.url)

It answers GET /api/v1/search_by_date in HN Search's wire format (hn.algolia.com/api): hits
newest first (created_at_i, then objectID, descending), each with objectID, created_at,
created_at_i, author, title, url, story_text, comment_text, story_id, story_title, story_url,
parent_id, points, num_comments, _tags and a _highlightResult; and page, nbHits, nbPages,
hitsPerPage, exhaustiveNbHits, query, params, processingTimeMS around them.

It honours the parameters the listener sends, and says (in `problems`) when one is not
Algolia's or is out of range, answering that request with Algolia's 400:
  query           words ANDed, "exact phrases", -word exclusion (advancedSyntax, which HN
                  Search turns on), over title, url, author, story_text, comment_text and
                  story_title, case-folded, tags stripped; whole words with queryType
                  prefixNone, every word a prefix with prefixAll, the last with prefixLast
                  (Algolia's default). No typos (typoTolerance=false is what is sent).
  tags            story, comment, author_X, story_N; a comma is AND, (a,b) is OR
  numericFilters  created_at_i, points, num_comments with < <= = >= >; a comma is AND
  page, hitsPerPage   0-based pages of 1..1000 hits; no hit past the 1000th (paginationLimitedTo)

Faults for the next requests, in the order injected: `rate_limit_next` (429, with or without
Retry-After), `fail_next` (500 or another status), `delay_next` (a slow answer, for the
client's timeout), `malformed_next` (a 200 whose body is cut-off JSON), `strip_next` (hits, or
the page, without some fields). `hold_back(id)` keeps an item out of the index until
`index(id)` (Algolia indexing it late); `before_answer` runs before each search is answered
(a test adds items between two pages). `calls` records every request, faults included.
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FaultQueue, LocalServer, send_json

START = 1_772_409_600  # 2026-03-02T00:00:00Z
FIRST_ID = 43_000_000
MAX_HITS = 1000  # paginationLimitedTo
KNOWN = {"query", "tags", "numericFilters", "page", "hitsPerPage", "queryType", "typoTolerance"}
QUERY_TYPES = {"prefixLast", "prefixAll", "prefixNone"}
NUMERIC = {"created_at_i", "points", "num_comments"}
SEARCHABLE = ("title", "url", "author", "story_text", "comment_text", "story_title")
_FILTER = re.compile(r"\s*(created_at_i|points|num_comments)\s*(<=|>=|<|>|=)\s*(-?\d+)\s*")
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]+>")
_QUERY = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')


@dataclass(frozen=True)
class Call:
    path: str
    params: dict[str, str]
    status: int


@dataclass(frozen=True)
class _Fault:
    status: int = 0
    retry_after: str | None = None
    delay: float = 0.0
    malformed: bool = False
    hit_fields: tuple[str, ...] = ()  # left out of every hit
    page_fields: tuple[str, ...] = ()  # left out of the page


@dataclass
class _Item:
    hit: dict[str, Any]
    indexed: bool = True

    @property
    def order(self) -> tuple[int, int]:
        return (self.hit["created_at_i"], int(self.hit["objectID"]))


@dataclass
class FakeHN(FaultQueue, LocalServer):
    fault = _Fault

    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    before_answer: Callable[[dict[str, str]], None] | None = None

    def __post_init__(self) -> None:
        self._items: dict[str, _Item] = {}
        self._next_id = FIRST_ID
        self._clock = START
        self._faults: deque[_Fault] = deque()
        self._lock = threading.RLock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    thread_name = "fake-hn"

    # -- the index ------------------------------------------------------------------------

    def add_story(self, title: str, text: str | None = None, *, author: str = "someone", url: str | None = None,
                  created_at_i: int | None = None, points: int = 1, num_comments: int = 0,
                  indexed: bool = True) -> str:
        """A story; `text` is HTML, as HN stores it (write &lt; for a typed <). Returns its objectID."""
        with self._lock:
            object_id, at = self._new_id(), self._at(created_at_i)
            self._items[object_id] = _Item({
                "created_at": _iso(at), "created_at_i": at, "title": title, "url": url, "author": author,
                "points": points, "story_text": text, "comment_text": None, "num_comments": num_comments,
                "story_id": None, "story_title": None, "story_url": None, "parent_id": None,
                "updated_at": _iso(at), "_tags": ["story", f"author_{author}", f"story_{object_id}"],
                "objectID": object_id,
            }, indexed)
            return object_id

    def add_comment(self, text: str, *, story_id: str | None = None, parent_id: str | None = None,
                    author: str = "someone", created_at_i: int | None = None, indexed: bool = True) -> str:
        """A comment (`text` is HTML) on story `story_id` (one is made up when None)."""
        with self._lock:
            story = self._items.get(story_id or "")
            object_id, at = self._new_id(), self._at(created_at_i)
            sid = story_id or str(FIRST_ID - 1)
            self._items[object_id] = _Item({
                "created_at": _iso(at), "created_at_i": at, "title": None, "url": None, "author": author,
                "points": None, "story_text": None, "comment_text": text, "num_comments": None,
                "story_id": int(sid), "story_title": story.hit["title"] if story else "A story",
                "story_url": story.hit["url"] if story else None, "parent_id": int(parent_id or sid),
                "updated_at": _iso(at), "_tags": ["comment", f"author_{author}", f"story_{sid}"],
                "objectID": object_id,
            }, indexed)
            if story:
                story.hit["num_comments"] = (story.hit["num_comments"] or 0) + 1
            return object_id

    def override(self, object_id: str, **fields: Any) -> None:
        """Serve these fields of a hit exactly as given, whatever their type (not created_at_i
        or objectID, by which the fake orders)."""
        with self._lock:
            self._items[object_id].hit.update(fields)

    def hold_back(self, object_id: str) -> None:
        with self._lock:
            self._items[object_id].indexed = False

    def index(self, object_id: str) -> None:
        with self._lock:
            self._items[object_id].indexed = True

    def remove(self, object_id: str) -> None:
        with self._lock:
            del self._items[object_id]

    def searches(self) -> list[dict[str, str]]:
        """The params of every search answered 200."""
        return [c.params for c in self.calls if c.status == 200]

    # -- faults -----------------------------------------------------------------------------

    def rate_limit_next(self, n: int = 1, retry_after: str | None = None) -> None:
        self._queue(n, _Fault(status=429, retry_after=retry_after))

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self._queue(n, _Fault(status=status))

    def strip_next(self, n: int = 1, hit_fields: tuple[str, ...] = (), page_fields: tuple[str, ...] = ()) -> None:
        self._queue(n, _Fault(hit_fields=hit_fields, page_fields=page_fields))

    # -- internals --------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _at(self, created_at_i: int | None) -> int:
        if created_at_i is None:
            self._clock += 60
            return self._clock
        return created_at_i

    def _problem(self, text: str) -> str:
        with self._lock:
            self.problems.append(text)
        return text

    def search(self, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(status, body) for a search_by_date request."""
        unknown = sorted(set(params) - KNOWN)
        if unknown:
            return 400, _error(self._problem(f"unknown parameters {unknown}"))
        try:
            per_page = int(params.get("hitsPerPage", "20"))
            page = int(params.get("page", "0"))
            filters = _filters(params.get("numericFilters", ""))
            tags = _tags(params.get("tags", ""))
        except ValueError as exc:
            return 400, _error(self._problem(str(exc)))
        if not 1 <= per_page <= MAX_HITS or page < 0:
            return 400, _error(self._problem(f"hitsPerPage {per_page} or page {page} out of range"))
        query_type = params.get("queryType", "prefixLast")
        if query_type not in QUERY_TYPES:
            return 400, _error(self._problem(f"queryType {query_type!r} is not one of {sorted(QUERY_TYPES)}"))
        if params.get("typoTolerance", "true") not in ("true", "false", "min", "strict"):
            return 400, _error(self._problem(f"typoTolerance {params['typoTolerance']!r}"))
        query = params.get("query", "")
        with self._lock:
            found = [i.hit for i in self._items.values()
                     if i.indexed and _tagged(i.hit, tags) and all(f(i.hit) for f in filters)
                     and _matches(query, i.hit, query_type)]
        found.sort(key=lambda h: (h["created_at_i"], int(h["objectID"])), reverse=True)
        reachable = found[:MAX_HITS]
        hits = reachable[page * per_page:(page + 1) * per_page]
        body = {
            "hits": [_with_highlight(h, query) for h in hits], "nbHits": len(found), "page": page,
            "nbPages": math.ceil(len(reachable) / per_page), "hitsPerPage": per_page,
            "exhaustiveNbHits": True, "exhaustiveTypo": True, "exhaustive": {"nbHits": True, "typo": True},
            "query": query, "params": "&".join(f"{k}={v}" for k, v in params.items()), "processingTimeMS": 1,
        }
        return 200, json.loads(json.dumps(body))  # a copy: overrides and strips do not reach the index


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHN
    server_version = "FakeHNSearch/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        raw = parse_qs(parts.query, keep_blank_values=True)
        params = {k: v[-1] for k, v in raw.items()}
        if parts.path != "/api/v1/search_by_date":
            return self._answer(parts.path, params, 404, _error("Not Found"))
        if any(len(v) > 1 for v in raw.values()):
            self.fake._problem(f"a parameter sent twice: {sorted(k for k, v in raw.items() if len(v) > 1)}")
        fault = self.fake._next_fault()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status == 429:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._answer(parts.path, params, 429, _error("Too many requests", 429), headers)
        if fault.status:
            return self._answer(parts.path, params, fault.status, _error("Internal error", fault.status))
        if self.fake.before_answer is not None:
            self.fake.before_answer(params)
        status, body = self.fake.search(params)
        if fault.malformed:
            return self._answer(parts.path, params, 200, b'{"hits": [{"objectID": "1", "title": "Mindf')
        if fault.hit_fields or fault.page_fields:
            for hit in body.get("hits", []):
                for name in fault.hit_fields:
                    hit.pop(name, None)
            for name in fault.page_fields:
                body.pop(name, None)
        self._answer(parts.path, params, status, body)

    def _answer(self, path: str, params: dict[str, str], status: int, body: Any,
                headers: Mapping[str, str] | None = None) -> None:
        with self.fake._lock:
            self.fake.calls.append(Call(path, params, status))
        send_json(self, status, body, headers)


# ---- Algolia's semantics, as far as the listener relies on them ------------------------------


def _error(message: str, status: int = 400) -> dict[str, Any]:
    return {"message": message, "status": status}


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _filters(text: str) -> list[Callable[[Mapping[str, Any]], bool]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _FILTER.fullmatch(part)
        if match is None:
            raise ValueError(f"numericFilters: cannot read {part!r}")
        name, op, value = match.group(1), match.group(2), int(match.group(3))
        out.append(_compare(name, op, value))
    return out


def _compare(name: str, op: str, value: int) -> Callable[[Mapping[str, Any]], bool]:
    def test(hit: Mapping[str, Any]) -> bool:
        have = hit.get(name)
        if not isinstance(have, int):
            return False
        return {"<": have < value, "<=": have <= value, "=": have == value, ">=": have >= value,
                ">": have > value}[op]

    return test


def _tags(text: str) -> list[set[str]]:
    """AND of ORs: 'author_pg,(story,poll)' -> [{'author_pg'}, {'story', 'poll'}]."""
    out: list[set[str]] = []
    for part in re.findall(r"\([^)]*\)|[^,()]+", text):
        names = {t.strip() for t in part.strip("()").split(",") if t.strip()}
        if not names:
            raise ValueError(f"tags: an empty group in {text!r}")
        out.append(names)
    if text and re.sub(r"\([^)]*\)|[^,()]+|,", "", text):
        raise ValueError(f"tags: cannot read {text!r}")
    return out


def _tagged(hit: Mapping[str, Any], tags: list[set[str]]) -> bool:
    have = set(hit.get("_tags") or ())
    return all(group & have for group in tags)


def _words(value: Any) -> list[str]:
    text = html.unescape(_TAG.sub(" ", value)) if isinstance(value, str) else ""
    return _WORD.findall(text.casefold())


def _matches(query: str, hit: Mapping[str, Any], query_type: str) -> bool:
    fields = [_words(hit.get(name)) for name in SEARCHABLE]
    everything = [w for f in fields for w in f]
    terms = [(bool(m.group(1) or m.group(3)), m.group(2) is not None, m.group(2) if m.group(2) is not None
              else m.group(4)) for m in _QUERY.finditer(query)]
    positive = [t for t in terms if not t[0]]
    for index, (negated, phrase, text) in enumerate(terms):
        words = _WORD.findall(text.casefold())
        if not words:
            continue
        if negated:
            if not phrase and any(w in everything for w in words):
                return False
            continue
        if phrase:
            if not any(_in_row(words, f) for f in fields):
                return False
            continue
        last = positive and terms[index] is positive[-1]
        prefix = query_type == "prefixAll" or (query_type == "prefixLast" and last)
        for word in words:
            if not any(w == word or (prefix and w.startswith(word)) for w in everything):
                return False
    return True


def _in_row(words: list[str], field: list[str]) -> bool:
    n = len(words)
    return any(field[i:i + n] == words for i in range(len(field) - n + 1))


def _with_highlight(hit: Mapping[str, Any], query: str) -> dict[str, Any]:
    words = set(_WORD.findall(query.casefold()))
    highlight = {}
    for name in SEARCHABLE:
        value = hit.get(name)
        if isinstance(value, str):
            matched = sorted(w for w in words if w in _words(value))
            highlight[name] = {"value": value, "matchLevel": "full" if matched else "none", "matchedWords": matched}
    return {**hit, "_highlightResult": highlight}
