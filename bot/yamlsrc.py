"""YAML files as validation input: safe loading, and turning pydantic errors into Problems
that point at file:line:col with a key path and, where we can, a suggestion.

ruamel's round-trip loader keeps the position of every key and value. It never builds Python
objects from tags, but it does accept any tag silently (a `!!python/object/apply:...` value
arrives as a tagged list), so `load` refuses every tag beyond YAML's core types with a Problem
at the tag: a config or rule file holds plain mappings, sequences and scalars only.

Anchors and aliases are fine (`defaults: &d` ... `<<: *d`), but every reader after the
loader (validation, plain(), the rule engine) walks the expanded tree, so a few lines of
nested aliases ("billion laughs") would cost minutes: `load` measures the expanded size on
the composed node graph (linear: each anchored node is sized once) and refuses a file that
expands past MAX_NODES, or is larger than MAX_BYTES, with a Problem at file:line.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedOrderedMap, CommentedSeq, CommentedSet, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from bot.errors import Problem

Loc = tuple[Any, ...]

MAX_BYTES = 1024 * 1024  # a config or rule file is a few kilobytes; a megabyte is a mistake
MAX_NODES = 100_000  # nodes after alias expansion; the shipped files have a few hundred


class Source:
    """One loaded YAML document and the positions of its nodes."""

    def __init__(self, file: str, root: Any, text: str = ""):
        self.file = file
        self.root = root
        self.text = text  # the file as written: lets `value_position` see quotes and line breaks

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the deepest node along `loc` that exists.

        `key=True` points at the last key itself (for an unknown key) instead of its value.
        """
        node, line, col = self.root, 1, 1
        if isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None:
            line, col = node.lc.line + 1, node.lc.col + 1  # after any leading comments
        for depth, step in enumerate(loc):
            last = depth == len(loc) - 1
            if isinstance(node, CommentedMap) and step in node:
                at = node.lc.key(step) if (key and last) else node.lc.value(step)
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
                at = node.lc.item(step)
            else:
                break
            if not at:  # ruamel keeps no position for some nodes; stay at the parent's
                break
            line, col = at[0] + 1, at[1] + 1
            node = node[step]
        return line, col

    def value_position(self, loc: Loc, index: int) -> tuple[int, int]:
        """1-based (line, col) of character `index` of the string value at `loc`, as written.

        Walks the file text from the scalar's start, so it holds for quoted values (the quote,
        '' and \\ escapes), block scalars (| and >) and values folded over several lines.
        """
        line, col = self.position(loc)
        value = self.node(loc)
        lines = self.text.split("\n")
        fallback = (line, col + index)
        if not isinstance(value, str) or not self.text or not 0 < line <= len(lines):
            return fallback
        row, c = line - 1, col - 1
        style = lines[row][c:c + 1]
        if style and style in "|>":
            row, c = row + 1, 0  # the text starts on the next line, after its indentation
        elif style and style in "'\"":
            c += 1

        def at() -> str:
            return lines[row][c] if c < len(lines[row]) else "\n"

        for ch in value[:index]:
            while True:
                if row >= len(lines):
                    return fallback
                here = at()
                if here == "\n":
                    row, c = row + 1, 0
                    if ch in " \n":  # a line break is the value's space or newline (folding)
                        while row < len(lines) and lines[row][c:c + 1] in (" ", "\t"):
                            c += 1
                        break
                elif style == "'" and lines[row][c:c + 2] == "''":
                    c += 2  # '' is one quote
                    break
                elif style == '"' and here == "\\" and c + 1 < len(lines[row]):
                    c += {"x": 4, "u": 6, "U": 10}.get(lines[row][c + 1], 2)  # one escape, one char
                    break
                elif here == ch:
                    c += 1
                    break
                else:
                    c += 1  # indentation, a quote, a continuation: not part of the value
        return row + 1, c + 1

    def node(self, loc: Loc) -> Any:
        """The value at `loc`, or None where the path does not exist."""
        node = self.root
        for step in loc:
            if isinstance(node, dict) and step in node:
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
                node = node[step]
            else:
                return None
        return node

    def problem(self, loc: Loc, message: str, hint: str = "", *, key: bool = False,
                severity: str = "error", offset: int = 0, at: int | None = None) -> Problem:
        """A Problem at `loc`; `at` is a character index into the string value there (for a
        query's error position), `offset` a plain column shift."""
        line, col = self.value_position(loc, at) if at is not None else self.position(loc, key=key)
        return Problem(self.file, line, col + offset, dotted(loc), message, hint, severity)


def dotted(loc: Iterable[Any]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def load(path: Path, display: str | None = None) -> tuple[Source | None, list[Problem]]:
    """Load a YAML file; on a syntax error, one Problem at the error's position."""
    display = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [Problem(display, 0, 0, "", f"the file is {size:,} bytes, over the limit of {MAX_BYTES:,}",
                                  "a config or rule file is a few kilobytes; split it, or check that this is"
                                  " the file you meant")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, 0, 0, "", f"cannot read the file: {exc}")]
    try:
        yaml = YAML(typ="rt", pure=True)
        yaml.preserve_quotes = True  # so a query's column offsets can skip its opening quote
        bomb = _expansion_problem(display, yaml.compose(text))
        if bomb is not None:
            return None, [bomb]
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        started = exc.context_mark
        if exc.problem and exc.context and started and started.line + 1 != line:
            # e.g. an unclosed quote or bracket: say where it opened, lines above
            what += f", {exc.context.strip()} that starts at line {started.line + 1}, column {started.column + 1}"
        return None, [Problem(display, line, col, "", f"YAML syntax: {what}",
                              "check indentation, colons and quotes on this line and the one above")]
    except YAMLError as exc:
        return None, [Problem(display, 0, 0, "", f"YAML: {' '.join(str(exc).split())}")]
    except RecursionError:
        return None, [_too_deep(display)]
    source = Source(display, root, text)
    try:
        problems = _check_tags(source, root, ())
    except RecursionError:
        return None, [_too_deep(display)]
    if problems:
        return None, problems
    return source, []


def _expansion_problem(display: str, root: Node | None) -> Problem | None:
    """A Problem at the first alias that takes the expanded document past MAX_NODES."""
    sizes: dict[int, int] = {}  # id(node) -> its expanded size; an alias is the same node object
    over: list[Node] = []  # the innermost block whose expansion crossed the limit

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                if not over:
                    over.append(child)
                break
        sizes[id(node)] = total
        return total

    if root is None or size(root) <= MAX_NODES:
        return None
    # An alias is its anchored node, so the mark is where that block is defined (&name).
    mark = over[0].start_mark if over else root.start_mark
    return Problem(display, mark.line + 1, mark.column + 1, "",
                   f"expanding the aliases of this block takes the document past {MAX_NODES:,} values",
                   "anchors and aliases (&name, *name) are for sharing a block, not for multiplying it;"
                   " write the values out, or use fewer nested aliases")


def _too_deep(display: str) -> Problem:
    return Problem(display, 0, 0, "", "the YAML nests too deeply to read",
                   "a config or rule file needs a few levels; check for a runaway list or mapping")


_YAML_TAG = "tag:yaml.org,2002:"
_CORE_TAGS = {_YAML_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq")}


def _tag_of(node: Any) -> str | None:
    if isinstance(node, CommentedOrderedMap):  # ruamel drops the tag of these two
        return _YAML_TAG + "omap"
    if isinstance(node, CommentedSet):
        return _YAML_TAG + "set"
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag)  # a Tag object in ruamel >= 0.17.22, a str before
    return value if isinstance(value, str) else None


def _check_tags(source: Source, node: Any, loc: Loc, *, key: bool = False) -> list[Problem]:
    """Every explicitly tagged node beyond the core types, as a Problem at its tag.

    `!!str 5` is plain YAML for "5" and ruamel keeps it as a TaggedScalar: it is unwrapped in
    place (the parent's position records are untouched), so validation sees the string.
    """
    tag = _tag_of(node)
    if tag is not None and tag not in _CORE_TAGS:
        shown = "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag
        return [source.problem(loc, f"the YAML tag '{shown}' is not allowed",
                               "these files hold plain values only; remove the tag", key=key)]
    problems: list[Problem] = []
    if isinstance(node, CommentedMap):
        for k in list(node):
            problems += _check_tags(source, k, loc + (k,), key=True)
            value = node[k]
            if isinstance(value, TaggedScalar) and _tag_of(value) == _YAML_TAG + "str":
                node[k] = str(value.value)
            else:
                problems += _check_tags(source, value, loc + (k,))
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            if isinstance(value, TaggedScalar) and _tag_of(value) == _YAML_TAG + "str":
                node[i] = str(value.value)
            else:
                problems += _check_tags(source, value, loc + (i,))
    return problems


def plain(node: Any) -> Any:
    """ruamel's node types -> dict/list/str/int/float/bool/None for validation."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, (int, float, bool)) else k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def validation_problems(
    error: ValidationError, source: Source, model: type[BaseModel], prefix: Loc = ()
) -> list[Problem]:
    """Every pydantic error, located, with a did-you-mean for unknown keys."""
    problems = []
    for item in error.errors(include_url=False):
        loc = prefix + tuple(item["loc"])
        kind = item["type"]
        if "[key]" in loc:  # pydantic's marker for a bad mapping key, e.g. a number: point at the key
            loc = loc[:loc.index("[key]")]
            problems.append(source.problem(loc, "a key here must be text",
                                           f"quote it: '{loc[-1]}'" if loc else "", key=True))
        elif kind == "extra_forbidden":
            bad = loc[-1]
            known = field_names(model, tuple(item["loc"])[:-1])
            problems.append(source.problem(loc, "unknown key", suggest(str(bad), known), key=True))
        elif kind == "missing":
            problems.append(source.problem(loc[:-1], f"'{loc[-1]}' is required but missing",
                                           f"add '{loc[-1]}:' here"))
        else:
            message = item["msg"].removeprefix("Value error, ")
            hint = ""
            if kind == "literal_error":
                hint = suggest(str(item.get("input")), _literal_choices(item))
            elif kind in ("model_type", "model_attributes_type", "dict_type"):
                message = "must be a mapping of keys"  # not "... or instance of BrandModel"
            elif kind == "int_parsing_size":  # 1e26: pydantic says "exceeded maximum size" of what
                bound = upper_bound(field_info(model, tuple(item["loc"])))
                message = f"{item.get('input')} is far too large" + (f": at most {bound:,}" if bound is not None else "")
                hint = "write an ordinary whole number"
            elif kind == "string_pattern_mismatch":  # a regex is no help to the person: say what fits
                message = f"{item.get('input')!r} is not allowed here"
                found = field_info(model, tuple(item["loc"]))
                pattern = (item.get("ctx") or {}).get("pattern", "")
                hint = found.description if found and found.description else f"it must match {pattern}"
            problems.append(source.problem(loc, message, hint))
    return problems


def upper_bound(found: Any) -> int | float | None:
    """The `le`/`lt` a field declares (pydantic keeps them as annotated_types metadata)."""
    for item in getattr(found, "metadata", ()) or ():
        for name in ("le", "lt"):
            value = getattr(item, name, None)
            if value is not None:
                return value
    return None


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if choices:
        return "expected one of: " + ", ".join(sorted(choices))
    return ""


def _literal_choices(item: dict) -> list[str]:
    expected = (item.get("ctx") or {}).get("expected", "")
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a mapping at `loc` (relative to `model`) may hold."""
    current = _walk(model, loc)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def field_info(model: type[BaseModel], loc: Loc) -> Any:
    """The pydantic FieldInfo of the field at `loc` (relative to `model`), or None."""
    if not loc:
        return None
    parent = _walk(model, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return parent.model_fields.get(str(loc[-1]))
    return None


def _walk(model: Any, loc: Loc) -> Any:
    """The annotation reached by following `loc` through models, dicts and lists."""
    current: Any = model
    steps = list(loc)
    while True:
        current = _unwrap(current)
        if not steps:
            return current
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(steps.pop(0)))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        if origin in (dict, list, tuple):
            steps.pop(0)
            args = typing.get_args(current)
            current = args[-1] if args else Any
            continue
        return None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation
