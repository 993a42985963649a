"""A brand's query in YouTube search's syntax (search.list's q).

YouTube's q takes words, "phrases", | for OR and - for NOT, and no parentheses.
"""

from __future__ import annotations

from bot.models import Brand
from bot.query import Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word
from listeners.base import Syntax


def youtube_query(brand: Brand) -> str:
    """The brand's query as YouTube's q: words, "phrases", | for OR, - for NOT.

    YouTube has no parentheses, so nesting flattens and a NOT of a group is left out:
    the search may be broader than the brand query, never narrower, and harkbot matches
    every fetched mention against the whole brand query again.
    YouTube has no author or host operator: author: and site: are taken out first (the query
    broader, the exclusion smaller) and left to harkbot's match; "" when nothing is left.
    """
    query = YOUTUBE_SYNTAX.searchable(brand.query)
    if query is None:
        return ""
    parts = [youtube_syntax(query)]
    exclude = YOUTUBE_SYNTAX.excludable(brand.exclude) if brand.exclude is not None else None
    if exclude is not None:
        parts.append(youtube_syntax(Not(exclude)))
    return " ".join(p for p in parts if p)


YOUTUBE_SYNTAX = Syntax(
    prefix=lambda node: node.stem,  # no wildcard on YouTube: the stem as a word
    hashtag=lambda node: f"#{node.tag}",  # YouTube search understands hashtags
    handle=lambda node: node.handle,  # an @handle names a channel on YouTube; search the word
    negate=lambda syntax, child: " ".join(f"-{syntax.render(leaf)}" for leaf in _negatable(child)),
    both=" ",
    either="|",
    grouped=False,  # no parentheses on YouTube: nesting flattens
    drop_empty=True,
)


def youtube_syntax(node: Query) -> str:
    return YOUTUBE_SYNTAX.render(node)


def _negatable(node: Query) -> list[Query]:
    """The terms whose negation YouTube can say: NOT a -> -a; NOT (a OR b) -> -a -b."""
    if isinstance(node, (Word, Prefix, Hashtag, Handle, Phrase)):
        return [node]
    if isinstance(node, Or) and all(_negatable(c) == [c] for c in node.children):
        return list(node.children)
    return []  # NOT (a b) has no YouTube form; leave it to harkbot's own match
