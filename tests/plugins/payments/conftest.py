"""Fixtures of the payments tests: bookings + payments on the session's real localstripe."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
import stripe
from bson import ObjectId

from core import Event, Listener, Plugin, hookimpl
from core.context import Keel, settings_of
from core.devstack import DevStack
from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.payments.dev import TEST_SECRET_KEY
from plugins.payments.settings import PaymentsSettings

ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
PRICE = 4500
CLOSED_URL = "http://127.0.0.1:9/api/webhooks/stripe"
"""A webhook URL nothing listens on: localstripe's deliveries are dropped."""


class PaymentSpyPlugin(Plugin):
    """Records every ``payment.*`` event it sees."""

    name = "payments_spy"
    seen: ClassVar[list[Event]] = []

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def record(_keel: Keel, event: Event) -> None:
            if type(event).name.startswith("payment."):
                PaymentSpyPlugin.seen.append(event)

        return [Listener("*", record, name="record")]


def seen(name: str, payment_id: str | None = None) -> list[Any]:
    """Recorded events called ``name`` (of one payment), oldest first."""
    return [
        e
        for e in PaymentSpyPlugin.seen
        if type(e).name == name and payment_id in (None, getattr(e, "payment_id", None))
    ]


def sign(payload: bytes, secret: str, at: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (Stripe's scheme: HMAC-SHA256)."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


def stripe_event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """The JSON body of a Stripe event delivery."""
    body = {
        "id": event_id or f"evt_{ObjectId()}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


@pytest.fixture
async def stripe_sdk(keel_stack: DevStack) -> AsyncIterator[stripe.StripeClient]:
    """An SDK client on the session's localstripe (the customer's side in tests)."""
    port = keel_stack.services["payments.localstripe"].port
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(
        TEST_SECRET_KEY, base_addresses={"api": f"http://127.0.0.1:{port}"}, http_client=http
    )
    await http.close_async()  # type: ignore[no-untyped-call]


@dataclass
class Actor:
    """A signed-in user and the headers of their requests."""

    id: str
    headers: dict[str, str]
    email: str = ""


@dataclass
class Shop:
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
        return Actor(str(user.id), headers, user.email)

    async def booking(self, hours: int = 72, price: int = PRICE) -> dict[str, Any]:
        """A booking of a new service by the customer, projected into payments."""
        body = {
            "name": "Piano lesson",
            "category": "music",
            "price": price,
            "currency": "EUR",
            "durationMinutes": 60,
            "availability": ALL_WEEK,
        }
        r = await self.client.post("/api/services", json=body, headers=self.provider.headers)
        assert r.status_code == 201, r.text
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start += timedelta(hours=hours)
        r = await self.client.post(
            "/api/bookings",
            json={"serviceId": r.json()["id"], "start": start.isoformat()},
            headers=self.customer.headers,
        )
        assert r.status_code == 201, r.text
        await self.env.keel.events.drain()  # the inline projection
        result: dict[str, Any] = r.json()
        return result

    async def intent(
        self, booking_id: str, method: str | None = None, who: Actor | None = None
    ) -> httpx.Response:
        """``POST /api/payments/intents``."""
        body: dict[str, Any] = {"bookingId": booking_id}
        if method is not None:
            body["paymentMethodId"] = method
        return await self.client.post(
            "/api/payments/intents", json=body, headers=(who or self.customer).headers
        )

    async def paid(self, booking_id: str) -> dict[str, Any]:
        """A payment of ``booking_id`` that succeeded (test card 4242...)."""
        r = await self.intent(booking_id, "pm_card_visa")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "succeeded", r.text
        result: dict[str, Any] = r.json()
        return result

    def sign(self, body: bytes, at: int | None = None) -> str:
        """A signature of ``body`` with the app's webhook secret (the dev stack's own)."""
        return sign(body, settings_of(self.env.settings, PaymentsSettings).webhook_secret, at)

    async def webhook(self, body: bytes, signature: str | None = None) -> httpx.Response:
        """Deliver ``body`` to the webhook, signed correctly unless told otherwise."""
        headers = {"Content-Type": "application/json"}
        headers["Stripe-Signature"] = self.sign(body) if signature is None else signature
        if signature == "":
            del headers["Stripe-Signature"]
        return await self.client.post("/api/webhooks/stripe", content=body, headers=headers)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings overrides of the test's app (a test module may override this fixture)."""
    return {"plugins.payments.webhook_url": CLOSED_URL}


@pytest.fixture
def app_plugins() -> list[str]:
    """The plugins the test's app enables (a test module may override this fixture)."""
    return ["bookings", "payments"]


@pytest.fixture
async def env(
    keel_app_factory: AppFactory, app_overrides: dict[str, Any], app_plugins: list[str]
) -> AsyncIterator[KeelTestApp]:
    """A running app with bookings and payments (and the spy), no rate limits."""
    PaymentSpyPlugin.seen.clear()
    overrides = {"server.rate_limit.enabled": False, **app_overrides}
    async with keel_app_factory(
        plugins=app_plugins, extra=(PaymentSpyPlugin,), overrides=overrides
    ) as app:
        yield app


@pytest.fixture
async def shop(env: KeelTestApp) -> Shop:
    """The app plus a signed-in provider, customer and admin."""
    actors = []
    for role in ("provider", "customer", "admin"):
        user, headers = await env.signed_in(role)
        actors.append(Actor(str(user.id), headers, user.email))
    return Shop(env, *actors)
