"""Mastodon through Mastodon.py: hashtag timelines on each configured instance (no token
needed) and, with an access token, full-text search on the instance that issued it.

Each brand listens on its hashtags (`hashtags:`, or the brand query's words, tags and phrases
as tags) and, with a token, on searches that cover its query (`search_texts`). A hashtag
timeline holds every status with the tag, so each status is matched against the brand's whole
query (bot/query.py) before it becomes a mention. How a source is paged, and what the cursor
keeps (`min_id` per instance and tag or search), is listeners/mastodon_walk.py.

Ids are instance-local: status 1234 on one server is not 1234 on another. A mention's id is
the status's ActivityPub `uri` (its origin host and path), so two servers' local ids never
collide and one post seen on two servers, or boosted, is one mention; without a usable uri
it is `<instance host>/<local id>`.

Limits: Mastodon allows 300 requests per 5 minutes per account (per IP without a token), on
each server separately: 86,400 a day. Mastodon.py runs in "throw" mode (it never sleeps):
its MastodonRatelimitError and the X-RateLimit-Reset it read become RateLimited, and a server
whose window the headers say is spent is not asked again until its reset. One server's
failure does not lose another's statuses: every server is read, the cursor stored, and only
then is the failure raised (when every server failed) or logged (when some answered).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import mastodon as mastodon_py
import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.durations import Duration
from bot.errors import ListenerError
from bot.models import Batch, Brand, Mention
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Target, Word
from bot.secrets import env_name, resolve
from listeners.base import (ListenerOptions, QuotaPlan, SecretFilter, Seen, Timeout, Transport, guarded, html_to_text,
                            mapping, options_of, parse_time, searchable, text_or_none, to_int)
from listeners.mastodon_client import Client, combined
from listeners.mastodon_walk import Source, SourceState, downward, dump_cursor, load_cursor, upward

log = logging.getLogger(__name__)

PLATFORM = "mastodon"
REQUESTS_PER_WINDOW = 300  # Mastodon's default per account (or IP) and server
WINDOW = timedelta(minutes=5)
TAG_PAGE = 40  # the largest page a timeline or search answers
USER_AGENT = "harkbot/0.1 (social listening; +https://github.com/harkbot)"
_TAG_CHARS = re.compile(r"[^\w]+")


class Server(BaseModel):
    """One Mastodon server, and the token of an account on it (if any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="The server's address, e.g. https://mastodon.social")
    access_token: str | None = Field(
        None, description="An access token of an account on this server (read scope), as ${ENV_VAR}; "
        "a token works only on the server that issued it")

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.lower()

    @field_validator("url")
    @classmethod
    def _address(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if "://" not in url:
            url = "https://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not a server address; write one like https://mastodon.social")
        return url


class MastodonListener:
    name: ClassVar[str] = "mastodon"

    class Options(ListenerOptions):
        instances: list[Server] = Field(
            default_factory=lambda: [Server(url="https://mastodon.social")], min_length=1,
            description="Servers to read, each an address or {url, access_token}; each has its own "
            "rate limit and its own view of the fediverse (what it has federated)")
        access_token: str = Field(
            "${MASTODON_TOKEN}",
            description="Token for the FIRST instance (a token works only on its own server), as "
            "${ENV_VAR}; unset: hashtag timelines only, no search")
        hashtags: dict[str, list[str]] = Field(
            default_factory=dict,
            description="Tags (without #) to follow per brand key; a brand not listed follows the "
            "words, tags and phrases of its query as tags")
        search: bool = Field(True, description="Also search statuses where a token is set")
        local: bool = Field(False, description="Only statuses from each server's own accounts")
        respect_opt_outs: bool = Field(
            True, description="Skip statuses of accounts that opted out: #nobot in the bio, or "
            "noindex (\"do not include my posts in search engines\")")
        limit: int = Field(TAG_PAGE, ge=1, le=TAG_PAGE, description="Statuses per request (at most 40)")
        max_pages: int = Field(
            5, ge=1, le=50,
            description="Requests per tag or search and walk; a walk cut short goes on next time")
        requests_per_window: int = Field(
            REQUESTS_PER_WINDOW, ge=1,
            description="The server's request budget per 5 minutes (Mastodon's default: 300, so "
            "86,400 a day); `harkbot check` compares the planned use with it")
        every: Duration = Field(timedelta(minutes=5), description="How often to walk")
        timeout: Timeout = Field(
            timedelta(seconds=15),
            description="How long to wait for each answer (15s; a bare number is seconds)")

        @field_validator("instances", mode="before")
        @classmethod
        def _servers(cls, value: Any) -> Any:
            if isinstance(value, list):
                return [{"url": v} if isinstance(v, str) else v for v in value]
            return value

        @field_validator("instances")
        @classmethod
        def _distinct(cls, value: list[Server]) -> list[Server]:
            hosts = [s.host for s in value]
            if len(set(hosts)) != len(hosts):
                raise ValueError("a server is listed twice; list each once")
            return value

        @field_validator("hashtags")
        @classmethod
        def _tags(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
            out = {}
            for brand, tags in value.items():
                clean = list(dict.fromkeys(t for t in map(tag_name, tags) if t))
                if not clean:
                    raise ValueError(f"{brand}: no usable tag; write tags as letters, digits and _")
                out[brand] = clean
            return out

        @field_validator("base_url")
        @classmethod
        def _no_base_url(cls, value: str | None) -> str | None:
            if value:
                raise ValueError("Mastodon has no single API address; list the servers under instances")
            return value

    def __init__(self, options: MastodonListener.Options, clients: list[Client]):
        self.options = options
        self.clients = clients

    @classmethod
    def from_config(cls, options: Any, env: Mapping[str, str]) -> MastodonListener:
        """No token is fine (hashtag timelines are public on most servers): it is said, not raised."""
        options = options_of(cls, options)
        clients = []
        for n, server in enumerate(options.instances):
            ref = server.access_token or (options.access_token if n == 0 else None)
            token = resolve(ref, env) if ref else None
            if token:
                _REDACT.add(token)
            else:
                hint = env_name(ref) if ref else None
                log.info("mastodon: %s: no access token (%s): reading hashtag timelines only, no search",
                         server.host, f"set {hint} to search too" if hint else "give it access_token to search too")
            transport = Transport(options.timeout.total_seconds())
            session = requests.Session()
            session.mount("http://", transport)
            session.mount("https://", transport)
            api = mastodon_py.Mastodon(  # no I/O yet: the version is asked for when search needs it
                api_base_url=server.url, access_token=token, ratelimit_method="throw",
                request_timeout=options.timeout.total_seconds(), session=session, user_agent=USER_AGENT)
            clients.append(Client(server, api, transport, token is not None, env_name(ref) if ref else None))
        return cls(options, clients)

    @classmethod
    def plan(cls, options: Any, brands: Sequence[Brand]) -> QuotaPlan:
        """Worst case on the busiest server: every tag and search reads max_pages on every run.

        Each server grants its own 300 requests / 5 minutes (86,400 a day). Mastodon.py also
        asks each server for its instance record once (two requests), left out of the count.
        """
        options = options_of(cls, options)
        runs = timedelta(days=1) / options.every
        tags = len({t for b in brands for t in brand_tags(b, options.hashtags)})
        searches = len({q for b in brands for q in brand_searches(b)}) if options.search else 0
        per_run = (tags + searches) * options.max_pages
        detail = (f"per server: {tags} hashtag timelines"
                  + (f" + {searches} searches (where a token is set)" if searches else "")
                  + f" x {options.max_pages} pages at most x {runs:,.0f} runs; each of "
                  f"{len(options.instances)} servers has its own budget")
        return QuotaPlan(listener=cls.name, used=per_run * runs,
                         budget=options.requests_per_window * (timedelta(days=1) / WINDOW),
                         unit="requests", detail=detail)

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, brands: Sequence[Brand], cursor: str | None, now: datetime) -> Iterator[Batch]:
        before = load_cursor(cursor)
        walk = _Walk(wants=brand_matcher(brands), sent=sum(c.transport.sent for c in self.clients))
        plan = {c.host: self.sources(c, brands) for c in self.clients}
        # Sources no longer configured drop out of the cursor; new ones start without a floor.
        states = {s.key: before.get(s.key, SourceState()) for sources in plan.values() for s in sources}
        for client in self.clients:
            try:
                for source in plan[client.host]:
                    yield from self._walk(client, source, states, walk, now)
            except ListenerError as exc:
                walk.failed[client.host] = exc
        # Only now, with every page stored, may the cursor move past what was read.
        yield Batch((), cursor=dump_cursor(states))
        log.info("mastodon: %s", walk.summary(self.clients, states))
        if walk.failed and len(walk.failed) == len(self.clients):
            raise combined(list(walk.failed.values()))
        for host, exc in walk.failed.items():
            log.warning("mastodon: %s (the other servers were read)", exc)

    def sources(self, client: Client, brands: Sequence[Brand]) -> list[Source]:
        tags = dict.fromkeys(t for b in brands for t in brand_tags(b, self.options.hashtags))
        out = [Source(client.host, "tag", t) for t in tags]
        if client.token and self.options.search:
            texts = dict.fromkeys(q for b in brands for q in brand_searches(b))
            out += [Source(client.host, "search", q) for q in texts]
        return out

    def _walk(self, client: Client, source: Source, states: dict[str, SourceState], walk: _Walk,
              now: datetime) -> Iterator[Batch]:
        limit, pages = self.options.limit, self.options.max_pages
        if source.kind == "tag":
            steps = upward(states[source.key], lambda min_id: client.timeline(source.term, min_id, limit,
                                                                               self.options.local, now),
                           limit, pages)
        else:
            steps = downward(states[source.key], lambda min_id, max_id: client.search(source.term, min_id, max_id,
                                                                                       limit, now), pages)
        for payloads, state in steps:
            walk.pages += 1
            walk.read += len(payloads)
            if self.options.respect_opt_outs:
                kept = [p for p in payloads if not opted_out(p)]
                walk.opted_out += len(payloads) - len(kept)
                payloads = kept
            mentions = [m for m in walk.seen.mentions(payloads) if walk.wants(m)]
            walk.kept += len(mentions)
            if mentions:
                yield Batch(tuple(mentions))
            states[source.key] = state

    @staticmethod
    def to_mention(payload: Any) -> Mention | None:
        if not isinstance(payload, Mapping):
            return None
        instance = text_or_none(payload.get("instance")) or ""
        original = mapping(payload.get("reblog"))
        status = original or payload  # a boost is its original, once
        local_id = status.get("id")
        local_id = str(local_id) if isinstance(local_id, (str, int)) and not isinstance(local_id, bool) else ""
        uri = web_url(status.get("uri"))
        ident = uri.split("://", 1)[1] if uri else (f"{instance}/{local_id}" if instance and local_id else "")
        content = status.get("content")
        text = html_to_text(content) if isinstance(content, str) else ""
        warning = str(status.get("spoiler_text") or "").strip() if isinstance(status.get("spoiler_text"), str) else ""
        created_at = parse_time(status.get("created_at"))
        if not ident or not (text or warning) or created_at is None:
            return None
        account = mapping(status.get("account"))
        acct = text_or_none(account.get("acct")) or ""
        if acct and "@" not in acct and instance:
            acct = f"{acct}@{instance}"  # a server's own accounts come without their domain
        counts = {k: max(0, to_int(status.get(f"{k}_count"))) for k in ("replies", "reblogs", "favourites")}
        return Mention(
            platform=PLATFORM,
            id=ident,
            text=text,
            author=acct,
            url=web_url(status.get("url")) or uri,
            created_at=created_at,
            author_reach=max(0, to_int(account.get("followers_count"))),
            engagement=sum(counts.values()),
            language=text_or_none(status.get("language")),
            title=warning,  # the content warning: the author's own words, matched like the text
            kind="comment" if status.get("in_reply_to_id") else "post",
            metrics=counts,
            # Enough to find the status again; the text is the mention's own.
            raw={"instance": instance, "local_id": local_id, "uri": uri, "tags": _tags_of(status),
                 "visibility": text_or_none(status.get("visibility")), "sensitive": status.get("sensitive") is True,
                 **({"boosted_by": text_or_none(mapping(payload.get("account")).get("acct"))} if original else {})},
        )


def opted_out(payload: Mapping[str, Any]) -> bool:
    """Whether the author (of the original, for a boost) asked not to be indexed or read by bots."""
    status = mapping(payload.get("reblog")) or payload
    account = mapping(status.get("account"))
    return account.get("noindex") is True or account.get("nobot") is True


def _tags_of(status: Mapping[str, Any]) -> list[str]:
    tags = status.get("tags")
    names = (mapping(t).get("name") for t in tags) if isinstance(tags, list) else ()
    return [n for n in names if isinstance(n, str)][:50]


_TO_MENTION = guarded("mastodon", MastodonListener.to_mention)
_REDACT = SecretFilter("urllib3.connectionpool", "mastodon")


@dataclass
class _Walk:
    """What one walk did, for its log line."""

    wants: Any
    sent: int
    pages: int = 0
    read: int = 0
    kept: int = 0
    opted_out: int = 0
    failed: dict[str, ListenerError] = field(default_factory=dict)
    seen: Seen = field(default_factory=lambda: Seen(_TO_MENTION))

    def summary(self, clients: Sequence[Client], states: Mapping[str, SourceState]) -> str:
        sent = sum(c.transport.sent for c in clients) - self.sent
        unfinished = sum(1 for s in states.values() if s.max_id)
        text = (f"{len(clients)} servers, {len(states)} sources, {self.pages} pages, {sent} requests, "
                f"{self.read} new statuses, {self.kept} kept")
        if self.opted_out:
            text += f", {self.opted_out} skipped (the author opted out: #nobot or noindex)"
        if unfinished:
            text += f", {unfinished} searches unfinished (resume next run)"
        if self.failed:
            text += f", {len(self.failed)} servers failed ({', '.join(self.failed)})"
        return text


def web_url(value: Any) -> str:
    """An http(s) address from a payload, or "": a link in an alert must not be javascript:."""
    text = value.strip() if isinstance(value, str) else ""
    return text if urlsplit(text).scheme in ("http", "https") and "://" in text else ""


def brand_matcher(brands: Sequence[Brand]) -> Any:
    def wants(mention: Mention) -> bool:
        target = Target.of(mention)  # once per mention, for every brand: its words, author and links
        return any(b.matches_target(target) for b in brands)

    return wants


# ---- where a brand listens ---------------------------------------------------------------


def tag_name(text: str) -> str:
    """A tag as Mastodon names it: word characters only, no '#', case-folded."""
    return _TAG_CHARS.sub("", str(text)).casefold()


def brand_tags(brand: Brand, configured: Mapping[str, list[str]]) -> list[str]:
    """The brand's configured tags, else its query's words, tags, phrases and stems as tags."""
    if brand.key in configured:
        return list(configured[brand.key])
    tags = []
    for term in brand.query.terms():
        if isinstance(term, Hashtag):
            tags.append(term.tag)
        elif isinstance(term, Word):
            tags.append(term.word)
        elif isinstance(term, Phrase):
            tags.append("".join(term.words))  # "mindful health" is tagged #MindfulHealth
        elif isinstance(term, Prefix):
            tags.append(term.stem)
    return list(dict.fromkeys(t for t in map(tag_name, tags) if t))


def brand_searches(brand: Brand) -> list[str]:
    """The searches for a brand: its query's, with author: and site: (which Mastodon's search
    cannot say) taken out, broader; none when nothing is left (author:bob alone: such a brand
    is found on its hashtag timelines only)."""
    node = searchable(brand.query)
    return search_texts(node) if node is not None else []


def search_texts(node: Query) -> list[str]:
    """Searches whose results together hold every status the query matches.

    Whether Mastodon joins bare words with AND or OR, a search for the terms every match must
    contain finds every match: an OR becomes one search per side, an AND the search for its
    plain terms together (or, with none, for its first side that can be searched), a NOT
    nothing. harkbot matches what comes back against the whole query.
    """
    if isinstance(node, Word):
        return [node.word]
    if isinstance(node, Hashtag):
        return [node.tag]  # the word: a status may name the brand without tagging it
    if isinstance(node, Handle):
        return [node.handle]
    if isinstance(node, Prefix):
        return [node.stem]
    if isinstance(node, Phrase):
        return ['"' + " ".join(node.words) + '"']
    if isinstance(node, Or):
        return list(dict.fromkeys(q for child in node.children for q in search_texts(child)))
    if isinstance(node, And):
        plain = [search_texts(c)[0] for c in node.children if isinstance(c, (Word, Hashtag, Handle, Prefix, Phrase))]
        if plain:
            return [" ".join(plain)]
        for child in node.children:
            if not isinstance(child, Not) and (texts := search_texts(child)):
                return texts
    return []
