"""The access log: one ``core.access`` record per HTTP request, emitted in batches.

Building and formatting a log record costs more than the rest of keel's middleware, and
far more when done between two requests (cold caches) than in a tight loop. So a request
only appends a tuple; the records are built and handled through the normal logging
machinery (handlers, formatters, filters all apply) in a batch shortly after, on the event
loop: every :data:`ACCESS_FLUSH_S`, after :data:`ACCESS_BATCH` requests, and when the app
shuts down. Each record keeps its request's time and request id.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core.logging import AccessLine, RequestContext, direct_access_handlers

__all__ = ["ACCESS_BATCH", "ACCESS_FLUSH_S", "AccessLog", "access_logger"]

access_logger = logging.getLogger("core.access")
ACCESS_FLUSH_S = 0.1
"""Longest an access line waits before it is handed to logging."""
ACCESS_BATCH = 256
"""Hand pending lines to logging once this many are waiting."""


class AccessLog:
    """Collects access lines and emits them as ``core.access`` INFO records in batches.

    Each record has the message ``"GET /path 200 1.23ms"`` and the fields ``method``,
    ``path``, ``status``, ``duration_ms``, ``request_id``, ``client_ip`` and ``user_id``
    (JSON lines spell them in camelCase and leave out an unknown user or IP).
    """

    __slots__ = ("_pending", "_scheduled")

    def __init__(self) -> None:
        self._pending: list[AccessLine] = []
        self._scheduled = False

    def add(
        self, context: RequestContext, method: str, path: str, status: int, elapsed_s: float
    ) -> None:
        """Queue one line (call from the event loop that serves the request)."""
        if not access_logger.isEnabledFor(logging.INFO):
            return
        ms = round(elapsed_s * 1000, 2)
        self._pending.append(
            (
                time.time(),
                context.request_id,
                method,
                path,
                status,
                ms,
                context.client_ip,
                context.user_id,
            )
        )
        if len(self._pending) >= ACCESS_BATCH:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(ACCESS_FLUSH_S, self._flush_later)

    def _flush_later(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Emit every pending line now."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        handlers = direct_access_handlers(access_logger)
        if handlers is None:
            _emit_records(pending)
            return
        for handler in handlers:
            format_access = handler.formatter.format_access  # type: ignore[union-attr]
            handler.add_lines([format_access(line) for line in pending])


def _emit_records(pending: list[AccessLine]) -> None:
    """Real log records, for when some handler is not one of keel's (pytest's caplog...)."""
    for created, request_id, method, path, status, duration_ms, client_ip, user_id in pending:
        record = access_logger.makeRecord(
            access_logger.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d %.2fms",
            (method, path, status, duration_ms),
            None,
            "access",
            {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id,
                "client_ip": client_ip,
                "user_id": user_id,
            },
        )
        record.created = created
        record.msecs = (created - int(created)) * 1000
        access_logger.handle(record)
