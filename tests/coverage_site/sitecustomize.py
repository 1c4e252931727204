"""Measure the ``keel`` processes the tests start (``make coverage`` puts this directory on
``PYTHONPATH``; nothing here runs otherwise).

Python imports ``sitecustomize`` at start-up in every process that inherits that
``PYTHONPATH``: the test run itself, its xdist workers, SecantusDB, localstripe, the SMTP
sink, helper interpreters. Only keel's own code run as a command starts coverage here: the
``keel`` console script, or ``python -m core.<module>`` (the devstack's SMTP sink); tracing
SecantusDB too made the suite ~8x slower. A keel process passes ``COVERAGE_PROCESS_START``
on to the interpreters it spawns (``keel serve --workers N``), which coverage's own
``a1_coverage.pth`` then measures; the devstack strips ``COVERAGE_*`` from the embedded
services it starts.

Each process writes ``<repo>/var/coverage/.coverage.<host>.<pid>.<random>`` (``data_file``,
made absolute since keel processes run in scratch directories; ``parallel = true``), and
pytest-cov combines them with its own at the end of the session. Tests often end a keel process
with SIGKILL (the process group, in teardown), which no exit handler survives, so the data
is also saved every second from a daemon thread; a SIGTERM saves it too
(``sigterm = true``).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import coverage

_REPO = Path(__file__).resolve().parents[2]
_SAVE_EVERY_S = 1.0


def _is_keel() -> bool:
    if Path(sys.argv[0]).name == "keel":
        return True
    return sys.orig_argv[1:2] == ["-m"] and sys.orig_argv[2].startswith("core.")


def _save_periodically(cov: coverage.Coverage, stop: threading.Event) -> None:
    while not stop.wait(_SAVE_EVERY_S):
        try:
            cov.save()
        except Exception:  # noqa: S112 - a lost sample must never break keel
            continue


def _start() -> None:
    try:
        import coverage  # absent in a production install's venv
    except ImportError:
        return
    os.environ.setdefault("COVERAGE_PROCESS_START", str(_REPO / "pyproject.toml"))
    os.environ.setdefault("COVERAGE_FILE", str(_REPO / "var" / "coverage" / ".coverage"))
    # Lines run here are recorded under this static context (pyproject's `context`), so
    # `coverage report --contexts=...` can tell them from the test processes' own.
    os.environ.setdefault("COVERAGE_STATIC_CONTEXT", "keel-process")
    # None when coverage's own .pth already started it (the variable was inherited).
    cov = coverage.process_startup() or getattr(coverage.process_startup, "coverage", None)
    if cov is None:
        return
    stop = threading.Event()
    saver = threading.Thread(
        target=_save_periodically, args=(cov, stop), name="coverage-save", daemon=True
    )
    saver.start()

    def _stop_saver() -> None:  # registered after coverage's handler, so it runs first
        stop.set()
        saver.join(5)

    atexit.register(_stop_saver)


if _is_keel():
    _start()
