"""The query syntax people type (bot.query.parse_search: words, "phrases", OR, AND, NOT or -,
prefix*, #hashtag, @handle, title:/text:/author:) as an FTS5 expression for `mentions_fts`:
the twin of pg_search.py, so `harkbot search '#selfcare'` means the same on both backends
and never reaches FTS5 as raw syntax it would refuse.

Pure: `compile_query(query)` returns a `Compiled`: the FTS5 text and whether it is exact.
How each part lands (FTS5 indexes text, title and author with unicode61, which splits at
every punctuation mark, '#', '@' and '_' included):
- a word, "a phrase", prefix* are FTS5 strings (`"calm"`, `"side effects"`, `"refu"*`),
  looked up in `{title text}`: the author column only answers `author:`;
- `title:x` / `text:x` / `author:x` put the part under that column filter;
- #tag and @handle: FTS5 cannot tell `#selfcare` from `selfcare`, so the string is the word
  (a superset) and the expression is not exact: `matches(...)` checks each candidate against
  the text read as PostgreSQL's document reads it (pg_schema.FTS_DOCUMENT), so both
  backends keep the same rows;
- NOT becomes FTS5's binary NOT after the terms of its AND; a NOT that is not exact is left
  to the check (dropping it from the expression only widens it).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bot.query import And, Field, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word, parse_search

DOCUMENT = "{title text}"  # what a term without a field is looked up in

_PUNCT = re.compile(r"[!-/:-@\[-`{-~]+")  # ASCII punctuation, as pg_schema.FTS_DOCUMENT blanks it
_TAGS = re.compile(r"[#@]\w+")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Compiled:
    fts: str | None  # None: nothing in the query can be looked up in the index
    exact: bool  # False: check each FTS5 candidate with `matches`
    tree: Query


@functools.lru_cache(maxsize=256)
def compile_query(query: str) -> Compiled:
    """`query` for FTS5's MATCH. Raises QueryError (with the position) on a malformed query."""
    tree = parse_search(query)
    fts, exact = _fts(tree, DOCUMENT)
    return Compiled(fts, exact, tree)


def _string(words: list[str], prefix: bool = False) -> str | None:
    parts = [p for w in words for p in w.split("_") if p]
    if not parts:
        return None
    return '"' + " ".join(parts).replace('"', '""') + '"' + ("*" if prefix else "")


def _fts(node: Query, columns: str) -> tuple[str | None, bool]:
    """(FTS5 text or None, exact) of a node looked up in `columns`."""
    if isinstance(node, (Word, Hashtag, Handle, Prefix, Phrase)):
        if isinstance(node, Phrase):
            text = _string(list(node.words))
        elif isinstance(node, Prefix):
            text = _string([node.stem], prefix=True)
        else:
            text = _string([node.word if isinstance(node, Word) else
                            node.tag if isinstance(node, Hashtag) else node.handle])
        exact = isinstance(node, (Word, Prefix, Phrase))
        return (None, False) if text is None else (f"{columns} : {text}", exact)
    if isinstance(node, Field):
        return _fts(node.child, node.name)
    if isinstance(node, Not):
        return None, False  # a NOT alone: only an AND can subtract it (see below)
    if isinstance(node, Or):
        parts = [_fts(c, columns) for c in node.children]
        if any(text is None for text, _ in parts):
            return None, False
        return "(" + " OR ".join(text for text, _ in parts) + ")", all(e for _, e in parts)  # type: ignore[misc]
    if isinstance(node, And):
        kept, exact, minus = [], True, []
        for child in node.children:
            if isinstance(child, Not):
                text, inner_exact = _fts(child.child, columns)
                if text is not None and inner_exact:
                    minus.append(text)
                else:
                    exact = False
                continue
            text, child_exact = _fts(child, columns)
            exact = exact and child_exact and text is not None
            if text is not None:
                kept.append(text)
        if not kept:
            return None, False
        out = kept[0] if len(kept) == 1 else "(" + " AND ".join(kept) + ")"
        for text in minus:
            out = f"({out} NOT {text})"
        return out, exact
    raise TypeError(f"not a query node: {node!r}")


# -- the check for what FTS5 cannot tell apart -------------------------------------------------


@dataclass(frozen=True)
class _Doc:
    words: tuple[str, ...]
    tags: frozenset[str]  # '#tag' and '@handle', lower-cased


def _doc(text: str) -> _Doc:
    """A text read as PostgreSQL's document reads it: ASCII punctuation is a space between
    words; the #tags and @handles are kept beside them."""
    lowered = text.lower()
    return _Doc(tuple(_WORDS.findall(_PUNCT.sub(" ", lowered))), frozenset(_TAGS.findall(lowered)))


def _parts(words) -> list[str]:
    return [p for w in words for p in w.split("_") if p]


def _has(doc: _Doc, words: list[str], prefix: bool = False) -> bool:
    if not words:
        return False
    n, seq = len(words), doc.words
    for i in range(len(seq) - n + 1):
        if seq[i : i + n - 1] == tuple(words[:-1]) and (
                seq[i + n - 1].startswith(words[-1]) if prefix else seq[i + n - 1] == words[-1]):
            return True
    return False


def _eval(node: Query, docs: dict[str, _Doc], field: str) -> bool:
    doc = docs[field]
    if isinstance(node, Word):
        return _has(doc, _parts([node.word]))
    if isinstance(node, Prefix):
        return _has(doc, _parts([node.stem]), prefix=True)
    if isinstance(node, Phrase):
        return _has(doc, _parts(node.words))
    if isinstance(node, Hashtag):
        return "#" + node.tag in doc.tags
    if isinstance(node, Handle):
        return "@" + node.handle in doc.tags
    if isinstance(node, Field):
        return _eval(node.child, docs, node.name)
    if isinstance(node, Not):
        return not _eval(node.child, docs, field)
    if isinstance(node, And):
        return all(_eval(c, docs, field) for c in node.children)
    if isinstance(node, Or):
        return any(_eval(c, docs, field) for c in node.children)
    raise TypeError(f"not a query node: {node!r}")


def matches(query: str, title: str | None, text: str | None, author: str | None) -> bool:
    """Whether a stored mention matches `query` exactly (the check behind a Compiled that is
    not exact; registered on the connection as harkbot_match)."""
    tree = compile_query(query).tree
    docs = {"document": _doc(f"{title or ''} {text or ''}"), "title": _doc(title or ""), "text": _doc(text or ""),
            "author": _doc(author or "")}
    return _eval(tree, docs, "document")
