"""``keel config apply``: the toggle part of an edited ``config.toml``, and the rest.

Every process records at start what it loaded and the rest of its settings
(:meth:`core.toggles.Switchboard.record_config`); ``keel config apply`` loads the edited
file, turns ``plugins.enabled`` / ``plugins.standby`` and each feature's value into
explicit switches for what the running processes have loaded, and lists every other
difference as needing a restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from core.pluginhost import PluginHost
    from core.settings import Settings

_SECRET = re.compile(r"(password|secret|token|api_key|private_key)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_LIVE = ("plugins.enabled", "plugins.standby")
"""Settings that are switches of the switchboard, not restart-only settings."""
_PER_PROCESS = frozenset(("server.host", "server.port", "server.workers"))
"""Often given per process on the command line (``keel serve --port``): not compared."""


def mask(value: Any, key: str = "") -> Any:
    """``value`` with secrets replaced by ``***`` and credentials stripped from URLs."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET.search(key):
            return "***"
        return _URL_CREDENTIALS.sub(r"\g<scheme>***@", value)
    return value


def _flat(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flat(item, f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def restart_settings(settings: Settings, host: PluginHost) -> list[list[Any]]:
    """``[dotted path, value]`` of every setting that only a restart changes (secrets
    masked): all of them but the switchboard's (``plugins.enabled``, ``plugins.standby``,
    and each plugin setting that is also a feature switch, like ``realtime.typing``)."""
    data = mask(msgspec.to_builtins(settings))
    plugins = data.pop("plugins")
    tables = plugins.pop("tables")
    data["plugins"] = {k: v for k, v in plugins.items() if f"plugins.{k}" not in _LIVE}
    switches = {(p, t.name) for p, t in host.toggles()}
    for name, table in tables.items():
        data["plugins"][name] = {k: v for k, v in table.items() if (name, k) not in switches}
    return [[path, value] for path, value in _flat(data, "") if path not in _PER_PROCESS]


@dataclass
class ApplyPlan:
    """What ``keel config apply`` does with an edited file."""

    changes: dict[str, bool] = field(default_factory=dict)
    """Switches to set (explicit values for what the running processes loaded)."""
    defaults: dict[str, bool] = field(default_factory=dict)
    """The running processes' defaults, for reporting what changes as they see it."""
    restart: list[str] = field(default_factory=list)
    """Differences only a restart applies, one line each."""


def plan_apply(
    settings: Settings, host: PluginHost, running: Mapping[str, Any] | None
) -> ApplyPlan:
    """The plan for the edited ``settings`` (and its ``host``) against what the running
    processes recorded (None: no process recorded anything; only switches then)."""
    plan = ApplyPlan()
    loaded = set(running["loaded"]) if running else set(host.plugins)
    features = set(running["features"]) if running else {f"{p}.{t.name}" for p, t in host.toggles()}
    essential = {n for n, p in host.plugins.items() if getattr(p, "essential", None) == "always"}
    for name in host.plugins:
        on = name not in host.standby
        if name in loaded:
            if name not in essential:
                plan.changes[name] = on
        else:
            plan.restart.append(
                f"plugins: {name!r} is not loaded by the running processes (restart them to"
                " load it)"
            )
    for name in sorted(loaded - set(host.plugins)):
        plan.changes[name] = False  # loaded there, in neither list here: switched off live
        plan.restart.append(f"plugins: {name!r} stays loaded (off) until a restart")
    for plugin, toggle in host.toggles():
        key = f"{plugin}.{toggle.name}"
        if key in features:
            plan.changes[key] = toggle.default
    if running:
        plan.defaults = {key: bool(value) for key, value in running.get("defaults", [])}
        before = dict(running["settings"])
        after = dict(restart_settings(settings, host))
        for path in sorted(before.keys() | after.keys()):
            if before.get(path) != after.get(path):
                plan.restart.append(f"{path}: {before.get(path)!r} -> {after.get(path)!r}")
    return plan
