"""Hook specifications: the whole contract between the core and its plugins.

Grouped by phase. ``register_*`` hooks are pure and called once per process while the
app (or worker) is built; they return lists of typed records. ``on_*`` hooks are async
notifications that the core awaits. Every hook here has a section in ``docs/plugins.md``
and a ``test_hook_<name>`` test (a contract test checks both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.plugin import hookspec

if TYPE_CHECKING:
    import click
    import odmantic
    import pluggy
    from litestar.types import ControllerRouterHandler

    from core.context import Keel
    from core.events import Event
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


# -- build phase ---------------------------------------------------------------------------


@hookspec
def add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add a plugin's own hook specifications for other plugins to implement.

    Called first, once per plugin, before any other hook and before
    ``check_pending()``, so implementations of the new hooks validate normally.

    Args:
        plugin_manager: the pluggy manager; call ``plugin_manager.add_hookspecs(module)``.
    """


@hookspec
def register_routes() -> Sequence[ControllerRouterHandler]:
    """Return Litestar controllers, routers or handlers; mounted under ``/api``.

    Called once while ``create_app`` builds the app. Paths are relative to ``/api``
    (a controller with ``path = "/bookings"`` serves ``/api/bookings``). Routes are
    tagged with the plugin's name in the OpenAPI document. Handlers wrapped in a
    :class:`core.records.RootRoutes` record are mounted at the root instead (``/ws``).
    """
    raise NotImplementedError


@hookspec
def register_models() -> Sequence[type[odmantic.Model]]:
    """Return odmantic models whose indexes the core creates at startup."""
    raise NotImplementedError


@hookspec
def register_event_types() -> Sequence[type[Event]]:
    """Return the event Structs this plugin publishes (the event catalog).

    Called at build time; the names must be unique across plugins.
    """
    raise NotImplementedError


@hookspec
def register_listeners() -> Sequence[Listener]:
    """Return :class:`core.records.Listener` subscriptions to events of any plugin.

    Called at build time in API and worker processes alike, so durable listeners
    can be delivered by any worker.
    """
    raise NotImplementedError


@hookspec
def register_jobs() -> Sequence[Job]:
    """Return :class:`core.records.Job` handlers; the core names them ``<plugin>.<name>``."""
    raise NotImplementedError


@hookspec
def register_schedules() -> Sequence[Schedule]:
    """Return :class:`core.records.Schedule` croniter schedules.

    Validated at startup (bad cron, unknown job, unknown time zone are errors);
    ``[scheduler.overrides."<plugin>.<name>"]`` may change the cron or switch it off.
    """
    raise NotImplementedError


@hookspec
def register_health_checks() -> Sequence[HealthCheck]:
    """Return readiness probes that ``/health/ready`` and ``/health/detailed`` run."""
    raise NotImplementedError


@hookspec
def register_metrics() -> Sequence[Metric]:
    """Return :class:`core.records.Metric` declarations of the plugin's own metrics.

    Called once per process when its runtime context opens (API and worker processes
    alike). The core creates each metric (multiprocess-safe under ``keel serve
    --workers N``) and serves it at ``/metrics`` with the core's own; the plugin records
    with ``keel.metrics.counter(name)``, ``.gauge(name)`` or ``.histogram(name)``, which
    return prometheus-client objects. Names must start with ``keel_<plugin>_``.
    """
    raise NotImplementedError


@hookspec
def check_settings(settings: Settings) -> Sequence[str]:
    """Return problems with the whole configuration that only this plugin knows of.

    Called while the app or a worker is built and by ``keel config check``; each problem
    is one line starting with its dotted path (``auth.jwt_secret: ...``). The process
    refuses to start while any is returned.

    Args:
        settings: the whole decoded configuration.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def register_authenticator() -> Authenticator | None:
    """Return the function that tells who makes a request (one plugin provides it: the
    essential ``accounts`` plugin).

    The core's own guarded routes (``/health/detailed``) call it; plugins use the
    provider's documented helpers (``plugins.accounts``: ``current_user``, ...).
    """
    raise NotImplementedError


@hookspec(firstresult=True)
async def create_user(  # noqa: PLR0917 - pluggy passes hook arguments by name
    keel: Keel, email: str, password: str, name: str, role: str, verified: bool, publish: bool
) -> Any:
    """Create an account directly, without any email; returns the new user (the
    providing plugin's record: it has at least ``id`` and ``email``).

    For operators' and tests' tools (``keel users create-admin``, demo data, the test
    fixtures' ``keel_app.user()``); implemented by the essential ``accounts`` plugin.
    ``publish=False`` publishes no ``user.created`` event (seeding test data).
    """


@hookspec
def register_toggles() -> Sequence[Toggle]:
    """Return the plugin's live feature switches (:class:`core.records.Toggle`).

    Code on the request path asks ``keel.toggles.feature("<plugin>", "<name>")``: an
    in-memory read, kept current on every process by :mod:`core.toggles`.
    """
    raise NotImplementedError


@hookspec
def register_dev_services() -> Sequence[DevService]:
    """Return embedded services to start in development and tests (``keel run``)."""
    raise NotImplementedError


@hookspec
def register_cli_commands() -> Sequence[click.Command]:
    """Return click commands added to the ``keel`` CLI as sub-commands."""
    raise NotImplementedError


# -- lifespan phase ------------------------------------------------------------------------


@hookspec
async def on_startup(keel: Keel) -> None:
    """Awaited once per process after connections are open and indexes exist.

    Args:
        keel: the runtime context (settings, db, valkey, events, queues, mail).
    """


@hookspec
async def on_shutdown(keel: Keel) -> None:
    """Awaited once per process before connections close, in reverse plugin order."""


@hookspec
async def on_deactivate(keel: Keel) -> None:
    """Awaited on every process when an operator switches this plugin off live, and once
    after ``on_startup`` when the plugin starts off (``plugins.standby``): stop background
    work. Routes, listeners, schedules and WebSocket events are held by the core."""


@hookspec
async def on_activate(keel: Keel) -> None:
    """Awaited on every process when an operator switches this plugin back on live:
    resume what ``on_deactivate`` stopped."""
