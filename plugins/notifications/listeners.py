"""The durable listeners: one per reaction, the activity log, forgetting deleted users."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from core.records import Listener
from plugins.notifications.delivery import Reactor
from plugins.notifications.reactions import REACTIONS, Reaction
from plugins.notifications.service import forget_user, record_activity

if TYPE_CHECKING:
    from core.context import Keel

Handler = Callable[[Any, Any], Awaitable[None]]


def _handler(reactor: Reactor, reaction: Reaction) -> Handler:
    async def react(keel: Keel, event: Any) -> None:
        await reactor.react(keel, reaction, event)

    react.__name__ = react.__qualname__ = f"on_{reaction.event.replace('.', '_')}"
    return react


async def on_user_updated(keel: Keel, event: Any) -> None:
    """``user.updated``: one entry in the user's activity log."""
    await record_activity(keel, event)


async def on_user_deleted(keel: Keel, event: Any) -> None:
    """``user.deleted``: forget the user's inbox, preferences and activity log."""
    await forget_user(keel, event.user_id)


def listeners(reactor: Reactor, queue: str) -> list[Listener]:
    """Every listener of the plugin, durable, on ``queue``.

    Subscribed by event name: events of a disabled publisher never arrive (the core
    only logs that nobody publishes them).
    """
    found = [
        Listener(r.event, _handler(reactor, r), mode="durable", queue=queue) for r in REACTIONS
    ]
    found.append(Listener("user.updated", on_user_updated, mode="durable", queue=queue))
    found.append(
        Listener("user.deleted", on_user_deleted, mode="durable", queue=queue, name="forget_user")
    )
    return found
