"""MongoDB through motor and odmantic: one client and one engine per process.

The client is built with short timeouts (``[database] timeout_ms``) so that a request
needing an unreachable database fails fast (the app answers 503) instead of hanging,
and pymongo reconnects by itself once the server is back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import odmantic
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine

from core.settings import DatabaseSettings


def connect(settings: DatabaseSettings) -> AsyncIOMotorClient[Any]:
    """A motor client for ``settings.url``; connects lazily, on first use.

    Args:
        settings: the ``[database]`` table; ``timeout_ms`` bounds server selection,
            connecting and every socket read.

    Returns:
        The client; close it with ``client.close()``.
    """
    timeout = settings.timeout_ms
    return AsyncIOMotorClient(
        settings.url,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=timeout,
        tz_aware=True,
    )


def engine(client: AsyncIOMotorClient[Any], name: str) -> AIOEngine:
    """The odmantic engine on database ``name`` of ``client``."""
    return AIOEngine(client=client, database=name)


async def ensure_indexes(db: AIOEngine, models: Iterable[type[odmantic.Model]]) -> None:
    """Create the indexes each model declares (existing identical indexes are kept).

    Args:
        db: the odmantic engine.
        models: the models returned by the plugins' ``register_models`` hooks.

    Raises:
        pymongo.errors.PyMongoError: the database is unreachable or an index conflicts
            with an existing one of the same name.
    """
    await db.configure_database(list(models))


async def ping(client: AsyncIOMotorClient[Any]) -> None:
    """Round-trip to the server; raises ``pymongo.errors.PyMongoError`` when unreachable."""
    await client.admin.command("ping")


async def delete_in_batches(collection: Any, query: dict[str, Any], batch_size: int) -> int:
    """Delete the documents matching ``query``, ``batch_size`` at a time; how many went."""
    deleted = 0
    while True:
        cursor = collection.find(query, {"_id": 1}).limit(batch_size)
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return deleted
        result = await collection.delete_many({"_id": {"$in": ids}})
        deleted += int(result.deleted_count)
        if len(ids) < batch_size:
            return deleted
