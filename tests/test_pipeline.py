from __future__ import annotations

from datetime import timedelta

from bot.errors import ListenerError, RateLimited
from bot.models import Mention
from bot.pipeline import prepare, poll_once
from bot.sentiment import make_scorer
from bot.store import Store
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.helpers import T0, ScriptedListener, brand, mention

BRANDS = {"mindful": brand(exclude='"mindful eating"'), "haven": brand("haven", '"haven therapy"', "competitor")}
SCORER = make_scorer("vader")


def test_prepare_normalises_matches_dedupes_and_scores(store):
    page = [
        mention(1, "Mindful Health leaked my records. Awful."),
        mention(1, "Mindful Health leaked my records. Awful."),  # the same post twice in one page
        mention(2, "tips for mindful eating"),  # no brand
        mention(3, "Mindful Health eating disorder program, mindful eating group"),  # excluded
        mention(4, "Moved from Haven Therapy to #MindfulHealth\u200b... love it"),
        mention(5, "   \x00\x07  "),  # nothing readable
    ]
    out = prepare(page, BRANDS, SCORER, store)
    assert [sm.mention.id for sm in out] == ["1", "4"]
    assert out[0].brands == ("mindful",) and out[0].score.label == "negative"
    assert out[1].brands == ("mindful", "haven") and out[1].score.label == "positive"
    assert out[0].score.scorer == "vader" and "leaked" in out[0].score.terms
    store.ingest("t", out, None, T0)
    assert prepare(page, BRANDS, SCORER, store) == []  # already stored: nothing to score again


def test_poll_once_stores_every_page_and_moves_the_cursor_at_the_end(store):
    pages = [[mention(i, f"Mindful Health post {i}") for i in range(p * 10, p * 10 + 10)] for p in range(3)]
    listener = ScriptedListener(pages, cursor="newest")
    result = poll_once(listener, BRANDS, SCORER, store, T0)
    assert (result.fetched, result.new, result.pages, result.error) == (30, 30, 3, None)
    assert store.cursor("scripted") == "newest"
    again = poll_once(listener, BRANDS, SCORER, store, T0 + timedelta(minutes=5))
    assert (again.fetched, again.new) == (30, 0)
    assert listener.seen_cursors == [None, "newest"]


def test_a_failure_mid_walk_keeps_earlier_pages_and_the_old_cursor(store):
    store.ingest("scripted", [], "before", T0)
    pages = [[mention(i, f"Mindful Health post {i}")] for i in range(3)]
    failing = ScriptedListener(pages, cursor="after", fail_after=2, error=ListenerError("HTTP 503"))
    result = poll_once(failing, BRANDS, SCORER, store, T0)
    assert result.error == "HTTP 503" and result.new == 2
    assert store.cursor("scripted") == "before"  # not moved: page 3 was never seen
    assert store.health()[0]["failures"] == 1
    recovered = poll_once(ScriptedListener(pages, cursor="after"), BRANDS, SCORER, store, T0 + timedelta(minutes=1))
    assert (recovered.new, recovered.error) == (1, None)  # only the missed page is new
    assert store.cursor("scripted") == "after"
    assert store.count("mentions") == 3


def test_a_walk_that_keeps_failing_after_page_one_backs_off_longer_each_time(store):
    pages = [[mention(i, f"Mindful Health post {i}")] for i in range(3)]
    now = T0
    for expected in (1, 2, 3):
        failing = ScriptedListener(pages, fail_after=1, error=ListenerError("HTTP 503"))
        poll_once(failing, BRANDS, SCORER, store, now)
        assert store.health_of("scripted")["failures"] == expected
        rest = store.retry_at("scripted") - now
        assert rest == timedelta(minutes=2 ** (expected - 1))
        now = store.retry_at("scripted")


def test_rate_limit_is_recorded_and_the_listener_rests_until_the_reset(caplog, store):
    listener = ScriptedListener([[mention(1, "Mindful Health")]], fail_after=0,
                                error=RateLimited("429 from X", retry_after=900))
    result = poll_once(listener, BRANDS, SCORER, store, T0)
    assert result.error == "429 from X"
    assert "next try in 15m" in caplog.text
    assert store.retry_at("scripted") == T0 + timedelta(seconds=900)
    listener.fail_after = None
    assert poll_once(listener, BRANDS, SCORER, store, T0 + timedelta(minutes=5)).skipped
    assert listener.seen_cursors == [None]  # resting: not even asked
    back = poll_once(listener, BRANDS, SCORER, store, T0 + timedelta(minutes=16))
    assert (back.new, back.error, back.skipped) == (1, None, False)
    assert store.retry_at("scripted") is None


def test_backoff_doubles_to_an_hour_and_bad_credentials_wait_the_hour():
    from bot.pipeline import backoff

    transient = ListenerError("HTTP 503")
    assert [backoff(n, transient) for n in (1, 2, 3, 7, 20)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=60), timedelta(hours=1)]
    assert backoff(1, ListenerError("401: check X_BEARER_TOKEN", retryable=False)) == timedelta(hours=1)
    assert backoff(1, RateLimited("slow down", retry_after=0)) == timedelta(seconds=1)


def test_hostile_unicode_is_stored_clean(store):
    text = "Mindful\u00a0Health \u202eevil\u202c \U0001F92C\r\n\r\n\r\n\r\nbye\x1b[31m"
    out = prepare([mention(1, text)], BRANDS, SCORER, store)
    stored: Mention = out[0].mention
    assert "\x1b" not in stored.text and "\r" not in stored.text and "\n\n\n" not in stored.text
    assert stored.text.startswith("Mindful Health")


def test_one_failing_rule_does_not_stop_the_others(caplog, store):
    from bot.pipeline import evaluate_once
    from bot.rules import Rule
    from bot.kinds.mention import Options

    store.ingest("t", prepare([mention(i, "Mindful Health leak") for i in range(3)], BRANDS, SCORER, store), None, T0)
    good = Rule("leaks", "", ("mindful",), None, "warning", None, timedelta(hours=1), timedelta(minutes=30),
                "mention", Options(query="leak"), "r.yaml", 1)
    broken = Rule("broken", "", ("mindful",), None, "warning", None, timedelta(hours=1), timedelta(minutes=30),
                  "no-such-kind", Options(query="leak"), "r.yaml", 5)
    result = evaluate_once([broken, good], BRANDS, store, T0 + timedelta(minutes=10), ["console"])
    assert result.errors == ["broken"] and [a.rule for a in result.alerts] == ["leaks"]
    assert "rule broken: evaluation failed" in caplog.text


def test_a_poisoned_outbox_row_does_not_block_the_rows_behind_it(caplog, store):
    from bot.outbox import deliver

    class Console:
        sent: list = []

        def payload(self, alert):
            return {"text": alert.finding.title}

        def send(self, payload, channel):
            self.sent.append(payload["text"])

    # A payload that is JSON (PostgreSQL's json column takes nothing else) but no alert.
    sql(store, "INSERT INTO alerts(fingerprint, rule, state, fired_at, payload) VALUES ('f', 'r', 'firing',"
               " '2026-03-02T00:00:00Z', '{}')")
    sql(store, "INSERT INTO outbox(alert_id, notifier, payload, next_attempt_at, created_at)"
               " VALUES (1, 'console', '{\"not\": \"an alert\"}', '2026-03-02T00:00:00Z', '2026-03-02T00:00:00Z')")
    sql(store, "INSERT INTO outbox(alert_id, notifier, payload, next_attempt_at, created_at)"
               " VALUES (1, 'slack', '\"for later\"', '2026-03-02T00:00:00Z', '2026-03-02T00:00:00Z')")
    assert deliver(store, {"console": Console()}, T0 + timedelta(minutes=1)) == (0, 1)
    assert store.outbox_counts() == {"dead": 1, "pending": 1}  # the slack row waits for slack, untouched
    assert "outbox row 1 could not be sent" in caplog.text


def test_an_unexpected_poll_error_is_recorded_without_its_text(store):
    listener = ScriptedListener([[mention(1, "Mindful Health")]], fail_after=0,
                                error=KeyError("secret-token-xyz"))
    result = poll_once(listener, BRANDS, SCORER, store, T0)
    assert result.error == "unexpected KeyError while polling; see the log"
    assert "secret" not in store.health_of("scripted")["last_error"]
    assert store.retry_at("scripted") == T0 + timedelta(minutes=1)


def test_evaluate_closes_the_open_states_of_rules_that_are_gone_when_told_why():
    from types import SimpleNamespace

    from bot.decide import fingerprint, new_alert
    from bot.memhistory import MemBook
    from bot.models import Finding
    from bot.pipeline import evaluate
    from bot.store import RuleState

    book = MemBook()
    finding = Finding("mindful", "Keyword match: Mindful, 3 posts", "", 3.0, 0.0, T0, T0)
    for rule, state in (("gone", "firing"), ("held", "firing"), ("waiting", "pending")):
        st = RuleState(fingerprint(rule, "mindful"), rule, "mindful", state, T0, None, None, T0)
        alert = new_alert(SimpleNamespace(name=rule, kind="mention", severity="warning", channel=None), "mindful",
                          finding, T0)
        book.save_state(st, alert if state == "firing" else None, (), T0)
    reasons = {"gone": "rule removed from rules/gone.yaml", "waiting": "rule removed from rules/w.yaml"}
    result = evaluate([], BRANDS, None, book, T0 + timedelta(minutes=5), retire=reasons.get)
    assert sorted((s.rule, r) for s, r in result.closed) == sorted(reasons.items())
    assert book.rule_state(fingerprint("gone", "mindful")).state == "resolved"
    assert book.alerts[1].state == "resolved" and book.alerts[1].finding.title.endswith(
        "(closed: rule removed from rules/gone.yaml)")
    assert book.rule_state(fingerprint("held", "mindful")).state == "firing"  # retire said None: kept
    assert book.rule_state(fingerprint("waiting", "mindful")).state == "inactive"
    assert evaluate([], BRANDS, None, book, T0 + timedelta(minutes=10)).closed == []  # no retire: untouched


def test_a_worsening_alert_is_updated_once_an_hour_saying_what_it_last_reported(store):
    from bot.kinds.mention import Options
    from bot.pipeline import evaluate_once
    from bot.rules import Rule

    rule = Rule("leaks", "", ("mindful",), None, "warning", None, timedelta(hours=1), timedelta(minutes=30),
                "mention", Options(query="leak", window=timedelta(hours=3)), "r.yaml", 1)
    seen = 0

    def post(n: int, at) -> None:
        nonlocal seen
        page = [mention(seen + i, "Mindful Health leak", at=at - timedelta(minutes=1)) for i in range(n)]
        store.ingest("t", prepare(page, BRANDS, SCORER, store), None, at)
        seen += n

    post(3, T0 + timedelta(minutes=10))
    first = evaluate_once([rule], BRANDS, store, T0 + timedelta(minutes=10), ["console"])
    (alert,) = first.alerts
    post(6, T0 + timedelta(minutes=20))  # 9: tripled, but 10 minutes after the alert
    assert evaluate_once([rule], BRANDS, store, T0 + timedelta(minutes=20), ["console"]).updates == []
    post(1, T0 + timedelta(minutes=75))  # 10 >= 2 x 3, an hour on: news
    (update,) = evaluate_once([rule], BRANDS, store, T0 + timedelta(minutes=75), ["console"]).updates
    assert update.id == alert.id and update.finding.observed == 10
    assert update.finding.facts[0] == ("Last reported", f"3 at {(T0 + timedelta(minutes=10)):%d %b %H:%M} UTC")
    post(5, T0 + timedelta(minutes=90))  # 15: not 2 x 10, and within the hour of the update
    assert evaluate_once([rule], BRANDS, store, T0 + timedelta(minutes=90), ["console"]).updates == []
    assert [u["observed"] for u in store.alert_updates(alert.id)] == [10]
    assert store.alert_report(alert.id) == (10, T0 + timedelta(minutes=75))
