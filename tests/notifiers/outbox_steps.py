"""Driving the real sender (bot/outbox.deliver) with a store, for the webhook-style notifiers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.models import UTC, Alert
from bot.store import RuleState, Store
from tests.backends import sql
from tests.notifiers import sample_alert

T0 = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)


def alert(rule: str = "negative-spike", brand: str = "mindful", at: datetime = T0, **changes) -> Alert:
    return sample_alert(rule=rule, brand=brand, fired_at=at, id=None, fingerprint=f"{rule}/{brand}", **changes)


def fire(store: Store, a: Alert, notifiers: tuple[str, ...]) -> int:
    at = a.fired_at
    state = RuleState(a.fingerprint, a.rule, a.brand, "firing", at, None, None, at)
    alert_id = store.save_state(state, a, list(notifiers), at)
    assert alert_id is not None
    return alert_id


def resolve(store: Store, alert_id: int, at: datetime) -> None:
    a = store.alert(alert_id)
    state = RuleState(a.fingerprint, a.rule, a.brand, "inactive", None, None, None, a.fired_at)
    store.save_state(state, None, (), at, resolved_alert=alert_id)


def worsen(store: Store, alert_id: int, at: datetime) -> None:
    a = store.alert(alert_id)
    state = RuleState(a.fingerprint, a.rule, a.brand, "firing", a.fired_at, None, alert_id, a.fired_at)
    newer = replace(a, finding=replace(a.finding, observed=70, title=f"{a.rule}: Mindful Health, 14x usual"))
    store.record_update(state, newer, "worse", at)


def rows(store: Store) -> list[tuple]:
    """(action, status, last_error) of every outbox row, in id order."""
    return [tuple(r) for r in sql(store, "SELECT action, status, last_error FROM outbox ORDER BY id")]


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
