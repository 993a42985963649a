"""The triage tables on both backends (bot/store/triage_sqlite.py, triage_pg.py): events and
corrected labels are recorded with their audit rows, refused when unknown, replayed or
invalid, fold into states, go with their alert or mention, and survive the migration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.store import sqlite as sqlite_backend
from bot.store import pg_schema
from bot.triage import TriageError, TriageEvent, state_of, states
from tests.backends import backend, dsn_of, dump, is_pg, make_store, sql, store  # noqa: F401
from tests.helpers import T0, mention, scored
from tests.test_outbox import alert, fire

LATER = T0 + timedelta(minutes=7, microseconds=123456)


def seeded(store) -> tuple[int, int]:
    """Two alerts, and a stored mention x:1 scored 'negative' by 'test'."""
    store.ingest("x", [scored(mention(1, "the app ate my data"), label="negative", polarity=-0.6)], None, T0)
    return (fire(store, alert("negative-spike", at=T0)), fire(store, alert("privacy-complaint", at=T0)))


def audit_of(store, action_prefix: str = "triage.") -> list[dict]:
    return [r for r in reversed(store.audit_rows(100)) if r["action"].startswith(action_prefix)]


def test_an_event_is_recorded_returned_and_audited_in_one_go(store):
    first, _ = seeded(store)
    e = store.record_triage(first, "verdict", " ann ", LATER, verdict="noise", reason="spam",
                            note="  bots again, see ticket 12 ", source="slack", ref="trigger-1")
    assert e == TriageEvent(e.id, first, "verdict", "ann", LATER.replace(microsecond=0), "noise", "spam",
                            "bots again, see ticket 12", "slack", "trigger-1")
    assert store.triage_events() == [e] and store.triage_events(alert_ids=[first]) == [e]
    assert store.triage_events(alert_ids=[first + 1]) == []
    [row] = audit_of(store)
    assert (row["action"], row["subject"], row["actor"], row["rows"]) == ("triage.verdict", f"alert:{first}", "ann", 1)
    assert row["at"] == "2026-03-02T00:07:00Z"
    assert row["note"] == "noise; reason spam; via slack; with a note"
    assert "bots again" not in row["note"]  # the person's words stay with the event


def test_an_unknown_alert_is_refused_and_nothing_is_written(store):
    seeded(store)
    for bad in (999, 0, -1, 2**70):
        with pytest.raises(TriageError) as exc:
            store.record_triage(bad, "ack", "ann", LATER)
        assert exc.value.reason == "unknown" and f"no alert {bad}" in str(exc.value)
    assert store.triage_events() == [] and audit_of(store) == []


def test_a_replayed_ref_is_refused_and_the_first_event_stands(store):
    first, second = seeded(store)
    store.record_triage(first, "ack", "ann", LATER, source="slack", ref="T1")
    with pytest.raises(TriageError) as exc:
        store.record_triage(second, "verdict", "mallory", LATER, verdict="useful", source="slack", ref="T1")
    assert exc.value.reason == "replayed"
    assert [(e.alert_id, e.actor) for e in store.triage_events()] == [(first, "ann")]
    assert len(audit_of(store)) == 1
    # Events without a ref (the CLI's) never collide with each other.
    store.record_triage(first, "ack", "bob", LATER)
    store.record_triage(first, "ack", "bob", LATER)
    assert len(store.triage_events()) == 3


def test_invalid_values_are_refused_before_anything_is_read(store):
    first, _ = seeded(store)
    cases = [dict(kind="verdict", verdict="meh"), dict(kind="close", reason="bored"), dict(kind="snooze"),
             dict(kind="ack", actor="  "), dict(kind="ack", note="x" * 2001), dict(kind="ack", source="fax")]
    for case in cases:
        kind, actor = case.pop("kind"), case.pop("actor", "ann")
        with pytest.raises(TriageError) as exc:
            store.record_triage(first, kind, actor, LATER, **case)
        assert exc.value.reason == "invalid", case
    with pytest.raises(TriageError) as exc:  # invalid wins over unknown: the value is checked first
        store.record_triage(12345, "close", "ann", LATER, reason="nope")
    assert exc.value.reason == "invalid" and "resolved" in str(exc.value)
    assert store.triage_events() == [] and audit_of(store) == []


def test_events_fold_into_states_through_the_store(store):
    first, second = seeded(store)
    store.record_triage(first, "ack", "ann", T0 + timedelta(minutes=3))
    store.record_triage(first, "ack", "bob", T0 + timedelta(minutes=9))
    store.record_triage(first, "verdict", "bob", T0 + timedelta(minutes=10), verdict="noise", reason="rule")
    store.record_triage(first, "verdict", "ann", T0 + timedelta(minutes=11), verdict="useful")
    store.record_triage(first, "close", "ann", T0 + timedelta(minutes=12), reason="resolved")
    store.record_triage(second, "close", "cat", T0 + timedelta(minutes=13), reason="duplicate")
    store.record_triage(second, "reopen", "cat", T0 + timedelta(minutes=14))
    st = states(store.triage_events())
    assert st[first].label == "closed: resolved, useful"
    assert (st[first].acked_by, st[first].acked_at) == ("ann", T0 + timedelta(minutes=3))
    assert st[second].label == "new" and st[second].closed is None
    assert state_of(first, store.triage_events(since=T0 + timedelta(minutes=10))).acked_by is None
    assert [r["action"] for r in audit_of(store)] == ["triage.ack", "triage.ack", "triage.verdict", "triage.verdict",
                                                      "triage.close", "triage.close", "triage.reopen"]


def test_a_label_records_what_the_scorer_said_and_audits_without_the_post(store):
    seeded(store)
    first = store.record_label("x:1", "neutral", "ann", LATER)
    second = store.record_label("x:1", "positive", "bob", LATER + timedelta(minutes=1))
    assert (first.mention_key, first.label, first.previous, first.scorer, first.actor) == \
        ("x:1", "neutral", "negative", "test", "ann")
    assert second.previous == "negative"  # the stored label is the scorer's; corrections do not rewrite it
    assert store.labels() == [first, second]
    assert store.labels(since=LATER + timedelta(seconds=30)) == [second]
    assert store.recent()[0].score.label == "negative"
    rows = audit_of(store)
    assert [r["action"] for r in rows] == ["triage.label", "triage.label"]
    assert rows[0]["note"] == "neutral (was negative)" and rows[0]["actor"] == "ann"
    assert "x:1" not in str(rows) and "ate my data" not in str(rows)
    assert rows[0]["subject"] == rows[1]["subject"] and len(rows[0]["subject"]) == 64  # an HMAC, as forget's
    from bot.retention import was_forgotten

    assert not was_forgotten(store, "mention:x:1")  # a label is never mistaken for an erasure


def test_a_label_for_an_unknown_mention_or_outside_the_list_is_refused(store):
    seeded(store)
    with pytest.raises(TriageError) as exc:
        store.record_label("x:404", "negative", "ann", LATER)
    assert exc.value.reason == "unknown" and "x:404" in str(exc.value)
    with pytest.raises(TriageError) as exc:
        store.record_label("x:1", "angry", "", LATER)
    assert exc.value.reason == "invalid" and "negative, neutral, positive" in str(exc.value) and "actor" in str(exc.value)
    assert store.labels() == [] and audit_of(store) == []


def test_no_triage_row_holds_post_text(store):
    first, _ = seeded(store)
    store.record_triage(first, "verdict", "ann", LATER, verdict="noise", reason="wrong-sentiment", note="not a complaint")
    store.record_label("x:1", "neutral", "ann", LATER)
    for table in ("triage_events", "labels", "audit"):
        assert "ate my data" not in str(sql(store, f"SELECT * FROM {table}")), table


def test_forgetting_a_mention_takes_its_labels_and_purging_an_alert_its_events(store):
    from bot.retention import forget_mention

    first, second = seeded(store)
    store.record_label("x:1", "neutral", "ann", LATER)
    store.record_triage(first, "ack", "ann", LATER)
    store.record_triage(second, "ack", "ann", LATER)
    forget_mention(store, "x:1", LATER)
    assert store.labels() == []
    store.delete_alerts([first])
    assert [e.alert_id for e in store.triage_events()] == [second]


def test_the_migration_from_the_previous_version_keeps_the_data(make_store, backend, monkeypatch, tmp_path):
    from tests.test_lang_store import insert_version_8_mention

    names = [m.__name__ for m in sqlite_backend.MIGRATIONS]
    assert names == [m.__name__ for m in pg_schema.MIGRATIONS]  # the same steps on both
    previous = names.index("_migration_triage")  # the version before triage; later steps run too
    monkeypatch.setattr(sqlite_backend, "SCHEMA_VERSION", previous)
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", previous)
    old = make_store(tmp_path / "old.db")
    assert old.version == previous
    # The mention as that version stores it (today's ingest writes columns it does not have yet).
    insert_version_8_mention(old, "x:1", None, label="negative")
    first, second = fire(old, alert("negative-spike", at=T0)), fire(old, alert("privacy-complaint", at=T0))
    where = dsn_of(old)
    old.close()
    monkeypatch.undo()
    from bot.store import open_store

    new = open_store(str(where))
    try:
        assert new.version == len(names)
        assert new.alert(first) is not None and new.recent()[0].mention.key == "x:1"
        assert new.record_triage(first, "ack", "ann", LATER).alert_id == first
        assert new.record_label("x:1", "neutral", "ann", LATER).previous == "negative"
    finally:
        new.close()


def test_the_same_click_recorded_by_racing_processes_is_kept_once(make_store, tmp_path):
    """Slack may hand one action to two workers: one event (and one audit row) is kept, the
    others are told it was replayed. Four stores on one database, as four processes."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.store import open_store

    s = make_store(tmp_path / "race.db")
    first, _ = seeded(s)
    stores = [open_store(str(dsn_of(s))) for _ in range(4)]

    def click(st):
        try:
            return st.record_triage(first, "ack", "ann", LATER, source="slack", ref="T-race").id
        except TriageError as exc:
            return exc.reason

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(click, stores))
    finally:
        for st in stores:
            st.close()
    assert sorted(map(str, results)).count("replayed") == 3, results
    assert len(s.triage_events()) == 1 and len(audit_of(s)) == 1
