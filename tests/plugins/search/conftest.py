"""Fixtures of the search tests: an app with bookings + search and event helpers.

Each app writes its own index under the test's temporary directory; helpers wait until
the app's reader sees every change put on the feed so far (as a client would, soon).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bson import ObjectId

from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.bookings.events import (
    ServiceCreated,
    ServiceDeleted,
    ServiceSnapshot,
    ServiceUpdated,
)
from plugins.search import feed
from plugins.search.reader import SearchReader

_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_COUNTER = [0]


def snapshot(name: str, **fields: Any) -> ServiceSnapshot:
    """A service snapshot; each call is a little newer than the last."""
    _COUNTER[0] += 1
    created = _BASE + timedelta(minutes=_COUNTER[0])
    values: dict[str, Any] = {
        "id": str(ObjectId()),
        "provider_id": str(ObjectId()),
        "name": name,
        "description": "",
        "category": "home",
        "price": 5000,
        "currency": "EUR",
        "duration_minutes": 60,
        "active": True,
        "images": [],
        "timezone": "UTC",
        "rating_average": 0.0,
        "rating_count": 0,
        "revision": 1,
        "created_at": created,
        "updated_at": created,
    }
    values.update(fields)
    return ServiceSnapshot(**values)


def changed(snap: ServiceSnapshot, **fields: Any) -> ServiceSnapshot:
    """``snap`` with ``fields`` changed and its revision bumped."""
    return msgspec.structs.replace(snap, revision=snap.revision + 1, **fields)


class Search:
    """The app under test plus shortcuts for publishing events and searching."""

    def __init__(self, env: KeelTestApp) -> None:
        self.env = env

    async def sync(self) -> None:
        """Run queued deliveries, then wait until this app's index includes them."""
        await self.env.drain()
        await indexed(self.env)

    async def create(self, *snaps: ServiceSnapshot) -> None:
        for snap in snaps:
            await self.env.keel.events.emit(ServiceCreated(service=snap))
        await self.sync()

    async def update(self, snap: ServiceSnapshot, fields: list[str] | None = None) -> None:
        event = ServiceUpdated(
            service=snap, changed=fields or ["name"], updated_by=snap.provider_id
        )
        await self.env.keel.events.emit(event)
        await self.sync()

    async def delete(self, snap: ServiceSnapshot) -> None:
        event = ServiceDeleted(
            service_id=snap.id, provider_id=snap.provider_id, deleted_by=snap.provider_id
        )
        await self.env.keel.events.emit(event)
        await self.sync()

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        headers = params.pop("headers", None)
        response = await self.env.client.get(f"/api/search{path}", params=params, headers=headers)
        assert response.status_code == status, response.text
        return response.json()

    async def names(self, query: str, **params: Any) -> list[str]:
        body = await self.get("/services", query=query, **params)
        return [hit["name"] for hit in body["items"]]


async def indexed(env: KeelTestApp, timeout_s: float = 10.0) -> None:
    """Wait until ``env``'s reader includes every feed entry written so far."""
    head = await feed.head(env.keel)
    assert await SearchReader.of(env.keel).wait_for(head, timeout_s), f"index not at {head}"


def search_app(factory: AppFactory, index_dir: Path, **settings: Any) -> Any:
    """``async with search_app(...) as env``: bookings + search, its index in ``index_dir``
    (written by this app unless ``writer="never"``)."""
    table = {"index_dir": str(index_dir), "writer": "always", **settings}
    overrides = {f"plugins.search.{key}": value for key, value in table.items()}
    return factory(plugins=["bookings", "search"], overrides=overrides)


@pytest.fixture
async def search(keel_app_factory: AppFactory, tmp_path: Path) -> AsyncIterator[Search]:
    """An app with bookings and search enabled, on this test's own data and index."""
    async with search_app(keel_app_factory, tmp_path / "search") as env:
        yield Search(env)
