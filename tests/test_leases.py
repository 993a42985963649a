"""Poll leases and outbox lanes: `harkbot once` beside a daemon (or workers) never polls one
listener twice at once, a dead holder's lease lapses, a zombie is fenced, N processes spend one
API budget, and one outbox lane is drained by one sender while other lanes go on."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from bot.leases import held, holder, poll_leased, poll_name
from bot.outbox import deliver, lanes
from bot.routing import Routing
from bot.store import Lease
from listeners.base import QuotaPlan
from tests.backends import backend, make_store, sql, store  # noqa: F401 - fixtures: both backends
from tests.fakes.slack import FakeSlack
from tests.helpers import ScriptedListener, brand, mention
from tests.test_outbox import CHANNELS, alert, fire, slack_notifier

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@dataclass
class _Options:
    every: timedelta = timedelta(minutes=5)


class _Config:
    """What poll_leased reads of a Config: brands, the listener's options, `ingest.workers`."""

    def __init__(self, name: str = "scripted", workers: int = 0):
        from types import SimpleNamespace

        from bot.config import IngestModel

        self.brands = {"mindful": brand()}
        self.listeners = {name: _Options()}
        self.model = SimpleNamespace(ingest=IngestModel(workers=workers))


def _Scorer():
    from bot.sentiment import make_scorer

    return make_scorer("vader")


class Blocking(ScriptedListener):
    """Yields one page, then waits until released: a poll in flight, for the second poller to meet."""

    def __init__(self, pages, started: threading.Event, release: threading.Event):
        super().__init__(pages)
        self.started, self.release = started, release

    def fetch(self, brands, cursor, now):
        pages = iter(super().fetch(brands, cursor, now))
        yield next(pages)
        self.started.set()
        self.release.wait(10)
        yield from pages


class Planned(ScriptedListener):
    """A listener with a daily plan of 2,880 units at every 5 minutes (10 a poll), under a cap of 30."""

    @classmethod
    def plan(cls, options, brands):
        return QuotaPlan("scripted", 288 * 10, 30, "units", "test plan")


def test_a_held_lease_is_refused_to_others_and_released_after(store):
    with held(store, "poll:x", "a", clock=lambda: T0) as mine:
        assert mine is not None and mine.lease.holder == "a"
        with held(store, "poll:x", "b", clock=lambda: T0) as theirs:
            assert theirs is None
    with held(store, "poll:x", "b", clock=lambda: T0) as theirs:
        assert theirs is not None and theirs.lease.token > mine.lease.token


def test_a_slow_holder_keeps_its_lease_alive_past_the_ttl(store):
    # A clock 20x fast: the 6 s TTL lasts 0.3 real seconds (SQLite keeps whole seconds).
    start = time.monotonic()
    now = lambda: T0 + timedelta(seconds=20 * (time.monotonic() - start))  # noqa: E731
    ttl = timedelta(seconds=6)
    with held(store, "lane", "slow", ttl=ttl, clock=now, renew_every=0.05) as mine:
        time.sleep(1.0)  # three TTLs: only renewal keeps it
        assert store.acquire_lease("lane", "other", now(), ttl) is None
        assert not mine.lost.is_set()
    assert store.acquire_lease("lane", "other", now(), ttl) is not None


def test_a_dead_holders_lease_lapses_after_its_ttl(store):
    store.acquire_lease("poll:scripted", "dead-worker", T0, timedelta(seconds=60))
    assert store.acquire_lease("poll:scripted", "me", T0 + timedelta(seconds=59), timedelta(seconds=60)) is None
    assert store.acquire_lease("poll:scripted", "me", T0 + timedelta(seconds=61), timedelta(seconds=60)) is not None


def test_once_beside_a_running_poll_skips_that_listener(store):
    started, release = threading.Event(), threading.Event()
    slow = Blocking([[mention(1)], [mention(2)]], started, release)
    config = _Config()
    first: list = []
    runner = threading.Thread(target=lambda: first.append(
        poll_leased(slow, config, _Scorer(), store, T0, intake=_intake(), who="daemon")))
    runner.start()
    assert started.wait(5)
    second = poll_leased(ScriptedListener([[mention(3)]]), config, _Scorer(), store, T0, intake=_intake(),
                         who="once")
    release.set()
    runner.join(5)
    assert second.skipped and second.fetched == 0
    assert first[0].new == 2 and not first[0].skipped
    assert sql(store, "SELECT count(*) FROM mentions")[0][0] == 2
    assert store.cursor("scripted") == "c1"


def test_a_zombie_poller_is_fenced_and_its_poll_is_not_a_failure(store):
    # The daemon's lease lapsed while it stalled; a worker took the listener over.
    config = _Config()
    stale = store.acquire_lease(poll_name("scripted"), "zombie", T0, timedelta(seconds=1))
    store.acquire_lease(poll_name("scripted"), "worker", T0 + timedelta(seconds=5), timedelta(seconds=60))
    from bot.pipeline import poll_once

    result = poll_once(ScriptedListener([[mention(1)]]), config.brands, _Scorer(), store, T0, lease=stale)
    assert result.skipped and result.new == 0
    assert store.cursor("scripted") is None
    assert (store.health_of("scripted") or {}).get("failures", 0) == 0  # no backoff for losing a lease


def test_processes_share_one_budget(store):
    config = _Config()
    results = [poll_leased(Planned([[mention(i)]]), config, _Scorer(), store, T0, intake=_intake(), who=f"p{i}")
               for i in range(5)]
    # 10 units a poll (2,880 a day / 288 polls) under a cap of 30: three polls, then none.
    assert [r.skipped for r in results] == [False, False, False, True, True]
    assert store.budget_rows()[0]["used"] == pytest.approx(30)


def test_holder_names_this_process():
    import os

    assert f":{os.getpid()}:" in holder()


# -- outbox lanes


def test_a_lane_filter_sends_only_that_lane_and_keeps_the_others(store):
    with FakeSlack(token="xoxb-test", channels=CHANNELS) as slack:
        notifiers = {"slack": slack_notifier(slack, Routing(default="alerts"))}
        fire(store, alert(rule="a", channel="alerts"))
        fire(store, alert(rule="b", channel="crisis"))
        fire(store, alert(rule="c", channel="alerts", brand="other"))
        assert lanes(store, notifiers, T0) == [("slack", "alerts"), ("slack", "crisis")]
        assert deliver(store, notifiers, T0, lanes=[("slack", "crisis")]) == (1, 0)
        assert [m.channel for m in slack.top_level()] == ["C0CRISIS"]
        assert lanes(store, notifiers, T0) == [("slack", "alerts")]
        assert deliver(store, notifiers, T0, lanes=[("slack", "alerts")])[1] == 0
        assert {m.channel for m in slack.top_level()} == {"C0CRISIS", "C0ALERTS"}
        assert lanes(store, notifiers, T0) == []


def test_two_senders_on_two_lanes_at_once_send_each_message_once(backend, make_store, tmp_path):
    path = tmp_path / "lanes.db" if backend == "sqlite" else ":memory:"
    first = make_store(path)
    second = make_store(path) if backend == "sqlite" else first
    with FakeSlack(token="xoxb-test", channels=CHANNELS) as slack:
        for i in range(6):
            fire(first, alert(rule=f"r{i}", channel=("alerts", "crisis")[i % 2], brand=f"b{i}"))
        notifiers = {"slack": slack_notifier(slack, Routing(default="alerts"))}
        threads = [threading.Thread(target=deliver, args=(s, notifiers, T0), kwargs={"lanes": [lane]})
                   for s, lane in ((first, ("slack", "alerts")), (second, ("slack", "crisis")))]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
        texts = [m.text for m in slack.top_level()]
        assert len(texts) == 6 and len(set(texts)) == 6
        assert lanes(first, notifiers, T0) == []


def _intake():
    from bot.intake import Intake

    return Intake()


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store):
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:abcdef"
    store.acquire_lease("poll:x", dead, T0, timedelta(seconds=60))
    with held(store, "poll:x", "me", clock=lambda: T0 + timedelta(seconds=1)) as mine:
        assert mine is not None  # not 59 s later: its holder is gone
    # A live holder (this process), or one on another host, is waited out.
    store.acquire_lease("poll:y", holder(), T0, timedelta(seconds=60))
    store.acquire_lease("poll:z", "elsewhere:1:abcdef", T0, timedelta(seconds=60))
    for name in ("poll:y", "poll:z"):
        with held(store, name, "me", clock=lambda: T0 + timedelta(seconds=1)) as theirs:
            assert theirs is None


def test_a_leased_poll_prepares_in_the_configured_worker_processes(store):
    from bot import pipeline

    page = [mention(i, "Mindful Health rocks") for i in range(pipeline.POOL_MIN + 8)]
    pipeline._close_pools()
    try:
        result = poll_leased(ScriptedListener([page]), _Config(workers=1), _Scorer(), store, T0, intake=_intake(),
                             who="daemon")
        assert 1 in pipeline._POOLS  # config's ingest.workers reached poll_once
    finally:
        pipeline._close_pools()
    assert result.new == len(page)


def test_a_sender_frozen_past_its_lane_lease_leaves_the_post_to_the_new_holder(store):
    # bench/crash_workers.py --stall: a worker stopped (SIGSTOP, a frozen VM) between its claim
    # and its post while another took the lane over and sent the row; on waking it must not post.
    from bot.workers import lane_name

    lane, name, clock = ("slack", "alerts"), lane_name("slack", "alerts"), [T0]
    with FakeSlack(token="xoxb-test", channels=CHANNELS) as slack:
        notifiers = {"slack": slack_notifier(slack, Routing(default="alerts"))}
        fire(store, alert(rule="a", channel="alerts"))
        with held(store, name, "zombie", clock=lambda: clock[0], renew_every=3600) as zombie:

            def frozen() -> bool:
                clock[0] = T0 + timedelta(minutes=2)  # past the 60 s TTL
                with held(store, name, "rescuer", clock=lambda: clock[0], renew_every=3600) as rescuer:
                    assert rescuer is not None
                    assert deliver(store, notifiers, clock[0], lanes=[lane], fence=rescuer.confirm) == (1, 0)
                return zombie.confirm()

            assert deliver(store, notifiers, T0, lanes=[lane], fence=frozen) == (0, 0)
            assert zombie.lost.is_set()
        assert len(slack.top_level()) == 1
        assert lanes(store, notifiers, clock[0]) == []


def test_confirm_renews_a_lease_still_held():
    from bot.store import Store

    store, clock = Store(":memory:"), [T0]
    with held(store, "lane", "me", clock=lambda: clock[0], renew_every=3600) as mine:
        clock[0] = T0 + timedelta(seconds=50)
        assert mine.confirm()  # renewed at 50 s: still ours at 100 s
        clock[0] = T0 + timedelta(seconds=100)
        assert store.acquire_lease("lane", "other", clock[0], timedelta(seconds=60)) is None
        assert mine.confirm()


def test_a_sender_frozen_while_waiting_its_channels_turn_posts_nothing_on_waking(store):
    # The same zombie, frozen inside the notifier's pacing (one message a second per channel),
    # after the claim: the lease is asked after that wait, just before the request.
    from bot.workers import lane_name

    lane, name, clock = ("slack", "alerts"), lane_name("slack", "alerts"), [T0]
    with FakeSlack(token="xoxb-test", channels=CHANNELS) as slack:
        rescuer_notifiers = {"slack": slack_notifier(slack, Routing(default="alerts"))}
        fire(store, alert(rule="a", channel="alerts", brand="one"))
        fire(store, alert(rule="b", channel="alerts", brand="two"))  # another brand: a message of its own
        with held(store, name, "zombie", clock=lambda: clock[0], renew_every=3600) as zombie:

            def frozen_in_pacing(_seconds: float) -> None:
                clock[0] = T0 + timedelta(minutes=2)
                with held(store, name, "rescuer", clock=lambda: clock[0], renew_every=3600) as rescuer:
                    assert deliver(store, rescuer_notifiers, clock[0], lanes=[lane], fence=rescuer.confirm) == (1, 0)

            paced = {"slack": slack_notifier(slack, Routing(default="alerts"), pace=1.0, sleep=frozen_in_pacing)}
            assert deliver(store, paced, T0, lanes=[lane], fence=zombie.confirm) == (1, 0)  # the first, then frozen
        assert len(slack.top_level()) == 2  # one each, not the second twice
        assert lanes(store, rescuer_notifiers, clock[0]) == []
