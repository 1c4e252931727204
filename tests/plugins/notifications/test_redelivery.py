"""A redelivered event sends no second email and creates no second notification."""

from __future__ import annotations

import msgspec

from core.testing import KeelTestApp
from plugins.accounts.documents import User

from . import _publisher as pub
from ._publisher import RECEIVED
from .conftest import inbox_of


async def _counts(env: KeelTestApp, *users: User) -> list[tuple[int, int]]:
    """(emails, in-app notifications) of each user."""
    return [(len(env.mailbox.messages(to=u.email)), len(await inbox_of(env, u))) for u in users]


async def test_emitting_the_same_event_twice_delivers_once(env: KeelTestApp) -> None:
    customer, provider = await env.user(), await env.user(role="provider")
    event = pub.created(customer, provider)
    await env.keel.events.emit(event)
    await env.drain()
    assert await _counts(env, customer, provider) == [(1, 1), (0, 1)]

    await env.keel.events.emit(event)
    await env.keel.events.emit(event)
    await env.drain()
    assert await _counts(env, customer, provider) == [(1, 1), (0, 1)]
    assert len(RECEIVED) == 2


async def test_a_delivery_whose_done_marker_was_lost_changes_nothing(env: KeelTestApp) -> None:
    """The bus forgot the delivery (Valkey lost the marker, or a worker died after the
    handler): the listener runs again, and the unique indexes stop a second message."""
    customer = await env.user()
    event = pub.paid(customer)
    listener = "on_payment_completed"
    for _ in range(2):
        await env.keel.valkey.delete(
            env.keel.key("events", "done", f"{event.id}:notifications.{listener}")
        )
        handled = await env.keel.events.deliver(
            event=event.name,
            payload=msgspec.json.encode(event).decode(),
            plugin="notifications",
            listener=listener,
        )
        assert handled
        await env.drain()
    assert await _counts(env, customer) == [(1, 1)]
    assert len(RECEIVED) == 1
