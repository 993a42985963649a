"""Retention purge, `forget` for data-subject requests, and the audit table that records them,
on SQLite and PostgreSQL alike (tests/backends.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot import history, retention
from bot.models import Alert, Finding, Post
from bot.store import RuleState, Store
from tests.backends import backend, dsn_of, dump, is_pg, make_store, sql  # noqa: F401 - fixtures
from tests.helpers import mention, scored

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(make_store, backend, tmp_path):
    return make_store(tmp_path / "h.db") if backend == "sqlite" else make_store()


def _ingest(store: Store, listener: str, n: int, start: int, age: timedelta, platform: str = "x",
            author: str | None = None, text: str = "Mindful Health is great") -> list[str]:
    ms = [mention(start + i, text, at=NOW - age - timedelta(minutes=i), platform=platform,
                  author=author or f"user{start + i}") for i in range(n)]
    store.ingest(listener, [scored(m) for m in ms], None, NOW - age)
    return [m.key for m in ms]


def _alert(store: Store, posts: list[Post], *, fired: datetime = NOW, state: str = "inactive",
           title: str = "Influencer: Mindful Health", facts=(), notifiers=("slack",)) -> int:
    finding = Finding(group="mindful", title=title, reason="a post of note", observed=1.0, usual=0.0,
                      window_start=fired, window_end=fired, facts=tuple(facts), posts=tuple(posts))
    alert = Alert(id=None, fingerprint=_fp(fired, title), rule="influencer", kind="influencer",
                  severity="warning", brand="mindful", channel=None, fired_at=fired, finding=finding)
    rs = RuleState(alert.fingerprint, "influencer", "mindful", state, None, None, None, fired)
    alert_id = store.save_state(rs, alert, list(notifiers), fired)
    if state != "firing":
        sql(store, "UPDATE alerts SET state = 'resolved' WHERE id = ?", (alert_id,))
    return alert_id


def _fp(fired: datetime, title: str) -> str:
    """A fingerprint as the rules make them: a digest, which names nobody."""
    import hashlib

    return "fp" + hashlib.sha256(f"{fired.isoformat()}{title}".encode()).hexdigest()[:16]


def _post(author: str, text: str, url: str, platform: str = "x") -> Post:
    return Post(platform, author, text, url, NOW, 100, 1, "neutral")


def _fts(store: Store, word: str) -> int:
    """Mentions the full-text index finds for a word (FTS5's table, PostgreSQL's tsvector)."""
    return history.count_rows(store, history.Filters(query=word))


def _sent(store, alert_id: int) -> None:
    sql(store, "UPDATE outbox SET status = 'sent' WHERE alert_id = ?", (alert_id,))


# -- purge ------------------------------------------------------------------------------------


def test_purge_deletes_mentions_past_their_listeners_retention_with_links_and_index(store):
    _ingest(store, "twitter", 5, 0, timedelta(days=40), text="Mindful Health oldtweet")
    _ingest(store, "twitter", 3, 100, timedelta(days=2), text="Mindful Health newtweet")
    _ingest(store, "reddit", 4, 200, timedelta(days=40), platform="reddit", text="Mindful Health oldpost")
    buckets = sql(store, "SELECT SUM(count) FROM buckets")[0][0]
    days = {"twitter": 30, "reddit": 90, "youtube": 30, "demo": 14}

    dry = retention.purge(store, days, 365, NOW, dry_run=True)
    assert dry.mentions == {"twitter": 5} and store.count("mentions") == 12  # a dry run deletes nothing

    result = retention.purge(store, days, 365, NOW, actor="ops")
    assert result.mentions == {"twitter": 5} and result.complete
    assert store.count("mentions") == 7 and store.count("mention_brands") == 7
    assert _fts(store, "oldtweet") == 0 and _fts(store, "newtweet") == 3 and _fts(store, "oldpost") == 4
    # the 5-minute counts are aggregates without content: they stay for the rules' baselines
    assert sql(store, "SELECT SUM(count) FROM buckets")[0][0] == buckets
    audit = retention.audit_rows(store)
    assert audit[0]["action"] == "purge" and audit[0]["rows"] == 5 and audit[0]["actor"] == "ops"
    assert retention.purge(store, days, 365, NOW).total == 0
    assert len(retention.audit_rows(store)) == 1  # a purge that deleted nothing is not recorded


def test_purge_works_in_batches_and_stops_at_its_time_budget(store, monkeypatch):
    _ingest(store, "twitter", 25, 0, timedelta(days=40))
    monkeypatch.setattr(retention, "BATCH", 10)
    transactions = []
    real = store._tx

    def counting():
        transactions.append(1)
        return real()

    monkeypatch.setattr(store, "_tx", counting)
    first = retention.purge(store, {"twitter": 30}, None, NOW, budget=0.0)  # one batch, then hand back
    assert not first.complete and first.mentions == {"twitter": 10}
    rest = retention.purge(store, {"twitter": 30}, None, NOW)
    assert rest.complete and rest.mentions == {"twitter": 15} and store.count("mentions") == 0
    assert len(transactions) >= 4  # 10 | 10, 5 (+ audit rows): never one long transaction


def test_purge_removes_old_resolved_alerts_but_keeps_firing_and_undelivered_ones(store):
    old = NOW - timedelta(days=400)
    gone = _alert(store, [], fired=old, title="old and resolved")
    _sent(store, gone)
    store.record_update(RuleState(_fp(old, "old and resolved"), "influencer", "mindful", "firing", None,
                                  None, gone, old), store.alert(gone), "worse", old)  # an update, and its outbox row
    _sent(store, gone)
    sql(store, "UPDATE rule_state SET state = 'inactive' WHERE alert_id = ?", (gone,))
    sql(store, "UPDATE alerts SET state = 'resolved' WHERE id = ?", (gone,))
    sql(store, "INSERT INTO messages(alert_id, notifier, channel, channel_id, ts, key, digest, sent_at)"
               " VALUES (?, 'slack', '#a', 'C1', '1.1', 'k', 0, ?)", (gone, old.isoformat()))
    firing = _alert(store, [], fired=old, title="old but firing", state="firing")
    _sent(store, firing)
    waiting = _alert(store, [], fired=old, title="old, never delivered")  # outbox row still pending
    recent = _alert(store, [], fired=NOW - timedelta(days=3), title="recent")
    _sent(store, recent)
    assert retention.purge(store, {}, 365, NOW, dry_run=True).alerts == 1
    result = retention.purge(store, {}, 365, NOW)
    assert result.alerts == 1
    ids = {r[0] for r in sql(store, "SELECT id FROM alerts")}
    assert ids == {firing, waiting, recent}
    for table in ("outbox", "alert_updates", "messages"):
        assert sql(store, f"SELECT COUNT(*) FROM {table} WHERE alert_id = ?", (gone,))[0][0] == 0, table


def test_a_safety_alert_stays_while_its_flagged_mention_does(store):
    """The flag points at its alert (a foreign key on PostgreSQL): the alert goes after the mention."""
    from bot.selfharm import SafetyFlag

    old = NOW - timedelta(days=400)
    m = mention(1, "Mindful Health: I can't go on", at=old)
    store.ingest("twitter", [scored(m).__class__(m, ("mindful",), scored(m).score, SafetyFlag("ideation", ("x",), "r"))],
                 None, old)
    alert = Alert(id=None, fingerprint="safety:x:1", rule="safety", kind="safety", severity="critical",
                  brand="mindful", channel=None, fired_at=old,
                  finding=Finding(group="mindful", title="Someone may be at risk", reason="r", observed=1.0, usual=0.0,
                                  window_start=old, window_end=old))
    alert_id = store.record_safety_alert(m.key, alert, ["slack"], old)
    _sent(store, alert_id)
    kept = retention.purge(store, {"twitter": None}, 365, NOW)
    assert kept.alerts == 0 and store.alert(alert_id) is not None
    gone = retention.purge(store, {"twitter": 30}, 365, NOW)
    assert gone.mentions == {"twitter": 1} and gone.alerts == 1 and store.alert(alert_id) is None
    assert sql(store, "SELECT COUNT(*) FROM safety_flags")[0][0] == 0


# -- forget -----------------------------------------------------------------------------------


def test_forget_author_deletes_their_mentions_and_redacts_alert_and_outbox_copies(store):
    _ingest(store, "twitter", 3, 0, timedelta(hours=2), author="Ana_M", text="Mindful Health leaked my data anaword")
    _ingest(store, "twitter", 2, 100, timedelta(hours=2), author="ben", text="Mindful Health is fine benword")
    alert_id = _alert(store, [_post("Ana_M", "Mindful Health leaked my data", "https://x.com/Ana_M/status/1"),
                              _post("ben", "Mindful Health is fine", "https://x.com/ben/status/101")],
                      title="Influencer: @ana_m posted about Mindful Health", facts=[("Authors", "Ana_M (x): 120")])

    dry = retention.forget_author(store, "@ana_m", NOW, dry_run=True)
    assert (dry.mentions, dry.alerts, dry.outbox) == (3, 1, 1) and store.count("mentions") == 5

    result = retention.forget_author(store, "@ANA_M", NOW, actor="dpo", note="REQ-7")
    assert (result.mentions, result.brand_links, result.alerts, result.outbox) == (3, 3, 1, 1)
    assert store.count("mentions") == 2 and _fts(store, "anaword") == 0 and _fts(store, "benword") == 2
    everything = dump(store)
    assert "ana_m" not in everything.lower() and "leaked my data" not in everything and "anaword" not in everything
    posts = json.loads(sql(store, "SELECT payload FROM alerts WHERE id = ?", (alert_id,))[0][0])
    posts = posts["finding"]["posts"]
    assert posts[0]["author"] == retention.FORGOTTEN and posts[0]["text"] == retention.REMOVED_TEXT
    assert posts[1]["author"] == "ben" and posts[1]["text"] == "Mindful Health is fine"  # others untouched
    queued = Alert.from_json(sql(store, "SELECT payload FROM outbox")[0][0])
    assert queued.finding.posts[1].author == "ben"

    row = retention.audit_rows(store)[0]
    assert row["action"] == "forget-author" and row["actor"] == "dpo" and row["note"] == "REQ-7"
    assert row["rows"] == result.rows and "ana" not in (row["subject"] + row["counts"]).lower()
    # the handle is not stored, but the request can be proven given the handle again
    assert retention.was_forgotten(store, retention.author_subject("ana_m"))
    assert not retention.was_forgotten(store, retention.author_subject("ben"))


def test_forget_mention_by_key_or_platform_id_redacts_only_that_post(store):
    keys = _ingest(store, "twitter", 2, 0, timedelta(hours=1), author="cara", text="Mindful Health post numberone")
    first, second = store.stored_mention(keys[0]), store.stored_mention(keys[1])
    _alert(store, [_post("cara", first["text"], first["url"]), _post("cara", second["text"], second["url"])])
    result = retention.forget_mention(store, keys[0], NOW)
    assert (result.mentions, result.alerts, result.outbox) == (1, 1, 1)
    assert store.count("mentions") == 1
    posts = Alert.from_json(sql(store, "SELECT payload FROM alerts")[0][0]).finding.posts
    assert posts[0].url == "" and posts[0].text == retention.REMOVED_TEXT and posts[1].url == second["url"]
    # gone from the table already: the alerts' copies are still found by the id in the URL
    _alert(store, [_post("cara", first["text"], first["url"])], title="a later copy")
    again = retention.forget_mention(store, "x:0", NOW)
    assert again.mentions == 0 and again.alerts == 1
    with pytest.raises(ValueError, match="platform:id"):
        retention.forget_mention(store, "nonsense", NOW)


def test_harkbot_forget_and_purge_commands(store, tmp_path):
    from bot.cli import main

    _ingest(store, "twitter", 2, 0, timedelta(hours=1), author="dee")
    _ingest(store, "twitter", 2, 10, timedelta(days=60))
    (tmp_path / "config.yaml").write_text("database: h.db\nbrands:\n  mindful: {query: '\"mindful health\"'}\n")
    args = ["--config", str(tmp_path / "config.yaml")]
    runner = CliRunner(env={"HARKBOT_DATABASE_URL": dsn_of(store)} if is_pg(store) else {})
    dry = runner.invoke(main, args + ["forget", "--author", "dee", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 2 mentions" in dry.output
    done = runner.invoke(main, args + ["forget", "--author", "dee", "--note", "T-1"], env={"USER": "dpo"})
    assert done.exit_code == 0 and "did delete 2 mentions" in done.output
    purge = runner.invoke(main, args + ["purge"])
    assert purge.exit_code == 0 and "mentions from twitter" in purge.output
    assert store.count("mentions") == 0
    actions = [(r["action"], r["actor"]) for r in retention.audit_rows(store)]
    assert ("forget-author", "dpo") in actions and actions[0][0] == "purge"
    assert runner.invoke(main, args + ["forget"]).exit_code == 2  # nothing asked


def test_audit_table_is_append_only_data_not_a_list_of_people(store, tmp_path):
    retention.forget_author(store, "somebody", NOW)
    if is_pg(store):
        columns = [r[0] for r in sql(store, "SELECT column_name FROM information_schema.columns WHERE table_name ="
                                            " 'audit' AND table_schema = current_schema() ORDER BY ordinal_position")]
    else:
        columns = [r[1] for r in store.conn.execute("PRAGMA table_info(audit)")]
    assert columns == ["id", "at", "action", "subject", "rows", "counts", "actor", "note"]
    raw = sql(store, "SELECT * FROM audit")
    assert len(raw) == 1 and "somebody" not in repr(raw) and "somebody" not in dump(store)
    row = retention.audit_rows(store)[0]
    assert row["at"] == "2026-06-01T12:00:00Z" and json.loads(row["counts"])["mentions"] == 0
    assert retention.was_forgotten(store, retention.author_subject("Somebody"))


def test_forget_folds_handles_as_python_does_not_as_sql_lower(store):
    """'STRAßE' and 'strasse' are one handle to casefold; SQL's lower() would keep them apart."""
    _ingest(store, "twitter", 1, 0, timedelta(hours=1), author="STRAßE")
    _ingest(store, "twitter", 1, 10, timedelta(hours=1), author="@strasse", platform="reddit")
    _ingest(store, "twitter", 1, 20, timedelta(hours=1), author="strasser")
    assert retention.forget_author(store, "Strasse", NOW, dry_run=True).mentions == 2
    assert retention.forget_author(store, "strasse", NOW, platform="reddit").mentions == 1
    assert sorted(r[0] for r in sql(store, "SELECT author FROM mentions")) == ["STRAßE", "strasser"]


def test_dead_letters_are_purged_with_their_listener_and_reached_by_forget(store):
    """Posts set aside (never stored) hold text too: retention and erasure reach them."""
    from tests.test_poison_store import poison_page

    store.ingest_page("twitter", poison_page(), None, NOW - timedelta(days=40))  # user2 and user3 set aside
    assert len(store.dead_letters(everything=True)) == 2
    days = {"twitter": 30}
    assert retention.purge(store, days, None, NOW, dry_run=True).dead_letters == 2
    assert len(store.dead_letters(everything=True)) == 2  # a dry run deletes nothing
    done = retention.purge(store, days, None, NOW)
    assert done.dead_letters == 2 and store.dead_letters(everything=True) == []
    assert json.loads(retention.audit_rows(store)[0]["counts"])["dead_letters"] == 2

    store.ingest_page("twitter", poison_page(), None, NOW)
    assert retention.forget_author(store, "@USER2", NOW, dry_run=True).dead_letters == 1
    gone = retention.forget_author(store, "@USER2", NOW)
    assert gone.dead_letters == 1 and [d.key for d in store.dead_letters(everything=True)] == ["x:3"]
    assert json.loads(retention.audit_rows(store)[0]["counts"])["dead_letters"] == 1
    assert retention.forget_mention(store, "x:3", NOW).dead_letters == 1  # never stored: found by platform:id
    assert store.dead_letters(everything=True) == []
