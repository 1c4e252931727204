"""Plugin discovery (``keel.plugins`` entry points) and the typed facade over ``pm.hook``.

Every hook call goes through pluggy (``pm.hook.<name>(**kwargs)``), so hook wrappers
(``wrapper=True``, ``hookwrapper=True``), ``tryfirst``/``trylast`` and argument pruning
work as pluggy documents them. Three things are the core's own:

- **order**: plugins are registered last-to-first, so pluggy, which calls the most
  recently registered implementation first, calls them in dependency order;
- **attribution**: right after registration each implementation is wrapped so that,
  during a hook call, it notes what it returned (the facade pairs every record with its
  plugin) and re-raises its exceptions as a :class:`PluginError` naming its plugin;
- **tracing**: hook-call monitoring keeps one :class:`_Frame` per call in progress for
  that bookkeeping and, with ``KEEL_TRACE_HOOKS`` set, logs each call and its outcome.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import pluggy

from core import hookspecs
from core._hookcalls import (
    _close,
    _Frame,
    _items,
    _match,
    _naming,
    _old_style,
    _outcome_text,
    _PluginManager,
    _shutdown_order,
)
from core.errors import PluginError
from core.plugin import PROJECT, Plugin
from core.plugindiscovery import (
    ENTRY_POINT_GROUP,
    InstalledPlugin,
    _ordered,
    discover,
    essential_names,
    plugin_settings_types,
)
from core.records import (
    Authenticator,
    DevService,
    HealthCheck,
    Job,
    Listener,
    Metric,
    Schedule,
    Toggle,
)
from core.settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "InstalledPlugin",
    "PluginHost",
    "discover",
    "essential_names",
    "plugin_settings_types",
]

TRACE_ENV = "KEEL_TRACE_HOOKS"
log = logging.getLogger("core.plugins")
T = TypeVar("T")


class PluginHost:
    """The enabled plugins, registered with pluggy, behind typed hook calls.

    Implementations are called in dependency order (``requires`` first) unless they say
    ``tryfirst``/``trylast``; hook wrappers wrap them all. pluggy calls the most recently
    registered plugin first, so the host registers them last-to-first.

    Args:
        settings: the decoded settings (``plugins.enabled`` and plugin tables).
        installed: the result of :func:`discover`.
        names: plugins to load; defaults to ``settings.plugins.enabled``.
        check_requires: False only to describe plugins (``keel plugins``), never to run them.

    Raises:
        ConfigError: a required plugin is missing, or ``requires`` has a cycle.
        PluginError: a plugin's hooks don't validate (``check_pending()``, arguments) or
            its ``add_hookspecs`` failed.
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
        self.tracing = bool(os.environ.get(TRACE_ENV))
        self._frames: list[_Frame] = []
        self._last: _Frame | None = None
        self.pm: pluggy.PluginManager = _PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.add_hookcall_monitoring(self._before, self._after)
        self.plugins: dict[str, Plugin] = {}
        wanted = list(settings.plugins.enabled if names is None else names)
        if names is None:
            wanted = [*essential_names(settings, installed), *wanted]
        self.standby: frozenset[str] = frozenset(
            n for n in settings.plugins.standby if n not in wanted
        )
        """Plugins loaded but off until switched on live (``plugins.standby``)."""
        wanted = list(dict.fromkeys([*wanted, *sorted(self.standby)]))
        order = _ordered(wanted, installed) if check_requires else wanted
        for name in order:
            cls = installed[name].cls
            self.plugins[name] = cls(settings.plugins.get(name), settings)
        try:
            for name in reversed(order):
                self.pm.register(self.plugins[name], name=name)
                self._guard(self.plugins[name])
            self._add_hookspecs()
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(getattr(exc.plugin, "name", "?"), str(exc)) from exc

    def _add_hookspecs(self) -> None:
        """Call ``add_hookspecs``: through pluggy, and by hand for a plugin whose method of
        that name lacks ``@hookimpl`` (keel called any such method before it used pluggy)."""
        self.pm.hook.add_hookspecs(plugin_manager=self.pm)
        marked = {impl.plugin for impl in self.pm.hook.add_hookspecs.get_hookimpls()}
        for name, plugin in self.plugins.items():
            add_specs = getattr(plugin, "add_hookspecs", None)
            if add_specs is not None and plugin not in marked:
                with _naming(name, "add_hookspecs"):
                    add_specs(plugin_manager=self.pm)

    # -- bookkeeping of hook calls ----------------------------------------------------------

    def _guard(self, plugin: Plugin) -> None:
        """Wrap each of ``plugin``'s implementations for attribution (see the module)."""
        for caller in self.pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                wrapper = impl.wrapper or impl.hookwrapper
                guarded = (self._wrapping if wrapper else self._calling)(caller.name, impl)
                functools.update_wrapper(guarded, impl.function)
                # pluggy exposes ``function`` read-only; replacing it once, before any call,
                # is the one way to see each implementation's result and exception while
                # pluggy keeps the ordering, wrappers and argument pruning (``argnames``
                # was read from the original function).
                setattr(impl, "function", guarded)  # noqa: B010

    def _frame(self, hook: str) -> _Frame | None:
        """The frame of the ``hook`` call in progress; None if called by hand."""
        frame = self._frames[-1] if self._frames else None
        return frame if frame is not None and frame.hook == hook else None

    def _calling(self, hook: str, impl: pluggy.HookImpl) -> Callable[..., object]:
        function = impl.function

        def call(*args: object, **kwargs: object) -> object:
            frame = self._frame(hook)
            if frame is None:
                return function(*args, **kwargs)
            frame.called.append(impl.plugin_name)
            with _naming(impl.plugin_name, hook):
                result = function(*args, **kwargs)
            if result is not None:
                frame.returned.append((impl, result))
            return result

        return call

    def _wrapping(
        self, hook: str, impl: pluggy.HookImpl
    ) -> Callable[..., Generator[object, object, object]]:
        function = impl.function

        def wrap(*args: object, **kwargs: object) -> Generator[object, object, object]:
            teardown = cast("Generator[Any, Any, Any]", function(*args, **kwargs))
            frame = self._frame(hook)
            if frame is None:
                return (yield from teardown)
            frame.called.append(f"{impl.plugin_name} (wrapper)")
            with _naming(impl.plugin_name, hook):
                if impl.hookwrapper:
                    outcome = yield from _old_style(teardown)
                    result = None if outcome.exception is not None else outcome.get_result()
                else:
                    result = yield from teardown
            # What the wrapper added or replaced is the wrapper's plugin's.
            _, strays = _match(frame.returned, _items(frame, result))
            frame.returned.extend((impl, stray) for stray in strays)
            return None if impl.hookwrapper else result

        return wrap

    def _before(
        self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        caller: pluggy.HookCaller | None = getattr(self.pm.hook, hook_name, None)
        spec = caller.spec if caller is not None else None
        firstresult = bool(spec is not None and spec.opts.get("firstresult"))
        self._frames.append(_Frame(hook_name, firstresult))

    def _after(
        self,
        outcome: pluggy.Result[object],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        self._last = frame = self._frames.pop()
        if self.tracing:
            called = ", ".join(frame.called) or "no plugin"
            text = _outcome_text(outcome, frame.firstresult)
            if log.hasHandlers():
                log.info("hook %s -> %s: %s", hook_name, called, text)
            else:
                sys.stderr.write(f"keel: hook {hook_name} -> {called}: {text}\n")

    def _call(self, hook: str, **kwargs: object) -> list[tuple[pluggy.HookImpl, Any]]:
        """Call ``hook`` through pluggy; each result with the implementation it came from.

        A hook no registered plugin specifies (a plugin-added one whose owner is off)
        gives no results.
        """
        caller: pluggy.HookCaller | None = getattr(self.pm.hook, hook, None)
        if caller is None:
            return []
        try:
            result = caller(**kwargs)
        except BaseException:
            if self._last is not None:  # coroutines of the implementations called before
                _close(self._last.returned)
            raise
        frame = self._last
        if frame is None or frame.hook != hook:
            raise RuntimeError(f"hook {hook} was called without its monitoring frame")
        pairs, strays = _match(frame.returned, _items(frame, result))
        if strays:
            raise PluginError("core", f"hook {hook} returned {strays[0]!r}, from no plugin")
        return pairs

    # -- generic ---------------------------------------------------------------------------

    def collect(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, list[Any]]]:
        """Call ``hook`` (any hook, plugin-added ones too) through pluggy.

        Yields:
            ``(plugin name, list of records it returned)`` in call order; a plugin that
            returned None is left out.

        Raises:
            PluginError: an implementation failed or returned something that is no list.
        """
        out: list[tuple[str, list[Any]]] = []
        for impl, result in self._call(hook, **kwargs):
            if not isinstance(result, Iterable) or isinstance(result, str):
                raise PluginError(impl.plugin_name, f"{hook} returned {result!r}, not a list")
            out.append((impl.plugin_name, list(result)))
        return iter(out)

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

    def metrics(self) -> list[tuple[str, Metric]]:
        """``(plugin, Metric)`` pairs from ``register_metrics``."""
        return self._flat("register_metrics", Metric)

    def toggles(self) -> list[tuple[str, Toggle]]:
        """``(plugin, Toggle)`` pairs from ``register_toggles``."""
        return self._flat("register_toggles", Toggle)

    async def notify(self, hook: str, plugin: str, keel: Any) -> None:
        """Await plugin ``plugin``'s own implementation of ``hook`` (``on_activate``,
        ``on_deactivate``), if it has one: a notification for that plugin alone.

        Raises:
            PluginError: naming the plugin, when its implementation failed.
        """
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin_name == plugin and not (impl.wrapper or impl.hookwrapper):
                with _naming(plugin, hook):
                    await cast(
                        "Awaitable[None]", impl.function(**dict.fromkeys(impl.argnames, keel))
                    )

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
        """The ``register_authenticator`` function: the first plugin's that returns one."""
        found = self._call("register_authenticator")
        return cast("Authenticator", found[0][1]) if found else None

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

        ``create_user`` is a firstresult hook whose implementations are async: the first
        implementation called (in plugin order, or ``tryfirst``) is the one awaited.

        Raises:
            PluginError: no enabled plugin creates accounts, or the one that does failed.
        """
        found = self._call(
            "create_user",
            keel=keel,
            email=email,
            password=password,
            name=name,
            role=role,
            verified=verified,
            publish=publish,
        )
        if not found:
            raise PluginError("core", "no enabled plugin implements create_user")
        [(impl, pending)] = found
        with _naming(impl.plugin_name, "create_user"):
            created = await pending
        if created is None:
            raise PluginError(impl.plugin_name, "create_user returned no user")
        return created

    def cli_commands(self) -> list[tuple[str, Any]]:
        """``(plugin, click.Command)`` pairs from ``register_cli_commands``."""
        return [(n, c) for n, cs in self.collect("register_cli_commands") for c in cs]

    async def startup(self, keel: Any) -> None:
        """Await every plugin's ``on_startup``, one after the other, in call order.

        Raises:
            PluginError: naming the plugin whose ``on_startup`` failed; the later ones are
                not awaited.
        """
        pending = self._call("on_startup", keel=keel)
        try:
            for impl, awaitable in pending:
                with _naming(impl.plugin_name, "on_startup"):
                    await awaitable
        finally:
            _close(pending)

    async def shutdown(self, keel: Any) -> None:
        """Await every plugin's ``on_shutdown`` in reverse plugin order; errors are logged.

        ``tryfirst`` implementations still run first and ``trylast`` ones last.
        """
        try:
            pending = self._call("on_shutdown", keel=keel)
        except PluginError as exc:
            log.exception("plugin %s: on_shutdown failed", exc.plugin)
            return
        try:
            for impl, awaitable in _shutdown_order(pending):
                try:
                    await awaitable
                except Exception:
                    log.exception("plugin %s: on_shutdown failed", impl.plugin_name)
        finally:
            _close(pending)
