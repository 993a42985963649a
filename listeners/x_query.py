"""A brand's query in X's search syntax, within X's 512 characters.

X's recent search takes words, "phrases", #tags, @handles, from:user, -, OR and ( ). A query over 512
characters is refused with a 400, so a long brand query is split at its top-level ORs into
several X queries, each searched on its own (`brand_queries` gives each distinct one once).
"""

from __future__ import annotations

import re
from typing import Sequence

from bot.errors import ListenerError
from bot.models import Brand
from bot.query import And, Or, Query
from listeners.base import Syntax

_X_USERNAME = re.compile(r"[a-z0-9_]{1,15}")  # folded: X usernames are letters, digits and _
QUERY_LIMIT = 512  # recent search on the self-serve tiers; longer queries are rejected with a 400


def x_query(brand: Brand, lang: str | None = None, exclude_retweets: bool = True) -> list[str]:
    """The brand's query in X search syntax: one string, or several if it is over 512 chars.

    A long query is split at its top-level ORs (each part searched separately). If even one
    alternative is too long with the brand's exclude, the exclude is left off the platform
    query: harkbot matches every fetched mention against the whole brand query again, so the
    platform query may be broader, never narrower.
    """
    operators = (["-is:retweet"] if exclude_retweets else []) + ([f"lang:{lang}"] if lang else [])
    query = X_SYNTAX.searchable(brand.query)  # author: as from:; site: is left to harkbot's match
    if query is None:
        raise ListenerError(
            f"x: brand '{brand.key}': its query has nothing X can search (site: and another platform's "
            "author: are matched by harkbot after fetching, not searched); add a word or an author:",
            retryable=False,
        )
    sendable = X_SYNTAX.excludable(brand.exclude) if brand.exclude else None
    exclude = [f"-{_group(sendable)}"] if sendable is not None else []
    for clauses in (exclude + operators, operators):
        suffix = "".join(f" {c}" for c in clauses)
        whole = _clause(query, bool(suffix)) + suffix
        if len(whole) <= QUERY_LIMIT:
            return [whole]
        parts = _pack([_group(a) for a in alternatives(query)], suffix)
        if parts:
            return parts
    raise ListenerError(
        f"x: brand '{brand.key}': its query is longer than X's {QUERY_LIMIT} characters even "
        "split at OR; shorten it or split it into several brands",
        retryable=False,
    )


X_SYNTAX = Syntax(
    # X has no wildcard: search the stem as a word (a narrower search, the best X offers).
    prefix=lambda node: node.stem,
    hashtag=lambda node: f"#{node.tag}",
    handle=lambda node: f"@{node.handle}",
    negate=lambda syntax, child: f"-{syntax.group(child)}",
    both=" ",
    either=" OR ",
    platform="x",
    # from: is exactly the author (any case). No X username has a dot or a space: such an
    # author: is never an X post's, and is left out of the search (broader).
    author=lambda node: f"from:{node.handle}" if _X_USERNAME.fullmatch(node.handle) else None,
    # url: is a token match anywhere in a post's URLs (a path naming the host matches too), so
    # -url: could drop a post harkbot keeps: site: stays on harkbot's side.
)


def x_syntax(node: Query) -> str:
    """One query node in X's operators: words, "phrases", #tags, @handles, -, OR, ( )."""
    return X_SYNTAX.render(node)


def alternatives(node: Query) -> list[Query]:
    """The node as an OR of smaller queries, so a long query can be searched in parts.

    a OR b -> [a, b]; x (a OR b) -> [x a, x b]; anything else -> [itself].
    """
    if isinstance(node, Or):
        return list(node.children)
    if isinstance(node, And):
        for i, child in enumerate(node.children):
            if isinstance(child, Or):
                rest = node.children[:i], node.children[i + 1 :]
                return [And((*rest[0], c, *rest[1])) for c in child.children]
    return [node]


_group = X_SYNTAX.group


def _clause(node: Query, followed: bool) -> str:
    # An OR followed by other clauses needs parentheses: AND binds tighter than OR in X.
    return _group(node) if followed and isinstance(node, Or) else x_syntax(node)


def _pack(parts: list[str], suffix: str) -> list[str] | None:
    """Greedily join alternatives with OR into queries within the limit; None if one can't fit."""

    def render(group: list[str]) -> str:
        body = " OR ".join(group)
        return (f"({body})" if len(group) > 1 and suffix else body) + suffix

    queries: list[str] = []
    group: list[str] = []
    for part in parts:
        if len(render([part])) > QUERY_LIMIT:
            return None
        if group and len(render(group + [part])) > QUERY_LIMIT:
            queries.append(render(group))
            group = []
        group.append(part)
    queries.append(render(group))
    return queries


def brand_queries(
    brands: Sequence[Brand], lang: str | None, exclude_retweets: bool
) -> tuple[list[str], list[ListenerError]]:
    """Each distinct X query once (brands that translate alike share a search), and an error for
    each brand that cannot be translated: it is skipped, the others are still searched."""
    queries: list[str] = []
    unfit: list[ListenerError] = []
    for brand in brands:
        try:
            queries += [q for q in x_query(brand, lang, exclude_retweets) if q not in queries]
        except ListenerError as exc:
            unfit.append(exc)
    return queries, unfit

