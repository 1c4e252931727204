"""Listeners: live pushes of notifications, bookings (their rooms, contacts), revocations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from core import Listener
from plugins.realtime import contacts
from plugins.realtime.bus import publish
from plugins.realtime.protocol import camel_keys, frame
from plugins.realtime.service import record_booking
from plugins.realtime.tokens import REVOKE, revocation_text

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.events import SessionsRevoked, UserDeleted
    from plugins.realtime.settings import RealtimeSettings


def listeners(settings: RealtimeSettings) -> list[Listener]:
    """The plugin's subscriptions (by event name: realtime imports no other plugin)."""

    async def push_notification(keel: Keel, event: Any) -> None:
        """``notification.created`` -> a ``notification`` frame on the user's sockets (the
        event's fields, and the keys of its ``data``, in camelCase: the wire's convention)."""
        if keel.toggles.feature("realtime", "notifications"):
            text = frame("notification", camel_keys(msgspec.to_builtins(event)))
            await publish(keel, "u", [str(event.user_id)], text)

    return [
        Listener("user.sessions_revoked", close_revoked, name="close_revoked"),
        Listener("notification.created", push_notification, name="push_notification"),
        Listener("booking.created", remember_booking, mode="durable", name="booking_room"),
        *(
            Listener(name, project_booking, mode="durable", name=f"contacts_{name[8:]}")
            for name in ("booking.created", "booking.updated", "booking.cancelled")
        ),
        Listener("user.deleted", forget_user, mode="durable", name="contacts_user_deleted"),
    ]


async def close_revoked(keel: Keel, event: SessionsRevoked) -> None:
    """``user.sessions_revoked`` -> every process closes the sockets it covers.

    Inline, so it runs in the process that revoked (an API process: logout, password
    change or reset, role change, deletion), within milliseconds and whether or not that
    process holds sockets: publishing needs only Valkey, not a started hub.
    """
    await publish(keel, REVOKE, [event.user_id], revocation_text(event))


async def project_booking(keel: Keel, event: Any) -> None:
    """``booking.*``: its customer and provider are contacts (see :mod:`.contacts`)."""
    await contacts.record_booking(keel, event.booking)


async def forget_user(keel: Keel, event: UserDeleted) -> None:
    """``user.deleted``: the account's contacts and blocks go with it."""
    await contacts.forget_user(keel, event.user_id)


async def remember_booking(keel: Keel, event: Any) -> None:
    """``booking.created``: its customer and provider may use the booking's room."""
    booking = event.booking
    await record_booking(keel, booking.id, booking.customer_id, booking.provider_id)
