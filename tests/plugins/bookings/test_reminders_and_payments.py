"""The ``bookings.reminders`` schedule's job, and ``payment.completed`` marking bookings paid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from bson import ObjectId

from core import Event, Plugin, hookimpl
from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.bookings.jobs import reminder_event_id
from plugins.bookings.models import Booking, ReminderMarker

from .conftest import Actor, EventSpyPlugin, Market, next_slot, seen


async def test_reminders_once_per_confirmed_booking_even_when_rerun(market: Market) -> None:
    service = await market.service()
    day_start = next_slot(hours=48).replace(hour=0)
    confirmed = await market.booked(service, day_start + timedelta(hours=10))
    await market.booked(service, day_start + timedelta(hours=12))  # stays pending
    await market.booked(service, day_start + timedelta(days=1, hours=10))  # another day
    await market.client.post(
        f"/api/bookings/{confirmed['id']}/confirm", headers=market.provider.headers
    )
    day = day_start.date().isoformat()
    jobs = market.env.keel.jobs
    await jobs.enqueue("bookings.send_reminders", day=day)
    await market.env.drain()
    await jobs.enqueue("bookings.send_reminders", day=day)  # a retry or a second tick
    await market.env.drain()
    [reminder] = seen("booking.reminder_due")
    assert reminder.booking.id == confirmed["id"]
    assert reminder.day.isoformat() == day
    assert reminder.id == reminder_event_id(confirmed["id"], day_start.date())
    markers = market.env.keel.db.get_collection(ReminderMarker)
    assert await markers.count_documents({}) == 1


def test_the_schedule_is_registered_daily_at_nine() -> None:
    from plugins.bookings.plugin import BookingsPlugin
    from plugins.bookings.settings import BookingsSettings

    plugin = BookingsPlugin(BookingsSettings(reminder_timezone="Europe/Paris"), None)
    [schedule] = plugin.register_schedules()
    assert (schedule.name, schedule.cron, schedule.job, schedule.tz) == (
        "reminders",
        "0 9 * * *",
        "send_reminders",
        "Europe/Paris",
    )


class PaymentCompleted(Event, frozen=True, kw_only=True):
    """Stands in for the payments plugin's event (same name and fields)."""

    name: ClassVar[str] = "payment.completed"
    booking_id: str
    payment_id: str
    amount: int
    currency: str


class FakePaymentsPlugin(Plugin):
    """Publishes ``payment.completed`` like the payments plugin would."""

    name = "fake_payments"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [PaymentCompleted]


@pytest.fixture
async def paying(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    EventSpyPlugin.seen.clear()
    async with keel_app_factory(
        plugins=["bookings"],
        extra=(EventSpyPlugin, FakePaymentsPlugin),
        overrides={"server.rate_limit.enabled": False},
    ) as app:
        yield app


async def test_payment_completed_marks_the_booking_paid(paying: KeelTestApp) -> None:
    actors = [Actor(*await paying.signed_in(role)) for role in ("provider", "customer", "admin")]
    market = Market(paying, *actors)
    booking = await market.booked(await market.service(), next_slot())
    event = PaymentCompleted(
        booking_id=booking["id"], payment_id="pi_123", amount=4500, currency="EUR"
    )
    await paying.keel.events.emit(event)
    await paying.keel.events.emit(event)  # redelivery is harmless
    await paying.keel.events.emit(
        PaymentCompleted(booking_id=str(ObjectId()), payment_id="pi_x", amount=1, currency="EUR")
    )
    await paying.drain()
    shown = await market.client.get(
        f"/api/bookings/{booking['id']}", headers=market.customer.headers
    )
    body: dict[str, Any] = shown.json()
    assert (body["paid"], body["paymentId"]) == (True, "pi_123")
    doc = await paying.keel.db.get_collection(Booking).find_one({"_id": ObjectId(booking["id"])})
    assert doc is not None
    assert doc["paid"] is True
