"""From config.yaml's `notifiers:` and the environment to deliveries: one alert routed to a
channel reaches every notifier that has that channel name, once each, through the real
smtplib (to a local SMTP server) and real HTTP (to a local sink); the others skip it."""

from __future__ import annotations

from dataclasses import replace

from bot.app import build_notifiers
from bot.config import load_config
from bot.outbox import deliver
from tests.backends import backend, make_store, sql  # noqa: F401 - fixtures: both backends
from tests.fakes.sink import Sink
from tests.fakes.smtp import FakeSMTP
from tests.test_config import MINI, write
from tests.test_outbox import T0, alert, fire

CONFIG = MINI + """\
slack:
  channels: {alerts: "#brand-alerts", crisis: "#crisis"}
notifiers:
  email:
    host: 127.0.0.1
    port: ${SMTP_PORT}
    security: none
    username: null
    password: null
    sender: "harkbot <alerts@example.com>"
    channels:
      crisis: [care@example.com, "${ONCALL_MAIL}"]
      exec: [ceo@example.com]
  webhook:
    secret: ${HOOK_SECRET}
    channels: {crisis: "${HOOK_URL}", alerts: "${HOOK_URL}"}
  teams:
    channels: {alerts: "${TEAMS_URL}"}
"""


def test_check_names_every_notifier_and_what_to_set(tmp_path):
    config = load_config(write(tmp_path, CONFIG.replace("${SMTP_PORT}", "2525")))
    notes = build_notifiers(config, {}).notes
    assert notes[0].startswith("slack: off")
    assert "email: on, none to 127.0.0.1:2525, no login; channels exec (set ONCALL_MAIL for the rest)" in notes
    assert "webhook: off, set HOOK_URL" in notes and "teams: off, set TEAMS_URL" in notes


def test_an_alert_goes_to_every_notifier_with_its_channel_once(tmp_path, make_store):
    with FakeSMTP() as smtp, Sink() as hook, Sink() as teams:
        text = CONFIG.replace("${SMTP_PORT}", str(smtp.port))
        config = load_config(write(tmp_path, text))
        env = {"ONCALL_MAIL": "oncall@example.com", "HOOK_URL": hook.url("/harkbot"), "HOOK_SECRET": "s3cret-key",
               "TEAMS_URL": teams.url("/workflows/abc?sig=TOKEN")}
        notifiers = build_notifiers(config, env)
        assert sorted(notifiers.active) == ["email", "teams", "webhook"]
        store = make_store()
        crisis = fire(store, alert(rule="crisis-rule", channel="crisis"), notifiers=list(notifiers.active))
        fire(store, replace(alert(rule="to-alerts"), fingerprint="a2"), notifiers=list(notifiers.active))

        deliver(store, notifiers.active, T0)
        deliver(store, notifiers.active, T0)  # a second run sends nothing again

        assert [sorted(m.rcpt_tos) for m in smtp.received] == [["care@example.com", "oncall@example.com"]]
        assert smtp.received[0].message["X-Harkbot-Key"]
        bodies = [r.json() for r in hook.accepted()]
        assert sorted(b["channel"] for b in bodies) == ["alerts", "crisis"]
        assert all(r.header("X-Harkbot-Signature", ).startswith("sha256=") for r in hook.accepted())
        assert len(teams.accepted()) == 1
        rows = sql(store, "SELECT alert_id, notifier, status FROM outbox ORDER BY id")
        assert sorted((n, s) for a, n, s in rows if a == crisis) == [("email", "sent"), ("teams", "skipped"),
                                                                     ("webhook", "sent")]
        assert sorted((n, s) for a, n, s in rows if a != crisis) == [("email", "skipped"), ("teams", "sent"),
                                                                     ("webhook", "sent")]


def test_check_warns_when_no_notifier_that_is_on_would_carry_a_safety_alert(tmp_path):
    config = load_config(write(tmp_path, CONFIG.replace("${SMTP_PORT}", "2525") + "safety:\n  channel: crisis\n"))
    warning = "safety: no notifier that is on has the channel 'crisis'"
    assert any(n.startswith(warning) for n in build_notifiers(config, {}, every_note=True).notes)
    # The webhook serves crisis once its URL is set: no warning.
    notes = build_notifiers(config, {"HOOK_URL": "http://127.0.0.1:9/h"}, every_note=True).notes
    assert not any(n.startswith(warning) for n in notes)
