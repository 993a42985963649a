"""The stages as plain functions: poll_once (fetch -> normalise -> match -> dedupe -> score
-> store) and evaluate_once (windows -> rules -> decide); bot.outbox delivers.

The daemon, `harkbot once`, the demo and backtests all call these, each with its own clock.
"""

from __future__ import annotations

import atexit
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from bot.decide import Decision, decide, fingerprint, new_alert
from bot.errors import LeaseLost, ListenerError, RateLimited
from bot.intake import Intake
from bot.kinds.base import Context, Group, Trigger
from bot.lang import UNDETERMINED, resolve as resolve_lang
from bot.durations import format_duration
from bot.models import Alert, Brand, Finding, Mention, ScoredMention, floor_bucket, iso, utc
from bot.normalise import normalise
from bot.query import Target, Tokens, tokenize
from bot.rules import PLATFORMS, Rule
from bot.safety import raise_safety_alerts
from bot.sentiment import Scorer
from bot.store import Lease, Report, RuleState, Store
from bot.store.deadletters import DeadLetter, letter, mention_of
from bot.text import Text
from bot.normalise import key_of

log = logging.getLogger("harkbot")

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
    dead: int = 0  # posts set aside as dead letters (harkbot deadletters list)


def match_brands(mention: Mention | Target | str, brands: Mapping[str, Brand],
                 tokens: Tokens | None = None) -> tuple[str, ...]:
    """The keys of the brands whose queries match a mention or its Target (who wrote it and
    where it links: what `author:` and `site:` read), or a bare text (a Text: its cut is
    shared), in which those terms match nothing. `tokens`: the mention's, already cut."""
    if isinstance(mention, str):
        tokens = tokenize(mention)
        return tuple([key for key, brand in brands.items() if brand.matches_tokens(tokens)])
    target = mention if isinstance(mention, Target) else None
    if tokens is None:
        tokens = target.tokens if target is not None else tokenize(Text(mention.full_text))
    keys = []
    for key, brand in brands.items():
        if brand.plain:  # words only: the tokens answer it (most brands; no Target to build)
            if brand.matches_tokens(tokens):
                keys.append(key)
            continue
        if target is None:
            target = Target.of(mention, tokens)  # type: ignore[arg-type]
        if brand.matches_target(target):
            keys.append(key)
    return tuple(keys)


def prepare(mentions: Sequence[Mention], brands: Mapping[str, Brand], scorer: Scorer,
            store: Store, intake: Intake = Intake()) -> list[ScoredMention]:
    """dedupe -> normalise -> match -> redact -> score and flag, for one page of mentions.
    A mention a stage fails on raises here; poll_once uses `prepare_page`, which sets it aside."""
    scored, rejected = prepare_page(mentions, brands, scorer, store, intake, listener="", strict=True)
    return scored


def prepare_page(mentions: Sequence[Mention], brands: Mapping[str, Brand], scorer: Scorer,
                 store: Store, intake: Intake = Intake(), *, listener: str,
                 strict: bool = False, pool: PreparePool | None = None) -> tuple[list[ScoredMention], list[DeadLetter]]:
    """`prepare`, one mention at a time: one that a stage (normalise, match, redact, score)
    fails on becomes a dead letter for the store to keep with the page, and the others go on.
    (`strict`: raise instead, for callers with no dead-letter table to hand.)

    Posts already stored are skipped first, by the key they would be stored under, so a page
    fetched again costs one lookup and no scoring. The rest go through `prepare_one`, in this
    process or, with `pool`, in its worker processes; the first post of each key is kept."""
    keys = [_key_or_none(raw) for raw in mentions]
    stored = store.existing_keys(list(dict.fromkeys(k for k in keys if k is not None)))
    todo = [raw for raw, key in zip(mentions, keys) if key not in stored]
    if pool is not None and len(todo) >= POOL_MIN:
        results = pool.map(todo, listener, strict)
    else:
        results = [prepare_one(raw, brands, scorer, intake, listener, strict) for raw in todo]
    out: list[ScoredMention] = []
    rejected: list[DeadLetter] = []
    kept: set[str] = set()
    for r in results:
        if r is None:
            continue
        if isinstance(r, DeadLetter):
            rejected.append(r)
        elif r.mention.key not in kept:
            kept.add(r.mention.key)
            out.append(r)
    return out, rejected


def prepare_one(raw: Mention, brands: Mapping[str, Brand], scorer: Scorer, intake: Intake,
                listener: str = "", strict: bool = False) -> ScoredMention | DeadLetter | None:
    """normalise -> match -> language -> redact -> score and flag, for one post. Pure (it reads no store),
    so it may run in a worker process. None: nothing readable left, or no brand matches.

    The text is cut once (`Text`) for matching every brand and scoring; redaction, which comes
    after matching, cuts it again only if it changed the text."""
    try:
        mention = normalise(raw)
        if mention is None:
            return None
        text = Text(mention.full_text)
        keys = match_brands(mention, brands, tokenize(text))
    except Exception as exc:  # noqa: BLE001 - one post must not cost the page; see the letter
        if strict:
            raise
        return letter(listener, raw, "prepare", exc)
    if not keys:
        return None
    try:
        # The language from the text just matched (before redaction puts placeholders in it),
        # the platform's tag weighed in: once per stored mention, never for posts no brand wants.
        lang, confidence = resolve_lang(text, mention.language, mention.platform)
        m = intake.redact(mention)
        if m is not mention:
            text = Text(m.full_text)
        m = replace(m, lang=lang, lang_confidence=confidence)
        # A scorer that reads many languages is told the one just resolved (none when it is 'und').
        score = (scorer.score(text, lang=None if lang == UNDETERMINED else lang)
                 if getattr(scorer, "reads_lang", False) else scorer.score(text))
        return ScoredMention(m, keys, score, intake.flag(m))
    except Exception as exc:  # noqa: BLE001 - as above
        if strict:
            raise
        return letter(listener, mention, "prepare", exc)


def _key_or_none(raw: Mention) -> str | None:
    try:
        return key_of(raw)
    except Exception:  # noqa: BLE001 - not a mention at all: prepare_one sets it aside
        return None


# --------------------------------------------------------------------------- the prepare pool

POOL_MIN = 32  # posts: a smaller page costs more to send to the workers than to prepare here


class PreparePool:
    """`prepare_one` in worker processes, for an ingest the CPU limits (a backlog after an
    outage, a busy listener): config `ingest: {workers: N}`. The brands, scorer and intake
    are sent once, when the workers start; each page is split across them and comes back in
    order, so the single writer stores exactly what in-process preparing gives.

    Workers are spawned, not forked: the daemon runs threads, and a fork copies their locks."""

    def __init__(self, workers: int, brands: Mapping[str, Brand], scorer: Scorer, intake: Intake):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if workers < 1:
            raise ValueError(f"a prepare pool needs at least one worker, not {workers}")
        self.workers = workers
        self.stages = (brands, scorer, intake)
        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(dict(brands), scorer, intake))

    def serves(self, brands: Mapping[str, Brand], scorer: Scorer, intake: Intake) -> bool:
        b, s, i = self.stages
        return b is brands and s is scorer and i == intake

    def map(self, mentions: Sequence[Mention], listener: str, strict: bool) -> list:
        size = max(POOL_MIN // 2, -(-len(mentions) // self.workers))
        futures = [self._executor.submit(_prepare_chunk, list(mentions[i : i + size]), listener, strict)
                   for i in range(0, len(mentions), size)]
        return [r for f in futures for r in f.result()]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_WORKER: tuple = ()  # (brands, scorer, intake) in a worker process


def _start_worker(brands: Mapping[str, Brand], scorer: Scorer, intake: Intake) -> None:
    global _WORKER
    _WORKER = (brands, scorer, intake)


def _prepare_chunk(mentions: list[Mention], listener: str, strict: bool) -> list:
    brands, scorer, intake = _WORKER
    return [prepare_one(raw, brands, scorer, intake, listener, strict) for raw in mentions]


_POOLS: dict[int, PreparePool] = {}


def prepare_pool(workers: int, brands: Mapping[str, Brand], scorer: Scorer, intake: Intake) -> PreparePool | None:
    """The process's pool of `workers` for these stages (None for 0: prepare in-process). One
    pool per size is kept; new brands or a new scorer (a config reload) start it again."""
    if workers <= 0:
        return None
    pool = _POOLS.get(workers)
    if pool is None or not pool.serves(brands, scorer, intake):
        if pool is not None:
            pool.close()
        pool = _POOLS[workers] = PreparePool(workers, brands, scorer, intake)
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


def _log_dead(name: str, dead: Sequence[DeadLetter]) -> None:
    """One warning per post set aside (a few, then a count): key and reason, never its text."""
    for d in dead[:_DEAD_LOGGED]:
        log.warning("%s: set aside %s at %s (%s); `harkbot deadletters list` shows it, `retry` tries again",
                    name, d.key, d.stage, d.reason)
    if len(dead) > _DEAD_LOGGED:
        log.warning("%s: and %d more set aside on this page", name, len(dead) - _DEAD_LOGGED)


_DEAD_LOGGED = 5


def backoff(failures: int, error: ListenerError) -> timedelta:
    """How long a failing listener rests: the platform's word when it gives one, else doubling
    from a minute (an hour at most); a request we must fix (bad credentials) waits the hour."""
    if isinstance(error, RateLimited):
        return timedelta(seconds=max(1.0, error.retry_after))
    if not error.retryable:
        return MAX_BACKOFF
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, failures - 1)))


def poll_once(listener, brands: Mapping[str, Brand], scorer: Scorer, store: Store, now: datetime, *,
              retry_now: bool = False, intake: Intake = Intake(), lease: Lease | None = None,
              workers: int = 0) -> PollResult:
    """Fetch one listener's new mentions and store them, page by page.

    Each page commits on its own; the cursor is written only with the walk's last page, so
    a crash mid-walk re-fetches (and dedupes) instead of losing what it had not reached.
    A listener that failed rests (see `backoff`) before it is polled again, unless
    `retry_now` (an operator who has just fixed a token should not have to wait).
    With `lease` (the caller holds the listener's poll lease), every page is fenced by it:
    a poller that lost its lease while stalled stores nothing more. With `workers` (config
    `ingest.workers`), pages are prepared in that many worker processes (`PreparePool`).
    """
    name = listener.name
    resting_until = store.retry_at(name)
    if resting_until is not None and now < resting_until and not retry_now:
        log.info("%s: resting after errors until %s", name, iso(resting_until))
        return PollResult(name, skipped=True)
    started = time.monotonic()
    fetched = new = pages = dead = 0
    try:
        for batch in listener.fetch(list(brands.values()), store.cursor(name), now):
            pages += 1
            fetched += len(batch.mentions)
            pool = prepare_pool(workers, brands, scorer, intake) if workers else None
            scored, rejected = prepare_page(batch.mentions, brands, scorer, store, intake, listener=name, pool=pool)
            # A post that cannot be stored is set aside in the same transaction as the others
            # and the cursor: the page and the walk go on, and the post waits in dead_letters.
            page = store.ingest_page(name, scored, batch.cursor, now, lease=lease, rejected=rejected)
            new += page.new
            dead += len(page.dead)
            _log_dead(name, page.dead)
    except LeaseLost:
        # Another poller took over while this one stalled: its walk is the live one. Not the
        # listener's failure, so no backoff is recorded; what this walk stored stays (deduped).
        log.warning("%s: poll lease lost after %d pages; the new holder carries on", name, pages)
        return PollResult(name, fetched, new, pages, time.monotonic() - started, skipped=True, dead=dead)
    except Exception as exc:  # noqa: BLE001 - a poll's failure is recorded; it never stops the others
        if not isinstance(exc, ListenerError):
            # Not a platform error: a bug or a local fault. Its text may hold anything, so the
            # record names only its type; the traceback goes to the log for whoever debugs it.
            log.exception("%s: poll failed unexpectedly", name)
            exc = ListenerError(f"unexpected {type(exc).__name__} while polling; see the log")
        failures = (store.health_of(name) or {}).get("failures", 0) + 1
        rest = backoff(failures, exc)
        store.record_failure(name, str(exc), now, now + rest)
        log.warning("%s: failed (%d in a row), next try in %s: %s", name, failures, format_duration(rest), exc)
        return PollResult(name, fetched, new, pages, time.monotonic() - started, str(exc), dead=dead)
    store.record_success(name, now, fetched, new)
    seconds = time.monotonic() - started
    aside = f", {dead} set aside (harkbot deadletters list)" if dead else ""
    log.info("%s: fetched %d, new %d, %d pages, %.1fs%s", name, fetched, new, pages, seconds, aside)
    return PollResult(name, fetched, new, pages, seconds, dead=dead)


@dataclass(frozen=True)
class Retried:
    """What retrying one dead letter did: `outcome` is its resolution, or "still refused"."""

    letter: DeadLetter
    outcome: str
    reason: str | None = None  # why it was refused again


def retry_dead_letters(store: Any, letters: Sequence[DeadLetter], brands: Mapping[str, Brand], scorer: Scorer,
                       now: datetime, intake: Intake = Intake()) -> list[Retried]:
    """Each letter's mention through today's stages again (a fixed bug, a new normalise): stored,
    or found to need no storing, it is resolved; refused again, it stays open with one more
    attempt and the new reason. The cursor is not touched: these posts were read long ago."""
    out = []
    for d in letters:
        try:
            mention = mention_of(d.payload)
        except (ValueError, TypeError, KeyError) as exc:
            out.append(Retried(d, "still refused", f"unreadable letter ({type(exc).__name__})"))
            continue
        scored, rejected = prepare_page([mention], brands, scorer, store, intake, listener=d.listener)
        page = store.ingest_page(d.listener, scored, None, now, rejected=rejected)
        if page.dead:
            out.append(Retried(d, "still refused", page.dead[0].reason))
            continue
        try:
            clean = normalise(mention)
        except Exception:  # noqa: BLE001 - refused, yet not set aside: prepare_page skipped it, as stored
            clean = mention
        outcome = ("stored" if page.new else "no text left" if clean is None
                   else "already stored" if store.existing_keys([key_of(mention)]) else "no brand matches")
        store.resolve_dead_letter(d.id, outcome, now)
        out.append(Retried(d, outcome))
    return out


@dataclass
class Evaluation:
    decisions: list[tuple[Rule, Decision]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    updates: list[Alert] = field(default_factory=list)  # firing alerts that got worse (thread replies)
    errors: list[str] = field(default_factory=list)  # rules whose evaluation failed this time
    closed: list[tuple[RuleState, str]] = field(default_factory=list)  # states of rules that are gone, and why

    def count(self, reason: str) -> int:
        return sum(1 for _r, d in self.decisions if d.reason == reason)


class Book(Protocol):
    """Where alert states live: the Store for the daemon, a MemBook for rule tests and backtests."""

    def rule_state(self, fingerprint: str) -> RuleState | None: ...

    def save_state(self, state: RuleState, alert: Alert | None = None, notifiers: Sequence[str] = (),
                   now: datetime | None = None, resolved_alert: int | None = None) -> int | None: ...

    def alert_report(self, alert_id: int) -> Report: ...

    def record_update(self, state: RuleState, alert: Alert, reason: str, now: datetime) -> None: ...

    def open_states(self) -> list[RuleState]: ...

    def close_state(self, state: RuleState, reason: str, now: datetime) -> None: ...


_GROUPS: dict[tuple[int, int], tuple[Rule, Mapping, tuple, list]] = {}  # a rule's brand groups, built once


def groups_of(rule: Rule, brands: Mapping[str, Brand], history, now: datetime,
              listeners: Sequence[str] | None = None) -> Iterator[tuple[Group, Brand | None, tuple[str, ...] | None]]:
    """What one rule alerts about: each brand it names, or each (brand, platform), or each listener."""
    if "listener" not in rule.group_by:
        key, names = (id(rule), id(brands)), tuple(brands)
        cached = _GROUPS.get(key)
        if cached is None or cached[0] is not rule or cached[1] is not brands or cached[2] != names:
            if len(_GROUPS) > 10_000:
                _GROUPS.clear()
            cached = _GROUPS[key] = (rule, brands, names, list(_brand_groups(rule, brands)))
        return iter(cached[3])
    return _listener_groups(rule, history, now, listeners)


def _listener_groups(rule: Rule, history, now: datetime, listeners: Sequence[str] | None) -> Iterator:
    names = getattr(rule.options, "listeners", None) or listeners
    if not names:
        activity = getattr(history, "listener_activity", None)
        names = [row["listener"] for row in activity(until=now)] if activity else []
    for name in names:
        yield Group(listener=name), None, None


def _brand_groups(rule: Rule, brands: Mapping[str, Brand]) -> Iterator:
    for key in rule.brands:
        brand = brands.get(key)
        if brand is None:
            continue
        if "platform" in rule.group_by:
            for platform in rule.platforms or PLATFORMS:
                yield Group(key, platform), brand, (platform,)
        else:
            yield Group(key), brand, rule.platforms


def evaluate(rules: Sequence[Rule], brands: Mapping[str, Brand], history, book: Book, now: datetime,
             notifiers: Sequence[str] = (), *, listeners: Sequence[str] | None = None,
             watch: Callable[[Rule, Group, Decision, Trigger | None], None] | None = None,
             explain: bool = True, explain_updates: bool = True,
             retire: Callable[[str], str | None] | None = None) -> Evaluation:
    """Every rule for every group: check -> decide -> record. The daemon, `harkbot once`, the demo,
    rule tests and backtests all run this, each with its own history, book and clock.

    `watch` sees every decision with its trigger (a backtest keeps peaks with it); with
    `explain=False` alerts (and with `explain_updates=False` updates) carry only the trigger's
    numbers, not the evidence (a fast backtest). With `retire`, open states of rules that are
    not in `rules` (deleted, renamed, disabled) are closed: `retire(name)` gives the reason
    the resolution shows, or None to keep the state (its file may only be broken for now).
    """
    result = Evaluation()
    end = floor_bucket(now)
    for rule in rules:
        try:
            _evaluate_rule(rule, brands, history, book, now, notifiers, listeners, watch, explain,
                           explain_updates, end, result)
        except Exception:  # one broken rule (or a bug in a kind) must not silence the others
            result.errors.append(rule.name)
            log.exception("rule %s: evaluation failed; the other rules still run", rule.name)
    if retire is not None:
        try:
            _retire(rules, book, now, retire, result)
        except Exception:  # closing old alerts must not cost this evaluation its new ones
            log.exception("rules: could not close the alerts of removed rules; the next evaluation tries again")
    return result


def _retire(rules: Sequence[Rule], book: Any, now: datetime, retire: Callable[[str], str | None],
            result: Evaluation) -> None:
    """A rule that is gone can never see its condition end: resolve its firing alerts (with the
    reason, and a follow-up to where they were sent) and clear its pending states."""
    names = {rule.name for rule in rules}
    for state in book.open_states():
        if state.rule in names:
            continue
        reason = retire(state.rule)
        if reason is None:
            continue
        book.close_state(state, reason, now)
        result.closed.append((state, reason))
        log.info("rule %s: %s for %s: %s", state.rule, "resolved" if state.state == "firing" else "cleared",
                 state.brand, reason)


def _evaluate_rule(rule: Rule, brands: Mapping[str, Brand], history: Any, book: Any, now: datetime,
                   notifiers: Sequence[str], listeners: Sequence[str] | None, watch: Any, explain: bool,
                   explain_updates: bool, end: datetime, result: Evaluation) -> None:
    for group, brand, platforms in groups_of(rule, brands, history, now, listeners):
        ctx = Context(brand, now, history, platforms, group, end)
        trigger = rule.check(ctx)
        key = group.key
        state = book.rule_state(fingerprint(rule.name, key))
        last = Report(None, None)
        if trigger is not None and state is not None and state.state == "firing" and state.alert_id is not None:
            last = book.alert_report(state.alert_id)
        decision = decide(rule, key, state, trigger is not None, now,
                          observed=trigger.observed if trigger is not None else None, level=last.observed,
                          reported_at=last.at, worse=rule.worse)
        result.decisions.append((rule, decision))
        if watch is not None:
            watch(rule, group, decision, trigger)
        if not decision.changed:
            continue
        if decision.new:
            alert = new_alert(rule, key, _finding(rule, ctx, trigger, explain), now, brand=group.brand or "")
            alert_id = book.save_state(decision.state, alert, notifiers, now)
            result.alerts.append(replace(alert, id=alert_id))
            log.info("rule %s: %s", rule.name, alert.finding.title)
        elif decision.update:
            fired = decision.state.last_fired_at or now
            finding = since_last(_finding(rule, ctx, trigger, explain and explain_updates), last)
            alert = replace(new_alert(rule, key, finding, fired, brand=group.brand or ""),
                            id=decision.state.alert_id)
            book.record_update(decision.state, alert, decision.reason, now)
            result.updates.append(alert)
            log.info("rule %s: worse for %s: %s", rule.name, key, alert.finding.title)
        else:
            book.save_state(decision.state, None, notifiers, now, decision.resolve)
            if decision.reason == "resolved":
                log.info("rule %s: resolved for %s", rule.name, key)


def since_last(finding: Finding, last: Report) -> Finding:
    """An update says what is new: the number now beside the one the channel was last told."""
    if last.observed is None or last.at is None:
        return finding
    told = f"{last.observed:g} at {utc(last.at).strftime('%d %b %H:%M UTC')}"
    return replace(finding, facts=(("Last reported", told), *finding.facts))


def _finding(rule: Rule, ctx: Context, trigger: Trigger, explain: bool) -> Finding:
    if explain:
        return rule.explain(ctx, trigger)
    return Finding(group=ctx.group_key, title=f"{rule.name}: {ctx.label}, {trigger.observed:g} (usual {trigger.usual:g})",
                   reason="", observed=trigger.observed, usual=trigger.usual, window_start=ctx.end,
                   window_end=ctx.end)


def evaluate_once(rules: Sequence[Rule], brands: Mapping[str, Brand], store: Store, now: datetime,
                  notifiers: Sequence[str], *, listeners: Sequence[str] | None = None,
                  safety: Any = None, retire: Callable[[str], str | None] | None = None) -> Evaluation:
    """Run every rule for every group it names against the store; record what changed, with outbox rows.
    With `safety` (config's `safety:`), new self-harm flags become safety alerts too; with `retire`
    (`RuleWatcher.retire`), the alerts of rules that are gone resolve (see `evaluate`)."""
    result = evaluate(rules, brands, store, store, now, notifiers, listeners=listeners, retire=retire)
    if safety is not None:
        result.alerts.extend(raise_safety_alerts(store, brands, safety, notifiers, now))
    log.info("evaluate: %d rules, %d checks, %d new alerts, %d updated, %d resolved", len(rules),
             len(result.decisions), len(result.alerts), len(result.updates), result.count("resolved"))
    return result
