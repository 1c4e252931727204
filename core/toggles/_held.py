"""Durable deliveries held while their plugin is switched off, and their release.

A ``core.deliver_event`` job whose listener's plugin is off stores its delivery in
``core_held_deliveries`` (one document per event and listener) and completes; when the
plugin is on again, worker processes enqueue the held deliveries anew (at once on the
switch, and on every periodic re-read of the switchboard) and delete each one once it is
queued. The delivery's done-marker still makes a second run a no-op, so a release raced
by two workers, or a crash between enqueue and delete, runs the listener once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pymongo
from odmantic import Model

if TYPE_CHECKING:
    from core.context import Keel

RELEASE_BATCH = 500


class HeldDelivery(Model):
    """One held delivery; ``_id`` is ``<event id>:<plugin>.<listener>``."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "core_held_deliveries",
        "indexes": lambda: [
            pymongo.IndexModel([("plugin", pymongo.ASCENDING), ("held_at", pymongo.ASCENDING)])
        ],
    }

    plugin: str
    listener: str
    queue: str
    event: str
    payload: str
    after: str | None = None
    held_at: datetime


def _collection(keel: Keel) -> Any:
    return keel.db.get_collection(HeldDelivery)


async def hold(
    keel: Keel,
    *,
    event_id: str,
    event: str,
    payload: str,
    plugin: str,
    listener: str,
    queue: str,
    after: str | None,
) -> None:
    """Keep one delivery until ``plugin`` is on again (idempotent per event and listener).

    Raises:
        pymongo.errors.PyMongoError: not stored; the job fails and SAQ retries it.
    """
    doc = {
        "plugin": plugin,
        "listener": listener,
        "queue": queue,
        "event": event,
        "payload": payload,
        "after": after,
        "held_at": datetime.now(UTC),
    }
    await _collection(keel).replace_one(
        {"_id": f"{event_id}:{plugin}.{listener}"}, doc, upsert=True
    )


async def release(keel: Keel, plugins: Collection[str]) -> int:
    """Enqueue the held deliveries of ``plugins`` (the active ones); how many.

    Raises:
        pymongo.errors.PyMongoError, core.errors.ServiceUnavailableError: the rest waits
            for the next call.
    """
    if not plugins:
        return 0
    held = _collection(keel)
    cursor = held.find({"plugin": {"$in": list(plugins)}}).sort("held_at", 1)
    released = 0
    async for doc in cursor.limit(RELEASE_BATCH):
        stamp = int(doc["held_at"].timestamp() * 1000)
        await keel.jobs.enqueue(
            "core.deliver_event",
            key=f"{doc['_id']}:released:{stamp}",
            queue=doc["queue"],
            event=doc["event"],
            payload=doc["payload"],
            plugin=doc["plugin"],
            listener=doc["listener"],
            after=doc["after"],
        )
        await held.delete_one({"_id": doc["_id"], "held_at": doc["held_at"]})
        released += 1
    return released
