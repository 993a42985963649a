"""Brand queries: parsed once into a tree, matched against text many times.

Grammar (operators are upper-case, as in X search; juxtaposition means AND):

    query   := or
    or      := and ("OR" and)*
    and     := unary ("AND"? unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | "phrase words" | #hashtag | @handle | word | prefix*
             | author:handle | author:platform:handle | author:"a name" | site:host

Matching is case-insensitive and by whole words: `calm` does not match "calmly" (write
`calm*` for that), but a plain word matches that word as a #hashtag or @handle too, as
platform search does. `#calmapp` matches only the hashtag, `@calmapp` only the handle.

`author:` and `site:` look past the words, at who wrote the post and where it lives: a
`Target` (the post's tokens, author, platform and hosts) is what they see, and
`Query.match_target` asks the whole tree of it. `author:spambot` is the author `spambot`
(any case, `@` optional; `author:x:spambot` only on X); `site:example.com` is a post whose
URL or a link in it is on example.com or a subdomain (news.example.com). A bare text
(`Query.match(tokens)`) has no author and no links: there these terms match nothing, so a
`-author:` never drops what it cannot see.

`parse_search` reads what people type into `harkbot search`: the same grammar, plus
`field:term` (or `field:(...)`, `field:"a phrase"`) for one of SEARCH_FIELDS, and FTS5's
`"stem"*` prefix form. Brand queries have no fields: there `title:calm` is the phrase
"title calm", as it always was; only `author:` and `site:` are terms of their own. In a search
`author:alice` is the field search: the words of the stored author (a Bluesky author
alice.bsky.social holds the word alice), where a brand query's `author:alice` is exactly the
handle alice. A search has no `site:` (the search index holds no links).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

from bot.errors import QueryError
from bot.text import INVISIBLE, Tokens, fold, folded_of, tokenize, word_pattern  # noqa: F401 - re-exported: the text tokens live in bot.text

if TYPE_CHECKING:
    from bot.models import Mention

_QUERY_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)("?)|(-)(?=\S)|([^\s()"]+))')


class Query:
    """A node of the parsed tree."""

    def match(self, tokens: Tokens) -> bool:
        raise NotImplementedError

    def match_target(self, target: Target) -> bool:
        """Match a post's Target: its words, and its author and hosts for author: and site:."""
        return self.match(target.tokens)  # a word, tag, phrase... reads only the words

    def matches(self, text: str) -> bool:
        return self.match(tokenize(text))

    def terms(self) -> Iterator[Query]:
        """The leaf terms that are not negated (what a platform search must ask for)."""
        return iter(())


@dataclass(frozen=True)
class Word(Query):
    word: str

    def match(self, tokens: Tokens) -> bool:
        return self.word in tokens.words

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return self.word


@dataclass(frozen=True)
class Prefix(Query):
    stem: str

    def match(self, tokens: Tokens) -> bool:
        return " " + self.stem in tokens.spaced  # a word that starts with the stem (see Tokens.spaced)

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return f"{self.stem}*"


@dataclass(frozen=True)
class Hashtag(Query):
    tag: str

    def match(self, tokens: Tokens) -> bool:
        return self.tag in tokens.hashtags

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return f"#{self.tag}"


@dataclass(frozen=True)
class Handle(Query):
    handle: str

    def match(self, tokens: Tokens) -> bool:
        return self.handle in tokens.handles

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return f"@{self.handle}"


@dataclass(frozen=True)
class Phrase(Query):
    words: tuple[str, ...]

    def match(self, tokens: Tokens) -> bool:
        return self._spaced in tokens.spaced  # the words in a row (see Tokens.spaced)

    @functools.cached_property
    def _spaced(self) -> str:
        return " " + " ".join(self.words) + " "

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return '"' + " ".join(self.words) + '"'


@dataclass(frozen=True)
class Author(Query):
    """`author:handle`: the post's author is `handle` (folded, no @); with `platform`, only
    there (`author:x:handle`). A bare text has no author, so it never matches one."""

    handle: str
    platform: str | None = None

    def match(self, tokens: Tokens) -> bool:
        return False

    def match_target(self, target: Target) -> bool:
        return target.author == self.handle and (self.platform is None or target.platform == self.platform)

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        handle = self.handle if _BARE_HANDLE.fullmatch(self.handle) else '"' + self.handle + '"'
        return f"author:{self.platform}:{handle}" if self.platform else f"author:{handle}"


@dataclass(frozen=True)
class Site(Query):
    """`site:example.com`: the post's URL or one of its links is on the host or a subdomain of
    it. A bare text has no links (a Target has: the URLs in its text among them)."""

    host: str

    def match(self, tokens: Tokens) -> bool:
        return False

    def match_target(self, target: Target) -> bool:
        return self.host in target.domains

    def terms(self) -> Iterator[Query]:
        yield self

    def __str__(self) -> str:
        return f"site:{self.host}"


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.I)


@dataclass(frozen=True)
class Target:
    """What a query sees of a post: its word tokens, and (when known) its author, platform and
    the domains its URL and links are on. `Target.of(mention)` builds one at ingest; a bare
    text is `Target(tokenize(text))`, which author: and site: never match."""

    tokens: Tokens
    author: str | None = None  # folded, without a leading @; None: not known
    platform: str | None = None
    urls: tuple[str, ...] = ()  # the post's own URL and its links
    _texts: tuple[str, ...] = ()  # its title and text, read for URLs when `domains` is first asked

    @functools.cached_property
    def domains(self) -> frozenset[str]:
        """Every host of `urls` and each domain it is under: read only if a query has site:."""
        found = list(self.urls)
        for text in self._texts:
            if "://" in text:
                found += _URL_IN_TEXT.findall(text)
        return domains_of(found)

    @classmethod
    def of(cls, mention: Mention, tokens: Tokens | None = None) -> Target:
        """A mention's Target; `tokens` when its full text is already cut (one cut per post)."""
        return cls(tokens if tokens is not None else tokenize(mention.full_text), author_key(mention.author),
                   mention.platform, (mention.url, *mention.links), (mention.title, mention.text))


def author_key(author: str | None) -> str:
    """An author as `author:` compares it: folded, without its leading @."""
    folded = folded_of(author or "")
    return (folded if " " not in folded and folded.strip() == folded else " ".join(folded.split())).lstrip("@")


def host_key(host: str) -> str | None:
    """A host name folded for comparison (lower case, IDNA for non-ASCII, no trailing dot), or
    None if it is not a host name."""
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return None
    return host


def domains_of(urls: Iterator[str] | list[str]) -> frozenset[str]:
    """The hosts of `urls` and every domain above each (a.b.example.com: b.example.com,
    example.com; not the bare top-level com), for `site:` to look up in one step."""
    out: set[str] = set()
    for url in urls:
        try:
            raw = urlsplit(url.strip()).hostname
        except ValueError:  # a malformed [IPv6] part
            continue
        host = host_key(raw) if raw else None
        if host is None:
            continue
        labels = host.split(".")
        out.update(".".join(labels[i:]) for i in range(len(labels) - 1))
    return frozenset(out)


def uses(node: Query, *kinds: type) -> bool:
    """Whether the tree holds a node of one of `kinds` (Author, Site: it needs a Target)."""
    if isinstance(node, kinds):
        return True
    if isinstance(node, (Not, Field)):
        return uses(node.child, *kinds)
    if isinstance(node, (And, Or)):
        return any(uses(c, *kinds) for c in node.children)
    return False


def plain_text(node: Query) -> bool:
    """Whether the query reads only words (no author: or site:), so tokens alone answer it."""
    return not uses(node, Author, Site)


@dataclass(frozen=True)
class Field(Query):
    """`title:calm`: the child looked up in one field of a stored mention (search only). The
    backends decide what a field's text is; matched against bare tokens it is the child."""

    name: str
    child: Query

    def match(self, tokens: Tokens) -> bool:
        return self.child.match(tokens)

    def match_target(self, target: Target) -> bool:
        return self.child.match_target(target)

    def terms(self) -> Iterator[Query]:
        yield from self.child.terms()

    def __str__(self) -> str:
        return f"{self.name}:{_wrap(self.child)}"


@dataclass(frozen=True)
class Not(Query):
    child: Query

    def match(self, tokens: Tokens) -> bool:
        return not self.child.match(tokens)

    def match_target(self, target: Target) -> bool:
        return not self.child.match_target(target)

    def __str__(self) -> str:
        return f"-{_wrap(self.child)}"


@dataclass(frozen=True)
class And(Query):
    children: tuple[Query, ...]

    def match(self, tokens: Tokens) -> bool:
        for c in self.children:  # a loop, not all(generator): every brand's query, every post
            if not c.match(tokens):
                return False
        return True

    def match_target(self, target: Target) -> bool:
        for c in self.children:
            if not c.match_target(target):
                return False
        return True

    def terms(self) -> Iterator[Query]:
        for child in self.children:
            yield from child.terms()

    def __str__(self) -> str:
        return " ".join(_wrap(c) for c in self.children)


@dataclass(frozen=True)
class Or(Query):
    children: tuple[Query, ...]

    def match(self, tokens: Tokens) -> bool:
        for c in self.children:
            if c.match(tokens):
                return True
        return False

    def match_target(self, target: Target) -> bool:
        for c in self.children:
            if c.match_target(target):
                return True
        return False

    def terms(self) -> Iterator[Query]:
        for child in self.children:
            yield from child.terms()

    def __str__(self) -> str:
        return " OR ".join(_wrap(c) for c in self.children)


def _wrap(node: Query) -> str:
    return f"({node})" if isinstance(node, (And, Or)) else str(node)


SEARCH_FIELDS = ("text", "title", "author")  # what `field:term` may name in a search
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(.*)", re.S)
_FTS5_PREFIX = re.compile(r'"([^"]*)"\*')  # FTS5's prefix form, "stem"*


def parse_search(text: str) -> Query:
    """Parse what someone typed into `harkbot search`: `parse`'s grammar plus `field:term`
    for SEARCH_FIELDS and FTS5's `"stem"*`. A field harkbot cannot search is a QueryError
    naming the ones it can."""
    return parse(_FTS5_PREFIX.sub(_fts5_prefix, text), fields=SEARCH_FIELDS)


def _fts5_prefix(match: re.Match) -> str:
    words = match.group(1).split()
    if not words:
        return match.group(0)
    if len(words) == 1:
        return words[0] + "*"
    # "side eff"* in FTS5: a phrase whose last word is a prefix; read as the phrase's other
    # words AND the prefix (matches a little more, never less).
    return "(" + " ".join(f'"{w}"' for w in words[:-1]) + f" {words[-1]}*)"


def parse(text: str, *, fields: tuple[str, ...] | None = None) -> Query:
    """Parse a query; QueryError carries the 0-based position of the problem. With `fields`,
    `name:term` looks `term` up in the field `name` (see parse_search)."""
    tokens = list(_lex(text))
    if not tokens:
        raise QueryError("the query is empty; write at least one word, \"phrase\", #tag or @handle")
    parser = _Parser(tokens, text, fields)
    node = parser.parse_or()
    if parser.pos < len(tokens):
        kind, _value, at = tokens[parser.pos]
        if kind == ")":
            raise QueryError("unbalanced ')': no '(' opens it", at)
        raise QueryError(f"unexpected {_describe(tokens[parser.pos])}", at)
    if not any(True for _ in node.terms()):
        if isinstance(node, Not) and isinstance(node.child, (Author, Site)):
            raise QueryError(f"'{node}' only excludes; add a term to look for (in a brand's `exclude`, "
                             f"write {node.child} without the '-': exclude drops what it matches)", 0)
        raise QueryError("the query only excludes; add at least one term to look for", 0)
    if not anchored(node):
        # `mindful OR -spam` has a term, yet matches every post without "spam".
        raise QueryError("an OR branch only excludes, so the query matches nearly every post; "
                         "give each OR branch a term to look for", 0)
    return node


def anchored(node: Query) -> bool:
    """Whether every text the node matches must contain one of its (non-negated) terms."""
    if isinstance(node, Not):
        return False
    if isinstance(node, Field):
        return anchored(node.child)
    if isinstance(node, And):
        return any(anchored(c) for c in node.children)
    if isinstance(node, Or):
        return all(anchored(c) for c in node.children)
    return True


def _lex(text: str) -> Iterator[tuple[str, str, int]]:
    pos = 0
    while pos < len(text):
        match = _QUERY_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise QueryError(f"cannot read {text[pos:pos + 10]!r}", pos)
            return
        lexeme = match.group(0)
        start = match.start() + len(lexeme) - len(lexeme.lstrip())
        opened, closed, phrase, closing_quote, minus, word = match.groups()
        if opened:
            yield "(", "(", start
        elif closed:
            yield ")", ")", start
        elif phrase is not None:
            if not closing_quote:
                raise QueryError('unterminated "phrase": add the closing quote', start)
            yield "phrase", phrase, start
        elif minus:
            yield "NOT", "-", start
        elif word in ("AND", "OR", "NOT"):
            yield word, word, start
        else:
            yield "term", word, start
        pos = match.end()


def _describe(token: tuple[str, str, int]) -> str:
    kind, value, _ = token
    return f"'{value}'" if kind != "phrase" else f'"{value}"'


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], text: str, fields: tuple[str, ...] | None = None):
        self.tokens = tokens
        self.text = text
        self.pos = 0
        self.fields = fields
        self.in_field = False

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def parse_or(self) -> Query:
        children = [self.parse_and()]
        while self.peek() == "OR":
            self.pos += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Query:
        children = [self.parse_unary()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.pos += 1
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Query:
        if self.peek() == "NOT":
            self.pos += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Query:
        if self.pos >= len(self.tokens):
            at = len(self.text)
            raise QueryError("the query ends where a term was expected", at)
        kind, value, at = self.tokens[self.pos]
        self.pos += 1
        if kind == "(":
            node = self.parse_or()
            if self.peek() != ")":
                raise QueryError("unbalanced '(': add the closing ')'", at)
            self.pos += 1
            return node
        if kind == "phrase":
            words = tuple(w for _p, w in word_pattern().findall(fold(value)))
            if not words:
                raise QueryError('empty "phrase"', at)
            return Phrase(words) if len(words) > 1 else Word(words[0])
        if kind == "term":
            special = _SPECIAL.fullmatch(value) if self.fields is None else None
            if special:
                return self.parse_special(special.group(1).lower(), special.group(2), at)
            field = _FIELD.fullmatch(value) if self.fields is not None else None
            # https://... is a link, and "Update: refund" a word with a colon, not fields
            if field and not field.group(2).startswith("//") and (
                    field.group(2) or field.group(1).lower() in (self.fields or ())):
                return self.parse_field(field.group(1), field.group(2), at)
            return _term(value, at)
        raise QueryError(f"{_describe((kind, value, at))} needs a term before and after it", at)


    def parse_special(self, name: str, rest: str, at: int) -> Query:
        """`author:...` or `site:...` in a brand or rule query (a search reads fields instead)."""
        start = at + len(name) + 1
        if name == "site":
            return _site(rest, start, at)
        platform = None
        if ":" in rest:
            prefix, rest = rest.split(":", 1)
            platform = PLATFORM_NAMES.get(prefix.lower())
            if platform is None:
                from bot.models import PLATFORMS

                raise QueryError(f"'author:{prefix}:' names no platform harkbot listens to; write "
                                 f"author:HANDLE, or author:PLATFORM:HANDLE with one of {', '.join(PLATFORMS)}", start)
            start += len(prefix) + 1
        if not rest:
            if self.peek() == "phrase":
                _kind, value, phrase_at = self.tokens[self.pos]
                self.pos += 1
                return _author(value, platform, phrase_at, quoted=True)
            written = f"author:{platform}:" if platform else "author:"
            raise QueryError(f"'{written}' needs a handle right after it, with no space: "
                             f"{written}spambot (or {written}\"A Name\" for a name with spaces)", at)
        return _author(rest, platform, start, quoted=False)

    def parse_field(self, name: str, rest: str, at: int) -> Query:
        fields = self.fields or ()
        if name.lower() not in fields:
            raise QueryError(f"'{name}' is not a field you can search; the searchable fields are "
                             + ", ".join(f"{f}:" for f in fields)
                             + f" (or quote \"{name}:{rest}\" to look for the words)", at)
        if self.in_field:
            raise QueryError(f"'{name}:' inside another field: give each field its own terms", at)
        self.in_field = True
        try:
            if rest:
                child = _term(rest, at + len(name) + 1)
            elif self.pos < len(self.tokens) and self.tokens[self.pos][0] in ("term", "phrase", "("):
                child = self.parse_primary()
            else:
                raise QueryError(f"'{name}:' needs a term after it ({name}:word, {name}:\"a phrase\")", at)
        finally:
            self.in_field = False
        if name.lower() == "author" and isinstance(child, Handle):
            child = Word(child.handle)  # authors are stored without their @: author:@alice is alice
        return Field(name.lower(), child)


def _term(value: str, at: int) -> Query:
    folded = fold(value)  # may be empty: folding drops soft hyphens and other invisible marks
    prefix = folded[:1] if folded[:1] in ("#", "@") else ""
    star = folded.endswith("*")
    core = folded[len(prefix) : len(folded) - star]
    words = [w for _p, w in word_pattern().findall(core)]
    if not words:
        raise QueryError(f"'{value}' has no letters or digits to match", at)
    if len(words) > 1 or "*" in core:
        if prefix or star:
            raise QueryError(f"'{value}' is not one word; quote it as a phrase", at)
        return Phrase(tuple(words))  # "side-effects" reads as the phrase "side effects"
    word = words[0]
    if star:
        if prefix:
            raise QueryError(f"'{value}': a prefix* cannot also be a #tag or @handle", at)
        return Prefix(word)
    if prefix == "#":
        return Hashtag(word)
    if prefix == "@":
        return Handle(word)
    return Word(word)


# -- author: and site: ------------------------------------------------------------------------

_SPECIAL = re.compile(r"(author|site):(.*)", re.I | re.S)
_BARE_HANDLE = re.compile(r"\w[\w.\-@']*")  # x_user, alice.bsky.social, user@mastodon.social
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
PLATFORM_NAMES = {"x": "x", "twitter": "x", "reddit": "reddit", "youtube": "youtube", "mastodon": "mastodon",
                  "bluesky": "bluesky", "rss": "rss", "hackernews": "hackernews"}  # the models' PLATFORMS, and X's old name


def _author(value: str, platform: str | None, at: int, *, quoted: bool) -> Author:
    handle = author_key(value)
    if not handle:
        raise QueryError("author: needs a handle or a name; an empty one matches nobody", at)
    if not quoted and not _BARE_HANDLE.fullmatch(handle):
        raise QueryError(f"'{value}' is not a handle: a handle is letters, digits and _ . - @ "
                         f"(quote a name with spaces or other marks: author:\"{value}\")", at)
    return Author(handle, platform)


def _site(value: str, at: int, term_at: int) -> Site:
    if not value:
        raise QueryError("'site:' needs a host right after it, with no space: site:example.com", term_at)
    if "://" in value or value.startswith("//"):
        host = urlsplit(value if "://" in value else "http:" + value).hostname or ""
        raise QueryError(f"site: takes a host, not a URL: write site:{host or 'example.com'}", at)
    if "/" in value:
        raise QueryError(f"site: takes a host without a path: write site:{value.split('/', 1)[0]}", at)
    if value.startswith("*."):
        raise QueryError(f"site:{value[2:]} already covers its subdomains: leave out the '*.'", at)
    host = host_key(value)
    if host is None:
        raise QueryError(f"'{value}' is not a host name: write one such as example.com or news.example.co.uk", at)
    return Site(host)
