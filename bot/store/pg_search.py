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
- a word with underscores is a phrase of its parts, as the 'simple' parser splits it;
- `title:`, `text:` and `author:` (bot.query.SEARCH_FIELDS) look in that column alone: the
  index is over title + text together, so `search_condition` narrows by the index and then
  checks the field's own document, built the way the column's is (`field_document`).
"""

from __future__ import annotations

from bot.errors import QueryError
from bot.query import And, Field, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Word, parse_search
from bot.store import pg_schema

_IN_DOCUMENT = ("title", "text")  # the fields the `fts` column is made of


def to_tsquery_text(query: str) -> str | None:
    """The tsquery for `query`, or None when nothing in it can be looked up in the index (a
    term of underscores only). Raises QueryError (with the position) on a malformed query.
    A `title:`/`text:` field reads as its terms anywhere in the document (a little more,
    never less); search_condition checks the field itself."""
    return tree_to_tsquery(parse_search(query))


def search_condition(query: str, alias: str = "m") -> tuple[str, list] | None:
    """SQL (`%s` placeholders) and its arguments for "the mention `alias` matches `query`",
    or None when nothing in it can be looked up. The GIN index narrows; a query with fields
    adds each field's own check. Raises QueryError on a malformed query."""
    node = parse_search(query)
    narrow = tree_to_tsquery(node)
    if not _has_field(node):
        return None if narrow is None else (f"{alias}.fts @@ %s::tsquery", [narrow])
    exact, args = _condition(node, alias)
    if narrow is None:
        return exact, args
    return f"{alias}.fts @@ %s::tsquery AND ({exact})", [narrow, *args]


def highlight_tsquery(query: str) -> str | None:
    """A tsquery for ts_headline: every term looked for, ORed, with #tag and @handle as their
    word (ts_headline parses the raw text, where '#' stands apart from the word)."""
    parts = []
    for term in parse_search(query).terms():
        if isinstance(term, (Hashtag, Handle)):
            term = Word(term.tag if isinstance(term, Hashtag) else term.handle)
        text = tree_to_tsquery(term)
        if text is not None and text not in parts:
            parts.append(text)
    return " | ".join(parts) if parts else None


def field_document(name: str, alias: str = "m") -> str:
    """The tsvector of one column, made as pg_schema.FTS_DOCUMENT makes title + text's."""
    return pg_schema.FTS_DOCUMENT.replace(pg_schema._TEXT, f"coalesce({alias}.{name}, '')")  # noqa: SLF001


def _has_field(node: Query) -> bool:
    if isinstance(node, Field):
        return True
    if isinstance(node, Not):
        return _has_field(node.child)
    if isinstance(node, (And, Or)):
        return any(_has_field(c) for c in node.children)
    return False


def _condition(node: Query, alias: str) -> tuple[str, list]:
    """Exact SQL for a tree holding fields: the parts without fields against the `fts` column,
    each field against its own column's document."""
    if isinstance(node, Field):
        inner = tree_to_tsquery(node.child)
        return ("FALSE", []) if inner is None else (f"{field_document(node.name, alias)} @@ %s::tsquery", [inner])
    if not _has_field(node):
        inner = tree_to_tsquery(node)
        return ("FALSE", []) if inner is None else (f"{alias}.fts @@ %s::tsquery", [inner])
    if isinstance(node, Not):
        sql, args = _condition(node.child, alias)
        return f"NOT ({sql})", args
    parts = [_condition(c, alias) for c in node.children]  # And, Or
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(sql for sql, _ in parts) + ")", [a for _, args in parts for a in args]


def tree_to_tsquery(node: Query) -> str | None:
    """A parsed query (bot.query) as tsquery text; None when no part of it is indexable. A
    field reads as the whole document (title and text: a superset; author: not indexed)."""
    if isinstance(node, Field):
        return tree_to_tsquery(node.child) if node.name in _IN_DOCUMENT else None
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
        if _has_field(node.child):
            return None  # NOT title:x excludes less than NOT x would: no narrowing from it
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
    return (f"cannot search for {query!r}: {reason}. Use words, \"exact phrases\", OR, NOT, prefix*, #tag, @handle"
            " and title:, text: or author: for one field")
