"""The v4 held-out self-harm set keeps its shape: these tests check the file's format only.

They never run the detector on it: v4 is measured once by the lead, and a test that printed or
asserted detector figures would turn it into a tuning set.
"""

from __future__ import annotations

import collections

import pytest

LEVELS = {"intent", "ideation", "self-harm", "risk", "none"}
AT_RISK = LEVELS - {"none"}
MIN_ROWS = 600
MIN_PER_CLASS = 250


def problems(raw: str) -> list[str]:
    """Every way `raw` breaks the case-file format, as messages a person can act on."""
    found: list[str] = []
    if "\r" in raw:
        found.append("carriage return in file: save with LF line endings")
    if not raw.endswith("\n"):
        found.append("file does not end with a newline")
    lines = raw.rstrip("\n").split("\n")
    if lines[0] != "text\tlevel\tfamily":
        found.append(f"header is {lines[0]!r}, want 'text<TAB>level<TAB>family'")
    seen: dict[str, int] = {}
    classes: collections.Counter[str] = collections.Counter()
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) != 3:
            found.append(f"line {n}: {len(cols)} columns, want 3 (a tab inside the text?)")
            continue
        text, level, family = cols
        if not text.strip() or text != text.strip():
            found.append(f"line {n}: text is empty or has leading/trailing spaces")
        if level not in LEVELS:
            found.append(f"line {n}: level {level!r} is not one of {sorted(LEVELS)}")
        if not family.strip():
            found.append(f"line {n}: family is empty")
        # Duplicates after folding case and whitespace count: they would be scored twice.
        key = " ".join(text.lower().split())
        if key in seen:
            found.append(f"line {n}: duplicates line {seen[key]}")
        seen.setdefault(key, n)
        classes["at-risk" if level in AT_RISK else "none"] += 1
    rows = len(lines) - 1
    if rows < MIN_ROWS:
        found.append(f"{rows} cases, want at least {MIN_ROWS}")
    for cls in ("at-risk", "none"):
        if classes[cls] < MIN_PER_CLASS:
            found.append(f"{classes[cls]} {cls} cases, want at least {MIN_PER_CLASS}")
    return found


def test_v4_file_has_the_format(repo):
    raw = (repo / "bench/data/selfharm_cases_v4.tsv").read_text(encoding="utf-8")
    assert problems(raw) == []


def test_v4_card_exists_and_states_it_is_held_out(repo):
    card = (repo / "bench/data/SELFHARM_CASES_V4.md").read_text(encoding="utf-8")
    assert "measured once by the lead" in card
    assert "becomes a tuning set once anyone tunes on it" in card


def _good(n_risk: int = 250, n_none: int = 350) -> list[str]:
    rows = [f"post number {i}\tideation\tpassive-ideation" for i in range(n_risk)]
    rows += [f"ordinary post {i}\tnone\tfigurative" for i in range(n_none)]
    return rows


def _file(rows: list[str], header: str = "text\tlevel\tfamily") -> str:
    return "\n".join([header, *rows]) + "\n"


def test_checker_accepts_a_well_formed_file():
    assert problems(_file(_good())) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows + ["has\ta tab\tnone\tfigurative"], "columns, want 3"),
        (lambda rows: rows + ["a new post\tmaybe\tfigurative"], "is not one of"),
        (lambda rows: rows + ["a new post\tnone\t "], "family is empty"),
        (lambda rows: rows + ["  POST   number 3\tnone\tfigurative"], "leading/trailing"),
        (lambda rows: rows + ["Post  Number 3\tnone\tfigurative"], "duplicates line"),
        (lambda rows: rows[:-100], "cases, want at least 600"),
        (lambda rows: rows[1:], "at-risk cases, want at least 250"),
    ],
)
def test_checker_rejects_each_kind_of_defect(mutate, message):
    assert any(message in p for p in problems(_file(mutate(_good()))))


def test_checker_rejects_a_wrong_header_and_crlf():
    assert any("header is" in p for p in problems(_file(_good(), header="text\tlabel\tfamily")))
    assert any("carriage return" in p for p in problems(_file(_good()).replace("\n", "\r\n")))
