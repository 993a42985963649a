from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.demo.replay import DemoSummary, run_demo

DEMO_START = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """One full demo replay (about 10 s), shared by the tests that read its results."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    return run_demo(db, start=DEMO_START, env={}, with_console=False)


@pytest.fixture
def repo() -> Path:
    return Path(__file__).resolve().parent.parent


# PostgreSQL: `pg_dsn` (a fresh schema per test) and the header line saying whether it runs.
from tests.pg import pg_dsn, pytest_report_header  # noqa: E402,F401


@pytest.fixture(autouse=True)
def logger_levels():
    """A CLI command run in a test sets the levels of the libraries it finds noisy (urllib3,
    googleapiclient, ...), process-wide; put every logger's level back after each test, so a
    later test that reads those libraries' records does not depend on the order of the run."""
    import logging

    manager = logging.Logger.manager
    before = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root = logging.getLogger().level
    yield
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and lg.level != before.get(name, logging.NOTSET):
            lg.setLevel(before.get(name, logging.NOTSET))
    logging.getLogger().setLevel(root)
