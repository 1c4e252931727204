"""Typed records that plugins return from ``register_*`` hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ListenerMode = Literal["inline", "durable"]
JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Listener:
    """Subscribes ``handler`` to events named ``event``.

    Attributes:
        event: the event name, e.g. ``"booking.created"``, or ``"*"`` for every event.
        handler: ``async def handler(ctx, event)``; ``ctx`` is the :class:`core.context.Keel`.
        mode: ``inline`` runs in the emitting process as a background task (errors are
            logged, never raised to the emitter); ``durable`` runs each delivery as a SAQ
            job with retries, at least once, deduplicated per (event id, listener).
        name: unique within the plugin; defaults to the handler's ``__name__``.
        queue: the SAQ queue of durable deliveries.
    """

    event: str
    handler: Callable[[Any, Any], Awaitable[None]]
    mode: ListenerMode = "inline"
    name: str = ""
    queue: str = "default"

    @property
    def key(self) -> str:
        """The listener's name within its plugin."""
        return self.name or self.handler.__name__


@dataclass(frozen=True, slots=True)
class Toggle:
    """A feature of a plugin that operators switch on and off live (``keel toggles``).

    Attributes:
        name: the feature's name within its plugin (``typing``); the switchboard names it
            ``<plugin>.<name>``.
        default: its state until an operator sets it (usually from the plugin's settings,
            so ``config.toml`` gives the starting state and ``keel config apply`` the rest).
        description: one line for ``keel toggles show`` and the admin API.
    """

    name: str
    default: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    """A SAQ job handler. The core names it ``<plugin>.<name>``.

    Attributes:
        name: the job's short name; the full name is ``<plugin>.<name>``.
        function: ``async def fn(ctx, **kwargs)``; ``ctx["keel"]`` is the runtime context.
        queue: the named queue it runs on (from ``[queue] names``).
        timeout: seconds before the job is aborted; ``None`` takes ``[queue] timeout_s``.
        retries: attempts in all; ``None`` takes ``[queue] retries``.
        recipient_arg: for a job that sends mail, the argument naming its recipient:
            shown in the job's log lines, which never show its arguments.
    """

    name: str
    function: JobFunction
    queue: str = "default"
    timeout: int | None = None
    retries: int | None = None
    recipient_arg: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A croniter schedule that enqueues a job on each tick.

    Attributes:
        name: the short name; the full name is ``<plugin>.<name>``.
        cron: a croniter expression (5 fields, or 6 with seconds last).
        job: the short or full name of the job to enqueue.
        tz: IANA time zone the expression is read in.
        kwargs: keyword arguments passed to the job.
        misfire: what to do with ticks missed while every scheduler was down.
        enabled: false registers the schedule switched off (listed, runnable by hand,
            never fired); ``[scheduler.overrides]`` can still switch it off, not on.
    """

    name: str
    cron: str
    job: str
    tz: str = "UTC"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    misfire: Literal["run_once", "skip"] = "run_once"
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A readiness probe: ``check(ctx)`` returns normally when healthy, raises otherwise."""

    name: str
    check: Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DevService:
    """An embedded service a plugin needs in development and tests.

    The devstack starts ``command`` (``{port}`` and ``{data}`` are substituted with a
    free port and the service's data directory) when ``needed(settings)`` is true,
    waits until the port accepts connections, and applies ``settings_overrides``
    (dotted setting path -> value template with the same placeholders).
    """

    name: str
    command: Sequence[str]
    settings_overrides: Mapping[str, str] = field(default_factory=dict)
    needed: Callable[[Any], bool] | None = None
    ready_timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class RootRoutes:
    """Routes a plugin mounts at the root of the app instead of under ``/api``.

    Return it from ``register_routes`` next to ordinary controllers, for endpoints whose
    path is part of a protocol rather than of the JSON API (a WebSocket at ``/ws``, a
    development page). They get the plugin's OpenAPI tag but not the ``/api`` rate
    limits. Example: ``return [RoomController, RootRoutes([ws_endpoint])]``.

    Attributes:
        handlers: Litestar controllers, routers or handlers; their paths are absolute.
    """

    handlers: Sequence[Any]


MetricKind = Literal["counter", "gauge", "histogram"]
GaugeMode = Literal["livesum", "liveall", "livemax", "livemin", "sum", "max", "min", "all"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A Prometheus metric a plugin records; the core creates it (see ``register_metrics``).

    Attributes:
        name: ``keel_<plugin>_<what>``, Prometheus style: a counter ends in ``_total``,
            a duration in ``_seconds``.
        documentation: the ``# HELP`` text.
        kind: ``counter``, ``gauge`` or ``histogram``.
        labels: label names; keep their values few (never ids, emails or paths).
        buckets: a histogram's upper bounds; empty takes prometheus-client's defaults.
        multiprocess_mode: how a gauge's values of several processes combine (``livesum``:
            the sum over running processes).
    """

    name: str
    documentation: str
    kind: MetricKind = "counter"
    labels: Sequence[str] = ()
    buckets: Sequence[float] = ()
    multiprocess_mode: GaugeMode = "livesum"


class Caller(Protocol):
    """Who makes a request, as the core needs to know it (the accounts plugin's
    ``CurrentUser`` is one)."""

    @property
    def id(self) -> str:
        """The caller's user id."""
        ...

    @property
    def role(self) -> str:
        """The caller's role (``admin`` may see operator routes)."""
        ...


Authenticator = Callable[[Any], Awaitable[Caller]]
"""``await authenticate(connection)``: the caller of an HTTP request or WebSocket;
raises :class:`core.errors.UnauthorizedError` (401) without valid credentials."""
