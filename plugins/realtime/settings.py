"""Settings of the realtime plugin (``[plugins.realtime]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Limit = Annotated[int, msgspec.Meta(ge=0)]


class RealtimeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.realtime]`` in config.toml."""

    typing: bool = True
    """Typing indicators (``typing`` / ``stopTyping``)."""
    presence: bool = True
    """Presence (``getOnlineStatus``, ``userOnline`` / ``userOffline``)."""
    messages: bool = True
    """Rooms and messages (``joinRoom``, ``leaveRoom``, ``message``; the history routes)."""
    notifications: bool = True
    """Live ``notification`` frames when ``notification.created`` is emitted."""
    demo: bool | None = None
    """Serve the demo page at ``/realtime/demo``; None: only when ``app.env`` is ``development``.
    Either way only under ``keel run`` (a development page: never under ``keel serve``)."""
    max_frame_bytes: Count = 65_536
    """Largest frame a client may send; a bigger one closes the socket with 1009. At most
    ``server.ws_max_bytes``, which uvicorn enforces before it buffers the frame."""
    send_queue_size: Count = 256
    """Frames waiting for a slow client; one more closes its socket with 1013."""
    rate_per_s: Positive = 20.0
    """Frames a connection may send per second (token bucket refill)."""
    rate_burst: Count = 40
    """Token bucket size; frames beyond it answer ``error`` ``rate_limited``."""
    rate_strikes: Count = 20
    """Rejected frames (decaying by one per second) after which the socket closes with 1008."""
    heartbeat_s: Positive = 30.0
    """The server sends a ``ping`` frame this often; also the presence lease period."""
    heartbeat_timeout_s: Positive = 10.0
    """A client that sends nothing this long after a ``ping`` is disconnected (4408)."""
    typing_timeout_s: Positive = 5.0
    """A ``typing`` that is not refreshed ends (``stopTyping`` is sent) after this long."""
    max_message_chars: Count = 4000
    """Longest message text."""
    room_cache_size: Count = 10_000
    """Rooms whose members each process keeps in memory (members never change)."""
    revocation_check_s: Positive = 60.0
    """Each open socket's token is verified again this often (one Valkey read per token),
    in case a revocation's pub/sub message was lost; revocations normally close sockets
    within a second."""
    contacts_check_s: Positive = 60.0
    """Each process looks this often for contacts that lapsed (a cancelled booking turned
    30 days old) and its open sockets forget them; blocks reach open sockets at once."""
    max_sockets_per_user: Count = 10
    """Open sockets one user may hold over every process (counted in Valkey); a new one
    closes the user's oldest socket, wherever it is, with 4409 (``too_many_sockets``)."""
    upgrades_per_ip_per_minute: Limit = 60
    """WebSocket upgrades one client IP (an IPv6 client: its /64) may make per minute, over
    every process (counted in Valkey, fixed one-minute windows); one more is closed with
    4429 (reason ``too_many_upgrades``) before it is authenticated. 0: no limit."""


FEATURES = tuple(f.name for f in msgspec.structs.fields(RealtimeSettings) if f.type is bool)
"""The feature switches (``typing``, ``presence``, ...) a ``WsEvent.feature`` may name; each
is also a live toggle (``realtime.typing``), starting as ``[plugins.realtime]`` says."""
FEATURE_HELP = {
    "typing": "Typing indicators (typing / stopTyping)",
    "presence": "Presence (getOnlineStatus, userOnline / userOffline)",
    "messages": "Rooms and messages (joinRoom, leaveRoom, message; the history routes)",
    "notifications": "Live notification frames",
}


def frame_limit_problems(settings: RealtimeSettings, server_max_bytes: int) -> list[str]:
    """Why ``max_frame_bytes`` cannot hold: uvicorn refuses bigger frames first.

    Args:
        settings: the plugin settings.
        server_max_bytes: ``server.ws_max_bytes`` (uvicorn's ``ws_max_size``).
    """
    if settings.max_frame_bytes <= server_max_bytes:
        return []
    return [
        f"plugins.realtime.max_frame_bytes: {settings.max_frame_bytes} exceeds"
        f" server.ws_max_bytes ({server_max_bytes}), the largest frame the server accepts;"
        " raise server.ws_max_bytes or lower max_frame_bytes"
    ]
