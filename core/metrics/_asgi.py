"""Recording HTTP requests and WebSocket traffic from the outermost ASGI middleware.

Runs on every request, so the labelled children are looked up once per (method, route
template, status) and kept; the route is Litestar's ``path_template`` (``/api/bookings/
{booking_id}``), never the raw path, and a method outside HTTP's own counts as ``OTHER``:
the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.types import HTTPScope, Message, Receive, Send

from core.metrics._core import CoreMetrics

__all__ = ["HttpMetrics"]

UNMATCHED = "<unmatched>"
"""The route label of requests no route matched (404s, 405s of unknown paths)."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_Record = Callable[[float], None]
"""``Histogram.labels(...).observe`` of one (method, route, status)."""


class HttpMetrics:
    """Counts and times requests by method, route template and status.

    Args:
        core: the process's core metrics.
    """

    __slots__ = ("_children", "core")

    def __init__(self, core: CoreMetrics) -> None:
        self.core = core
        self._children: dict[tuple[str, str, int], _Record] = {}

    def observe(self, scope: HTTPScope, status: int, elapsed: float) -> None:
        """Record one answered request (``scope`` as routed by Litestar)."""
        method: str = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        key = (method, scope.get("path_template") or UNMATCHED, status)
        record = self._children.get(key)
        if record is None:
            record = self._children[key] = self._child(*key)
        record(elapsed)

    def _child(self, method: str, route: str, status: int) -> _Record:
        record: _Record = self.core.http_duration.labels(method, route, str(status)).observe
        return record

    def socket(self, receive: Receive, send: Send) -> tuple[Receive, Send, Callable[[], None]]:
        """Wrap one WebSocket's ``receive`` and ``send``; call the third item when it ends."""
        return _Socket(self.core).wrap(receive, send)


def _code_label(code: Any) -> str:
    """The close code as a label: the standard codes and keel's 4000-4099, else ``other``."""
    if isinstance(code, int) and (1000 <= code <= 1015 or 4000 <= code <= 4099):  # noqa: PLR2004
        return str(code)
    return "other"


class _Socket:
    __slots__ = ("accepted", "closed", "core")

    def __init__(self, core: CoreMetrics) -> None:
        self.core = core
        self.accepted = False
        self.closed = False

    def wrap(self, receive: Receive, send: Send) -> tuple[Receive, Send, Callable[[], None]]:
        frames_in = self.core.ws_frames.labels("in").inc
        frames_out = self.core.ws_frames.labels("out").inc

        async def receive_counted() -> Any:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                frames_in()
            elif kind == "websocket.disconnect":
                self._close(message.get("code", 1005), "client")
            return message

        async def send_counted(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.send":
                frames_out()
            elif kind == "websocket.accept":
                self.accepted = True
                self.core.ws_connections.inc()
            elif kind == "websocket.close":
                self._close(message.get("code", 1000), "server")
            await send(message)

        return receive_counted, send_counted, self._end

    def _close(self, code: Any, side: str) -> None:
        if not self.closed:
            self.closed = True
            self.core.ws_closes.labels(_code_label(code), side).inc()

    def _end(self) -> None:
        if self.accepted:
            self.core.ws_connections.dec()
