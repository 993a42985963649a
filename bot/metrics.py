"""The Prometheus endpoint of `harkbot run` (`--metrics-port`, or `metrics.port` in config.yaml).

prometheus-client is an optional extra (`pip install 'harkbot[metrics]'`). Everything is
registered on a CollectorRegistry of our own, never the process-wide default, so tests and
embedders can run several. The scheduler's job wrappers feed it from what the pipeline
functions return (PollResult, Evaluation, (sent, failed)); nothing here touches the database.

Metrics (all prefixed harkbot_):
  polls_total{listener}                      polls run (resting listeners not counted)
  poll_errors_total{listener}                polls that failed
  poll_resting_total{listener}               polls skipped while resting after errors
  mentions_fetched_total{listener}           posts read from the platform
  mentions_ingested_total{listener}          new mentions stored
  poll_duration_seconds{listener}            histogram
  listener_last_success_timestamp_seconds{listener}
  evaluations_total, evaluation_errors_total (rules that failed), evaluation_duration_seconds (histogram)
  alerts_raised_total, alert_updates_total
  deliveries_sent_total, deliveries_failed_total
  outbox_depth{status}                       rows per outbox status, after each send
  purged_rows_total                          mentions and alerts removed by retention
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

from bot.errors import HarkError

INSTALL_HINT = "pip install 'harkbot[metrics]'"


class MetricsUnavailable(HarkError):
    pass


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MetricsUnavailable(
            f"the metrics endpoint needs prometheus-client: run `{INSTALL_HINT}`, "
            "or drop --metrics-port (and metrics.port in config.yaml)") from None
    return prometheus_client


class Metrics:
    """The counters, gauges and histograms, on a registry of their own."""

    def __init__(self) -> None:
        pc = _client()
        self.registry = pc.CollectorRegistry(auto_describe=True)
        r = self.registry
        by_listener = ["listener"]
        self.polls = pc.Counter("harkbot_polls", "Polls run", by_listener, registry=r)
        self.poll_errors = pc.Counter("harkbot_poll_errors", "Polls that failed", by_listener, registry=r)
        self.poll_resting = pc.Counter("harkbot_poll_resting", "Polls skipped: resting after errors",
                                       by_listener, registry=r)
        self.fetched = pc.Counter("harkbot_mentions_fetched", "Posts read from the platform", by_listener, registry=r)
        self.ingested = pc.Counter("harkbot_mentions_ingested", "New mentions stored", by_listener, registry=r)
        self.poll_seconds = pc.Histogram("harkbot_poll_duration_seconds", "Time per poll", by_listener, registry=r,
                                         buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
        self.last_success = pc.Gauge("harkbot_listener_last_success_timestamp_seconds",
                                     "When the listener's last poll succeeded (Unix time)", by_listener, registry=r)
        self.evaluations = pc.Counter("harkbot_evaluations", "Evaluations run", registry=r)
        self.evaluation_errors = pc.Counter("harkbot_evaluation_errors", "Rules whose evaluation failed", registry=r)
        self.evaluation_seconds = pc.Histogram("harkbot_evaluation_duration_seconds", "Time per evaluation",
                                               registry=r, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.alerts = pc.Counter("harkbot_alerts_raised", "New alerts raised", registry=r)
        self.updates = pc.Counter("harkbot_alert_updates", "Firing alerts that got worse", registry=r)
        self.sent = pc.Counter("harkbot_deliveries_sent", "Outbox rows delivered", registry=r)
        self.failed = pc.Counter("harkbot_deliveries_failed", "Delivery attempts that failed", registry=r)
        self.outbox = pc.Gauge("harkbot_outbox_depth", "Outbox rows by status", ["status"], registry=r)
        self.purged = pc.Counter("harkbot_purged_rows", "Mentions and alerts removed by retention", registry=r)
        for status in ("pending", "sent", "dead"):
            self.outbox.labels(status).set(0)

    # What the scheduler's job wrappers call, each with what a pipeline function returned.

    def poll(self, result: Any, at_epoch: float) -> None:
        name = result.listener
        if result.skipped:
            self.poll_resting.labels(name).inc()
            return
        self.polls.labels(name).inc()
        self.fetched.labels(name).inc(result.fetched)
        self.ingested.labels(name).inc(result.new)
        self.poll_seconds.labels(name).observe(result.seconds)
        if result.error:
            self.poll_errors.labels(name).inc()
        else:
            self.last_success.labels(name).set(at_epoch)

    def evaluation(self, result: Any, seconds: float) -> None:
        self.evaluations.inc()
        self.evaluation_seconds.observe(seconds)
        self.alerts.inc(len(result.alerts))
        self.updates.inc(len(getattr(result, "updates", ())))
        self.evaluation_errors.inc(len(getattr(result, "errors", ())))

    def delivery(self, sent: int, failed: int) -> None:
        self.sent.inc(sent)
        self.failed.inc(failed)

    def outbox_depth(self, counts: Mapping[str, int]) -> None:
        for status in set(counts) | {"pending", "sent", "dead"}:
            self.outbox.labels(status).set(counts.get(status, 0))

    def purge(self, rows: int) -> None:
        self.purged.inc(rows)

    def text(self) -> bytes:
        return _client().generate_latest(self.registry)


@dataclass
class Endpoint:
    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(metrics: Metrics, port: int, address: str = "127.0.0.1") -> Endpoint:
    """Serve /metrics on address:port (0: any free port) from a daemon thread."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    pc = _client()

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes every 15 s are noise
            pass

    try:
        server = make_server(address, port, pc.make_wsgi_app(metrics.registry), _Server, handler_class=_Quiet)
    except OSError as exc:
        raise MetricsUnavailable(f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}; "
                                 "choose another --metrics-port") from None
    thread = threading.Thread(target=server.serve_forever, args=(0.5,), name="metrics", daemon=True)
    thread.start()
    return Endpoint(server, thread)
