"""Formatters and the request-id context: JSON lines or readable text."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

import msgspec

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "keel_request_id", default=None
)
"""The id of the request being served in this context (``None`` outside requests)."""

AccessLine = tuple[float, str, str, str, int, float]
"""An access-log line: (time, request id, method, path, status, duration in ms)."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_NOISE = frozenset({"color_message"})  # uvicorn's ANSI-coloured copy of ``msg``


def current_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside a request."""
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` from the context (``"-"`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return True


class _Clock:
    """Timestamps with the seconds part cached (formatting is per line)."""

    __slots__ = ("convert", "fmt", "prefix", "second", "suffix")

    def __init__(self, fmt: str, convert: Any, suffix: str) -> None:
        self.fmt, self.convert, self.suffix = fmt, convert, suffix
        self.second = -1
        self.prefix = ""

    def at(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime(self.fmt, self.convert(second))
        return f"{self.prefix}.{int((created - second) * 1000):03d}{self.suffix}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``request_id``,
    every ``extra=`` field, and ``exc`` (the formatted traceback) when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S", time.gmtime, "Z")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        attrs = record.__dict__
        out: dict[str, Any] = {
            "ts": self._clock.at(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": attrs.get("request_id") or request_id_var.get() or "-",
        }
        for key, value in attrs.items():
            if key not in _STANDARD_ATTRS and key not in _NOISE:
                out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(out, enc_hook=str).decode()

    def format_access(self, line: AccessLine) -> str:
        """The line :meth:`format` would make of a ``core.access`` record, made directly."""
        created, request_id, method, path, status, ms = line
        return msgspec.json.encode(
            {
                "ts": self._clock.at(created),
                "level": "INFO",
                "logger": "core.access",
                "msg": f"{method} {path} {status} {ms:.2f}ms",
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": ms,
            }
        ).decode()


class ConsoleFormatter(logging.Formatter):
    """Readable lines for development: ``time level logger [request id] message``."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
            datefmt="%H:%M:%S",
        )
        self._clock = _Clock("%H:%M:%S", time.localtime, "")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``; the request id defaults to the context's."""
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return super().format(record)

    def format_access(self, line: AccessLine) -> str:
        """The line :meth:`format` would make of a ``core.access`` record, made directly."""
        created, request_id, method, path, status, ms = line
        stamp = self._clock.at(created)
        return f"{stamp} INFO    core.access [{request_id}] {method} {path} {status} {ms:.2f}ms"
