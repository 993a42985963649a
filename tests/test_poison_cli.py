"""`harkbot deadletters list|retry`: what was set aside, and storing it once it can be (#20)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.store import Store
from tests.helpers import T0, mention, scored


@pytest.fixture
def project(tmp_path, repo, monkeypatch):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def letters(project):
    """A database holding two letters: posts the store refused (lone surrogates skip normalise here)."""
    path = project / "h.db"
    store = Store(path)
    page = [scored(mention(1, "Mindful Health ok")), scored(mention(2, "Mindful Health \ud800 [red]private[/red]")),
            scored(mention(3, "nothing of ours \ud800"))]
    assert store.ingest_page("x", page, None, T0).new == 1
    store.close()
    return path


def test_list_shows_key_stage_and_reason_never_the_post(letters):
    result = invoke("deadletters", "list", "--db", str(letters))
    assert result.exit_code == 0, result.output
    assert "x:2" in result.output and "x:3" in result.output and "2 open" in result.output
    assert "private" not in result.output
    rows = [json.loads(line) for line in invoke("deadletters", "list", "--json", "--db", str(letters)).output.splitlines()]
    assert [(r["id"], r["key"], r["stage"], r["attempts"], r["resolution"]) for r in rows] == [
        (1, "x:2", "store", 1, None), (2, "x:3", "store", 1, None)]
    assert rows[0]["reason"].startswith("UnicodeEncodeError: surrogates not allowed")
    assert not any("private" in json.dumps(r) for r in rows)  # the post stays out of --json too


def test_retry_one_then_all_stores_and_closes_them(letters):
    one = invoke("deadletters", "retry", "1", "--db", str(letters))
    assert one.exit_code == 0, one.output
    assert "1 x:2: stored" in one.output and "1 resolved, 0 still refused" in one.output
    rest = invoke("deadletters", "retry", "--db", str(letters))
    assert "2 x:3: no brand matches" in rest.output and rest.exit_code == 0
    assert "no dead letters open" in invoke("deadletters", "list", "--db", str(letters)).output
    rows = [json.loads(line) for line in
            invoke("deadletters", "list", "--all", "--json", "--db", str(letters)).output.splitlines()]
    assert [r["resolution"] for r in rows] == ["stored", "no brand matches"]
    store = Store(letters)
    stored = {sm.mention.id: sm.mention.text for sm in store.recent(limit=10)}
    assert stored == {"1": "Mindful Health ok", "2": "Mindful Health \ufffd [red]private[/red]"}


def test_retry_of_an_unknown_or_closed_letter_says_so(letters):
    unknown = invoke("deadletters", "retry", "99", "--db", str(letters))
    assert unknown.exit_code == 1 and "no dead letter 99" in unknown.output
    invoke("deadletters", "retry", "1", "--db", str(letters))
    again = invoke("deadletters", "retry", "1", "--db", str(letters))
    assert again.exit_code == 0 and "already resolved: stored" in again.output
