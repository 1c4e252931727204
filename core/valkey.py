"""The shared Valkey client (``valkey.asyncio``) of a process.

Commands fail within ``[valkey] timeout_s`` when the server is unreachable (never hang);
a connection broken by a server restart is retried once on a fresh connection, so the
client recovers by itself once Valkey is back.

With ``[valkey] sentinels`` the client asks the Sentinels for the primary of
``master_name`` whenever it opens a connection: after a failover, a connection to the old
primary fails (closed, or ``READONLY`` once it is a replica), is retried once, and the
fresh one goes to the new primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import valkey.asyncio as valkey_async
from valkey._parsers.libvalkey import NOT_ENOUGH_DATA, _AsyncLibvalkeyParser
from valkey.asyncio.connection import SSLConnection, parse_url
from valkey.asyncio.retry import Retry
from valkey.asyncio.sentinel import (
    Sentinel,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from valkey.backoff import ExponentialBackoff
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError
from valkey.sentinel import Sentinel as SyncSentinel

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


class SentinelConnection(SentinelManagedConnection, Connection):
    """keel's connection to the primary the Sentinels name (found again on each connect)."""


class SentinelClient(valkey_async.Valkey):
    """A client of the Sentinels' primary; closing it also closes its Sentinel clients."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


def _options(settings: ValkeySettings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.timeout_s,
        "socket_connect_timeout": settings.timeout_s,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        "retry_on_error": [ValkeyConnectionError],
    }


def sentinel_addresses(settings: ValkeySettings) -> list[tuple[str, int]]:
    """``[valkey] sentinels`` as (host, port) pairs (``[::1]:26379`` -> ``("::1", 26379)``)."""
    pairs = [address.rpartition(":") for address in settings.sentinels]
    return [(host.strip("[]"), int(port)) for host, _, port in pairs]


def sentinel_kwargs(settings: ValkeySettings) -> dict[str, Any]:
    """Connection options of the Sentinels themselves (timeouts, their password)."""
    options: dict[str, Any] = {
        "socket_timeout": settings.timeout_s,
        "socket_connect_timeout": settings.timeout_s,
    }
    if settings.sentinel_password:
        options["password"] = settings.sentinel_password
    return options


def sentinels(settings: ValkeySettings) -> Sentinel:
    """A client of ``[valkey] sentinels`` (close each of its ``sentinels`` when done)."""
    addresses, options = sentinel_addresses(settings), sentinel_kwargs(settings)
    return Sentinel(addresses, sentinel_kwargs=options)  # type: ignore[no-untyped-call]


def url_options(url: str) -> tuple[dict[str, Any], bool]:
    """What a URL says besides where: (username, password, db), and whether it is TLS."""
    options = parse_url(url)
    tls = options.pop("connection_class", None) is SSLConnection
    options.pop("host", None)
    options.pop("port", None)
    return options, tls


def connect(settings: ValkeySettings) -> valkey_async.Valkey:
    """A pooled client for ``settings.url``, or for the primary the Sentinels name;
    connects lazily, on first command.

    Args:
        settings: the ``[valkey]`` table; ``timeout_s`` bounds connecting and each command.

    Returns:
        The client; close it with ``await client.aclose()``.
    """
    if settings.sentinels:
        options, tls = url_options(settings.url)
        sentinel = sentinels(settings)
        sentinel_client: valkey_async.Valkey = sentinel.master_for(
            settings.master_name,
            valkey_class=SentinelClient,
            connection_class=SentinelManagedSSLConnection if tls else SentinelConnection,
            **options,
            **_options(settings),
        )
        return sentinel_client
    client: valkey_async.Valkey = valkey_async.Valkey.from_url(
        settings.url,
        connection_class=Connection,  # only for redis:// URLs; rediss:// and unix:// keep theirs
        **_options(settings),
    )
    return client


async def primary_url(settings: ValkeySettings) -> str:
    """``settings.url``, or with Sentinels, that URL pointed at the primary they name now:
    for connections made outside the pooled clients (realtime's pub/sub subscription).

    Raises:
        valkey.exceptions.ConnectionError: no Sentinel answered or none knows a primary.
    """
    if not settings.sentinels:
        return settings.url
    sentinel = sentinels(settings)
    try:
        host, port = await sentinel.discover_master(settings.master_name)
    finally:
        for client in sentinel.sentinels:
            await client.aclose()
    return with_address(settings.url, str(host), int(port))


def primary_url_sync(settings: ValkeySettings, timeout_s: float) -> str:
    """:func:`primary_url` for synchronous callers (the ``/metrics`` queue figures)."""
    if not settings.sentinels:
        return settings.url
    options = {**sentinel_kwargs(settings), "socket_timeout": timeout_s}
    options["socket_connect_timeout"] = timeout_s
    sentinel = SyncSentinel(sentinel_addresses(settings), sentinel_kwargs=options)  # type: ignore[no-untyped-call]
    try:
        host, port = sentinel.discover_master(settings.master_name)  # type: ignore[no-untyped-call]
    finally:
        for client in sentinel.sentinels:
            client.close()  # type: ignore[no-untyped-call]
    return with_address(settings.url, str(host), int(port))


def with_address(url: str, host: str, port: int) -> str:
    """``url`` with its host and port replaced, credentials, scheme and database kept."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    shown = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{shown}:{port}"))


async def ping(client: valkey_async.Valkey) -> None:
    """Round-trip to the server; raises ``valkey.exceptions.ValkeyError`` when unreachable."""
    await client.ping()


async def awaited(result: Awaitable[T] | T) -> T:
    """Await a ``valkey.asyncio`` command for mypy, whose stubs mix in sync return types.

    Example: ``members = await awaited(client.smembers(key))``.
    """
    return await cast("Awaitable[T]", result)
