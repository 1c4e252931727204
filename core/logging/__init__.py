"""Process-wide logging: JSON lines or readable text, the request's context on every line.

:func:`configure_logging` is called once per process by the entry points (``keel`` CLI,
:func:`core.app.app_factory`, the worker), each naming its role; library code only ever
does ``logging.getLogger(__name__)``. The request being served (its id, client IP and,
once authenticated, user id) lives in a context variable that the HTTP middleware sets,
so log lines written while serving a request, and tasks started from it, carry it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from core.logging._format import (
    AccessLine,
    ConsoleFormatter,
    JsonFormatter,
    RequestContext,
    RequestIdFilter,
    current_request_id,
    redact,
    request_context_var,
    set_log_user,
)
from core.logging._handlers import (
    FLUSH_INTERVAL_S,
    BatchingHandler,
    BatchingRotatingFileHandler,
    BatchingStreamHandler,
    direct_access_handlers,
)
from core.settings import Settings

__all__ = [
    "FLUSH_INTERVAL_S",
    "AccessLine",
    "BatchingHandler",
    "BatchingRotatingFileHandler",
    "BatchingStreamHandler",
    "ConsoleFormatter",
    "JsonFormatter",
    "RequestContext",
    "RequestIdFilter",
    "configure_logging",
    "current_request_id",
    "direct_access_handlers",
    "log_file_name",
    "redact",
    "request_context_var",
    "reset_logging",
    "set_log_user",
]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_MARK = "_keel_handler"


def _uses_json(settings: Settings) -> bool:
    fmt = settings.app.log_format
    return fmt == "json" or (fmt == "auto" and settings.app.env == "production")


def _handler(handler: logging.Handler, formatter: logging.Formatter) -> logging.Handler:
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    setattr(handler, _MARK, True)
    return handler


def log_file_name(settings: Settings, role: str, pid: int | None = None) -> str:
    """The name of a process's log file in ``app.log_dir``: ``<app.name>-<role>-<pid>.log``
    (its rotated copies add ``.1``, ``.2``...)."""
    return f"{settings.app.name}-{role}-{os.getpid() if pid is None else pid}.log"


def configure_logging(settings: Settings, *, role: str = "app") -> None:
    """Configure the root logger for this process from ``settings.app``.

    JSON lines when ``app.log_format`` is ``json`` (or ``auto`` in production), readable
    text otherwise, on stderr; with ``app.log_dir`` also JSON lines in a file of this
    process alone there, :func:`log_file_name` (``keel-serve-4242.log``), rotated past
    ``app.log_max_bytes`` keeping ``app.log_backups`` copies. Python's rotating handler is
    not safe with several processes on one file, so each has its own; files of processes
    that are gone stay (``cron.cleanup_logs`` deletes old ones). Access lines are written in
    batches, at most :data:`FLUSH_INTERVAL_S` late; every other record at once. uvicorn's
    loggers propagate to the root, so they are formatted the same way. Calling it again
    replaces what it set up before and leaves foreign handlers (pytest's) alone.

    Args:
        settings: the application settings.
        role: what this process is, in its log file's name: ``serve`` (an API worker),
            ``worker``, ``run``.
    """
    reset_logging()
    root = logging.getLogger()
    formatter: logging.Formatter = JsonFormatter() if _uses_json(settings) else ConsoleFormatter()
    root.addHandler(_handler(BatchingStreamHandler(sys.stderr), formatter))
    if settings.app.log_dir:
        directory = Path(settings.app.log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        rotating = BatchingRotatingFileHandler(
            directory / log_file_name(settings, role),
            max_bytes=settings.app.log_max_bytes,
            backups=settings.app.log_backups,
        )
        root.addHandler(_handler(rotating, JsonFormatter()))
    root.setLevel(settings.app.log_level)
    # SAQ logs every worker start with its whole connection repr, and each job at INFO;
    # keel logs failures itself, so SAQ only speaks up for warnings.
    logging.getLogger("saq").setLevel(max(logging.WARNING, root.level))
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
