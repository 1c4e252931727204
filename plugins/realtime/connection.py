"""One WebSocket connection: eager writes with a bounded backlog, and its rate limiter."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from plugins.realtime.protocol import CLOSE_NORMAL, CLOSE_TRY_AGAIN

if TYPE_CHECKING:
    from litestar.types import Send, WebSocketSendEvent

    from plugins.accounts.api import CurrentUser
    from plugins.realtime.settings import RealtimeSettings

_ids = itertools.count(1)


class Connection:
    """An authenticated socket as the hub sees it.

    A frame for the client is written at once when nothing is waiting before it: the
    ASGI ``send`` is started right there and, when the transport accepts the bytes (the
    usual case), finishes without ever yielding, so a delivery costs no task switch.
    When the transport pushes back, the unfinished send and the frames queued after it
    are carried by a writer task that lives only until the backlog is gone. The queue is
    bounded, so a slow reader never blocks whoever delivers to it; an overflow closes it
    with 1013.

    Args:
        user: the authenticated user (with its token's session, issue and expiry times).
        send: the ASGI ``send`` of the socket.
        settings: the plugin settings (queue size, rate limit).
        token: the access token it was opened with (checked again now and then).
    """

    __slots__ = (
        "_drained",
        "_limit",
        "_queue",
        "_send",
        "_writer",
        "awaiting_pong",
        "close_code",
        "close_reason",
        "closing",
        "contacts",
        "id",
        "last_ping",
        "reader",
        "rooms",
        "strike_stamp",
        "strikes",
        "token",
        "tokens",
        "tokens_stamp",
        "typing",
        "user",
        "watching",
    )

    def __init__(
        self, user: CurrentUser, send: Send, settings: RealtimeSettings, token: str = ""
    ) -> None:
        self.id = f"{next(_ids)}"
        self.user = user
        """The token's user; replaced by a ``refresh`` frame."""
        self.token = token
        """The access token ``user`` comes from; replaced by a ``refresh`` frame."""
        self._send = send
        self._limit = settings.send_queue_size
        self._queue: deque[str] = deque()
        self._writer: asyncio.Task[None] | None = None
        """Carries the backlog while the transport pushes back; None when there is none."""
        self._drained: asyncio.Future[None] | None = None
        self.closing = False
        self.close_code = 1000
        self.close_reason = ""
        self.reader: asyncio.Task[Any] | None = None
        """The task reading the socket; cancelled when someone else closes it."""
        now = time.monotonic()
        self.tokens = float(settings.rate_burst)
        self.tokens_stamp = now
        self.strikes = 0.0
        self.strike_stamp = now
        self.last_ping = now
        self.awaiting_pong = False
        self.rooms: set[str] = set()
        """Rooms this socket joined (receives their typing indicators)."""
        self.contacts: set[str] = set()
        """Users found to share a direct or booking room with this socket's user: those it
        may send typing indicators to without a lookup."""
        self.watching: set[str] = set()
        """Users whose presence changes this socket receives."""
        self.typing: dict[str, float] = {}
        """Typing target (``u:<id>`` / ``r:<id>``) -> when it ends (``time.monotonic``)."""

    def push(self, text: str) -> None:
        """Send ``text`` to the client, now or after the frames already waiting.

        Closes the socket (1013) when more than ``send_queue_size`` frames wait.
        """
        if self.closing:
            return
        if self._writer is not None:
            if len(self._queue) >= self._limit:
                self.close(CLOSE_TRY_AGAIN, "send queue overflow")
                return
            self._queue.append(text)
            return
        message: WebSocketSendEvent = {"type": "websocket.send", "text": text, "bytes": None}
        sending = self._send(message)
        rest: Awaitable[None] = sending
        if isinstance(sending, CoroutineType):  # every ASGI server's send; anything else waits
            try:
                waiting_on = sending.send(None)
            except StopIteration:
                return  # written
            except Exception:  # the client is gone: the reader sees the disconnect
                self.close(CLOSE_NORMAL, "send failed")
                return
            rest = _finish(sending, waiting_on)
        self._writer = asyncio.get_running_loop().create_task(
            self._write_backlog(rest), name=f"realtime:ws{self.id}"
        )

    def close(self, code: int, reason: str = "") -> None:
        """Ask the connection to close with ``code``; the endpoint finishes the work."""
        if self.closing:
            return
        self.closing = True
        self.close_code, self.close_reason = code, reason
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()

    async def _write_backlog(self, first: Awaitable[None]) -> None:
        try:
            await first
            while self._queue:
                text = self._queue.popleft()
                await self._send({"type": "websocket.send", "text": text, "bytes": None})
        except Exception:  # the client is gone: the reader sees the disconnect
            self._queue.clear()
            self.close(CLOSE_NORMAL, "send failed")
        finally:
            self._writer = None
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    async def flush(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` seconds for waiting frames to go out, then drop the rest."""
        writer = self._writer
        if writer is None:
            return
        if wait_s > 0:
            self._drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drained), wait_s)
        writer.cancel()
        with contextlib.suppress(BaseException):
            await writer
        self._queue.clear()

    def allow(self, rate: float, burst: float) -> bool:
        """Take one token of the connection's bucket; False when it is empty."""
        now = time.monotonic()
        self.tokens = min(burst, self.tokens + (now - self.tokens_stamp) * rate)
        self.tokens_stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def strike(self) -> float:
        """Count one rejected frame (strikes decay by one per second); the current count."""
        now = time.monotonic()
        self.strikes = max(0.0, self.strikes - (now - self.strike_stamp)) + 1.0
        self.strike_stamp = now
        return self.strikes


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Run ``coro`` to its end, as a task would, from where it yielded ``waiting_on``.

    ``coro`` was started by hand (``coro.send(None)``) and suspended on the future it
    yielded; this awaits that future and resumes it until it returns.
    """
    while True:
        try:
            if waiting_on is None:  # a bare yield (``asyncio.sleep(0)``)
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False  # taken over, as a task does
                await waiting_on
        except BaseException as exc:  # cancelled, or the future failed: let coro handle it
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
