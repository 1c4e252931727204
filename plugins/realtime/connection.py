"""One WebSocket connection: its bounded send queue, writer task and rate limiter."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from plugins.realtime.protocol import CLOSE_NORMAL, CLOSE_TRY_AGAIN

if TYPE_CHECKING:
    from litestar.types import Send

    from core.accounts import CurrentUser
    from plugins.realtime.settings import RealtimeSettings

_ids = itertools.count(1)


class Connection:
    """An authenticated socket as the hub sees it.

    Frames for the client are put on a bounded queue drained by one writer task, so a
    slow reader never blocks whoever delivers to it; an overflow closes it with 1013.

    Args:
        user: the authenticated user.
        send: the ASGI ``send`` of the socket.
        settings: the plugin settings (queue size, rate limit).
    """

    __slots__ = (
        "_drained",
        "_limit",
        "_queue",
        "_send",
        "_waiter",
        "_writer",
        "awaiting_pong",
        "close_code",
        "close_reason",
        "closing",
        "id",
        "last_ping",
        "member_rooms",
        "reader",
        "rooms",
        "strike_stamp",
        "strikes",
        "tokens",
        "tokens_stamp",
        "typing",
        "user",
        "watching",
    )

    def __init__(self, user: CurrentUser, send: Send, settings: RealtimeSettings) -> None:
        self.id = f"{next(_ids)}"
        self.user = user
        self._send = send
        self._limit = settings.send_queue_size
        self._queue: deque[str] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
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
        self.member_rooms: set[str] = set()
        """Rooms the user was found to be a member of (saves a lookup per frame)."""
        self.watching: set[str] = set()
        """Users whose presence changes this socket receives."""
        self.typing: dict[str, asyncio.TimerHandle] = {}
        """Typing target (``u:<id>`` / ``r:<id>``) -> the timer that ends it."""

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"realtime:ws{self.id}")

    def push(self, text: str) -> None:
        """Queue ``text`` for the client; closes the socket (1013) when the queue is full."""
        if self.closing:
            return
        if len(self._queue) >= self._limit:
            self.close(CLOSE_TRY_AGAIN, "send queue overflow")
            return
        self._queue.append(text)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, code: int, reason: str = "") -> None:
        """Ask the connection to close with ``code``; the endpoint finishes the work."""
        if self.closing:
            return
        self.closing = True
        self.close_code, self.close_reason = code, reason
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        message: dict[str, Any] = {"type": "websocket.send", "text": ""}
        try:
            while True:
                while self._queue:
                    message["text"] = self._queue.popleft()
                    await self._send(message)  # type: ignore[arg-type]
                if self._drained is not None and not self._drained.done():
                    self._drained.set_result(None)
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
        except Exception:  # the client is gone: the reader sees the disconnect
            self._queue.clear()
            self.close(CLOSE_NORMAL, "send failed")

    async def flush(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` seconds for queued frames to go out, then stop the writer."""
        if self._writer is None:
            return
        if self._queue and not self._writer.done() and wait_s > 0:
            self._drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained, wait_s)
        self._writer.cancel()
        with contextlib.suppress(BaseException):
            await self._writer

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
