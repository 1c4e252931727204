"""Fixtures of the bookings tests: an app with bookings (and nothing else) plus helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest

from core import Event, Listener, Plugin, hookimpl
from core.context import Keel
from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.accounts.documents import User

ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


class EventSpyPlugin(Plugin):
    """Records every ``service.*``, ``booking.*`` and ``review.*`` event it sees."""

    name = "bookings_spy"
    seen: ClassVar[list[Event]] = []

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def record(_keel: Keel, event: Event) -> None:
            if type(event).name.split(".")[0] in {"service", "booking", "review"}:
                EventSpyPlugin.seen.append(event)

        return [Listener("*", record, name="record")]


def seen(name: str) -> list[Any]:
    """The recorded events called ``name``, oldest first."""
    return [e for e in EventSpyPlugin.seen if type(e).name == name]


def next_slot(hours: int = 24, minute: int = 0) -> datetime:
    """A UTC start ``hours`` from now on a whole hour (plus ``minute``)."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return base + timedelta(hours=hours, minutes=minute)


@dataclass
class Actor:
    """A signed-in user and the headers of their requests."""

    user: User
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.user.id)


@dataclass
class Market:
    """One test's app with a provider, a customer, an admin and helpers."""

    env: KeelTestApp
    provider: Actor
    customer: Actor
    admin: Actor

    @property
    def client(self) -> httpx.AsyncClient:
        return self.env.client

    async def actor(self, role: str) -> Actor:
        user, headers = await self.env.signed_in(role)
        return Actor(user, headers)

    async def service(self, provider: Actor | None = None, **fields: Any) -> dict[str, Any]:
        """Create a service through the API (bookable all week, 60 minutes, by default)."""
        body = {
            "name": "Plumber visit",
            "category": "plumbing",
            "price": 4500,
            "currency": "EUR",
            "durationMinutes": 60,
            "availability": ALL_WEEK,
            **fields,
        }
        owner = provider or self.provider
        response = await self.client.post("/api/services", json=body, headers=owner.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def book(
        self, service: dict[str, Any], start: datetime, customer: Actor | None = None
    ) -> httpx.Response:
        """``POST /api/bookings`` for ``service`` at ``start``."""
        body = {"serviceId": service["id"], "start": start.isoformat()}
        return await self.client.post(
            "/api/bookings", json=body, headers=(customer or self.customer).headers
        )

    async def booked(self, service: dict[str, Any], start: datetime) -> dict[str, Any]:
        """A booking that must succeed."""
        response = await self.book(service, start)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def env(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    """A running app with only the bookings plugin (payments disabled) and the spy."""
    EventSpyPlugin.seen.clear()
    async with keel_app_factory(
        plugins=["bookings"],
        extra=(EventSpyPlugin,),
        overrides={"server.rate_limit.enabled": False},
    ) as app:
        yield app


@pytest.fixture
async def market(env: KeelTestApp) -> Market:
    """The app plus a signed-in provider, customer and admin."""
    actors = [Actor(*await env.signed_in(role)) for role in ("provider", "customer", "admin")]
    return Market(env, *actors)
