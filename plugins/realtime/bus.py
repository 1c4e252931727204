"""The bus: one Valkey pub/sub channel, ``<prefix>:realtime:bus``, links every process.

Every frame for other sockets is published once on it; every process (the sender's
included) receives it and its hub hands it to its own matching sockets. An envelope is
``kind US exclude US targets US frame`` (``US`` = 0x1F) where kind ``u`` addresses users'
sockets, ``r`` the sockets that joined rooms and ``p`` the sockets watching users'
presence; sockets of user ``exclude`` are skipped. The frame is JSON encoded once by the
sender and never decoded again. Kind ``s`` is a revocation, not a frame: its target is a
user and its last part a :class:`~plugins.realtime.tokens.Revocation` (JSON) naming the
sessions that ended; the user's sockets it covers are closed (4401 ``session_revoked``).
Kind ``f`` (a block, a deleted account) is not a frame either: the target users' sockets
forget the user named in its last part (see :mod:`plugins.realtime.contacts`). Kind ``k``
closes (4409) the target user's sockets named in its last part, ``<process>:<socket>``
members, wherever they are (see :mod:`plugins.realtime.sockets`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.context import Keel

SEP = b"\x1f"
"""Separates the parts of an envelope."""


def channel(keel: Keel) -> str:
    """The deployment's channel."""
    return keel.key("realtime", "bus")


def envelope(kind: str, targets: Iterable[str], text: str, exclude: str = "") -> bytes:
    """The pub/sub payload delivering ``text`` to ``kind`` targets (see the module docs)."""
    return SEP.join((kind.encode(), exclude.encode(), ",".join(targets).encode(), text.encode()))


async def publish(keel: Keel, kind: str, targets: Iterable[str], text: str) -> None:
    """Publish from any process, with or without a hub (a worker delivering a push)."""
    await keel.valkey.publish(channel(keel), envelope(kind, targets, text))
