"""The shared Valkey client (``valkey.asyncio``) of a process.

Commands fail within ``[valkey] timeout_s`` when the server is unreachable (never hang);
a connection broken by a server restart is retried once on a fresh connection, so the
client recovers by itself once Valkey is back.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar, cast

import valkey.asyncio as valkey_async
from valkey.asyncio.retry import Retry
from valkey.backoff import ExponentialBackoff
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from core.settings import ValkeySettings

T = TypeVar("T")
HEALTH_CHECK_INTERVAL_S = 15
"""Idle connections are PINGed before reuse after this many seconds."""


def connect(settings: ValkeySettings) -> valkey_async.Valkey:
    """A pooled client for ``settings.url``; connects lazily, on first command.

    Args:
        settings: the ``[valkey]`` table; ``timeout_s`` bounds connecting and each command.

    Returns:
        The client; close it with ``await client.aclose()``.
    """
    client: valkey_async.Valkey = valkey_async.Valkey.from_url(
        settings.url,
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
