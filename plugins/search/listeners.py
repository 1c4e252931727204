"""Durable listeners that keep the index in step with bookings' and accounts' events.

Services: the snapshot is kept in MongoDB (newest revision wins) and applied to the
index, whose own revision check makes late or repeated deliveries harmless; a deletion
leaves a tombstone. Users: events carry no revision, so the listener reads the user as
it is now from the core's ``users`` collection (``updated_at`` orders the writes) and
indexes that, or removes the user when it is gone. Ratings come with ``service.updated``
(``changed=["rating"]``, with a revision); ``review.*`` events carry no revision and
are not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bson import ObjectId
from bson.errors import InvalidId

from plugins.accounts.api import get_user
from plugins.search.documents import service_payload, user_payload, user_revision
from plugins.search.index import SearchIndex
from plugins.search.store import TOMBSTONE, delete_service, save_service

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.events import UserCreated, UserDeleted, UserUpdated
    from plugins.bookings.events import ServiceCreated, ServiceDeleted, ServiceUpdated


async def on_service_changed(keel: Keel, event: ServiceCreated | ServiceUpdated) -> None:
    """``service.created`` / ``service.updated``: index the snapshot (if newest)."""
    snap = event.service
    await save_service(keel, snap)
    await SearchIndex.of(keel).apply("s", snap.id, snap.revision, service_payload(snap))


async def on_service_deleted(keel: Keel, event: ServiceDeleted) -> None:
    """``service.deleted``: tombstone the service; it never comes back."""
    await delete_service(keel, event.service_id)
    await SearchIndex.of(keel).apply("s", event.service_id, TOMBSTONE, None)


async def index_user(keel: Keel, user_id: str) -> None:
    """Index the user ``user_id`` as stored now, or remove it when it no longer exists."""
    try:
        oid = ObjectId(user_id)
    except InvalidId:
        return
    doc = await get_user(keel, oid)
    index = SearchIndex.of(keel)
    if doc is None:
        await index.apply("u", user_id, TOMBSTONE, None)
    else:
        await index.apply("u", user_id, user_revision(doc), user_payload(doc))


async def on_user_changed(keel: Keel, event: UserCreated | UserUpdated | UserDeleted) -> None:
    """``user.*``: re-read the user and index what is there."""
    await index_user(keel, event.user_id)
