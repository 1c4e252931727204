"""This process's metrics: the core's and the plugins' (``register_metrics``).

prometheus-client metrics belong to the process, not to an app: in multiprocess mode
each process writes its values to files named by its pid, which the scrape sums. So
there is one :class:`KeelMetrics` per process (:func:`process_metrics`), built on first
use: after the CLI has chosen the multiprocess directory (:func:`core.metrics.prepare`),
never at import time. Several apps built in one process (tests) share it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.errors import PluginError
from core.metrics._core import CoreMetrics
from core.records import Metric

__all__ = ["KeelMetrics", "process_metrics"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")


class KeelMetrics:
    """The core's metrics (:attr:`core`) and those plugins declared, by name.

    Attributes:
        registry: every metric of this process (what an in-process scrape reads).
        core: the core's own metrics.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.core = CoreMetrics(self.registry)
        self._declared: dict[str, tuple[str, Metric, Any]] = {}

    def declare(self, declarations: Iterable[tuple[str, Metric]]) -> None:
        """Create the plugins' metrics; declaring the same one again is a no-op.

        Raises:
            PluginError: a bad name, or a name declared differently before.
        """
        for plugin, metric in declarations:
            known = self._declared.get(metric.name)
            if known is not None:
                if known[:2] != (plugin, metric):
                    raise PluginError(plugin, f"metric {metric.name!r} is already declared")
                continue
            self._declared[metric.name] = (plugin, metric, self._create(plugin, metric))

    def _create(self, plugin: str, metric: Metric) -> Any:
        prefix = f"keel_{plugin}_"
        if not (metric.name.startswith(prefix) and _NAME.fullmatch(metric.name)):
            raise PluginError(
                plugin, f"metric {metric.name!r}: names are {prefix}<what>, lower case"
            )
        labels = list(metric.labels)
        doc, reg = metric.documentation, self.registry
        if metric.kind == "counter":
            if not metric.name.endswith("_total"):
                raise PluginError(plugin, f"counter {metric.name!r} must end in _total")
            return Counter(metric.name, doc, labels, registry=reg)
        if metric.kind == "gauge":
            mode = metric.multiprocess_mode
            return Gauge(metric.name, doc, labels, registry=reg, multiprocess_mode=mode)
        if metric.buckets:
            return Histogram(metric.name, doc, labels, buckets=metric.buckets, registry=reg)
        return Histogram(metric.name, doc, labels, registry=reg)

    def _get(self, name: str, kind: type[Any]) -> Any:
        found = self._declared.get(name)
        if found is None or not isinstance(found[2], kind):
            what = kind.__name__.lower()
            raise LookupError(f"no {what} {name!r} was declared by register_metrics")
        return found[2]

    def counter(self, name: str) -> Counter:
        """The declared counter ``name`` (raises ``LookupError``)."""
        counter: Counter = self._get(name, Counter)
        return counter

    def gauge(self, name: str) -> Gauge:
        """The declared gauge ``name`` (raises ``LookupError``)."""
        gauge: Gauge = self._get(name, Gauge)
        return gauge

    def histogram(self, name: str) -> Histogram:
        """The declared histogram ``name`` (raises ``LookupError``)."""
        histogram: Histogram = self._get(name, Histogram)
        return histogram


@functools.cache
def process_metrics() -> KeelMetrics:
    """This process's :class:`KeelMetrics`, created on first use."""
    return KeelMetrics()
