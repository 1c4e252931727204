"""Handlers that format each record at once but write them in batches."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.logging._format import RequestIdFilter

FLUSH_INTERVAL_S = 0.2
"""Longest an INFO line waits in memory before it is written."""
_BATCH_BYTES = 64 * 1024


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Base of keel's handlers: records are written at once, access lines in batches.

    A ``write`` system call per request costs more than formatting its access-log line,
    so lines handed over with :meth:`add_lines` wait until 64 KiB are pending, until the
    next ordinary record (which writes everything pending, in order), or at most
    :data:`FLUSH_INTERVAL_S` (a daemon thread flushes). Ordinary records are never held
    back: a process killed by a signal (uvicorn re-raises SIGTERM once it has shut down
    gracefully, so ``atexit`` never runs) loses at most that fraction of a second of
    access lines, never its last messages.
    """

    def _start_batching(self) -> None:
        self._pending: list[str] = []
        self._pending_size = 0
        _FLUSHER.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record (called with the handler's lock held)."""
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._write_pending()

    def add_lines(self, lines: Iterable[str]) -> None:
        """Queue already formatted lines (see :func:`direct_access_handlers`)."""
        with self.lock or contextlib.nullcontext():
            for line in lines:
                self._pending.append(line + self.terminator)
                self._pending_size += len(line) + 1
            if self._pending_size >= _BATCH_BYTES:
                self._write_pending()

    def flush(self) -> None:
        """Write what is pending."""
        with self.lock or contextlib.nullcontext():
            self._write_pending()

    def close(self) -> None:
        """Write what is pending, then close."""
        self.flush()
        super().close()

    def _write_pending(self) -> None:
        if not self._pending or self.stream is None:
            return
        data = "".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._write(data)

    def _write(self, data: str) -> None:
        self.stream.write(data)
        self.stream.flush()


class BatchingStreamHandler(BatchingHandler):
    """A stream handler (stderr) that writes in batches."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._start_batching()


class BatchingRotatingFileHandler(logging.handlers.RotatingFileHandler, BatchingHandler):
    """A size-rotated log file written in batches (rollover checked per batch)."""

    def __init__(self, filename: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._start_batching()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record."""
        BatchingHandler.emit(self, record)

    def _write(self, data: str) -> None:
        if self.stream is None:
            self.stream = self._open()
        if self.maxBytes and self.stream.tell() + len(data) >= self.maxBytes:
            self.doRollover()
        super()._write(data)


def direct_access_handlers(logger: logging.Logger) -> list[BatchingHandler] | None:
    """The handlers an INFO record of ``logger`` reaches, when every one of them is a
    keel batching handler that can format access lines itself; else ``None`` (then the
    caller builds log records, so foreign handlers such as pytest's see them)."""
    if logger.filters or logger.disabled:
        return None
    found: list[BatchingHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if handler.level > logging.INFO:
                continue
            if not (
                isinstance(handler, BatchingHandler)
                and hasattr(handler.formatter, "format_access")
                and all(isinstance(f, RequestIdFilter) for f in handler.filters)
            ):
                return None
            found.append(handler)
        current = current.parent if current.propagate else None
    return found


class _Flusher:
    """One daemon thread flushing every batching handler a few times a second."""

    def __init__(self) -> None:
        self._handlers: weakref.WeakSet[BatchingHandler] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def add(self, handler: BatchingHandler) -> None:
        self._handlers.add(handler)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="keel-log-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            for handler in list(self._handlers):
                handler.flush()


_FLUSHER = _Flusher()
