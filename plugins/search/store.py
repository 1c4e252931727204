"""The search plugin's own copy of services (MongoDB), written by the listeners.

The indexes on every host are derived from it (and the accounts' users): revisions are
checked here, once, so the index only ever mirrors what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from pymongo.errors import DuplicateKeyError

from plugins.bookings.api import iter_service_snapshots
from plugins.bookings.events import ServiceSnapshot
from plugins.search.models import IndexedService

if TYPE_CHECKING:
    from core.context import Keel

TOMBSTONE = 2**62
"""The revision of a deleted service: no later snapshot can bring it back."""


def _collection(keel: Keel) -> Any:
    return keel.db.get_collection(IndexedService)


async def save_service(keel: Keel, snap: ServiceSnapshot) -> bool:
    """Keep ``snap`` unless a newer (or the same) revision is stored; True when kept."""
    fields = msgspec.to_builtins(snap)
    try:
        await _collection(keel).update_one(
            {"_id": snap.id, "revision": {"$lt": snap.revision}},
            {"$set": {"revision": snap.revision, "deleted": False, "service": fields}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # a newer revision (or a tombstone) is stored: this event is stale
    return True


async def delete_service(keel: Keel, service_id: str) -> None:
    """Replace the stored service with a tombstone."""
    await _collection(keel).update_one(
        {"_id": service_id},
        {"$set": {"revision": TOMBSTONE, "deleted": True, "service": None}},
        upsert=True,
    )


async def count_services(keel: Keel) -> int:
    """How many services (and tombstones) are stored."""
    count: int = await _collection(keel).count_documents({})
    return count


async def iter_services(keel: Keel) -> AsyncIterator[tuple[str, ServiceSnapshot | None]]:
    """Every stored ``(id, snapshot)``; the snapshot is None for a deleted service."""
    async for doc in _collection(keel).find({}):
        if doc.get("deleted") or doc.get("service") is None:
            yield str(doc["_id"]), None
        else:
            yield str(doc["_id"]), msgspec.convert(doc["service"], ServiceSnapshot)


async def load_services(keel: Keel, service_ids: list[str]) -> dict[str, ServiceSnapshot]:
    """The stored snapshots of ``service_ids`` (deleted and unknown ones are absent)."""
    found: dict[str, ServiceSnapshot] = {}
    async for doc in _collection(keel).find({"_id": {"$in": service_ids}, "deleted": False}):
        if doc.get("service") is not None:
            found[str(doc["_id"])] = msgspec.convert(doc["service"], ServiceSnapshot)
    return found


async def sync_from_bookings(keel: Keel) -> int:
    """Copy the bookings plugin's services that this copy lacks or has older; how many.

    For a deployment that enables search on existing data (no event ever reached this
    copy) or had search off for a while. Revisions decide (``save_service``), so a sync
    racing the listeners keeps the newest. A service deleted while search was off is not
    tombstoned here: its ``service.deleted`` event is the only sign of it.
    """
    changed = 0
    async for snap in iter_service_snapshots(keel):
        changed += await save_service(keel, snap)
    return changed
