"""keel-hello: a one-file third-party keel plugin, used by keel's own tests.

It shows every common contribution in one place:

* routes: ``GET /api/hello`` answers ``{"message": "hello"}``; ``POST /api/hello/greet``
  emits the plugin's own event ``hello.greeted``;
* an event type (``hello.greeted``) and a durable listener that stores each greeting;
* a job, ``hello.record_tick``, that stores one document per run;
* with ``slow_jobs = true``, a job, ``hello.slow_effect``, that takes as long as its
  argument says and then makes one counted write (for the fault tests: a job cut short
  must not leave its effect, a job run again must not leave it twice);
* a schedule, ``hello.tick``, that runs ``record_tick`` (every second by default);
* a ``keel hello`` CLI command;
* a WebSocket event, ``helloWave`` (answered with ``helloWaved``), through the realtime
  plugin's ``register_ws_events`` hook;
* a figure in the cron plugin's daily report (``figures.hello_greetings``: greetings that
  day), through the cron plugin's ``report_figures`` hook.

Install it with ``pip install -e tests/fixture_plugins/keel_hello`` and enable it with
``[plugins] enabled = [..., "hello"]``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any, ClassVar

import click
import msgspec
from litestar import Router, get, post
from litestar.params import JSONBody
from odmantic import Field, Model

from core import Event, Job, Listener, Plugin, Schedule, hookimpl
from core.context import Keel
from core.http import KeelDep
from plugins.realtime.hookspecs import WsContext, WsEvent

__version__ = "0.3.0"


class HelloSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.hello]`` in config.toml."""

    message: str = "hello"
    """What ``GET /api/hello`` answers."""
    tick_cron: str = "* * * * * *"
    """When ``hello.tick`` fires: a croniter expression, six fields with seconds last."""
    slow_jobs: bool = False
    """Also register ``hello.slow_effect`` (the fault tests' job)."""


class HelloGreeted(Event, frozen=True, kw_only=True):
    """Someone was greeted through ``POST /api/hello/greet``."""

    name: ClassVar[str] = "hello.greeted"
    who: str


class Greeting(Model):
    """One handled ``hello.greeted`` event (collection ``hello_greetings``)."""

    model_config = {"collection": "hello_greetings"}  # noqa: RUF012 - odmantic's config dict

    event_id: str = Field(index=True)
    who: str
    greeted_at: datetime


class Tick(Model):
    """One run of ``hello.record_tick`` (collection ``hello_ticks``)."""

    model_config = {"collection": "hello_ticks"}  # noqa: RUF012

    job_key: str = Field(index=True)
    ran_at: datetime
    pid: int


class SlowRun(Model):
    """One attempt of ``hello.slow_effect`` as it began (collection ``hello_slow_runs``)."""

    model_config = {"collection": "hello_slow_runs"}  # noqa: RUF012

    token: str = Field(index=True)
    pid: int
    attempt: int
    started_at: datetime


class SlowEffect(Model):
    """The effect of one finished ``hello.slow_effect`` (collection ``hello_slow_effects``).

    Deliberately not deduplicated: a job that ran to its end twice shows twice.
    """

    model_config = {"collection": "hello_slow_effects"}  # noqa: RUF012

    token: str = Field(index=True)
    pid: int
    done_at: datetime


class WaveData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Data of the ``helloWave`` WebSocket frame."""

    to: str


async def wave(ctx: WsContext, data: WaveData) -> None:
    """``helloWave {to}``: answer ``helloWaved {to, by}`` to the socket that waved."""
    ctx.reply("helloWaved", {"to": data.to, "by": ctx.user.id})


class GreetRequest(msgspec.Struct, frozen=True, rename="camel"):
    """Body of ``POST /api/hello/greet``."""

    who: str


class GreetAccepted(msgspec.Struct, frozen=True, rename="camel"):
    """Answer of ``POST /api/hello/greet``: the id of the emitted event."""

    event_id: str


def build_router(settings: HelloSettings) -> Router:
    """The plugin's routes, mounted by the core under ``/api``."""

    @get("/", sync_to_thread=False)
    def say_hello() -> dict[str, str]:
        """Answer with the configured message."""
        return {"message": settings.message}

    @post("/greet", status_code=202)
    async def greet(keel: KeelDep, data: JSONBody[GreetRequest]) -> GreetAccepted:
        """Emit ``hello.greeted``; a durable listener stores it."""
        event = HelloGreeted(who=data.who)
        await keel.events.emit(event)
        return GreetAccepted(event_id=event.id)

    return Router(path="/hello", route_handlers=[say_hello, greet])


async def record_greeting(keel: Keel, event: HelloGreeted) -> None:
    """Durable listener of ``hello.greeted``: store the greeting."""
    # odmantic fills ``id``; mypy, without a plugin for odmantic, does not know it has a default
    greeting = Greeting(  # type: ignore[call-arg]
        event_id=event.id, who=event.who, greeted_at=event.occurred_at
    )
    await keel.db.save(greeting)


async def record_tick(ctx: dict[str, Any]) -> None:
    """Job ``hello.record_tick``: store one document per run.

    The document keeps the SAQ job key: a scheduled run's key is
    ``sched:hello.tick:<tick epoch>``, so a tick that ran twice would show twice.

    Args:
        ctx: the SAQ context; ``ctx["keel"]`` is the runtime context, ``ctx["job"]`` the job.
    """
    keel: Keel = ctx["keel"]
    job = ctx.get("job")
    key = str(getattr(job, "key", "") or "")
    run = Tick(job_key=key, ran_at=datetime.now(UTC), pid=os.getpid())  # type: ignore[call-arg]
    await keel.db.save(run)


async def slow_effect(ctx: dict[str, Any], *, token: str, seconds: float) -> None:
    """Job ``hello.slow_effect``: note the attempt, take ``seconds``, then write the effect.

    Args:
        ctx: the SAQ context.
        token: names this job's records.
        seconds: how long the job takes before its effect.
    """
    keel: Keel = ctx["keel"]
    attempt = int(getattr(ctx.get("job"), "attempts", 0))
    began = datetime.now(UTC)
    await keel.db.save(
        SlowRun(token=token, pid=os.getpid(), attempt=attempt, started_at=began)  # type: ignore[call-arg]
    )
    await asyncio.sleep(seconds)
    done = SlowEffect(token=token, pid=os.getpid(), done_at=datetime.now(UTC))  # type: ignore[call-arg]
    await keel.db.save(done)


@click.command("hello")
@click.option("--who", default="world", help="Whom to greet.")
def hello_command(who: str) -> None:
    """Print a greeting (a CLI command added by the hello plugin)."""
    click.echo(f"hello, {who}")


class HelloPlugin(Plugin):
    """Says hello over HTTP, records greetings and ticks."""

    name = "hello"
    settings_type = HelloSettings
    settings: HelloSettings

    @hookimpl
    def register_routes(self) -> list[Router]:
        return [build_router(self.settings)]

    @hookimpl
    def register_models(self) -> list[type[Model]]:
        return [Greeting, Tick, SlowRun, SlowEffect]

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [HelloGreeted]

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [Listener("hello.greeted", record_greeting, mode="durable")]

    @hookimpl
    def register_jobs(self) -> list[Job]:
        jobs = [Job("record_tick", record_tick)]
        if self.settings.slow_jobs:
            jobs.append(Job("slow_effect", slow_effect, timeout=120))
        return jobs

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [Schedule("tick", self.settings.tick_cron, "record_tick")]

    @hookimpl
    def register_cli_commands(self) -> list[click.Command]:
        return [hello_command]

    @hookimpl(optionalhook=True)  # the realtime plugin's hook: fine when realtime is off
    def register_ws_events(self) -> list[WsEvent]:
        return [WsEvent("helloWave", wave, WaveData)]

    @hookimpl(optionalhook=True)  # the cron plugin's hook: fine when cron is off
    async def report_figures(self, keel: Keel, start: datetime, end: datetime) -> dict[str, int]:
        span = {"greeted_at": {"$gte": start, "$lt": end}}
        return {"hello_greetings": await keel.db.get_collection(Greeting).count_documents(span)}
