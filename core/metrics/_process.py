"""prometheus-client's multiprocess mode: the directory of metric files, and dead pids.

Every process of a deployment on one host (``keel serve``'s workers, ``keel worker``)
writes its values to ``<dir>/<kind>_<pid>.db``; a scrape sums the files. A process that
is gone leaves its files: its counters must keep counting in the sum (or they would go
backwards), its live gauges (open WebSockets) must not.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

from prometheus_client import multiprocess

from core.settings import Settings

__all__ = ["MULTIPROC_ENV", "mark_dead_processes", "multiprocess_dir", "prepare"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE = re.compile(r"(?P<kind>[a-z_]+)_(?P<pid>[0-9]+)\.db")
_LIVE = re.compile(r"gauge_live[a-z]*")


def multiprocess_dir() -> Path | None:
    """The directory this process writes its metrics to, or None (in-process metrics)."""
    found = os.environ.get(MULTIPROC_ENV)
    return Path(found) if found else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _files(path: Path) -> list[tuple[Path, str, int]]:
    out = []
    for entry in path.iterdir():
        if found := _FILE.fullmatch(entry.name):
            out.append((entry, found["kind"], int(found["pid"])))
    return out


def prepare(settings: Settings) -> Path | None:
    """Make this process (and the processes it starts) write metrics to ``[metrics] dir``.

    Called by ``keel serve``, ``keel worker`` and ``keel run`` before anything records a
    metric. Deletes the files of processes no longer running (a previous run's), so a
    deployment starts from zero without touching the files of its live processes.

    Returns:
        The directory, or None when metrics are off.
    """
    if not settings.metrics.enabled:
        return None
    path = Path(settings.metrics.dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    for file, _, pid in _files(path):
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # prometheus-client picks its value class when first imported; a plugin module may
        # have imported it before the directory was known. Metrics created from now on
        # (keel creates its own lazily) write to the directory.
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return path


def mark_dead_processes(path: Path) -> None:
    """``multiprocess.mark_process_dead`` for every process whose live gauges remain.

    Run before each scrape: uvicorn restarts a crashed worker without telling anyone, and
    a gauge of a dead process (its open WebSockets) must drop out of the sum at once.
    """
    dead = {pid for _, kind, pid in _files(path) if _LIVE.fullmatch(kind) and not _alive(pid)}
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
