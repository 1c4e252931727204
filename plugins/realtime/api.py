"""Realtime's public Python API for other plugins: who is online, cluster-wide.

Both functions read the presence state in Valkey (see :mod:`plugins.realtime.presence`),
so they answer the same in every process, an API process, a worker or one that holds no
socket at all::

    from plugins.realtime.api import is_user_online

    if not await is_user_online(keel, booking.provider_id):
        await send_sms(...)

Documented in ``docs/realtime.md`` and ``docs/plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.realtime import presence

if TYPE_CHECKING:
    from core.context import Keel

__all__ = ["is_user_online", "online_users_count"]


async def is_user_online(keel: Keel, user_id: str) -> bool:
    """Whether the user has at least one open socket on a live process.

    Args:
        keel: the runtime context.
        user_id: the user's id (24 hex); an unknown or malformed id is simply offline.

    Returns:
        True while one of their sockets is open on a process whose presence lease is
        live; False otherwise (a crashed process's sockets count for nothing).
    """
    return await presence.user_online(keel, user_id)


async def online_users_count(keel: Keel) -> int:
    """How many distinct users are online on any process (one ``SCARD``, O(1)).

    Args:
        keel: the runtime context.

    Returns:
        The number of users with at least one open socket. The users of a process that
        crashed still count until a live process reaps its lease (within 1.5
        ``heartbeat_s``).
    """
    return await presence.online_count(keel)
