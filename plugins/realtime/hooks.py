"""The hook realtime adds for other plugins: their own WebSocket events.

A plugin implements it like any keel hook (the realtime plugin adds the spec through
``add_hookspecs``, so it is checked at startup only when realtime is enabled)::

    from core import hookimpl
    from plugins.realtime.hooks import WsContext, WsEvent

    class EchoData(msgspec.Struct, forbid_unknown_fields=True):
        text: str

    async def echo(ctx: WsContext, data: EchoData) -> None:
        ctx.reply("echoed", {"text": data.text})

    class EchoPlugin(Plugin):
        name = "echo"

        @hookimpl
        def register_ws_events(self) -> list[WsEvent]:
            return [WsEvent("echo", echo, EchoData)]

Documented in ``docs/plugins.md`` and ``docs/realtime.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.plugin import hookspec
from plugins.realtime.protocol import WsError, frame

if TYPE_CHECKING:
    from core.accounts import CurrentUser
    from core.context import Keel
    from plugins.realtime.connection import Connection
    from plugins.realtime.hub import Hub

__all__ = ["WsContext", "WsError", "WsEvent", "register_ws_events"]


class WsContext:
    """What an event handler may do: read the caller, reply, deliver to users or rooms.

    Attributes:
        keel: the runtime context.
        user: the authenticated user of the socket.
    """

    __slots__ = ("_conn", "_hub", "keel", "user")

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self._hub = hub
        self._conn = conn
        self.keel: Keel = hub.keel
        self.user: CurrentUser = conn.user

    def reply(self, event: str, data: Any) -> None:
        """Send a frame to this socket only."""
        self._conn.push(frame(event, data))

    async def send_to_users(
        self, user_ids: Iterable[str], event: str, data: Any, *, exclude_self: bool = False
    ) -> None:
        """Send a frame to every socket of ``user_ids``, on every process."""
        exclude = self.user.id if exclude_self else ""
        await self._hub.to_users(user_ids, frame(event, data), exclude)

    async def send_to_room(self, room_id: str, event: str, data: Any) -> None:
        """Send a frame to the sockets that joined ``room_id``, on every process."""
        await self._hub.publish("r", [room_id], frame(event, data))


Handler = Callable[[WsContext, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WsEvent:
    """A client event a plugin handles.

    Attributes:
        name: the frame's ``event``; must not clash with realtime's or another plugin's.
        handler: ``async def handler(ctx, data)``; raise :class:`WsError` to answer an
            ``error`` frame (any other exception answers ``internal_error``).
        data_type: a msgspec type the frame's ``data`` is decoded into (errors answer
            ``invalid_data``); None passes the decoded JSON value.
    """

    name: str
    handler: Handler
    data_type: Any = None


@hookspec
def register_ws_events() -> Sequence[WsEvent]:
    """Return :class:`WsEvent` handlers for client frames with new event names.

    Called once per process when the realtime plugin starts. Frames of these events get
    the same authentication, size and rate limits as realtime's own.
    """
    raise NotImplementedError
