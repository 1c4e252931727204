"""Formatters and the request context: JSON lines or readable text."""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import time
from typing import Any

import msgspec


class RequestContext:
    """What every log line written while serving one request says about it.

    Mutable on purpose: the user is known only once a route authenticates, often in a child
    task (Litestar resolves a handler's dependencies in a task group) whose context is a
    copy of the request's; the copy holds this same object, so a user set there reaches the
    access line the middleware writes afterwards and every later line of the request.

    Attributes:
        request_id: the request's id (``X-Request-ID``).
        client_ip: the client's address as the rate limiter sees it (``X-Forwarded-For``
            honoured only from ``server.trusted_proxies``); ``None`` when unknown.
        user_id: the authenticated user's id, once a route has authenticated the caller.
    """

    __slots__ = ("client_ip", "request_id", "user_id")

    def __init__(
        self, request_id: str, client_ip: str | None = None, user_id: str | None = None
    ) -> None:
        self.request_id = request_id
        self.client_ip = client_ip
        self.user_id = user_id


request_context_var: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "keel_request_context", default=None
)
"""The request being served in this context (``None`` outside requests)."""

AccessLine = tuple[float, str, str, str, int, float, str | None, str | None]
"""An access-log line: (time, request id, method, path, status, duration in ms, client IP,
user id)."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_CONTEXT_ATTRS = frozenset({"request_id", "user_id", "client_ip"})  # set by RequestIdFilter
_NOISE = frozenset({"color_message"})  # uvicorn's ANSI-coloured copy of ``msg``
# Credentials that may ride in a query string: uvicorn logs a WebSocket's path with its
# query (``/ws?token=...``, browsers cannot send headers there) at INFO.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:access_?token|refresh_?token|token|code|otp|password|secret|"
    r"api_?key|key|signature|sig)=)[^&;\s\"']*"
)


def current_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside a request."""
    context = request_context_var.get()
    return context.request_id if context is not None else None


def set_log_user(user_id: str) -> None:
    """Name the authenticated user on every later log line of the current request.

    Called by the code that authenticates a caller; outside a request it does nothing.
    """
    context = request_context_var.get()
    if context is not None:
        context.user_id = user_id


def redact(message: str) -> str:
    """``message`` with the values of credential-like query parameters replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", message) if "=" in message else message


@functools.lru_cache(maxsize=512)
def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (``"-"`` outside a request), ``record.user_id`` and
    ``record.client_ip`` (``None`` when unknown) from the context, and redacts credentials
    from query strings in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        if getattr(record, "request_id", None) is None:
            context = request_context_var.get()
            if context is None:
                record.request_id = "-"
            else:
                record.request_id = context.request_id
                record.user_id = context.user_id
                record.client_ip = context.client_ip
        message = record.getMessage()
        if (clean := redact(message)) != message:
            record.msg, record.args = clean, None
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


def _context_fields(out: dict[str, Any], user_id: str | None, client_ip: str | None) -> None:
    if user_id is not None:
        out["userId"] = user_id
    if client_ip is not None:
        out["clientIp"] = client_ip


class JsonFormatter(logging.Formatter):
    """One JSON object per line, camelCase keys: ``ts``, ``level``, ``logger``, ``msg``,
    ``requestId`` (``"-"`` outside a request), ``userId`` once the request's caller is
    authenticated, ``clientIp`` while serving a request, every ``extra=`` field, and
    ``exc`` (the formatted traceback) when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S", time.gmtime, "Z")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        attrs = record.__dict__
        context = request_context_var.get()
        request_id = attrs.get("request_id") or (context and context.request_id) or "-"
        out: dict[str, Any] = {
            "ts": self._clock.at(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "requestId": request_id,
        }
        _context_fields(out, attrs.get("user_id"), attrs.get("client_ip"))
        for key, value in attrs.items():
            if key not in _STANDARD_ATTRS and key not in _NOISE and key not in _CONTEXT_ATTRS:
                out.setdefault(_camel(key), value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(out, enc_hook=str).decode()

    def format_access(self, line: AccessLine) -> str:
        """The line :meth:`format` would make of a ``core.access`` record, made directly."""
        created, request_id, method, path, status, ms, client_ip, user_id = line
        out: dict[str, Any] = {
            "ts": self._clock.at(created),
            "level": "INFO",
            "logger": "core.access",
            "msg": f"{method} {path} {status} {ms:.2f}ms",
            "requestId": request_id,
        }
        _context_fields(out, user_id, client_ip)
        out.update(method=method, path=path, status=status, durationMs=ms)
        return msgspec.json.encode(out).decode()


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
            record.request_id = current_request_id() or "-"
        return super().format(record)

    def format_access(self, line: AccessLine) -> str:
        """The line :meth:`format` would make of a ``core.access`` record, made directly."""
        created, request_id, method, path, status, ms, _, _ = line
        stamp = self._clock.at(created)
        return f"{stamp} INFO    core.access [{request_id}] {method} {path} {status} {ms:.2f}ms"
