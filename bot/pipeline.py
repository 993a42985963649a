"""The stages as plain functions: poll_once (fetch -> normalise -> match -> dedupe -> score
-> store), evaluate_once (windows -> rules -> decide) and deliver (outbox -> notifiers).

The daemon, `harkbot once`, the demo and backtests all call these, each with its own clock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from bot.decide import Decision, decide, fingerprint, new_alert
from bot.errors import ListenerError, NotifyError, RateLimited
from bot.kinds.base import Context
from bot.durations import format_duration
from bot.models import Alert, Brand, Mention, ScoredMention, iso
from bot.normalise import normalise
from bot.query import tokenize
from bot.rules import Rule
from bot.sentiment import Scorer
from bot.store import Store

log = logging.getLogger("harkbot")

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class PollResult:
    listener: str
    fetched: int = 0
    new: int = 0
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    skipped: bool = False  # resting after errors


def match_brands(mention: Mention, brands: Mapping[str, Brand]) -> tuple[str, ...]:
    tokens = tokenize(mention.full_text)
    return tuple(key for key, brand in brands.items() if brand.matches_tokens(tokens))


def prepare(mentions: Sequence[Mention], brands: Mapping[str, Brand], scorer: Scorer,
            store: Store) -> list[ScoredMention]:
    """normalise -> match -> dedupe -> score, for one page of mentions."""
    matched: dict[str, tuple[Mention, tuple[str, ...]]] = {}
    for raw in mentions:
        mention = normalise(raw)
        if mention is None or mention.key in matched:
            continue
        keys = match_brands(mention, brands)
        if keys:
            matched[mention.key] = (mention, keys)
    fresh = set(matched) - store.existing_keys(list(matched))
    return [ScoredMention(m, keys, scorer.score(m.full_text)) for key, (m, keys) in matched.items() if key in fresh]


def backoff(failures: int, error: ListenerError) -> timedelta:
    """How long a failing listener rests: the platform's word when it gives one, else doubling
    from a minute (an hour at most); a request we must fix (bad credentials) waits the hour."""
    if isinstance(error, RateLimited):
        return timedelta(seconds=max(1.0, error.retry_after))
    if not error.retryable:
        return MAX_BACKOFF
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, failures - 1)))


def poll_once(listener, brands: Mapping[str, Brand], scorer: Scorer, store: Store, now: datetime) -> PollResult:
    """Fetch one listener's new mentions and store them, page by page.

    Each page commits on its own; the cursor is written only with the walk's last page, so
    a crash mid-walk re-fetches (and dedupes) instead of losing what it had not reached.
    A listener that failed rests (see `backoff`) before it is polled again.
    """
    name = listener.name
    resting_until = store.retry_at(name)
    if resting_until is not None and now < resting_until:
        log.info("%s: resting after errors until %s", name, iso(resting_until))
        return PollResult(name, skipped=True)
    started = time.monotonic()
    fetched = new = pages = 0
    try:
        for batch in listener.fetch(list(brands.values()), store.cursor(name), now):
            pages += 1
            fetched += len(batch.mentions)
            scored = prepare(batch.mentions, brands, scorer, store)
            new += store.ingest(name, scored, batch.cursor, now, fetched=len(batch.mentions))
    except ListenerError as exc:
        failures = (store.health_of(name) or {}).get("failures", 0) + 1
        rest = backoff(failures, exc)
        store.record_failure(name, str(exc), now, now + rest)
        log.warning("%s: failed (%d in a row), next try in %s: %s", name, failures, format_duration(rest), exc)
        return PollResult(name, fetched, new, pages, time.monotonic() - started, str(exc))
    seconds = time.monotonic() - started
    log.info("%s: fetched %d, new %d, %d pages, %.1fs", name, fetched, new, pages, seconds)
    return PollResult(name, fetched, new, pages, seconds)


@dataclass
class Evaluation:
    decisions: list[tuple[Rule, Decision]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def count(self, reason: str) -> int:
        return sum(1 for _r, d in self.decisions if d.reason == reason)


def evaluate_once(rules: Sequence[Rule], brands: Mapping[str, Brand], store: Store, now: datetime,
                  notifiers: Sequence[str]) -> Evaluation:
    """Run every rule for every brand it names; record what changed, with outbox rows."""
    result = Evaluation()
    for rule in rules:
        for key in rule.brands:
            brand = brands.get(key)
            if brand is None:
                continue
            ctx = Context(brand, now, store, rule.platforms)
            trigger = rule.check(ctx)
            decision = decide(rule, key, store.rule_state(fingerprint(rule.name, key)), trigger is not None, now)
            result.decisions.append((rule, decision))
            if not decision.changed:
                continue
            alert = new_alert(rule, key, rule.explain(ctx, trigger), now) if decision.new else None
            alert_id = store.save_state(decision.state, alert, notifiers, now, decision.resolve)
            if alert is not None:
                result.alerts.append(replace(alert, id=alert_id))
                log.info("rule %s: %s", rule.name, alert.finding.title)
            elif decision.reason == "resolved":
                log.info("rule %s: resolved for %s", rule.name, key)
    log.info("evaluate: %d rules, %d checks, %d new alerts, %d resolved", len(rules), len(result.decisions),
             len(result.alerts), result.count("resolved"))
    return result


def deliver(store: Store, notifiers: Mapping[str, object], now: datetime) -> tuple[int, int]:
    """Send what the outbox holds that is due. Returns (sent, failed)."""
    sent = failed = 0
    for delivery in store.due_deliveries(now):
        notifier = notifiers.get(delivery.notifier)
        if notifier is None:
            continue  # configured off since the alert was recorded; kept for when it returns
        try:
            payload = notifier.payload(Alert.from_json(delivery.payload))
            remote = notifier.send(payload, delivery.channel)
        except NotifyError as exc:
            failed += 1
            attempts = delivery.attempts + 1
            if exc.retryable and attempts < MAX_ATTEMPTS:
                wait = exc.retry_after or min(3600, 30 * 2 ** (attempts - 1))
                store.mark_failed(delivery.id, str(exc), now + timedelta(seconds=wait))
                log.warning("deliver: %s to %s failed (attempt %d), retry in %ds: %s", delivery.notifier,
                            delivery.channel or "default channel", attempts, wait, exc)
            else:
                store.mark_failed(delivery.id, str(exc), None)
                log.error("deliver: %s to %s gave up after %d attempts: %s", delivery.notifier,
                          delivery.channel or "default channel", attempts, exc)
            continue
        store.mark_sent(delivery.id, remote, now)
        sent += 1
    if sent or failed:
        log.info("deliver: sent %d, failed %d", sent, failed)
    return sent, failed
