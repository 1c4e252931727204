"""Health endpoints under ``/health``.

``/health`` (status, version, uptime) and ``/health/live`` touch nothing outside the
process. ``/health/ready`` runs every readiness check at once, each bounded by a timeout:
MongoDB, Valkey, the queues, and each plugin's :class:`core.records.HealthCheck` (named
``<plugin>.<name>``); any failure answers 503 naming it. ``/health/db`` and
``/health/valkey`` run one check; ``/health/detailed`` (administrators only) adds versions,
plugins, queue depths and live workers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, Literal

import msgspec
from litestar import Router, get

from core import db as core_db
from core import valkey as core_valkey
from core.context import Keel
from core.errors import ServiceUnavailableError
from core.http.deps import KeelDep
from core.http.guards import admin_only
from core.http.security import SECURITY

__all__ = ["CHECK_TIMEOUT_S", "health_router", "keel_version", "run_checks"]

CHECK_TIMEOUT_S = 2.0
"""Longest a single readiness check may take before it counts as failed."""
log = logging.getLogger("core.health")
_VERSIONED = ("keel", "litestar", "msgspec", "pymongo", "motor", "odmantic", "valkey", "saq")

Check = Callable[[Keel], Awaitable[Any]]


class CheckResult(msgspec.Struct, frozen=True, rename="camel"):
    """The outcome of one readiness check."""

    status: Literal["ok", "fail"]
    duration_ms: float
    error: str | None = None


class Health(msgspec.Struct, frozen=True, rename="camel"):
    """``GET /health``."""

    status: str
    name: str
    version: str
    uptime_seconds: float


class Liveness(msgspec.Struct, frozen=True, rename="camel"):
    """``GET /health/live``."""

    status: str


class Readiness(msgspec.Struct, frozen=True, rename="camel"):
    """``GET /health/ready``, ``/health/db``, ``/health/valkey`` when healthy."""

    status: str
    checks: dict[str, CheckResult]


class Detailed(msgspec.Struct, frozen=True, rename="camel"):
    """``GET /health/detailed``."""

    status: str
    name: str
    version: str
    uptime_seconds: float
    versions: dict[str, str]
    plugins: list[dict[str, str]]
    checks: dict[str, CheckResult]
    queues: dict[str, int]
    workers: dict[str, dict[str, Any]]


@functools.cache
def keel_version(distribution: str = "keel") -> str:
    """The installed version of ``distribution`` (``"0"`` when it is not installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0"


async def _ping_mongodb(keel: Keel) -> None:
    await core_db.ping(keel.mongo)


async def _ping_valkey(keel: Keel) -> None:
    await core_valkey.ping(keel.valkey)


async def _queues_reachable(keel: Keel) -> None:
    await keel.jobs.depths()


def _core_checks() -> dict[str, Check]:
    return {"mongodb": _ping_mongodb, "valkey": _ping_valkey, "queue": _queues_reachable}


async def _timed(keel: Keel, check: Check, timeout_s: float) -> CheckResult:
    started = time.perf_counter()
    error: str | None = None
    try:
        await asyncio.wait_for(check(keel), timeout_s)
    except TimeoutError:
        error = f"timed out after {timeout_s:g} s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult("fail" if error else "ok", elapsed, error)


async def run_checks(
    keel: Keel, names: list[str] | None = None, *, timeout_s: float = CHECK_TIMEOUT_S
) -> dict[str, CheckResult]:
    """Run readiness checks concurrently, each bounded by ``timeout_s``.

    Args:
        keel: the runtime context.
        names: checks to run (``mongodb``, ``valkey``, ``queue``, ``<plugin>.<name>``);
            default all.
        timeout_s: per-check timeout.

    Returns:
        Check name -> result, in a stable order.
    """
    checks = _core_checks()
    for plugin, record in keel.host.health_checks():
        if keel.toggles.active(plugin):  # a plugin switched off live is not checked
            checks[f"{plugin}.{record.name}"] = record.check
    selected = [n for n in checks if names is None or n in names]
    results = await asyncio.gather(*(_timed(keel, checks[n], timeout_s) for n in selected))
    return dict(zip(selected, results, strict=True))


def _require(results: dict[str, CheckResult]) -> Readiness:
    failing = [name for name, result in results.items() if result.status != "ok"]
    if failing:
        raise ServiceUnavailableError(
            f"not ready: {', '.join(failing)} failing",
            details={"failing": failing, "checks": msgspec.to_builtins(results)},
        )
    return Readiness("ok", results)


def _uptime(keel: Keel) -> float:
    return round(time.time() - keel.started_at, 3)


@get("/", summary="Status, version and uptime", sync_to_thread=False)
def health(keel: KeelDep) -> Health:
    """Status, version and uptime of this process."""
    return Health("ok", keel.settings.app.name, keel_version(), _uptime(keel))


@get("/live", summary="Liveness probe", sync_to_thread=False)
def live() -> Liveness:
    """The process serves HTTP. Touches nothing else."""
    return Liveness("ok")


@get("/ready", summary="Readiness probe")
async def ready(keel: KeelDep) -> Readiness:
    """MongoDB, Valkey, the queues and every plugin check; 503 naming what fails."""
    return _require(await run_checks(keel))


@get("/db", summary="MongoDB reachable")
async def database(keel: KeelDep) -> Readiness:
    """MongoDB answers a ping; 503 otherwise."""
    return _require(await run_checks(keel, ["mongodb"]))


@get("/valkey", summary="Valkey reachable")
async def valkey(keel: KeelDep) -> Readiness:
    """Valkey answers a ping; 503 otherwise."""
    return _require(await run_checks(keel, ["valkey"]))


async def _queue_state(keel: Keel) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await keel.jobs.depths(), await keel.jobs.workers_info()
    except Exception as exc:  # the checks report the queue as failing; keep the rest
        log.warning("queue state unavailable: %s: %s", type(exc).__name__, exc)
        return {}, {}


@get("/detailed", summary="Everything, for operators", guards=[admin_only], security=SECURITY)
async def detailed(keel: KeelDep) -> Detailed:
    """Checks, versions, enabled plugins, queue depths and live workers (admins only)."""
    checks, (queues, workers) = await asyncio.gather(run_checks(keel), _queue_state(keel))
    installed = keel.host.installed
    return Detailed(
        status="ok" if all(r.status == "ok" for r in checks.values()) else "degraded",
        name=keel.settings.app.name,
        version=keel_version(),
        uptime_seconds=_uptime(keel),
        versions={"python": platform.python_version()}
        | {dist: keel_version(dist) for dist in _VERSIONED},
        plugins=[
            {"name": n, "version": installed[n].version, "distribution": installed[n].distribution}
            for n in keel.host.plugins
        ],
        checks=checks,
        queues=queues,
        workers=workers,
    )


def health_router() -> Router:
    """The ``/health`` routes, tagged ``health``, exempt from rate limiting."""
    return Router(
        path="/health",
        route_handlers=[health, live, ready, database, valkey, detailed],
        tags=["health"],
    )
