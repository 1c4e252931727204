"""The table of WebSocket events: built with the process, so ``keel config check`` (and
``create_app``, ``keel worker``) refuse a clash or a bad record, naming the plugins."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from _realtime_helpers import RtFixturePlugin

from core import Plugin, hookimpl
from core.errors import ConfigError
from core.pluginhost import PluginHost
from core.runtime import validate
from core.testing import SettingsFactory
from plugins.realtime.hookspecs import WsContext, WsEvent
from plugins.realtime.hub import hub_of
from plugins.realtime.plugin import RealtimePlugin


async def _noop(_ctx: WsContext, _data: Any) -> None:
    return None


class WavingPlugin(Plugin):
    name = "waving"

    @hookimpl
    def register_ws_events(self) -> list[WsEvent]:
        return [WsEvent("wave", _noop)]


class CopycatPlugin(Plugin):
    """Takes another plugin's event and a built-in one, names no real switch, and returns
    something that is no event."""

    name = "copycat"

    @hookimpl
    def register_ws_events(self) -> list[Any]:
        return [
            WsEvent("wave", _noop),
            WsEvent("message", _noop),
            WsEvent("hum", _noop, feature="humming"),
            "not an event",
            WsEvent("nod", _noop),
        ]


class CountingPlugin(Plugin):
    name = "counting"
    calls: ClassVar[list[int]] = []

    @hookimpl
    def register_ws_events(self) -> list[WsEvent]:
        self.calls.append(1)
        return [WsEvent("count", _noop)]


def test_config_check_reports_every_problem_naming_both_plugins(
    keel_settings_factory: SettingsFactory,
) -> None:
    settings, installed = keel_settings_factory.for_plugins(
        [RealtimePlugin, WavingPlugin, CopycatPlugin]
    )
    with pytest.raises(ConfigError) as info:
        validate(settings, PluginHost(settings, installed))  # what `keel config check` runs
    assert info.value.problems == [
        "plugins.copycat: WebSocket event 'wave' already exists (registered by plugin 'waving')",
        "plugins.copycat: WebSocket event 'message' already exists"
        " (registered by plugin 'realtime')",
        "plugins.copycat: WebSocket event 'hum': unknown feature 'humming'"
        " (a switch of [plugins.realtime]: typing, presence, messages, notifications)",
        "plugins.copycat: register_ws_events returned 'not an event', not a WsEvent",
    ]


def test_config_check_passes_without_clashes(keel_settings_factory: SettingsFactory) -> None:
    settings, installed = keel_settings_factory.for_plugins([RealtimePlugin, RtFixturePlugin])
    validate(settings, PluginHost(settings, installed))


async def test_the_table_is_collected_once_while_the_app_is_built(
    keel_app_factory: Any,
) -> None:
    CountingPlugin.calls.clear()
    async with keel_app_factory(plugins=["realtime"], extra=(CountingPlugin,)) as env:
        # by create_app's check_settings; on_startup reused it
        assert CountingPlugin.calls == [1]
        assert "count" in hub_of(env.keel).events
        assert "typing" in hub_of(env.keel).events
    assert CountingPlugin.calls == [1]


def test_the_former_module_path_still_imports_the_records() -> None:
    from plugins.realtime import hooks, hookspecs  # docs/plugins.md names `hooks`

    assert (hooks.WsEvent, hooks.WsContext, hooks.WsError) == (
        hookspecs.WsEvent,
        hookspecs.WsContext,
        hookspecs.WsError,
    )
