"""The CLI reads top-down: command modules share bot/cli_common.py and never import bot/cli.py,
which imports them (#19 item 6)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_command_module_imports_the_cli_that_registers_it():
    modules = sorted(BOT.glob("cli_*.py"))
    assert modules
    offenders = [m.name for m in modules if "bot.cli" in _imports(m)]
    assert offenders == []


def test_cli_common_imports_no_command_module():
    assert not any(name.startswith("bot.cli") for name in _imports(BOT / "cli_common.py"))
