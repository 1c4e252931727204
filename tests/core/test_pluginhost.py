"""Plugin discovery, requires, hook validation and the typed facade."""

from __future__ import annotations

from typing import Any, ClassVar

import pluggy
import pytest

from core import Job, Listener, Plugin, hookimpl, hookspec
from core.errors import ConfigError, PluginError
from core.pluginhost import InstalledPlugin, PluginHost, discover, plugin_settings_types
from core.settings import load_settings


class Base(Plugin):
    name = "base"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        async def ping(ctx: object) -> str:
            return "pong"

        return [Job("ping", ping)]


class Needy(Plugin):
    name = "needy"
    requires: ClassVar[tuple[str, ...]] = ("base",)

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def on_any(keel: object, event: object) -> None:
            return None

        return [Listener("thing.happened", on_any)]


class Typo(Plugin):
    name = "typo"

    @hookimpl
    def register_rotues(self) -> list[object]:  # misspelled on purpose
        return []


class Bad(Plugin):
    name = "bad"

    @hookimpl
    def register_jobs(self) -> list[object]:
        return ["not a job"]


class _Specs:
    @hookspec
    def extra_greeting(self) -> str:  # type: ignore[empty-body]
        """A plugin-defined hook."""


class SpecOwner(Plugin):
    name = "specowner"

    @hookimpl
    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(_Specs)


class SpecUser(Plugin):
    name = "specuser"

    @hookimpl
    def extra_greeting(self) -> str:
        return "hi"


ALL = {
    cls.name: InstalledPlugin(cls.name, cls, "1.0", "tests")
    for cls in (Base, Needy, Typo, Bad, SpecOwner, SpecUser)
}


def host(*names: str) -> PluginHost:
    settings = load_settings(
        None,
        environ={"KEEL_CONFIG": "/dev/null"},
        overrides={"plugins.enabled": list(names)},
        plugin_types=plugin_settings_types(ALL),
    )
    return PluginHost(settings, ALL)


def test_builtin_and_third_party_plugins_are_discovered() -> None:
    installed = discover()
    assert {"bookings", "search", "realtime", "payments", "cron", "notifications"} <= set(installed)
    assert installed["hello"].distribution == "keel-hello"
    assert installed["hello"].version == "0.3.0"


def test_requires_orders_plugins_and_jobs_are_attributed() -> None:
    h = host("needy", "base")
    assert list(h.plugins) == ["base", "needy"]
    assert [(p, j.name) for p, j in h.jobs()] == [("base", "ping")]
    assert [(p, lst.event) for p, lst in h.listeners()] == [("needy", "thing.happened")]


def test_missing_requirement_names_both_plugins() -> None:
    with pytest.raises(ConfigError, match="plugin 'needy' requires plugin 'base', which is not"):
        host("needy")


def test_misspelled_hook_fails_at_startup() -> None:
    with pytest.raises(PluginError, match="register_rotues"):
        host("typo")


def test_wrong_record_type_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"plugin 'bad'.*not a Job"):
        host("bad").jobs()


def test_plugin_can_add_hookspecs_for_others() -> None:
    h = host("specowner", "specuser")
    assert h.pm.hook.extra_greeting() == ["hi"]


def test_plugin_hook_without_its_spec_owner_fails() -> None:
    with pytest.raises(PluginError, match="extra_greeting"):
        host("specuser")


def test_disabled_plugin_is_not_registered() -> None:
    h = host("base")
    assert "needy" not in h.plugins
    assert h.listeners() == []
    assert isinstance(h.pm.get_plugin("base"), Base)
    assert h.pm.get_plugin("needy") is None


def test_essential_plugins_load_unlisted_and_only_uploads_can_be_switched_off(
    keel_settings_factory: Any,
) -> None:
    installed = discover()
    listed_none = keel_settings_factory(plugins__enabled=["cron"])
    assert list(PluginHost(listed_none, installed).plugins) == ["accounts", "uploads", "cron"]
    without_uploads = keel_settings_factory(plugins__enabled=[], plugins__disabled=["uploads"])
    assert list(PluginHost(without_uploads, installed).plugins) == ["accounts"]
    with pytest.raises(ConfigError, match="'accounts' is essential and always on"):
        PluginHost(keel_settings_factory(plugins__disabled=["accounts"]), installed)
