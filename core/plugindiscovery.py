"""Finding plugins: ``keel.plugins`` entry points, dependency order, essential plugins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from core.errors import ConfigError, PluginError
from core.plugin import Plugin
from core.settings import Settings

ENTRY_POINT_GROUP = "keel.plugins"


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """A plugin found through the ``keel.plugins`` entry-point group."""

    name: str
    cls: type[Plugin]
    version: str
    distribution: str


def discover() -> dict[str, InstalledPlugin]:
    """Every installed plugin by name, built-in and third-party alike.

    Raises:
        PluginError: an entry point does not load, is not a :class:`Plugin` subclass, or
            its ``name`` differs from the entry point's name.
    """
    found: dict[str, InstalledPlugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            raise PluginError(ep.name, f"entry point {ep.value!r} failed to load: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise PluginError(ep.name, f"entry point {ep.value!r} is not a keel Plugin class")
        if cls.name != ep.name:
            raise PluginError(ep.name, f"class name {cls.name!r} differs from its entry point")
        dist = ep.dist
        found[ep.name] = InstalledPlugin(
            name=ep.name,
            cls=cls,
            version=dist.version if dist else "0",
            distribution=dist.name if dist else "",
        )
    return dict(sorted(found.items()))


def plugin_settings_types(installed: dict[str, InstalledPlugin]) -> dict[str, Any]:
    """Settings type of each installed plugin, for :func:`core.settings.load_settings`."""
    return {name: p.cls.settings_type for name, p in installed.items()}


def _ordered(names: Sequence[str], installed: dict[str, InstalledPlugin]) -> list[str]:
    """Enabled names in dependency order; raises on a missing or cyclic ``requires``."""
    problems: list[str] = []
    enabled = set(names)
    for name in names:
        for dep in installed[name].cls.requires:
            if dep not in enabled:
                state = "not enabled" if dep in installed else "not installed"
                problems.append(
                    f"plugins.enabled: plugin {name!r} requires plugin {dep!r}, which is {state}"
                )
    if problems:
        raise ConfigError(problems)
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ConfigError([f"plugins.enabled: plugin {name!r} is in a requires cycle"])
        visiting.add(name)
        for dep in installed[name].cls.requires:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in names:
        visit(name)
    return order


def essential_names(settings: Settings, installed: dict[str, InstalledPlugin]) -> list[str]:
    """The installed essential plugins that load whatever ``plugins.enabled`` says.

    A plugin is essential when its class sets ``essential``: ``"always"`` (it can't be
    switched off: naming it in ``plugins.disabled`` is refused) or ``"default"`` (on
    unless ``plugins.disabled`` names it).

    Raises:
        ConfigError: ``plugins.disabled`` names an always-on or unknown plugin.
    """
    problems: list[str] = []
    disabled = set(settings.plugins.disabled)
    for name in sorted(disabled):
        found = installed.get(name)
        if found is None:
            problems.append(f"plugins.disabled: unknown plugin {name!r}")
        elif getattr(found.cls, "essential", None) == "always":
            problems.append(f"plugins.disabled: plugin {name!r} is essential and always on")
    if problems:
        raise ConfigError(problems)
    return [
        name
        for name, plugin in installed.items()
        if getattr(plugin.cls, "essential", None) == "always"
        or (getattr(plugin.cls, "essential", None) == "default" and name not in disabled)
    ]
