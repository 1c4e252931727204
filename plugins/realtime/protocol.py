"""The wire protocol: frames, the data of each client event, error and close codes.

Every frame, both ways, is a JSON object ``{"event": "<name>", "data": {...}}``. The
full protocol is documented in ``docs/realtime.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from core.text import MultiLine

# -- close codes ---------------------------------------------------------------------------
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
"""The process is shutting down; reconnect (another process will answer)."""
CLOSE_POLICY = 1008
"""The client kept sending faster than its rate limit."""
CLOSE_TOO_BIG = 1009
"""A frame over ``max_frame_bytes``."""
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
"""The client read too slowly: its send queue overflowed; or, with reason
:data:`BUS_LOST`, the process lost Valkey pub/sub (frames meant for it may be gone):
reconnect with a backoff and read the history."""
BUS_LOST = "bus_lost"
"""1013's reason when the process's pub/sub subscription broke."""
CLOSE_UNAUTHORIZED = 4401
"""No, bad, expired or revoked access token; the reason says which."""
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a close reason
"""4401 on an open socket: its token expired without a ``refresh`` frame."""
SESSION_REVOKED = "session_revoked"
"""4401 on an open socket: its login session ended (logout, password change, ...)."""
CLOSE_TIMEOUT = 4408
"""No frame from the client within ``heartbeat_timeout_s`` of a server ``ping``."""
CLOSE_REPLACED = 4409
"""The user opened more than ``max_sockets_per_user`` sockets: their oldest is closed."""
TOO_MANY_SOCKETS = "too_many_sockets"
"""4409's reason."""
CLOSE_FEATURE_DISABLED = 4404
"""Close code when an operator switches the realtime plugin off live (reason
``feature_disabled``); a reconnect gets 404 until it is on again."""
CLOSE_TOO_MANY_UPGRADES = 4429
"""The client IP made more than ``upgrades_per_ip_per_minute`` upgrades this minute."""
TOO_MANY_UPGRADES = "too_many_upgrades"
"""4429's reason."""

# -- error codes (``error`` frames; the socket stays open) -------------------------------
BAD_FRAME = "bad_frame"
UNKNOWN_EVENT = "unknown_event"
INVALID_DATA = "invalid_data"
FEATURE_DISABLED = "feature_disabled"
RATE_LIMITED = "rate_limited"
NOT_FOUND = "not_found"
UNAUTHORIZED = "unauthorized"
INTERNAL = "internal_error"
UNAVAILABLE = "service_unavailable"

ObjectIdStr = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{24}$")]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ClientId = Annotated[str, msgspec.Meta(max_length=64)]


class WsError(Exception):
    """Raised by an event handler: answered as an ``error`` frame, the socket stays open.

    Args:
        code: machine-readable code (``not_found``, ``invalid_data``, ...).
        message: for humans; names the thing and the bad value.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Frame(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An incoming frame; ``data`` is decoded by the event's handler."""

    event: EventName
    data: msgspec.Raw = msgspec.Raw(b"{}")


class Target(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``typing`` / ``stopTyping``: a user, a room, or a user within a room (the seed's
    ``{receiverId, roomId, isTyping}``); ``isTyping: false`` makes ``typing`` a stop."""

    receiver_id: ObjectIdStr | None = None
    room_id: ObjectIdStr | None = None
    is_typing: bool = True


class OnlineStatusQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``getOnlineStatus``: up to 100 user ids."""

    user_ids: Annotated[list[ObjectIdStr], msgspec.Meta(min_length=1, max_length=100)]


class RoomRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``joinRoom`` / ``leaveRoom``: a room id, or the direct room with a user, or a booking's."""

    room_id: ObjectIdStr | None = None
    user_id: ObjectIdStr | None = None
    booking_id: ObjectIdStr | None = None


class MessageIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``message``: text to a room, a user (their direct room) or a booking's room."""

    text: Annotated[MultiLine, msgspec.Meta(min_length=1, max_length=20_000)]
    room_id: ObjectIdStr | None = None
    receiver_id: ObjectIdStr | None = None
    booking_id: ObjectIdStr | None = None
    client_id: ClientId | None = None


class RefreshIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``refresh``: a newer access token of the socket's user."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


_decode_frame = msgspec.json.Decoder(Frame).decode
_encode = msgspec.json.Encoder().encode


def parse_frame(text: str | bytes) -> Frame:
    """The frame in ``text``.

    Raises:
        WsError: ``bad_frame`` when it is not JSON of the ``{event, data}`` shape.
    """
    try:
        return _decode_frame(text)
    except msgspec.DecodeError as exc:
        raise WsError(BAD_FRAME, f"not a frame {{event, data}}: {exc}") from None


def decode_data(raw: msgspec.Raw, tp: type[Any], event: str) -> Any:
    """``raw`` decoded into ``tp``.

    Raises:
        WsError: ``invalid_data`` naming the event and the bad field.
    """
    try:
        return msgspec.json.decode(raw, type=tp)
    except msgspec.DecodeError as exc:
        raise WsError(INVALID_DATA, f"invalid data for {event!r}: {exc}") from None


def frame(event: str, data: Any) -> str:
    """An outgoing frame, encoded once (the same text goes to every receiver)."""
    return _encode({"event": event, "data": data}).decode()


def error_frame(code: str, message: str) -> str:
    """An ``error`` frame."""
    return frame("error", {"code": code, "message": message})


def one_of(event: str, **refs: str | None) -> tuple[str, str]:
    """The single ``(field, value)`` set among ``refs``.

    Raises:
        WsError: ``invalid_data`` when none or several are set.
    """
    given = [(k, v) for k, v in refs.items() if v is not None]
    if len(given) != 1:
        names = ", ".join(_camel(k) for k in refs)
        raise WsError(INVALID_DATA, f"{event!r} needs exactly one of {names}")
    return given[0]


def camel_keys(value: Any) -> Any:
    """``value`` with every mapping key in camelCase, at any depth (for payloads built
    from Python objects, e.g. another plugin's event pushed to a socket)."""
    if isinstance(value, dict):
        return {_camel(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
