"""A brand query as Algolia HN Search queries: one per OR branch.

Algolia's `query` ANDs its words and knows two operators of ours (advancedSyntax, which HN
Search turns on): "exact phrases" and -word exclusion. It has no OR and no parentheses, so a
brand query is written out as its OR branches (disjunctive normal form), each one query:

    ("mindful health" OR mindfulhealth) calm*   ->   "mindful health" calm
                                                      mindfulhealth calm

A query that would need more than `limit` branches is searched by a broader `cover` instead
(each AND by the one of its parts with the fewest branches); one that even then needs more
than `limit` is not searched at all (the listener says so).

What Algolia cannot say is left to harkbot's own match, which re-checks every hit against the
whole brand query: a #tag or @handle is searched as its word (Algolia splits at # and @), a
prefix* as its stem with queryType=prefixAll. Exclusions are not sent unless asked
(`exclude_on_server`): Algolia also excludes a hit whose URL, author or story title holds the
word, where harkbot, matching the hit's own title and text, would keep it; the search would be
narrower than the brand.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Sequence

from bot.models import Brand
from bot.query import And, Not, Or, Prefix, Query, Word
from listeners.base import Syntax

PREFIX_ALL = "prefixAll"  # every word of the query may be a prefix: what a stem* needs
PREFIX_NONE = "prefixNone"  # whole words only; Algolia's own default (prefixLast) reads more


@dataclass(frozen=True)
class Search:
    """One Algolia query: the text, and how its words match (queryType)."""

    query: str
    query_type: str = PREFIX_NONE

    @property
    def key(self) -> str:
        """Its name in the cursor: what it asks for, so an edited brand starts afresh."""
        return self.query if self.query_type == PREFIX_NONE else f"{self.query} [{self.query_type}]"


def _negated(node: Query, on_server: bool) -> str:
    """NOT child as Algolia text: -word for a word (or each word of an OR of words); nothing for
    what Algolia cannot exclude (a phrase, a group), which harkbot's own match filters out."""
    if not on_server:
        return ""
    if isinstance(node, Word):
        return f"-{node.word}"
    if isinstance(node, Or) and all(isinstance(c, Word) for c in node.children):
        return " ".join(f"-{c.word}" for c in node.children)  # type: ignore[attr-defined]
    return ""


def _syntax(on_server: bool) -> Syntax:
    return Syntax(
        prefix=lambda node: node.stem,  # with queryType=prefixAll
        hashtag=lambda node: node.tag,
        handle=lambda node: node.handle,
        negate=lambda syntax, child: _negated(child, on_server),
        both=" ",
        either=" ",  # never used: a branch holds no OR (see `branches`)
        grouped=False,
        drop_empty=True,
    )


HN_SYNTAX = _syntax(False)
HN_SYNTAX_EXCLUDING = _syntax(True)


def branch_count(node: Query) -> int:
    """How many OR branches `node` has once written out, counted before writing them."""
    if isinstance(node, Or):
        return sum(branch_count(c) for c in node.children)
    if isinstance(node, And):
        count = 1
        for c in node.children:
            count *= branch_count(c)
        return count
    return 1  # a term, or a NOT (kept whole: see `_negated`)


def branches(node: Query) -> list[tuple[Query, ...]]:
    """The OR branches of `node`, each the terms (and NOTs) its texts must all have."""
    if isinstance(node, Or):
        return [b for c in node.children for b in branches(c)]
    if isinstance(node, And):
        return [tuple(t for part in parts for t in part) for parts in product(*(branches(c) for c in node.children))]
    return [(node,)]


def cover(node: Query) -> list[tuple[Query, ...]]:
    """Few branches, broader than `branches`, that every text `node` matches satisfies one of:
    an AND is covered by its child with the fewest (the others are left to harkbot's match)."""
    if isinstance(node, Or):
        return [b for c in node.children for b in cover(c)]
    if isinstance(node, And):
        return min((cover(c) for c in node.children if _anchored(c)), key=len)
    return [(node,)]


def _anchored(node: Query) -> bool:
    """Whether every text `node` matches holds one of its positive terms (bot.query's rule:
    a brand query always is, though a part of it need not be)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_anchored(c) for c in node.children)
    if isinstance(node, Or):
        return all(_anchored(c) for c in node.children)
    return True


def searches(brand: Brand, limit: int, exclude_on_server: bool = False) -> list[Search]:
    """The Algolia queries that together find every hit the brand can match (and more)."""
    syntax = HN_SYNTAX_EXCLUDING if exclude_on_server else HN_SYNTAX
    # Algolia's query text has no author or host operator: author: and site: are left to
    # harkbot's match (taken out of the query, which is then broader, and of the exclusion).
    query = syntax.searchable(brand.query)
    if query is None:
        return []
    exclude = syntax.excludable(brand.exclude) if brand.exclude is not None else None
    node: Query = query if exclude is None else And((query, Not(exclude)))
    if branch_count(node) <= limit:
        found = [_search(b, syntax) for b in branches(node)]
    else:
        found = [_search(b, syntax) for b in cover(query)]
    unique = list(dict.fromkeys(s for s in found if s.query))
    return unique if len(unique) <= limit else []


def _search(terms: Sequence[Query], syntax: Syntax) -> Search:
    text = syntax.render(And(tuple(terms)))
    prefix = any(isinstance(t, Prefix) for t in terms)
    return Search(" ".join(text.split()), PREFIX_ALL if prefix else PREFIX_NONE)



def why_unsearched(brand: Brand, limit: int) -> str:
    """Why `searches` gave a brand none, for the log and the quota plan."""
    if HN_SYNTAX.searchable(brand.query) is None:
        return "its query needs author: or site:, which Algolia's query cannot say, to find anything"
    return f"it needs more than max_queries ({limit}) Algolia queries"
