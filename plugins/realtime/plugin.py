"""The realtime plugin class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from core import Listener, Plugin, RootRoutes, Toggle, hookimpl
from core.errors import ConfigError
from plugins.realtime import hookspecs
from plugins.realtime.builtin_events import BUILTIN_EVENTS
from plugins.realtime.dispatch import EventTable, collect_event_table
from plugins.realtime.hookspecs import WsEvent
from plugins.realtime.hub import HUB, Hub
from plugins.realtime.listeners import listeners
from plugins.realtime.models import MODELS
from plugins.realtime.protocol import CLOSE_FEATURE_DISABLED, FEATURE_DISABLED
from plugins.realtime.settings import FEATURE_HELP, FEATURES, RealtimeSettings, frame_limit_problems

if TYPE_CHECKING:
    import pluggy

    from core.context import Keel
    from core.settings import Settings


class RealtimePlugin(Plugin):
    """WebSocket typing indicators, presence and messages."""

    name = "realtime"
    settings_type = RealtimeSettings
    requires: ClassVar[tuple[str, ...]] = ()
    settings: RealtimeSettings
    _plugin_manager: pluggy.PluginManager | None = None
    _events: EventTable | None = None

    @hookimpl
    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(hookspecs)
        self._plugin_manager = plugin_manager  # the event table is collected from it

    @hookimpl
    def register_ws_events(self) -> list[WsEvent]:
        return list(BUILTIN_EVENTS)

    @hookimpl
    def check_settings(self, settings: Settings) -> list[str]:
        # the process is being built (or `keel config check` runs): collect the event
        # table now, so a clash stops the build rather than surfacing at the first socket
        problems = frame_limit_problems(self.settings, settings.server.ws_max_bytes)
        if self._plugin_manager is None:
            return problems
        return [*problems, *self._event_table(self._plugin_manager).problems]

    @hookimpl
    def register_routes(self) -> list[Any]:
        from core.devstack import dev_pages  # noqa: PLC0415
        from plugins.realtime.routes import (  # noqa: PLC0415 - Litestar only in API processes
            BlockController,
            RoomController,
            demo_page,
            online_count,
            realtime_socket,
        )

        demo = self.settings.demo
        if demo is None:
            demo = self.app_settings.app.env == "development"
        # a development page: mounted only under `keel run` (its guard checks each request too)
        demo = demo and dev_pages() is not None
        root = [realtime_socket, demo_page] if demo else [realtime_socket]
        return [RoomController, BlockController, online_count, RootRoutes(root)]

    @hookimpl
    def register_models(self) -> list[Any]:
        return list(MODELS)

    @hookimpl
    def register_toggles(self) -> list[Toggle]:
        # each feature switch of [plugins.realtime] starts as config.toml says
        return [Toggle(name, getattr(self.settings, name), FEATURE_HELP[name]) for name in FEATURES]

    @hookimpl
    async def on_deactivate(self, keel: Keel) -> None:
        hub = keel.stash.get(HUB, None)
        if hub is not None:  # the socket route answers 404 from now on
            hub.disconnect_all(CLOSE_FEATURE_DISABLED, FEATURE_DISABLED)

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return listeners(self.settings)

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        table = self._event_table(keel.host.pm)  # built already, unless check_settings was skipped
        if table.problems:
            raise ConfigError(table.problems)
        keel.stash[HUB] = Hub(keel, self.settings, table.events)  # starts with its first socket

    @hookimpl
    async def on_shutdown(self, keel: Keel) -> None:
        hub = keel.stash.pop(HUB, None)
        if hub is not None:
            await hub.close()

    def _event_table(self, plugin_manager: pluggy.PluginManager) -> EventTable:
        """The process's event table, collected once (``register_*`` hooks run once)."""
        if self._events is None:
            self._events = collect_event_table(plugin_manager, self.name)
        return self._events
