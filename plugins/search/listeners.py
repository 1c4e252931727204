"""Durable listeners: save what changed in MongoDB, then announce it on the change feed.

Services: the snapshot is kept in ``search_services`` (newest revision wins, a deletion
leaves a tombstone). Users: nothing to keep, the accounts' ``users`` collection is the
source. Either way the id goes on the feed, and every host's writer re-reads the stored
state, so late, repeated or reordered deliveries leave every index the same. Ratings
come with ``service.updated`` (``changed=["rating"]``, with a revision); ``review.*``
events carry no revision and are not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.search import feed
from plugins.search.store import delete_service, save_service

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.events import UserCreated, UserDeleted, UserUpdated
    from plugins.bookings.events import ServiceCreated, ServiceDeleted, ServiceUpdated


async def on_service_changed(keel: Keel, event: ServiceCreated | ServiceUpdated) -> None:
    """``service.created`` / ``service.updated``: keep the snapshot (if newest), announce."""
    await save_service(keel, event.service)
    await feed.publish(keel, "s", event.service.id)


async def on_service_deleted(keel: Keel, event: ServiceDeleted) -> None:
    """``service.deleted``: tombstone the service (it never comes back), announce."""
    await delete_service(keel, event.service_id)
    await feed.publish(keel, "s", event.service_id)


async def on_user_changed(keel: Keel, event: UserCreated | UserUpdated | UserDeleted) -> None:
    """``user.*``: announce; writers index the user as stored now, or remove it."""
    await feed.publish(keel, "u", event.user_id)
