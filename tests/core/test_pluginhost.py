"""Plugin discovery, requires, hook validation and the typed facade."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Generator, Sequence
from typing import Any, ClassVar

import pluggy
import pytest

from core import Job, Listener, Plugin, hookimpl, hookspec
from core.errors import ConfigError, PluginError
from core.pluginhost import (
    TRACE_ENV,
    InstalledPlugin,
    PluginHost,
    discover,
    plugin_settings_types,
)
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


# -- calls go through pluggy: wrappers, tryfirst/trylast, argument pruning, attribution ----


async def _noop_job(ctx: object) -> None:
    return None


def host_of(*classes: type[Plugin], enabled: Sequence[str] | None = None) -> PluginHost:
    """A host with exactly ``classes`` installed and ``enabled`` (default: all) enabled."""
    installed = {cls.name: InstalledPlugin(cls.name, cls, "1.0", "tests") for cls in classes}
    settings = load_settings(
        None,
        environ={"KEEL_CONFIG": "/dev/null"},
        overrides={"plugins.enabled": list(installed if enabled is None else enabled)},
        plugin_types=plugin_settings_types(installed),
    )
    return PluginHost(settings, installed)


def _job_plugin(plugin_name: str, needs: tuple[str, ...] = (), **opts: bool) -> type[Plugin]:
    class JobPlugin(Plugin):
        name = plugin_name
        requires: ClassVar[tuple[str, ...]] = needs

        @hookimpl(**opts)
        def register_jobs(self) -> list[Job]:
            return [Job(f"{plugin_name}_job", _noop_job)]

    return JobPlugin


class Audit(Plugin):
    """Wraps ``register_jobs``: sees every other plugin's jobs and adds one of its own."""

    name = "audit"
    seen: list[str] | None = None

    @hookimpl(wrapper=True)
    def register_jobs(self) -> Generator[None, list[list[Job]], list[list[Job]]]:
        results = yield
        self.seen = [job.name for jobs in results for job in jobs]
        return [*results, [Job("audited", _noop_job)]]


class Hush(Plugin):
    """An old-style ``hookwrapper`` that drops every listener the others register."""

    name = "hush"

    @hookimpl(hookwrapper=True)
    def register_listeners(self) -> Generator[None, pluggy.Result[list[Any]], None]:
        outcome = yield
        assert [lst.event for ls in outcome.get_result() for lst in ls] == ["thing.happened"]
        outcome.force_result([])


def test_plugins_are_called_in_dependency_order_by_default() -> None:
    early, middle, late = (
        _job_plugin("early"),
        _job_plugin("middle", ("early",)),
        _job_plugin("late", ("middle",)),
    )
    h = host_of(late, early, middle, enabled=["late", "middle", "early"])
    assert [p for p, _ in h.jobs()] == ["early", "middle", "late"]
    # pluggy itself agrees: its implementations list is in reverse call order.
    impls = h.pm.hook.register_jobs.get_hookimpls()
    assert [impl.plugin_name for impl in reversed(impls)] == ["early", "middle", "late"]
    assert [name for name, _ in h.pm.list_name_plugin()] == ["early", "middle", "late"]


def test_tryfirst_and_trylast_reorder_implementations() -> None:
    early = _job_plugin("early", trylast=True)
    middle = _job_plugin("middle", ("early",))
    late = _job_plugin("late", ("middle",), tryfirst=True)
    h = host_of(early, middle, late)
    assert [(p, job.name) for p, job in h.jobs()] == [
        ("late", "late_job"),
        ("middle", "middle_job"),
        ("early", "early_job"),
    ]


def test_a_wrapper_sees_the_other_plugins_results_and_owns_what_it_adds() -> None:
    h = host_of(Base, _job_plugin("extra"), Audit)
    assert [(p, job.name) for p, job in h.jobs()] == [
        ("base", "ping"),
        ("extra", "extra_job"),
        ("audit", "audited"),
    ]
    audit = h.plugins["audit"]
    assert isinstance(audit, Audit)
    assert audit.seen == ["ping", "extra_job"]


def test_an_old_style_hookwrapper_can_replace_the_result() -> None:
    assert host_of(Base, Needy).listeners() != []
    assert host_of(Base, Needy, Hush).listeners() == []


def _authenticator_plugin(plugin_name: str, needs: tuple[str, ...], **opts: bool) -> type[Plugin]:
    class AuthPlugin(Plugin):
        name = plugin_name
        requires: ClassVar[tuple[str, ...]] = needs

        @hookimpl(**opts)
        def register_authenticator(self) -> Any:
            async def authenticate(connection: object) -> str:
                return plugin_name

            return authenticate

    return AuthPlugin


async def test_firstresult_hook_takes_the_first_plugin_unless_another_is_tryfirst() -> None:
    first = _authenticator_plugin("first", ())
    second = _authenticator_plugin("second", ("first",))
    eager = _authenticator_plugin("eager", ("first",), tryfirst=True)
    authenticate = host_of(first, second).authenticator()
    assert authenticate is not None
    assert await authenticate(None) == "first"
    authenticate = host_of(first, second, eager).authenticator()
    assert authenticate is not None
    assert await authenticate(None) == "eager"


def _lifespan_plugin(
    plugin_name: str, log: list[str], needs: tuple[str, ...] = (), **opts: bool
) -> type[Plugin]:
    """A plugin whose lifespan hooks take no ``keel`` (pluggy prunes the argument)."""

    class Lifespan(Plugin):
        name = plugin_name
        requires: ClassVar[tuple[str, ...]] = needs

        @hookimpl(**opts)
        async def on_startup(self) -> None:
            log.append(f"start {plugin_name}")

        @hookimpl(**opts)
        async def on_shutdown(self) -> None:
            log.append(f"stop {plugin_name}")

    return Lifespan


async def test_lifespan_hooks_without_keel_run_in_order_and_reverse() -> None:
    log: list[str] = []
    h = host_of(
        _lifespan_plugin("a", log),
        _lifespan_plugin("b", log, ("a",)),
        _lifespan_plugin("c", log, ("b",)),
    )
    await h.startup(keel=None)
    await h.shutdown(keel=None)
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_tryfirst_lifespan_hooks_start_first_and_stop_first() -> None:
    log: list[str] = []
    h = host_of(
        _lifespan_plugin("a", log),
        _lifespan_plugin("b", log, ("a",)),
        _lifespan_plugin("c", log, ("b",), tryfirst=True),
        _lifespan_plugin("d", log, ("a",), trylast=True),
    )
    await h.startup(keel=None)
    await h.shutdown(keel=None)
    assert log == [
        *("start c", "start a", "start b", "start d"),
        *("stop c", "stop b", "stop a", "stop d"),
    ]


class Broken(Plugin):
    name = "broken"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        raise RuntimeError("boom")


class BrokenWrapper(Plugin):
    name = "brokenwrapper"

    @hookimpl(wrapper=True)
    def register_jobs(self) -> Generator[None, list[list[Job]], list[list[Job]]]:
        results = yield
        raise ValueError(f"cannot take {len(results)} results")


class BrokenStart(Plugin):
    name = "brokenstart"

    @hookimpl
    async def on_startup(self) -> None:
        raise RuntimeError("no connection")

    @hookimpl
    async def on_shutdown(self) -> None:
        raise RuntimeError("already gone")


def test_a_failing_implementation_is_a_plugin_error_naming_it() -> None:
    with pytest.raises(PluginError, match="plugin 'broken': hook register_jobs failed: boom") as e:
        host_of(Base, Broken).jobs()
    assert e.value.plugin == "broken"
    assert isinstance(e.value.__cause__, RuntimeError)


def test_a_failing_wrapper_is_a_plugin_error_naming_it() -> None:
    with pytest.raises(
        PluginError, match="'brokenwrapper': hook register_jobs failed: cannot take 1"
    ):
        host_of(Base, BrokenWrapper).jobs()
    # the plugin a wrapper wraps is still the one named when it fails itself
    with pytest.raises(PluginError, match="plugin 'broken'"):
        host_of(Broken, BrokenWrapper).jobs()


async def test_a_failing_on_startup_names_its_plugin_and_stops_the_others() -> None:
    log: list[str] = []
    h = host_of(BrokenStart, _lifespan_plugin("after", log, ("brokenstart",)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(PluginError, match="'brokenstart': hook on_startup failed: no conn"):
            await h.startup(keel=None)
        gc.collect()
    assert log == []
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_a_failing_on_shutdown_is_logged_and_the_others_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    h = host_of(_lifespan_plugin("before", log), BrokenStart)
    await h.shutdown(keel=None)
    assert log == ["stop before"]
    assert "plugin brokenstart: on_shutdown failed" in caplog.text
    assert "already gone" in caplog.text


def test_trace_hooks_logs_each_call_its_plugins_and_outcome(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, "1")
    caplog.set_level("INFO", logger="core.plugins")
    h = host_of(Base, _job_plugin("extra", ("base",)), Audit)
    h.jobs()
    h.listeners()
    with pytest.raises(PluginError):
        host_of(Broken).jobs()
    assert [r.getMessage() for r in caplog.records if r.name == "core.plugins"] == [
        "hook add_hookspecs -> no plugin: 0 records",
        "hook register_jobs -> audit (wrapper), base, extra: 3 records",
        "hook register_listeners -> no plugin: 0 records",
        "hook add_hookspecs -> no plugin: 0 records",
        "hook register_jobs -> broken: raised PluginError:"
        " plugin 'broken': hook register_jobs failed: boom",
    ]


def test_without_trace_hooks_nothing_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(TRACE_ENV, raising=False)
    caplog.set_level("INFO", logger="core.plugins")
    host_of(Base).jobs()
    assert not [r for r in caplog.records if r.name == "core.plugins"]


class SyncStop(Plugin):
    """A synchronous ``on_shutdown`` that raises while pluggy calls it."""

    name = "syncstop"
    requires: ClassVar[tuple[str, ...]] = ("before",)

    @hookimpl
    def on_shutdown(self) -> None:
        raise RuntimeError("stopped too early")


async def test_an_on_shutdown_failing_when_called_is_logged_and_leaves_nothing_unawaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    h = host_of(_lifespan_plugin("before", log), SyncStop)
    await h.shutdown(keel=None)
    gc.collect()  # an unawaited coroutine of "before" would warn here (an error in tests)
    assert "plugin syncstop: on_shutdown failed" in caplog.text
    assert "stopped too early" in caplog.text


class UnmarkedSpecOwner(Plugin):
    """Adds its hookspecs from a method not marked ``@hookimpl`` (as keel always allowed)."""

    name = "specowner"

    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(_Specs)


def test_an_unmarked_add_hookspecs_still_adds_its_hooks() -> None:
    h = host_of(UnmarkedSpecOwner, SpecUser)
    assert h.pm.hook.extra_greeting.has_spec()
    assert h.pm.hook.extra_greeting() == ["hi"]
    # collect() wants lists of records: a bare string is refused, naming the plugin
    with pytest.raises(PluginError, match="plugin 'specuser': extra_greeting returned 'hi'"):
        list(h.collect("extra_greeting"))
