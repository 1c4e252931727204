"""The event outbox: every emitted event, stored in MongoDB with the change that caused it.

One document per event in ``core_outbox``::

    {_id, event_id, name, payload (the event's JSON), aggregate, at,
     deliveries: [{plugin, listener, queue}], relayed_at (None until relayed), replays,
     done: ["<plugin>.<listener>", ...], recovered}

``deliveries`` are the durable listeners subscribed when the event was emitted; the relay
(:mod:`core.relay`) enqueues one ``core.deliver_event`` job per delivery and sets
``relayed_at``; each delivery adds its listener to ``done`` once it ran. An entry relayed
but not done when Valkey lost its data (its queued jobs gone) is handed back to the relay
(:func:`recover`, ``recovered`` counts how often). An event without durable listeners is
stored already relayed: the outbox is also the event log that ``keel events list`` shows
and ``keel events replay`` reads, kept for ``[events] retention_days``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pymongo
from odmantic import Field, Model

from core import db as core_db

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorClientSession, AsyncIOMotorCollection

    from core.context import Keel

COLLECTION = "core_outbox"
PRUNE_BATCH = 1000


class OutboxEntry(Model):
    """One emitted event (see the module docstring); written as a raw document."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": COLLECTION,
        "indexes": lambda: [
            pymongo.IndexModel([("event_id", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("relayed_at", pymongo.ASCENDING), ("at", pymongo.ASCENDING)]),
            pymongo.IndexModel([("at", pymongo.ASCENDING)]),
            pymongo.IndexModel([("name", pymongo.ASCENDING), ("at", pymongo.ASCENDING)]),
            pymongo.IndexModel([("aggregate", pymongo.ASCENDING), ("at", pymongo.DESCENDING)]),
        ],
    }

    event_id: str
    name: str
    payload: str
    aggregate: str = ""
    at: datetime
    deliveries: list[dict[str, str]] = Field(default_factory=list)
    relayed_at: datetime | None = None
    replays: int = 0
    done: list[str] = Field(default_factory=list)
    recovered: int = 0


def collection(keel: Keel) -> AsyncIOMotorCollection[Any]:
    """The outbox collection."""
    return keel.db.get_collection(OutboxEntry)


def entry(
    *,
    event_id: str,
    name: str,
    payload: str,
    aggregate: str,
    deliveries: Sequence[tuple[str, str, str]],
) -> dict[str, Any]:
    """The outbox document of one event; ``deliveries`` are ``(plugin, listener, queue)``."""
    now = datetime.now(UTC)
    return {
        "event_id": event_id,
        "name": name,
        "payload": payload,
        "aggregate": aggregate,
        "at": now,
        "deliveries": [{"plugin": p, "listener": li, "queue": q} for p, li, q in deliveries],
        "relayed_at": None if deliveries else now,
        "replays": 0,
        "done": [],
        "recovered": 0,
    }


async def write(
    keel: Keel, doc: dict[str, Any], session: AsyncIOMotorClientSession | None = None
) -> None:
    """Insert ``doc`` (in ``session``'s transaction when given).

    Raises:
        pymongo.errors.PyMongoError: MongoDB refused or is unreachable; nothing is stored.
    """
    await collection(keel).insert_one(doc, session=session)


async def unrelayed(keel: Keel, limit: int) -> list[dict[str, Any]]:
    """The oldest entries not yet relayed, oldest first."""
    cursor = collection(keel).find({"relayed_at": None}).sort([("at", 1), ("_id", 1)])
    return [doc async for doc in cursor.limit(limit)]


async def has_unrelayed(keel: Keel) -> bool:
    """Whether some entry waits for the relay."""
    return await collection(keel).find_one({"relayed_at": None}, {"_id": 1}) is not None


async def mark_delivered(keel: Keel, event_id: str, listener: str) -> None:
    """Record that ``listener`` (``<plugin>.<listener>``) handled event ``event_id``."""
    await collection(keel).update_one({"event_id": event_id}, {"$addToSet": {"done": listener}})


async def delivered(keel: Keel, event_id: str, listener: str) -> bool:
    """Whether :func:`mark_delivered` recorded ``listener`` for ``event_id``."""
    found = await collection(keel).find_one({"event_id": event_id, "done": listener}, {"_id": 1})
    return found is not None


async def recover(keel: Keel) -> int:
    """Hand every relayed entry with a delivery not done back to the relay (Valkey lost
    the jobs); how many. Entries written before ``done`` existed are left alone: without
    the record, running them again could run a listener twice."""
    cursor = collection(keel).find(
        {"relayed_at": {"$ne": None}, "done": {"$exists": True}, "deliveries": {"$ne": []}},
        {"deliveries": 1, "done": 1},
    )
    undone = [
        doc["_id"]
        async for doc in cursor
        if {f"{d['plugin']}.{d['listener']}" for d in doc["deliveries"]} - set(doc["done"])
    ]
    for at in range(0, len(undone), PRUNE_BATCH):
        await collection(keel).update_many(
            {"_id": {"$in": undone[at : at + PRUNE_BATCH]}},
            {"$set": {"relayed_at": None}, "$inc": {"recovered": 1}},
        )
    return len(undone)


def query(
    *, since: datetime | None = None, name: str | None = None, plugin: str | None = None
) -> dict[str, Any]:
    """The filter for entries at or after ``since``, of event ``name``, delivered to
    ``plugin`` (each optional)."""
    found: dict[str, Any] = {}
    if since is not None:
        found["at"] = {"$gte": since}
    if name:
        found["name"] = name
    if plugin:
        found["deliveries.plugin"] = plugin
    return found


async def find(
    keel: Keel, *, since: datetime | None = None, name: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Entries at or after ``since`` (and of event ``name``), oldest first."""
    cursor = collection(keel).find(query(since=since, name=name)).sort([("at", 1), ("_id", 1)])
    return [doc async for doc in cursor.limit(limit)]


async def requeue(
    keel: Keel, doc: dict[str, Any], deliveries: Sequence[tuple[str, str, str]]
) -> bool:
    """Hand ``doc`` back to the relay with ``deliveries`` (a replay); False when none."""
    if not deliveries:
        return False
    await collection(keel).update_one(
        {"_id": doc["_id"]},
        {
            "$set": {
                "relayed_at": None,
                "deliveries": [
                    {"plugin": p, "listener": li, "queue": q} for p, li, q in deliveries
                ],
            },
            "$inc": {"replays": 1},
        },
    )
    return True


async def replay(
    keel: Keel, *, since: datetime, plugin: str | None = None, name: str | None = None
) -> tuple[int, int]:
    """Hand the entries at or after ``since`` (of event ``name``) back to the relay, for
    the durable listeners subscribed in this process now (only ``plugin``'s, if given).

    Returns:
        (entries looked at, entries handed back).
    """
    seen = replayed = 0
    cursor = collection(keel).find(query(since=since, name=name)).sort([("at", 1), ("_id", 1)])
    async for doc in cursor:
        seen += 1
        targets = [
            (p, lis.key, lis.queue)
            for p, lis in keel.events.listeners(doc["name"])
            if lis.mode == "durable" and (plugin is None or p == plugin)
        ]
        replayed += await requeue(keel, doc, targets)
    if replayed:
        keel.events.nudge()
    return seen, replayed


async def prune(keel: Keel, now: datetime | None = None) -> int:
    """Delete relayed entries older than ``[events] retention_days``; how many went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keel.settings.events.retention_days)
    return await core_db.delete_in_batches(
        collection(keel), {"at": {"$lt": cutoff}, "relayed_at": {"$ne": None}}, PRUNE_BATCH
    )
