"""The realtime plugin class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from core import Listener, Plugin, RootRoutes, hookimpl
from core.errors import PluginError
from plugins.realtime import hooks
from plugins.realtime.handlers import BUILTINS
from plugins.realtime.hub import EXTRA, Hub
from plugins.realtime.listeners import listeners
from plugins.realtime.models import MODELS
from plugins.realtime.settings import RealtimeSettings

if TYPE_CHECKING:
    import pluggy

    from core.context import Keel


class RealtimePlugin(Plugin):
    """WebSocket typing indicators, presence and messages."""

    name = "realtime"
    settings_type = RealtimeSettings
    requires: ClassVar[tuple[str, ...]] = ()
    settings: RealtimeSettings

    @hookimpl
    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(hooks)

    @hookimpl
    def register_routes(self) -> list[Any]:
        from plugins.realtime.routes import (  # noqa: PLC0415 - Litestar only in API processes
            RoomController,
            demo_page,
            realtime_socket,
        )

        demo = self.settings.demo
        if demo is None:
            demo = self.app_settings.app.env == "development"
        root = [realtime_socket, demo_page] if demo else [realtime_socket]
        return [RoomController, RootRoutes(root)]

    @hookimpl
    def register_models(self) -> list[Any]:
        return list(MODELS)

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return listeners(self.settings)

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        extensions = {}
        for plugin, records in keel.host.collect("register_ws_events"):
            for record in records:
                if not isinstance(record, hooks.WsEvent):
                    raise PluginError(plugin, f"register_ws_events returned {record!r}")
                if record.name in BUILTINS or record.name in extensions:
                    raise PluginError(plugin, f"WebSocket event {record.name!r} already exists")
                extensions[record.name] = record
        keel.extras[EXTRA] = Hub(keel, self.settings, extensions)  # starts with its first socket

    @hookimpl
    async def on_shutdown(self, keel: Keel) -> None:
        hub = keel.extras.pop(EXTRA, None)
        if isinstance(hub, Hub):
            await hub.close()
