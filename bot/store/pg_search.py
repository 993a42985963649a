"""The query syntax people type (words, "phrases", OR, AND, NOT or -, prefix*, #hashtag,
@handle, parentheses) as a PostgreSQL tsquery, for the `fts` column pg_schema builds.

Pure: `to_tsquery_text(query)` returns the text of a tsquery, to be cast with `::tsquery`
(not passed through `to_tsquery()`, whose parser would drop the '#' of '#selfcare'). The
query is parsed by bot.query, so it means here what it means to harkbot's matcher; the
FTS5 forms bot.memhistory.to_fts writes for SQLite (`"word"`, `"stem"*`, binary NOT) read
the same way.

How each part lands, against a document built as pg_schema.FTS_DOCUMENT builds it:
- a word is a lexeme (`'calm'`); it matches the word, and the word of a #tag or @handle;
- "a phrase" is `'a' <-> 'phrase'`;
- prefix* is `'pre':*`;
- #tag and @handle are the lexemes `'#tag'` and `'@handle'`, which only tags and handles have;
- a word with underscores is a phrase of its parts, as the 'simple' parser splits it.
"""

from __future__ import annotations

import re

from bot.errors import QueryError
from bot.query import And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word, parse

_FTS5_PREFIX = re.compile(r'"([^"]*)"\*')  # FTS5's prefix form, "stem"*


def to_tsquery_text(query: str) -> str | None:
    """The tsquery for `query`, or None when nothing in it can be looked up in the index (a
    term of underscores only). Raises QueryError (with the position) on a malformed query."""
    return tree_to_tsquery(parse(_FTS5_PREFIX.sub(_prefix, query)))


def _prefix(match: re.Match) -> str:
    words = match.group(1).split()
    if not words:
        return match.group(0)
    if len(words) == 1:
        return words[0] + "*"
    # "side eff"* in FTS5: a phrase whose last word is a prefix; read as the phrase's other
    # words AND the prefix (matches a little more, never less).
    return "(" + " ".join(f'"{w}"' for w in words[:-1]) + f" {words[-1]}*)"


def tree_to_tsquery(node: Query) -> str | None:
    """A parsed query (bot.query) as tsquery text; None when no part of it is indexable."""
    if isinstance(node, Word):
        return _phrase(_parts(node.word))
    if isinstance(node, Prefix):
        parts = _parts(node.stem)
        if not parts:
            return None
        return _phrase(parts, prefix=True)
    if isinstance(node, Hashtag):
        return _lexeme("#" + node.tag)
    if isinstance(node, Handle):
        return _lexeme("@" + node.handle)
    if isinstance(node, Phrase):
        return _phrase([p for w in node.words for p in _parts(w)])
    if isinstance(node, Not):
        inner = tree_to_tsquery(node.child)
        # NOT of what cannot be indexed excludes nothing we could see: leave it out.
        return None if inner is None else f"!{inner}"
    if isinstance(node, And):
        parts = [tree_to_tsquery(c) for c in node.children]
        kept = [p for p in parts if p is not None]
        if not [p for p in kept if not p.startswith("!")]:
            return None
        return kept[0] if len(kept) == 1 else "(" + " & ".join(kept) + ")"
    if isinstance(node, Or):
        parts = [tree_to_tsquery(c) for c in node.children]
        if any(p is None for p in parts):
            return None  # one branch matches what the index cannot find
        return "(" + " | ".join(parts) + ")"  # type: ignore[arg-type]
    raise TypeError(f"not a query node: {node!r}")


def _parts(word: str) -> list[str]:
    """The lexemes the 'simple' parser makes of one harkbot word (it splits at '_')."""
    return [part for part in word.split("_") if part]


def _phrase(parts: list[str], prefix: bool = False) -> str | None:
    """Adjacent lexemes, the last one a prefix when `prefix`."""
    if not parts:
        return None
    lexemes = [_lexeme(p) for p in parts]
    if prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def _lexeme(text: str) -> str:
    """A quoted tsquery lexeme: ' and \\ are the only characters with a meaning inside quotes."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def search_error(query: str, exc: Exception) -> str:
    """The message for a query that cannot be searched, in the words SQLite's search uses."""
    reason = str(exc) if isinstance(exc, QueryError) else "nothing in it can be looked up"
    return f"cannot search for {query!r}: {reason}. Use words, \"exact phrases\", OR, NOT and prefix*"
