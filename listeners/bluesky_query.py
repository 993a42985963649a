"""A brand query as Bluesky searches (app.bsky.feed.searchPosts' q): one per OR branch.

Bluesky's q ANDs its words and knows "exact phrases"; it has no OR, no grouping and no wildcard
(the lexicon recommends Lucene syntax but leaves it unspecified; the AppView implements the
words, phrases and filters such as from: and lang:). So a brand query is written out as its OR
branches, each one search, as for Hacker News (listeners/hackernews_query.py does the writing
out; the rendering here is Bluesky's):

    ("mindful health" OR mindfulhealth) calm*   ->   "mindful health" calm
                                                      mindfulhealth calm
"""

from __future__ import annotations

import re

from bot.models import Brand
from bot.query import And, Not
from listeners.base import Syntax
from listeners.hackernews_query import branch_count, branches, cover

# Exclusions are not sent: `-word` is documented nowhere and reported not to work, so they are
# left to harkbot's own match (the search is then broader than the brand, never narrower). A
# #tag and an @handle are searched as their word (a post may name the brand without tagging
# it), a prefix* as its stem: the one narrower case, as Bluesky has no prefix search (posts with
# only longer words, "calming" for calm*, are found only when they hold another brand term).
BSKY_SYNTAX = Syntax(
    prefix=lambda node: node.stem,
    hashtag=lambda node: node.tag,
    handle=lambda node: node.handle,
    negate=lambda syntax, child: "",
    both=" ",
    either=" ",  # never used: a branch holds no OR
    grouped=False,
    drop_empty=True,
    platform="bluesky",
    # from: is the AppView's author filter; a Bluesky handle is a domain name (alice.bsky.social),
    # so an author: without a dot is never a Bluesky post's and is left out of the search.
    author=lambda node: f"from:{node.handle}" if _HANDLE.fullmatch(node.handle) else None,
)
_HANDLE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")  # folded


def searches(brand: Brand, limit: int) -> list[str]:
    """The q texts that together find every post the brand can match (and more), one per OR
    branch; a brand with more than `limit` branches is covered more broadly (each AND by its
    part with the fewest branches)."""
    node = BSKY_SYNTAX.searchable(brand.query)  # author: as from:, site: left to harkbot's match
    if node is None:
        return []
    found = branches(node) if branch_count(node) <= limit else cover(node)
    texts = (" ".join(BSKY_SYNTAX.render(And(tuple(t for t in terms if not isinstance(t, Not)))).split())
             for terms in found)
    unique = list(dict.fromkeys(t for t in texts if t))
    return unique if len(unique) <= limit else []
