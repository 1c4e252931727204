"""The search plugin's MongoDB collection: the latest snapshot of every service it heard of.

Every host's index is derived data; this collection is what ``keel search reindex``
rebuilds it from (with the core's ``users`` collection), so the index can be dropped,
re-shaped or moved without asking the bookings plugin for anything.
"""

from __future__ import annotations

from typing import Any

from odmantic import Field, Model


class IndexedService(Model):
    """A service as of its newest event; ``deleted`` services are kept as tombstones.

    Only ``_id`` lookups and full scans are made, so no secondary index is needed.
    """

    model_config = {"collection": "search_services"}  # noqa: RUF012 - odmantic reads a dict

    id: str = Field(primary_field=True)
    revision: int
    deleted: bool = False
    service: dict[str, Any] | None = None


MODELS: tuple[type[Model], ...] = (IndexedService,)
