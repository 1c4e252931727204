"""Fixtures of the search tests: an app with bookings + search and event helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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

    async def create(self, *snaps: ServiceSnapshot) -> None:
        for snap in snaps:
            await self.env.keel.events.emit(ServiceCreated(service=snap))
        await self.env.drain()

    async def update(self, snap: ServiceSnapshot, fields: list[str] | None = None) -> None:
        event = ServiceUpdated(
            service=snap, changed=fields or ["name"], updated_by=snap.provider_id
        )
        await self.env.keel.events.emit(event)
        await self.env.drain()

    async def delete(self, snap: ServiceSnapshot) -> None:
        event = ServiceDeleted(
            service_id=snap.id, provider_id=snap.provider_id, deleted_by=snap.provider_id
        )
        await self.env.keel.events.emit(event)
        await self.env.drain()

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        headers = params.pop("headers", None)
        response = await self.env.client.get(f"/api/search{path}", params=params, headers=headers)
        assert response.status_code == status, response.text
        return response.json()

    async def names(self, query: str, **params: Any) -> list[str]:
        body = await self.get("/services", query=query, **params)
        return [hit["name"] for hit in body["items"]]


@pytest.fixture
async def search(keel_app_factory: AppFactory) -> AsyncIterator[Search]:
    """An app with bookings and search enabled, on this test's own data."""
    async with keel_app_factory(plugins=["bookings", "search"]) as env:
        yield Search(env)
