"""The bookings plugin's Python API for other plugins (see DESIGN.md: a plugin's ``api``).

Other plugins learn about services from ``service.*`` events; this is for the one case
events cannot cover: a plugin enabled on a deployment that already has services (search
builds its copy from it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from plugins.bookings._docs import service_snapshot
from plugins.bookings.events import ServiceSnapshot
from plugins.bookings.models import Service

if TYPE_CHECKING:
    from core.context import Keel

__all__ = ["iter_service_snapshots"]


async def iter_service_snapshots(
    keel: Keel, batch_size: int = 500
) -> AsyncIterator[ServiceSnapshot]:
    """Every service there is (active or not), as its event snapshot, in ``_id`` order."""
    cursor = keel.db.get_collection(Service).find({}).sort("_id", 1).batch_size(batch_size)
    async for doc in cursor:
        yield service_snapshot(doc)
