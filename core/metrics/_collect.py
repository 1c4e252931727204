"""What a scrape returns: this host's metric files (or this process's metrics) plus the
queue figures read from Valkey at scrape time.

Queue depth and the age of the oldest waiting job are read from SAQ's keys when scraped
rather than recorded: they are true whoever enqueued or took a job, and a deployment
that runs no worker still reports a growing queue. The read is bounded by a short
timeout; with Valkey down the scrape still answers, with ``keel_queue_stats_up 0``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import valkey
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from core.metrics._process import mark_dead_processes, multiprocess_dir
from core.metrics._registry import process_metrics
from core.settings import Settings
from core.valkey import primary_url_sync

__all__ = ["QueueCollector", "render", "scrape_registry"]

QUEUE_READ_TIMEOUT_S = 0.5
"""Longest the queue figures may take (connect, then each command)."""


class QueueCollector(Collector):
    """``keel_queue_depth``, ``keel_queue_oldest_job_age_seconds`` and
    ``keel_queue_stats_up``, read from Valkey when collected."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        """Read every named queue in two round trips; nothing but ``up 0`` on failure."""
        depth = GaugeMetricFamily(
            "keel_queue_depth",
            "Jobs waiting in the queue (not running, not delayed).",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "keel_queue_oldest_job_age_seconds",
            "How long the oldest waiting job has been due (0 when the queue is empty).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "keel_queue_stats_up", "1 when the queue figures could be read from Valkey."
        )
        try:
            figures = self._read()
        except (valkey.exceptions.ValkeyError, OSError):
            figures = None
        for name, (count, oldest) in (figures or {}).items():
            depth.add_metric([name], count)
            age.add_metric([name], oldest)
        up.add_metric([], 0 if figures is None else 1)
        yield from (depth, age, up)

    def _read(self) -> dict[str, tuple[int, float]]:
        conf = self.settings.valkey
        names = self.settings.queue.names
        keys = [f"saq:{conf.key_prefix}:{name}:queued" for name in names]
        url = primary_url_sync(conf, QUEUE_READ_TIMEOUT_S) if conf.url else ""
        client = valkey.Valkey.from_url(
            url or "valkey://127.0.0.1:6379",
            socket_timeout=QUEUE_READ_TIMEOUT_S,
            socket_connect_timeout=QUEUE_READ_TIMEOUT_S,
        )
        try:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
                pipe.lindex(key, 0)  # SAQ pushes right and takes left: the oldest
            replies = pipe.execute()  # type: ignore[no-untyped-call]
            heads = [replies[i + 1] for i in range(0, len(replies), 2)]
            pipe = client.pipeline(transaction=False)
            for head in heads:
                pipe.get(head or b"-")
            jobs = pipe.execute()  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
        now = time.time()
        return {
            name: (int(replies[2 * i]), _age(jobs[i], now) if heads[i] else 0.0)
            for i, name in enumerate(names)
        }


def _age(raw: Any, now: float) -> float:
    """Seconds since the job became due: enqueued, or scheduled for later."""
    try:
        job = json.loads(raw)
        due_ms = max(int(job.get("queued") or 0), int(job.get("scheduled") or 0) * 1000)
    except (TypeError, ValueError, AttributeError):
        return 0.0
    return max(0.0, now - due_ms / 1000) if due_ms else 0.0


def scrape_registry(settings: Settings) -> CollectorRegistry:
    """A registry holding everything a scrape shows (build one per scrape or listener)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Local())
    registry.register(QueueCollector(settings))
    return registry


class _Local(Collector):
    """The metric files of this host's processes, or this process's own metrics."""

    def collect(self) -> Iterator[Metric]:
        path = multiprocess_dir()
        if path is None:
            yield from process_metrics().registry.collect()
            return
        mark_dead_processes(path)
        yield from MultiProcessCollector(None, str(path)).collect()  # type: ignore[no-untyped-call]


def render(settings: Settings) -> bytes:
    """The Prometheus text exposition of :func:`scrape_registry` (blocking I/O)."""
    return generate_latest(scrape_registry(settings))
