"""The core's own metrics (every name and label is listed in docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class CoreMetrics:
    """The prometheus-client objects the core records into, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        # no separate request counter: the histogram's _count is one, and each value
        # written costs a lock and an mmap write on every request
        self.http_duration = Histogram(
            "keel_http_request_duration_seconds",
            "HTTP requests (_count) and the time from their arrival to the end of their "
            "response, by method, route template and status.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.ws_connections = Gauge(
            "keel_websocket_connections",
            "WebSocket connections open now (accepted, not yet closed).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.ws_frames = Counter(
            "keel_websocket_frames_total",
            "WebSocket messages received (in) and sent (out).",
            ["direction"],
            registry=r,
        )
        self.ws_closes = Counter(
            "keel_websocket_closes_total",
            "WebSocket closes by code and by the side that closed (server or client).",
            ["code", "side"],
            registry=r,
        )
        self.events_emitted = Counter(
            "keel_events_emitted_total",
            "Events stored in the outbox by emit(), by event name.",
            ["event"],
            registry=r,
        )
        self.event_deliveries = Counter(
            "keel_event_deliveries_total",
            "Listener runs by listener (<plugin>.<name>), mode and outcome "
            "(ok, error, duplicate: a durable delivery already handled).",
            ["listener", "mode", "outcome"],
            registry=r,
        )
        self.outbox_relayed = Counter(
            "keel_outbox_relayed_total",
            "Outbox entries the relay handed to the queues.",
            registry=r,
        )
        self.outbox_relay_errors = Counter(
            "keel_outbox_relay_errors_total",
            "Relay rounds that failed (MongoDB or Valkey unreachable).",
            registry=r,
        )
        self.jobs_enqueued = Counter(
            "keel_jobs_enqueued_total",
            "Jobs enqueued, by queue and function.",
            ["queue", "function"],
            registry=r,
        )
        self.jobs_processed = Counter(
            "keel_jobs_processed_total",
            "Job attempts run by a worker, by queue, function and outcome "
            "(complete, failed, cancelled: timed out, aborted or stopped by a shutdown).",
            ["queue", "function", "outcome"],
            registry=r,
        )
        self.job_duration = Histogram(
            "keel_job_duration_seconds",
            "Run time of job attempts, by queue and function.",
            ["queue", "function"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.schedule_ticks = Counter(
            "keel_schedule_ticks_total",
            "Schedule ticks claimed by this deployment's scheduler, by schedule and outcome "
            "(enqueued, paused, duplicate: its job was still queued, failed: not enqueued).",
            ["schedule", "outcome"],
            registry=r,
        )
        self.schedule_runs = Counter(
            "keel_schedule_runs_total",
            "Runs of scheduled jobs by schedule and outcome "
            "(success, failed, aborted, skipped: the previous run still held the lock).",
            ["schedule", "outcome"],
            registry=r,
        )
        self.dependency_errors = Counter(
            "keel_dependency_errors_total",
            "Requests answered 503 because a service was unreachable (mongodb, valkey).",
            ["service"],
            registry=r,
        )
