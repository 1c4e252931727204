"""Plugin discovery (``keel.plugins`` entry points) and the typed facade over ``pm.hook``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar, cast

import pluggy

from core import hookspecs
from core.errors import ConfigError, PluginError
from core.plugin import PROJECT, Plugin
from core.records import Authenticator, DevService, HealthCheck, Job, Listener, Schedule
from core.settings import Settings

ENTRY_POINT_GROUP = "keel.plugins"
TRACE_ENV = "KEEL_TRACE_HOOKS"
log = logging.getLogger("core.plugins")
T = TypeVar("T")


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


class PluginHost:
    """The enabled plugins, registered with pluggy, behind typed hook calls.

    Args:
        settings: the decoded settings (``plugins.enabled`` and plugin tables).
        installed: the result of :func:`discover`.
        names: plugins to load; defaults to ``settings.plugins.enabled``.
        check_requires: False only to describe plugins (``keel plugins``), never to run them.
    """

    def __init__(
        self,
        settings: Settings,
        installed: dict[str, InstalledPlugin],
        names: Sequence[str] | None = None,
        *,
        check_requires: bool = True,
    ) -> None:
        self.settings = settings
        self.installed = installed
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, Plugin] = {}
        wanted = list(settings.plugins.enabled if names is None else names)
        if names is None:
            wanted = [*essential_names(settings, installed), *wanted]
        wanted = list(dict.fromkeys(wanted))
        order = _ordered(wanted, installed) if check_requires else wanted
        for name in order:
            cls = installed[name].cls
            self.plugins[name] = cls(settings.plugins.get(name), settings)
        for plugin in self.plugins.values():
            add_specs = getattr(plugin, "add_hookspecs", None)
            if add_specs is not None:
                add_specs(plugin_manager=self.pm)
        for name, plugin in self.plugins.items():
            self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(getattr(exc.plugin, "name", "?"), str(exc)) from exc
        self.tracing = bool(os.environ.get(TRACE_ENV))
        if self.tracing:
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()

    # -- generic ---------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[tuple[str, Any]]:
        """``(plugin name, implementation)`` for ``hook``, in plugin (dependency) order."""
        caller = getattr(self.pm.hook, hook, None)
        if caller is None:
            return []
        impls = {impl.plugin_name: impl.function for impl in caller.get_hookimpls()}
        return [(name, impls[name]) for name in self.plugins if name in impls]

    def collect(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, list[Any]]]:
        """Call ``hook`` on each plugin that implements it, in plugin order.

        Yields:
            ``(plugin name, list of records it returned)``.
        """
        for name, function in self._impls(hook):
            self._trace(hook, name)
            try:
                result = function(**kwargs)
            except Exception as exc:
                raise PluginError(name, f"hook {hook} failed: {exc}") from exc
            yield name, list(result or ())

    def _trace(self, hook: str, plugin: str) -> None:
        """With ``KEEL_TRACE_HOOKS`` set, log a hook call (to stderr if logging is not set up)."""
        if not self.tracing:
            return
        if log.hasHandlers():
            log.info("hook %s -> %s", hook, plugin)
        else:
            sys.stderr.write(f"keel: hook {hook} -> {plugin}\n")

    def _flat(self, hook: str, kind: type[T]) -> list[tuple[str, T]]:
        out: list[tuple[str, T]] = []
        for name, records in self.collect(hook):
            for record in records:
                if not isinstance(record, kind):
                    raise PluginError(name, f"{hook} returned {record!r}, not a {kind.__name__}")
                out.append((name, record))
        return out

    # -- typed facade ----------------------------------------------------------------------

    def routes(self) -> list[tuple[str, Any]]:
        """``(plugin, controller/router/handler)`` pairs from ``register_routes``."""
        return [(n, r) for n, rs in self.collect("register_routes") for r in rs]

    def models(self) -> list[tuple[str, Any]]:
        """``(plugin, odmantic model)`` pairs from ``register_models``."""
        return [(n, m) for n, ms in self.collect("register_models") for m in ms]

    def event_types(self) -> list[tuple[str, Any]]:
        """``(plugin, Event subclass)`` pairs from ``register_event_types``."""
        return [(n, e) for n, es in self.collect("register_event_types") for e in es]

    def listeners(self) -> list[tuple[str, Listener]]:
        """``(plugin, Listener)`` pairs from ``register_listeners``."""
        return self._flat("register_listeners", Listener)

    def jobs(self) -> list[tuple[str, Job]]:
        """``(plugin, Job)`` pairs from ``register_jobs``."""
        return self._flat("register_jobs", Job)

    def schedules(self) -> list[tuple[str, Schedule]]:
        """``(plugin, Schedule)`` pairs from ``register_schedules``."""
        return self._flat("register_schedules", Schedule)

    def health_checks(self) -> list[tuple[str, HealthCheck]]:
        """``(plugin, HealthCheck)`` pairs from ``register_health_checks``."""
        return self._flat("register_health_checks", HealthCheck)

    def dev_services(self) -> list[tuple[str, DevService]]:
        """``(plugin, DevService)`` pairs from ``register_dev_services``."""
        return self._flat("register_dev_services", DevService)

    def settings_problems(self) -> list[str]:
        """Every problem the plugins' ``check_settings`` find, in plugin order."""
        return [
            str(p)
            for _, problems in self.collect("check_settings", settings=self.settings)
            for p in problems
        ]

    def authenticator(self) -> Authenticator | None:
        """The ``register_authenticator`` function (the first plugin that returns one)."""
        for _, function in self._impls("register_authenticator"):
            found = function()
            if found is not None:
                return cast("Authenticator", found)
        return None

    async def create_user(
        self,
        keel: Any,
        *,
        email: str,
        password: str,
        name: str,
        role: str,
        verified: bool,
        publish: bool = True,
    ) -> Any:
        """Create an account through the plugin that implements ``create_user``; the user.

        Raises:
            PluginError: no enabled plugin creates accounts.
        """
        for _, function in self._impls("create_user"):
            created = await function(
                keel=keel,
                email=email,
                password=password,
                name=name,
                role=role,
                verified=verified,
                publish=publish,
            )
            if created is not None:
                return created
        raise PluginError("core", "no enabled plugin implements create_user")

    def cli_commands(self) -> list[tuple[str, Any]]:
        """``(plugin, click.Command)`` pairs from ``register_cli_commands``."""
        return [(n, c) for n, cs in self.collect("register_cli_commands") for c in cs]

    async def startup(self, keel: Any) -> None:
        """Await every plugin's ``on_startup`` in plugin (dependency) order."""
        for name, function in self._impls("on_startup"):
            self._trace("on_startup", name)
            try:
                await function(keel=keel)
            except Exception as exc:
                raise PluginError(name, f"on_startup failed: {exc}") from exc

    async def shutdown(self, keel: Any) -> None:
        """Await every plugin's ``on_shutdown`` in reverse order; errors are logged."""
        for name, function in reversed(self._impls("on_shutdown")):
            self._trace("on_shutdown", name)
            try:
                await function(keel=keel)
            except Exception:
                log.exception("plugin %s: on_shutdown failed", name)
