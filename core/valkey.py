"""The shared Valkey client (``valkey.asyncio``) of a process.

Commands fail within ``[valkey] timeout_s`` when the server is unreachable (never hang);
a connection broken by a server restart is retried once on a fresh connection, so the
client recovers by itself once Valkey is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar, cast

import valkey.asyncio as valkey_async
from valkey._parsers.libvalkey import NOT_ENOUGH_DATA, _AsyncLibvalkeyParser
from valkey.asyncio.retry import Retry
from valkey.backoff import ExponentialBackoff
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from core.settings import ValkeySettings

T = TypeVar("T")
HEALTH_CHECK_INTERVAL_S = 15
"""Idle connections are PINGed before reuse after this many seconds."""


class Connection(valkey_async.Connection):
    """valkey-py's TCP connection, without two event-loop detours per command.

    valkey-py bounds each write with ``asyncio.wait_for``, which on Python 3.11 runs the
    write in a new task: a task and an event-loop turn more per command, on every
    command of the process (measured by ``bench/realtime.py``: typing latency under
    load). ``asyncio.timeout`` gives the same bound without either. Errors are those of
    the library: a timeout or socket error disconnects and raises its exception.
    """

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]
        elif check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = self._writer
        if writer is None:  # connect() sets it or raises
            raise ValkeyConnectionError("not connected")
        try:
            async with asyncio.timeout(self.socket_timeout):
                writer.writelines(command)
                await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise ValkeyTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise ValkeyConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:  # half a command may be on the wire: never reuse it
            await self.disconnect(nowait=True)
            raise

    async def can_read_destructive(self) -> bool:
        """Whether a pooled connection has data waiting (or is closed), without a loop turn.

        The pool asks this before every command. valkey-py answers by reading the socket
        under a zero timeout, which waits for the next event-loop turn before timing out:
        a whole turn per command, under load the longest part of a typing indicator's
        trip. Whatever has arrived is already in the stream's buffer (valkey-py's own
        ``_socket_is_empty`` looks there too), so only a non-empty buffer, EOF or an
        error needs the library's check; otherwise the parser's buffer is the answer.
        """
        stream, parser = self._reader, self._parser
        if (
            stream is None
            or not isinstance(parser, _AsyncLibvalkeyParser)
            or parser._reader is None  # set by on_connect
            or stream.at_eof()
            or stream.exception() is not None
            or getattr(stream, "_buffer", b"?")
        ):
            return bool(await super().can_read_destructive())  # type: ignore[no-untyped-call]
        return parser._reader.gets() is not NOT_ENOUGH_DATA


def connect(settings: ValkeySettings) -> valkey_async.Valkey:
    """A pooled client for ``settings.url``; connects lazily, on first command.

    Args:
        settings: the ``[valkey]`` table; ``timeout_s`` bounds connecting and each command.

    Returns:
        The client; close it with ``await client.aclose()``.
    """
    client: valkey_async.Valkey = valkey_async.Valkey.from_url(
        settings.url,
        connection_class=Connection,  # only for redis:// URLs; rediss:// and unix:// keep theirs
        socket_timeout=settings.timeout_s,
        socket_connect_timeout=settings.timeout_s,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        retry_on_error=[ValkeyConnectionError],
    )
    return client


async def ping(client: valkey_async.Valkey) -> None:
    """Round-trip to the server; raises ``valkey.exceptions.ValkeyError`` when unreachable."""
    await client.ping()


async def awaited(result: Awaitable[T] | T) -> T:
    """Await a ``valkey.asyncio`` command for mypy, whose stubs mix in sync return types.

    Example: ``members = await awaited(client.smembers(key))``.
    """
    return await cast("Awaitable[T]", result)
