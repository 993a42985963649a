"""Blocking an author or a site for one brand: one visible edit of config.yaml.

`harkbot brands block mindful --author spambot --reason spam` adds `OR author:spambot` to the
brand's `exclude` (a brand's exclude drops what it matches, so a block is one more thing to
match: `-author:` belongs in a `query`, where it would mean the same) and a comment line above
it saying who blocked it, when and why:

    # blocked 2026-12-08 by ana: spam (harkbot brands block)
    exclude: '"mindful eating" OR "be mindful" OR author:spambot'

A brand without an exclude gets the two lines after its last key. Every other byte of the file
stays as it was: the edit is made in the text, at the positions ruamel's composer gives for
the exclude's value, and then checked by loading both texts and comparing them (only that
brand's exclude may differ, and by exactly the block). Pure: text in, text out; the command
(bot/cli_brands.py) validates the result with load_config and writes it atomically.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from bot.errors import HarkError, QueryError
from bot.query import Author, Or, Query, Site, parse
from bot.yamlsrc import plain

MARK = "harkbot brands block"  # ends every comment a block writes, so a reader can find them


class BlockError(HarkError):
    """A block that cannot be made: the message says why and what to do instead."""


@dataclass(frozen=True)
class Edit:
    brand: str
    term: Query  # the Author or Site added
    before: str  # the exclude as it was ("" when there was none)
    after: str  # the exclude with the block
    text: str  # the whole new file
    line: int  # 1-based line of `exclude:` in the new file

    def diff(self, old: str, path: str) -> str:
        return "".join(difflib.unified_diff(old.splitlines(keepends=True), self.text.splitlines(keepends=True),
                                            fromfile=f"a/{path}", tofile=f"b/{path}"))


def block_term(author: str | None = None, site: str | None = None) -> Query:
    """The term `--author HANDLE` (`@handle`, `x:handle`, or a name with spaces) or `--site HOST`
    stands for, validated as the query language validates it (QueryError says what is wrong)."""
    if (author is None) == (site is None):
        raise BlockError("give exactly one of --author HANDLE and --site HOST")
    if site is not None:
        text = f"site:{site.strip()}"
    else:
        value = author.strip()
        platform, _, handle = value.partition(":") if re.fullmatch(r"[A-Za-z]+:.+", value) else ("", "", value)
        quoted = '"' + handle + '"' if re.search(r"[\s()]", handle) and '"' not in handle else handle
        text = f"author:{platform}:{quoted}" if platform else f"author:{quoted}"
    try:
        node = parse(text)
    except QueryError as exc:
        raise BlockError(f"{'--site' if site is not None else '--author'} {site if site is not None else author!r}: "
                         f"{exc}") from None
    if not isinstance(node, (Author, Site)):
        raise BlockError(f"{text!r} is not one author or one site")
    return node


def comment_line(actor: str, now: datetime, reason: str | None) -> str:
    why = " ".join((reason or "").split())  # one line, whatever was typed
    return f"# blocked {now:%Y-%m-%d} by {' '.join(actor.split()) or 'cli'}{': ' + why if why else ''} ({MARK})"


def plan(text: str, brand: str, term: Query, comment: str) -> Edit:
    """The file `text` with `term` added to `brand`'s exclude and `comment` above it."""
    nl = "\r\n" if "\r\n" in text else "\n"
    try:
        root = YAML(typ="rt", pure=True).compose(text)
    except YAMLError as exc:
        raise BlockError(f"the file is not valid YAML ({exc.__class__.__name__}); fix it first (harkbot check)") from None
    brands = _value(root, "brands")
    if not isinstance(brands, MappingNode) or brands.flow_style:
        raise BlockError("the file has no `brands:` block mapping; add the brand first")
    spec = _value(brands, brand)
    if spec is None:
        keys = ", ".join(str(k.value) for k, _v in brands.value)
        raise BlockError(f"no brand '{brand}' in the file (its brands: {keys})")
    if not isinstance(spec, MappingNode) or spec.flow_style:
        raise BlockError(f"brand '{brand}' is written on one line ({{query: ...}}); write it as a block "
                         "mapping, one key a line, to block from the command line")
    pair = next(((k, v) for k, v in spec.value if isinstance(k, ScalarNode) and k.value == "exclude"), None)
    indent = " " * spec.value[0][0].start_mark.column
    if pair is None or _null(pair[1]):
        before = ""
        after = str(term)
        lines = text.splitlines(keepends=True)
        value = _yaml_scalar(after)
        if pair is None:
            last = spec.value[-1][1]
            at = last.end_mark.line if last.end_mark.column == 0 else last.end_mark.line + 1
            new_lines = [f"{indent}{comment}{nl}", f"{indent}exclude: {value}{nl}"]
            if at >= len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += nl  # the brand's last line ended the file without a newline
            new = "".join(lines[:at] + new_lines + lines[at:])
            line = at + 2
        else:  # `exclude:` with nothing (or ~) after it
            at = pair[0].start_mark.line
            new = "".join(lines[:at] + [f"{indent}{comment}{nl}", f"{indent}exclude: {value}{nl}"] + lines[at + 1:])
            line = at + 2
    else:
        node = pair[1]
        if not isinstance(node, ScalarNode):
            raise BlockError(f"brand '{brand}': exclude is not a query text; write it as one")
        loaded = plain(YAML(typ="rt", pure=True).load(text))  # the composer marks folds in node.value
        before = str(loaded["brands"][brand]["exclude"])
        try:
            current = parse(before)
        except QueryError as exc:
            raise BlockError(f"brand '{brand}': its exclude does not parse ({exc}); fix it first (harkbot check)") from None
        if any(alt == term for alt in (current.children if isinstance(current, Or) else (current,))):
            raise BlockError(f"brand '{brand}' already blocks {term} (line {node.start_mark.line + 1}); nothing to do")
        added = f" OR {term}"
        body = before.rstrip()
        after = body + added + before[len(body):]  # a block scalar's last line break stays last
        end = node.end_mark.index
        style = node.style
        if style == "'":
            at, piece = end - 1, added.replace("'", "''")
        elif style == '"':
            at, piece = end - 1, added.replace("\\", "\\\\").replace('"', '\\"')
        elif style in ("|", ">"):
            at, piece = len(text[:end].rstrip()), added  # the end of the last line of the text
        else:  # plain
            if " #" in added or ": " in added:
                raise BlockError(f"{term} cannot be added to an unquoted exclude; quote the exclude first")
            at, piece = end, added
        if style in ("'", '"') and text[at] != style:
            raise BlockError(f"brand '{brand}': cannot find the end of its exclude; add `OR {term}` by hand")
        edited = text[:at] + piece + text[at:]
        key_line = pair[0].start_mark.line
        key_start = sum(len(x) for x in text.splitlines(keepends=True)[:key_line])
        key_indent = " " * pair[0].start_mark.column
        new = edited[:key_start] + f"{key_indent}{comment}{nl}" + edited[key_start:]
        line = key_line + 2
    _check(text, new, brand, after)
    return Edit(brand, term, before, after, new, line)


def _value(mapping: Node | None, key: str) -> Node | None:
    if not isinstance(mapping, MappingNode):
        return None
    for k, v in mapping.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


def _null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag.endswith(":null")


def _yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar on one line: plain when it is safely plain, else single-quoted."""
    if re.fullmatch(r"[A-Za-z][\w.:@\- ]*[\w.]", value) and ": " not in value and " #" not in value:
        return value
    return "'" + value.replace("'", "''") + "'"


def _check(old: str, new: str, brand: str, after: str) -> None:
    """Both texts loaded: equal but for the brand's exclude, which is `after` (else the edit
    went wrong, and the file is not touched)."""
    yaml = YAML(typ="rt", pure=True)
    try:
        was, now = plain(yaml.load(old)), plain(yaml.load(new))
    except YAMLError as exc:
        raise BlockError(f"the edited file would not load ({exc.__class__.__name__}); add the block by hand") from None
    got = ((now.get("brands") or {}).get(brand) or {}).get("exclude") if isinstance(now, dict) else None
    if isinstance(was, dict):
        spec = dict((was.get("brands") or {}).get(brand) or {})
        spec["exclude"] = after
        was = {**was, "brands": {**was["brands"], brand: spec}}
    if got != after or was != now:
        raise BlockError("the edit did not come out as planned (an unusual layout of the file?); "
                         f"add `{after}` as the exclude by hand")
