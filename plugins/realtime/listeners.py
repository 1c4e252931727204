"""Listeners: live pushes of notifications, and who may use a booking's room."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from core import Listener
from plugins.realtime.hub import publish
from plugins.realtime.protocol import frame
from plugins.realtime.service import record_booking

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.realtime.settings import RealtimeSettings


def listeners(settings: RealtimeSettings) -> list[Listener]:
    """The plugin's subscriptions (by event name: realtime imports no other plugin)."""

    async def push_notification(keel: Keel, event: Any) -> None:
        """``notification.created`` -> a ``notification`` frame on the user's sockets."""
        if settings.notifications:
            text = frame("notification", msgspec.to_builtins(event))
            await publish(keel, "u", [str(event.user_id)], text)

    return [
        Listener("notification.created", push_notification, name="push_notification"),
        Listener("booking.created", remember_booking, mode="durable", name="booking_room"),
    ]


async def remember_booking(keel: Keel, event: Any) -> None:
    """``booking.created``: its customer and provider may use the booking's room."""
    booking = event.booking
    await record_booking(keel, booking.id, booking.customer_id, booking.provider_id)
