"""The Listener protocol: what every platform module provides.

A listener module holds one class with:
  name      the key used under `listeners:` in config.yaml
  Options   a pydantic model of its options (ListenerOptions and its own fields)
  from_config(options, env) -> listener   raises MissingCredentials naming the variables
  fetch(brands, cursor, now) -> iterator of Batch   network I/O, rate limits
  to_mention(payload) -> Mention | None   pure: one platform payload to a Mention
  plan(options, brands) -> QuotaPlan   planned daily API use against the platform's budget

Listeners import only bot.models, bot.query, bot.errors and option types; a platform
client object never leaves its module.

Below the protocol is what the platform modules share: options and credentials, reading
payloads, translating a brand query (`Syntax`), paging (`follow_pages`, `Budget`), one
mention per post and walk (`Seen`), rate-limit headers and the requests transport that
reads them (`RateBudget`, `Transport`), and the meaning of an HTTP error (`http_error`).
The backoff itself is the pipeline's, one policy for every listener: a listener sends each
request once and says, by its error, whether and when to ask again.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from datetime import datetime, timedelta
from typing import Annotated, Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence

import requests
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from requests.adapters import HTTPAdapter

from bot.durations import Duration
from bot.errors import ListenerError, MissingCredentials
from bot.models import Batch, Brand, Mention, parse_iso
from bot.query import And, Author, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Site, Word, anchored
from bot.secrets import env_name, redact, resolve_all

log = logging.getLogger("harkbot")

MIN_RETRY_AFTER = 60.0  # seconds to rest when a platform limits us without a usable wait


def _bare_seconds(value: Any) -> Any:
    # HTTP clients (requests, httplib2) all take a timeout in seconds, so a bare number here can
    # only mean seconds; every other duration option needs its unit.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value <= MAX_TIMEOUT.total_seconds():
            raise ValueError(f"a timeout of {value} seconds: write more than 0 and at most 300 (or a duration: 30s)")
        return timedelta(seconds=value)
    return value


def _at_most_five_minutes(value: timedelta) -> timedelta:
    if value > MAX_TIMEOUT:
        raise ValueError(f"a timeout of {value.total_seconds():g}s is too long; write at most 300s")
    return value


MAX_TIMEOUT = timedelta(minutes=5)
# The one unit of every listener's `timeout`: a duration (30s, 2m); a bare number is seconds.
Timeout = Annotated[Duration, BeforeValidator(_bare_seconds), AfterValidator(_at_most_five_minutes)]


class ListenerOptions(BaseModel):
    """Options every listener has; each listener's Options adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    every: Duration = timedelta(minutes=5)
    base_url: str | None = None  # an API-compatible gateway or a local fake; None: the platform


@dataclass(frozen=True)
class QuotaPlan:
    """A listener's planned API use per day against the platform's budget for it."""

    listener: str
    used: float  # per day, in `unit`
    budget: float | None  # per day, in `unit`; None when the platform sets no daily cap
    unit: str  # "requests", "quota units", ...
    detail: str  # how `used` was reckoned, e.g. "3 brands x 288 runs x 1 search"

    @property
    def fits(self) -> bool:
        return self.budget is None or self.used <= self.budget

    def __str__(self) -> str:
        budget = f" of {self.budget:,.0f}" if self.budget is not None else ""
        share = f" ({self.used / self.budget:.0%})" if self.budget else ""
        return f"{self.listener}: {self.used:,.0f}{budget} {self.unit} a day{share}: {self.detail}"


class Listener(Protocol):
    name: ClassVar[str]
    Options: ClassVar[type[ListenerOptions]]

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Planned daily API use for these brands at options.every (no network)."""
        ...

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> Listener: ...

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]: ...

    @staticmethod
    def to_mention(payload: Any) -> Mention | None: ...


def require(listener: str, env: Mapping[str, str], **refs: str | None) -> dict[str, str]:
    """Resolve credential references; raise MissingCredentials naming every unset variable.

    `refs` maps an option name to its configured value (normally '${VAR}').
    """
    values, missing = resolve_all(f"listeners.{listener}", env, **refs)
    if missing:
        raise MissingCredentials(listener, missing)
    return values


def options_of(cls: Any, options: Any) -> Any:
    """`options` as cls.Options: a validated model passes through, a YAML mapping is validated."""
    return options if isinstance(options, cls.Options) else cls.Options.model_validate(options or {})


def credentials(listener: str, env: Mapping[str, str], hidden: SecretFilter, hide: Sequence[str],
                **refs: str) -> tuple[dict[str, str], str]:
    """The credentials (see `require`), with the `hide` ones blanked in client library logs, and
    which settings to name when the platform refuses them ("X_ID and X_SECRET")."""
    values = require(listener, env, **refs)
    for option in hide:
        hidden.add(values[option])
    hint = " and ".join(env_name(ref) or f"listeners.{listener}.{option}" for option, ref in refs.items())
    return values, hint


# -- helpers every platform module needs ---------------------------------------------------


def to_int(value: Any) -> int:
    """A count from a payload; platforms send some as strings, and broken ones as junk
    (NaN, infinity, a list: 0)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object from a payload field, or {} when the field holds anything else."""
    return value if isinstance(value, Mapping) else {}


def text_or_none(value: Any) -> str | None:
    """A string field (a language code, say) that may come as any JSON type: only a string counts."""
    return value if isinstance(value, str) and value else None


def guarded(listener: str, to_mention: Callable[[Any], Mention | None]) -> Callable[[Any], Mention | None]:
    """`to_mention` that never raises past the listener: a payload it fails on (a bug against
    some odd payload; the fuzz tests look for them) is skipped with a warning naming its id,
    never its text, so one post cannot stop the walk."""

    def convert(payload: Any) -> Mention | None:
        try:
            return to_mention(payload)
        except Exception as exc:  # noqa: BLE001 - see above
            ident = payload.get("id") if isinstance(payload, Mapping) else None
            shown = str(ident).encode("ascii", "backslashreplace").decode()[:80] if ident is not None else "?"
            log.warning("%s: skipped a post it could not read (id %s, %s); please report this as a bug",
                        listener, shown, type(exc).__name__)
            return None

    return convert


def html_to_text(markup: str) -> str:
    """HTML as the plain text a reader sees: tags dropped, entities decoded, <br> and block
    elements (div, li, h1...) as line breaks, a paragraph set off by a blank line (Hacker News
    writes bare <p> separators, Mastodon closes each), runs of spaces as one.

    What never shows on a page (script, style, template, head, svg) is dropped with its
    content, and so is what HTML itself ignores (comments, `<!...>` declarations): `<!channel>`
    in markup is not text. `&lt;!channel&gt;` is, and comes out as the characters
    `<!channel>`: the text is for reading, not HTML; escaping for Slack happens later.
    """
    parser = _TextOf()
    parser.feed(markup.replace(_KEPT, ""))
    parser.close()
    lines = (" ".join(line.split()).replace(_KEPT, " ") for line in "".join(parser.out).split("\n"))
    return _PARAGRAPHS.sub("\n\n", "\n".join(lines)).strip()


_HIDDEN = frozenset({"script", "style", "template", "head", "svg", "math", "noscript", "iframe", "object"})
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "pre",
    "section", "table", "td", "th", "tr", "ul",
})
_PARAGRAPH = "p"  # its start and its end are each a blank line; runs of them collapse to one
_PARAGRAPHS = re.compile(r"\n{3,}")
_KEPT = "\x00"  # a space inside <pre>, kept through the collapse of runs of spaces (code is indented)


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities reach handle_data decoded
        self.out: list[str] = []
        self.hidden = 0  # depth inside elements whose content never shows
        self.pre = 0  # depth inside <pre>, whose spaces are the text's own

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _HIDDEN or self.hidden:
            self.hidden += tag in _HIDDEN
            return
        if tag == "pre":
            self.pre += 1
        if tag == _PARAGRAPH:
            self.out.append("\n\n")
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag in _BLOCKS and not self.hidden:
            self.out.append("\n")  # <br/>, <hr/>; a self-closed <script/> hides nothing

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if tag == "pre" and not self.hidden:
            self.pre = max(0, self.pre - 1)
        if tag == _PARAGRAPH and not self.hidden:
            self.out.append("\n\n")
        elif tag in _BLOCKS and not self.hidden:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data.replace(" ", _KEPT) if self.pre else data)


def to_ints(values: Any) -> dict[str, int]:
    if not isinstance(values, Mapping):
        return {}
    return {str(k): to_int(v) for k, v in values.items()}


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from a payload, or None when it is missing or unreadable."""
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


def cursor_part(cursor: str | None, field: str, listener: str) -> dict[str, Any]:
    """One mapping from a stored JSON cursor; an unreadable cursor starts afresh, loudly."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor).get(field) or {}
        if not isinstance(value, dict):
            raise ValueError(field)
        return value
    except (ValueError, AttributeError):
        log.warning("%s: ignoring an unreadable cursor; reading the newest posts again", listener)
        return {}


class SecretFilter(logging.Filter):
    """Client libraries log request headers and URLs (tokens, ?key=...) at DEBUG: blank them."""

    def __init__(self, *loggers: str):
        super().__init__()
        self.loggers = loggers
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self.secrets.add(secret)
        for name in self.loggers:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, sorted(self.secrets))
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


# -- brand queries in a platform's search syntax -------------------------------------------


@dataclass(frozen=True)
class Syntax:
    """How one platform's search writes each query node; `render` walks a query with it.

    A platform without an operator writes the nearest broader search (a prefix as its stem,
    say): harkbot matches every fetched mention against the whole brand query again, so a
    platform query may be broader than the brand's, never narrower.

    `author:` and `site:` are searched only where the platform has an operator that means
    exactly what harkbot's does (`author`, given the platform's name: X's from:, Reddit's
    author:); elsewhere `searchable` takes them out of the query first (broader) and
    `excludable` out of an exclusion (it excludes less), and harkbot's own match applies them.
    """

    prefix: Callable[[Prefix], str]
    hashtag: Callable[[Hashtag], str]
    handle: Callable[[Handle], str]
    negate: Callable[[Syntax, Query], str]  # the text of NOT child
    both: str  # what joins AND's children
    either: str  # what joins OR's children
    grouped: bool = True  # parentheses around a nested AND or OR; False: nesting flattens
    drop_empty: bool = False  # leave out children that render to nothing
    platform: str = ""  # the models' platform name: author:reddit:bob is never an X post's
    author: Callable[[Author], str | None] | None = None  # None: the platform cannot search authors
    site: Callable[[Site], str | None] | None = None  # None: nor hosts (no platform's is exact yet)

    def render(self, node: Query) -> str:
        if isinstance(node, Word):
            return node.word
        if isinstance(node, Prefix):
            return self.prefix(node)
        if isinstance(node, Hashtag):
            return self.hashtag(node)
        if isinstance(node, Handle):
            return self.handle(node)
        if isinstance(node, Phrase):
            return '"' + " ".join(node.words) + '"'
        if isinstance(node, Not):
            return self.negate(self, node.child)
        if isinstance(node, Author) and self.author is not None and (text := self.author(node)) is not None:
            return text
        if isinstance(node, Site) and self.site is not None and (text := self.site(node)) is not None:
            return text
        if isinstance(node, (Author, Site)):
            raise TypeError(f"{node} cannot be searched here: take it out with Syntax.searchable first")
        if isinstance(node, (And, Or)):
            parts = (self.group(c) for c in node.children)
            return (self.both if isinstance(node, And) else self.either).join(
                filter(None, parts) if self.drop_empty else parts)
        raise TypeError(f"unknown query node {type(node).__name__}")

    def group(self, node: Query) -> str:
        text = self.render(node)
        return f"({text})" if self.grouped and isinstance(node, (And, Or)) else text

    def can(self, node: Query) -> bool:
        """Whether this platform's search says `node` (an author: or site: term) exactly."""
        if isinstance(node, Author):
            if node.platform is not None and node.platform != self.platform:
                return False  # never one of this platform's posts: search without it (broader)
            return self.author is not None and self.author(node) is not None
        if isinstance(node, Site):
            return self.site is not None and self.site(node) is not None
        return True

    def searchable(self, node: Query) -> Query | None:
        """`node` without the terms this platform cannot search, matching at least what `node`
        does (a search may be broader, never narrower); None when what is left would match
        every post (`author:bob` alone, where authors cannot be searched): no search finds it."""
        return searchable(node, self.can)

    def excludable(self, node: Query) -> Query | None:
        """An exclusion this platform can send, excluding at most what `node` does (so the
        search is still never narrower); None: nothing of it can be sent."""
        return _inner(node, self.can)


def searchable(node: Query, can: Callable[[Query], bool] = lambda node: False) -> Query | None:
    """`node` without the author: and site: terms `can` refuses (by default all), broader; None
    when no search can find what it matches (see Syntax.searchable)."""
    found = _outer(node, can)
    return found if found is not None and anchored(found) else None


def _outer(node: Query, can: Callable[[Query], bool]) -> Query | None:
    """The smallest query this platform can say that holds everything `node` matches; None for
    "every post"."""
    if isinstance(node, (Author, Site)):
        return node if can(node) else None
    if isinstance(node, Not):
        inner = _inner(node.child, can)
        return None if inner is None else Not(inner)  # excluding less: broader
    if isinstance(node, And):
        kept = [c for c in (_outer(c, can) for c in node.children) if c is not None]
        return None if not kept else kept[0] if len(kept) == 1 else And(tuple(kept))
    if isinstance(node, Or):
        parts = [_outer(c, can) for c in node.children]
        return None if any(p is None for p in parts) else Or(tuple(parts))  # type: ignore[arg-type]
    return node


def _inner(node: Query, can: Callable[[Query], bool]) -> Query | None:
    """A query this platform can say that matches only what `node` matches; None for "no post"."""
    if isinstance(node, (Author, Site)):
        return node if can(node) else None
    if isinstance(node, Not):
        outer = _outer(node.child, can)
        return None if outer is None else Not(outer)
    if isinstance(node, And):
        parts = [_inner(c, can) for c in node.children]
        return None if any(p is None for p in parts) else And(tuple(parts))  # type: ignore[arg-type]
    if isinstance(node, Or):
        kept = [c for c in (_inner(c, can) for c in node.children) if c is not None]
        return None if not kept else kept[0] if len(kept) == 1 else Or(tuple(kept))
    return node


# -- paging and the walk ------------------------------------------------------------------


@dataclass
class Budget:
    """Requests a walk (or one part of it) may still send."""

    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def follow_pages(fetch: Callable[[dict[str, Any]], Mapping[str, Any]], params: Mapping[str, Any],
                 token_param: str, token_of: Callable[[Mapping[str, Any]], Any],
                 more: Callable[[], bool]) -> Iterator[Mapping[str, Any]]:
    """One token-paged listing: `fetch(params)`, then again with each page's next token under
    `token_param`, while there is one and `more()` allows another request."""
    params = dict(params)
    while more():
        page = fetch(dict(params))
        yield page
        token = token_of(page)
        if not token:
            return
        params[token_param] = token


class Seen:
    """A walk's mentions, each post once: several queries or searches can find one post."""

    def __init__(self, to_mention: Callable[[Any], Mention | None]):
        self.to_mention = to_mention
        self.ids: set[str] = set()
        self.payloads = 0

    def mentions(self, payloads: Iterable[Any]) -> list[Mention]:
        out = []
        for payload in payloads:
            self.payloads += 1
            mention = self.to_mention(payload)
            if mention is not None and mention.id not in self.ids:
                self.ids.add(mention.id)
                out.append(mention)
        return out


# -- rate limits and the transport ----------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lower-case name, whatever case the answer used."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def number(value: str | None, kind: Callable[[Any], Any]) -> Any:
    """A header's number as `kind` (int, float), or None when it is missing or not a number."""
    try:
        return kind(float(value)) if value is not None else None
    except (ValueError, OverflowError):
        return None


@dataclass
class RateBudget:
    """What the latest answer's rate-limit headers said (None when it had none)."""

    used: int | None = None
    remaining: float | None = None
    reset: float | None = None  # as the platform sends it: seconds to go (Reddit) or an epoch (X)

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining < 1

    @classmethod
    def of(cls, headers: Mapping[str, str], prefix: str = "x-ratelimit-") -> RateBudget:
        return cls(
            used=number(header(headers, prefix + "used"), int),
            remaining=number(header(headers, prefix + "remaining"), float),
            reset=number(header(headers, prefix + "reset"), float),
        )


def rebase(url: str, host: str, base_url: str | None) -> str:
    """`url` with a client's fixed `host` swapped for base_url (a gateway or a local fake)."""
    if not base_url or not url.startswith(host):
        return url
    return base_url.rstrip("/") + url[len(host):]


class Transport(HTTPAdapter):
    """Mounted on a client library's requests session, it sees every request and answer.

    It sets our timeout on each (the clients pass none, or their own default), moves a
    client's fixed `host` to base_url when one is set, counts what is sent, and keeps the
    latest answer's headers: the rate limit they carry lets a walk stop before the
    platform has to refuse it.
    """

    def __init__(self, timeout: float, base_url: str | None = None, host: str = ""):
        super().__init__()
        self.timeout = timeout
        self.base_url = base_url
        self.host = host
        self.last_headers: Mapping[str, str] = {}
        self.sent = 0

    def send(  # type: ignore[override]  # requests' stubs spell out the keywords we pass on
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if self.host:
            request.url = rebase(request.url or "", self.host, self.base_url)
        kwargs["timeout"] = self.timeout
        self.sent += 1
        response = super().send(request, **kwargs)
        self.last_headers = response.headers
        return response

    def budget(self, prefix: str = "x-ratelimit-") -> RateBudget:
        return RateBudget.of(self.last_headers, prefix)


# -- errors -----------------------------------------------------------------------------------


def http_error(platform: str, status: int, meanings: Mapping[int, str], detail: str = "",
               otherwise: str = "unexpected HTTP {status}{detail}") -> ListenerError:
    """Our error for an HTTP error status, the one policy: a 5xx is the platform's trouble and
    worth asking again (after the pipeline's backoff); a 4xx is a request we must fix, so it
    is not. `meanings` says what a 4xx means on this platform, with how to fix it."""
    if status >= 500:
        return ListenerError(f"{platform}: server error ({status}){detail}; will retry")
    text = meanings.get(status, otherwise).format(status=status, detail=detail)
    return ListenerError(f"{platform}: {text}", retryable=False)
