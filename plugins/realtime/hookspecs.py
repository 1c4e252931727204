"""The hook realtime offers other plugins: their own WebSocket events.

Realtime's built-in events (``typing``, ``joinRoom``, ...) come through this same hook,
from the realtime plugin itself, so every event is a :class:`WsEvent` in one table and
takes one dispatch path. A plugin implements it like any keel hook (the realtime plugin
adds the spec through ``add_hookspecs``, so it is checked at startup only when realtime
is enabled)::

    from core import hookimpl
    from plugins.realtime.hookspecs import WsContext, WsEvent

    class EchoData(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
        text: str  # frames speak camelCase, as the whole API does

    async def echo(ctx: WsContext, data: EchoData) -> None:
        ctx.reply("echoed", {"text": data.text})

    class EchoPlugin(Plugin):
        name = "echo"
        requires = ("realtime",)

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
    from core.context import Keel
    from plugins.accounts.api import CurrentUser
    from plugins.realtime.connection import Connection
    from plugins.realtime.hub import Hub

__all__ = ["WsContext", "WsError", "WsEvent", "register_ws_events"]


class WsContext:
    """What an event handler may do: read the caller, reply, deliver to users or rooms.

    One per socket, handed to the handler of each of its frames.

    Attributes:
        keel: the runtime context.
        hub: the process's hub, and ``connection`` the socket: realtime's own objects,
            which its built-in events use; not an API for other plugins (they may
            change), who have the methods below.
    """

    __slots__ = ("connection", "hub", "keel")

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self.hub = hub
        self.connection = conn
        self.keel: Keel = hub.keel

    @property
    def user(self) -> CurrentUser:
        """The authenticated user of the socket (as of its latest ``refresh``)."""
        return self.connection.user

    def reply(self, event: str, data: Any) -> None:
        """Send a frame to this socket only."""
        self.connection.push(frame(event, data))

    async def send_to_users(
        self, user_ids: Iterable[str], event: str, data: Any, *, exclude_self: bool = False
    ) -> None:
        """Send a frame to every socket of ``user_ids``, on every process."""
        exclude = self.user.id if exclude_self else ""
        await self.hub.to_users(user_ids, frame(event, data), exclude)

    async def send_to_room(self, room_id: str, event: str, data: Any) -> None:
        """Send a frame to the sockets that joined ``room_id``, on every process."""
        await self.hub.publish("r", [room_id], frame(event, data))


Handler = Callable[[WsContext, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WsEvent:
    """A client event and its handler.

    Attributes:
        name: the frame's ``event``; unique among realtime's and every plugin's events.
        handler: ``async def handler(ctx, data)``; raise :class:`WsError` to answer an
            ``error`` frame (any other exception answers ``internal_error``).
        data_type: a msgspec type the frame's ``data`` is decoded into (errors answer
            ``invalid_data``); None passes the decoded JSON value.
        feature: the ``[plugins.realtime]`` switch that governs the event (one of
            ``typing``, ``presence``, ``messages``, ``notifications``): while it is off
            the event answers ``feature_disabled``. None: always on.
    """

    name: str
    handler: Handler
    data_type: Any = None
    feature: str | None = None


@hookspec
def register_ws_events() -> Sequence[WsEvent]:
    """Return :class:`WsEvent` handlers for client frames, one per event name.

    Called once per process while the app or worker is built (from the realtime
    plugin's ``check_settings``, so ``keel config check`` runs it too), never per socket.
    The realtime plugin returns its built-in events here as well. Two events of the same
    name, a ``feature`` that is no switch of ``[plugins.realtime]``, or a record that is
    not a :class:`WsEvent` stop the process from starting, the problem naming the
    plugins.
    Frames of these events get the same authentication, size and rate limits as
    realtime's own.
    """
    raise NotImplementedError
