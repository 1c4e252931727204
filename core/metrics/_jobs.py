"""Timing job attempts on the worker side (``keel_jobs_processed_total``, durations)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from core.metrics._core import CoreMetrics
from core.records import JobFunction

__all__ = ["timed_job"]


def timed_job(core: CoreMetrics, queue: str, name: str, function: JobFunction) -> JobFunction:
    """``function`` counted and timed under ``queue`` and ``name`` on every attempt.

    Outcomes: ``complete`` (returned), ``failed`` (raised; SAQ may retry it),
    ``cancelled`` (timed out, aborted or stopped by a shutdown).
    """
    duration = core.job_duration.labels(queue, name)
    outcomes = {o: core.jobs_processed.labels(queue, name, o) for o in ("complete", "failed")}
    cancelled = core.jobs_processed.labels(queue, name, "cancelled")

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await function(ctx, **kwargs)
            outcome = "complete"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            duration.observe(time.perf_counter() - started)
            (cancelled if outcome == "cancelled" else outcomes[outcome]).inc()

    return run
