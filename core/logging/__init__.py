"""Process-wide logging: JSON lines or readable text, a request id on every line.

:func:`configure_logging` is called once per process by the entry points (``keel`` CLI,
:func:`core.app.app_factory`, the worker); library code only ever does
``logging.getLogger(__name__)``. The current request id lives in a context variable that the
HTTP middleware sets, so log lines written while serving a request, and tasks started from
it, carry it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from core.logging._format import (
    AccessLine,
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    current_request_id,
    request_id_var,
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
    "RequestIdFilter",
    "configure_logging",
    "current_request_id",
    "direct_access_handlers",
    "request_id_var",
    "reset_logging",
]

LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5
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


def configure_logging(settings: Settings) -> None:
    """Configure the root logger for this process from ``settings.app``.

    JSON lines when ``app.log_format`` is ``json`` (or ``auto`` in production), readable
    text otherwise, on stderr; with ``app.log_dir`` also JSON lines in a size-rotated
    ``<app.name>.log`` there (one file per process is safest with several workers: give
    each its own ``KEEL_APP__LOG_DIR``). Access lines are written in batches, at most
    :data:`FLUSH_INTERVAL_S` late; every other record at once. uvicorn's loggers
    propagate to the root, so they are formatted the same way. Calling it again replaces
    what it set up before and leaves foreign handlers (pytest's, for instance) alone.

    Args:
        settings: the application settings.
    """
    reset_logging()
    root = logging.getLogger()
    formatter: logging.Formatter = JsonFormatter() if _uses_json(settings) else ConsoleFormatter()
    root.addHandler(_handler(BatchingStreamHandler(sys.stderr), formatter))
    if settings.app.log_dir:
        directory = Path(settings.app.log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        rotating = BatchingRotatingFileHandler(
            directory / f"{settings.app.name}.log",
            max_bytes=LOG_FILE_MAX_BYTES,
            backups=LOG_FILE_BACKUPS,
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
