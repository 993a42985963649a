"""`harkbot brands block`: the exact diff, every other byte kept, a duplicate and a bad handle
refused, the result loading, and the audit row; bot/blocks.py's edit on layouts people write."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from bot.blocks import BlockError, block_term, comment_line, plan
from bot.cli import main
from bot.config import load_config
from bot.query import Author, Site
from bot.store import open_store
from tests.test_alerts_cli import NO_SECRETS

WHEN = datetime(2026, 12, 8, 9, 30, tzinfo=timezone.utc)
COMMENT = comment_line("ana", WHEN, "spam")


@pytest.fixture
def project(tmp_path, repo):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(repo / "rules", tmp_path / "rules")
    return tmp_path


def invoke(project, *args: str):
    return CliRunner().invoke(main, ["--config", str(project / "config.yaml"), *args],
                              env={**NO_SECRETS, "USER": "ana"}, catch_exceptions=False)


def test_dry_run_prints_the_exact_diff_and_changes_nothing(project):
    before = (project / "config.yaml").read_bytes()
    result = invoke(project, "brands", "block", "mindful", "--author", "@SpamBot", "--reason", "spam", "--dry-run")
    assert result.exit_code == 0, result.output
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert result.stdout.startswith(
        "--- a/config.yaml\n"
        "+++ b/config.yaml\n"
        "@@ -13,7 +13,8 @@\n"
        "     name: Mindful Health\n"
        "     kind: brand\n"
        "     query: '\"mindful health\" OR mindfulhealth OR \"mindful app\"'\n"
        "-    exclude: '\"mindful eating\" OR \"be mindful\"'\n"
        f"+    # blocked {today} by ana: spam (harkbot brands block)\n"
        "+    exclude: '\"mindful eating\" OR \"be mindful\" OR author:spambot'\n"
        "   theranow:\n"
        "     name: TheraNow\n"
        "     kind: competitor\n"
        "dry run:")
    assert (project / "config.yaml").read_bytes() == before
    assert not (project / "harkbot.db").exists()  # no audit row for a dry run


def test_block_changes_one_line_adds_one_comment_and_keeps_every_other_byte(project):
    path = project / "config.yaml"
    before = path.read_bytes().decode()
    result = invoke(project, "brands", "block", "mindful", "--author", "x:SpamBot", "--as", "ana")
    assert result.exit_code == 0, result.output
    assert "restart it" in result.stdout  # config.yaml is not hot-reloaded: the command says so
    after = path.read_bytes().decode()
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(new) == len(old) + 1
    i = old.index("    exclude: '\"mindful eating\" OR \"be mindful\"'\n")
    assert new[:i] == old[:i] and new[i + 2:] == old[i + 1:]
    assert new[i].startswith("    # blocked ") and new[i].endswith(" by ana (harkbot brands block)\n")
    assert new[i + 1] == "    exclude: '\"mindful eating\" OR \"be mindful\" OR author:x:spambot'\n"
    config = load_config(path)
    assert Author("spambot", "x") in config.brands["mindful"].exclude.children


def test_a_brand_without_exclude_gets_two_lines_after_its_last_key(project):
    path = project / "config.yaml"
    before = path.read_bytes()
    assert invoke(project, "brands", "block", "theranow", "--site", "Spam.Example.com").exit_code == 0
    after = path.read_bytes()
    cut = before.index(b"  haven:")  # theranow's last key, query, is the line before
    comment = f"    # blocked {datetime.now(timezone.utc):%Y-%m-%d} by ana (harkbot brands block)\n".encode()
    assert after == before[:cut] + comment + b"    exclude: site:spam.example.com\n" + before[cut:]
    assert load_config(path).brands["theranow"].exclude == Site("spam.example.com")


def test_a_duplicate_block_is_refused_and_the_file_left_alone(project):
    assert invoke(project, "brands", "block", "mindful", "--author", "spambot").exit_code == 0
    path = project / "config.yaml"
    once = path.read_bytes()
    again = invoke(project, "brands", "block", "mindful", "--author", "@SPAMBOT")
    assert again.exit_code == 1
    assert "already blocks author:spambot" in again.stderr
    assert path.read_bytes() == once


@pytest.mark.parametrize("option, value, message", [
    ("--author", "spam/bot", "'spam/bot' is not a handle: a handle is letters, digits and _ . - @"),
    ("--author", "myspace:bob", "'author:myspace:' names no platform harkbot listens to"),
    ("--author", "", "'author:' needs a handle"),
    ("--site", "https://spam.example/win", "site: takes a host, not a URL: write site:spam.example"),
    ("--site", "localhost", "'localhost' is not a host name"),
])
def test_a_bad_handle_or_host_is_refused_with_what_to_write(project, option, value, message):
    before = (project / "config.yaml").read_bytes()
    result = invoke(project, "brands", "block", "mindful", option, value)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert (project / "config.yaml").read_bytes() == before


def test_an_unknown_brand_names_the_brands_there_are(project):
    result = invoke(project, "brands", "block", "mindfull", "--author", "bob")
    assert result.exit_code == 1 and "no brand 'mindfull' in the file (its brands: mindful, theranow, haven)" in result.stderr


def test_the_block_is_audited_with_who_and_a_hashed_subject(project):
    assert invoke(project, "brands", "block", "haven", "--author", "bob", "--reason", "spam  ring",
                  "--as", "ana").exit_code == 0
    store = open_store(project / "harkbot.db")
    try:
        [row] = [r for r in store.audit_rows(10) if r["action"] == "brands.block"]
        salt = store.audit_salt()
    finally:
        store.close()
    assert row["actor"] == "ana" and row["note"] == "haven: spam ring"
    subject = "brands.block:haven:author:bob"
    assert row["subject"] == hmac.new(salt.encode(), subject.encode(), hashlib.sha256).hexdigest()
    assert "bob" not in row["subject"]


def test_a_config_that_would_not_load_is_not_written(project):
    path = project / "config.yaml"
    text = path.read_text().replace("evaluate_every: 5m", "evaluate_every: often")  # already broken
    path.write_text(text)
    result = invoke(project, "brands", "block", "mindful", "--author", "bob")
    assert result.exit_code == 1 and "nothing was written" in result.stderr
    assert path.read_text() == text
    assert not list(project.glob(".config.yaml.*"))  # the temporary file is gone


# -- the edit on other layouts ---------------------------------------------------------------

LAYOUTS = {
    "plain": ("    exclude: spam OR giveaway  # noisy\n", "    exclude: spam OR giveaway OR author:bob  # noisy\n"),
    "double": ('    exclude: "spam OR \\"be mindful\\""\n', '    exclude: "spam OR \\"be mindful\\" OR author:bob"\n'),
    "folded": ("    exclude: >\n      spam OR\n      giveaway\n",
               "    exclude: >\n      spam OR\n      giveaway OR author:bob\n"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_exclude_is_extended_in_its_own_style(layout):
    was, expected = LAYOUTS[layout]
    text = f"brands:\r\n  mindful:\n    query: mindful\n{was}  other:\n    query: other\n".replace("\r\n", "\n")
    edit = plan(text, "mindful", block_term(author="bob"), COMMENT)
    assert edit.text == text.replace(was, f"    {COMMENT}\n{expected}")
    assert edit.after.rstrip().endswith(" OR author:bob")


def test_crlf_files_stay_crlf_and_a_last_brand_without_newline_is_closed():
    text = "brands:\r\n  mindful:\r\n    query: mindful"
    edit = plan(text, "mindful", block_term(site="spam.example"), COMMENT)
    assert edit.text == f"brands:\r\n  mindful:\r\n    query: mindful\r\n    {COMMENT}\r\n    exclude: site:spam.example\r\n"


def test_a_one_line_brand_is_refused_not_rewritten():
    with pytest.raises(BlockError, match="written on one line"):
        plan("brands:\n  mindful: {query: mindful}\n", "mindful", block_term(author="bob"), COMMENT)


def test_block_term_reads_handles_names_and_hosts():
    assert block_term(author="@Bob") == Author("bob")
    assert block_term(author="bluesky:alice.bsky.social") == Author("alice.bsky.social", "bluesky")
    assert block_term(author="Jane  Doe") == Author("jane doe")
    assert block_term(site="News.Spam.Example") == Site("news.spam.example")
    with pytest.raises(BlockError, match="exactly one"):
        block_term()
