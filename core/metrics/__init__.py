"""Prometheus metrics: recording (core and plugins), multiprocess files, ``/metrics``.

See docs/metrics.md for every metric, its labels and example alert rules. Plugins
declare their own with the ``register_metrics`` hook and record them through
``keel.metrics``.
"""

from core.metrics._asgi import UNMATCHED, HttpMetrics
from core.metrics._collect import QueueCollector, render, scrape_registry
from core.metrics._core import CoreMetrics
from core.metrics._endpoint import METRICS_PATH, metrics_route, start_listener
from core.metrics._process import MULTIPROC_ENV, mark_dead_processes, multiprocess_dir, prepare
from core.metrics._registry import KeelMetrics, process_metrics

__all__ = [
    "METRICS_PATH",
    "MULTIPROC_ENV",
    "UNMATCHED",
    "CoreMetrics",
    "HttpMetrics",
    "KeelMetrics",
    "QueueCollector",
    "mark_dead_processes",
    "metrics_route",
    "multiprocess_dir",
    "prepare",
    "process_metrics",
    "render",
    "scrape_registry",
    "start_listener",
]
