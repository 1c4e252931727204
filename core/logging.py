"""Process-wide logging: JSON lines or readable text, a request id on every line.

:func:`configure_logging` is called once per process by the entry points (``keel`` CLI,
:func:`core.app.app_factory`, the worker); library code only ever does
``logging.getLogger(__name__)``. The current request id lives in a context variable that the
HTTP middleware sets, so log lines written while serving a request, and tasks started from
it, carry it.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from core.settings import Settings

__all__ = [
    "ConsoleFormatter",
    "JsonFormatter",
    "RequestIdFilter",
    "configure_logging",
    "current_request_id",
    "request_id_var",
    "reset_logging",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "keel_request_id", default=None
)
"""The id of the request being served in this context (``None`` outside requests)."""

LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_MARK = "_keel_handler"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


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
    """ISO-8601 UTC timestamps with the seconds part cached (formatting is per line)."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def iso(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``request_id``,
    every ``extra=`` field, and ``exc`` (the formatted traceback) when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        attrs = record.__dict__
        out: dict[str, Any] = {
            "ts": self._clock.iso(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": attrs.get("request_id") or request_id_var.get() or "-",
        }
        for key in attrs.keys() - _STANDARD_ATTRS:
            out.setdefault(key, attrs[key])
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(out, enc_hook=str).decode()


class ConsoleFormatter(logging.Formatter):
    """Readable lines for development: ``time level logger [request id] message``."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
            datefmt="%H:%M:%S",
        )

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``; the request id defaults to the context's."""
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return super().format(record)


def _uses_json(settings: Settings) -> bool:
    fmt = settings.app.log_format
    return fmt == "json" or (fmt == "auto" and settings.app.env == "production")


def _handler(handler: logging.Handler, formatter: logging.Formatter) -> logging.Handler:
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    setattr(handler, _MARK, True)
    return handler


def configure_logging(settings: Settings) -> None:
    """Configure the root logger for this process from ``settings.app``.

    JSON lines when ``app.log_format`` is ``json`` (or ``auto`` in production), readable
    text otherwise, on stderr; with ``app.log_dir`` also JSON lines in a size-rotated
    ``<app.name>.log`` there. uvicorn's loggers propagate to the root, so they are
    formatted the same way; ``uvicorn.access`` is quietened when keel writes its own
    access log (``app.access_log``). Calling it again replaces what it set up before and
    leaves foreign handlers (pytest's, for instance) alone.

    Args:
        settings: the application settings.
    """
    reset_logging()
    root = logging.getLogger()
    formatter: logging.Formatter = JsonFormatter() if _uses_json(settings) else ConsoleFormatter()
    root.addHandler(_handler(logging.StreamHandler(sys.stderr), formatter))
    if settings.app.log_dir:
        directory = Path(settings.app.log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            directory / f"{settings.app.name}.log",
            maxBytes=LOG_FILE_MAX_BYTES,
            backupCount=LOG_FILE_BACKUPS,
            encoding="utf-8",
        )
        root.addHandler(_handler(rotating, JsonFormatter()))
    root.setLevel(settings.app.log_level)
    _route_uvicorn(keel_access_log=settings.app.access_log)


def _route_uvicorn(*, keel_access_log: bool) -> None:
    """Send uvicorn's records through the root handlers; levels stay as uvicorn set them.

    ``uvicorn.access`` stays off when keel writes its own access log (a second line per
    request) or when uvicorn was told not to log access (``--no-access-log``): uvicorn only
    formats an access line while that logger has handlers, so off is also free.
    """
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        enabled = logger.hasHandlers()
        logger.handlers.clear()
        if name == "uvicorn.access":
            logger.propagate = enabled and not keel_access_log
        else:
            logger.propagate = True


def reset_logging() -> None:
    """Remove (and close) the handlers :func:`configure_logging` added; others stay."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
