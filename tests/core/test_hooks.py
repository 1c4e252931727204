"""One ``test_hook_<name>`` per hookspec, each through a small real plugin and the real stack.

Each test defines the plugin it needs, builds the app (or worker, devstack, CLI) with it
enabled, and asserts what a user observes: HTTP answers, documents in MongoDB, the event
catalog, health output, a running dev service, CLI output. The hello fixture plugin
(``tests/fixture_plugins/keel_hello``, found through its entry point) is exercised too.
"""

from __future__ import annotations

import asyncio
import os
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import click
import httpx
import msgspec
import pluggy
import pytest
from click.testing import CliRunner
from keel_hello import Greeting, Tick
from litestar import Controller, Litestar, get, post
from litestar.params import FromPath, JSONBody
from odmantic import Field, Model

from core import (
    DevService,
    Event,
    HealthCheck,
    Job,
    Listener,
    Plugin,
    RootRoutes,
    Schedule,
    StashKey,
    hookimpl,
    hookspec,
)
from core import db as core_db
from core import valkey as core_valkey
from core.app import create_app
from core.cli import main as keel_main
from core.context import Keel
from core.devstack import DevStack
from core.errors import ConfigError, NotFoundError, PluginError, UnauthorizedError
from core.events import UnknownEventError
from core.http import KeelDep
from core.pluginhost import InstalledPlugin, PluginHost, discover, plugin_settings_types
from core.runtime import close_keel, get_scheduler, open_keel, run_worker
from core.settings import Settings, load_settings
from core.valkey import awaited


def installed_of(*classes: type[Plugin]) -> dict[str, InstalledPlugin]:
    """``installed`` mapping for plugins defined in this module."""
    return {cls.name: InstalledPlugin(cls.name, cls, "1.0", "tests") for cls in classes}


SettingsFor = Callable[..., Settings]


def _own_overrides(overrides: dict[str, Any], installed: dict[str, Any]) -> dict[str, Any]:
    """The stack's overrides minus those of plugins not in ``installed`` (dev services)."""
    return {
        key: value
        for key, value in overrides.items()
        if not key.startswith("plugins.") or key.split(".")[1] in installed
    }


@pytest.fixture
async def settings_for(keel_stack: Any) -> AsyncIterator[SettingsFor]:
    """``settings_for(installed, **overrides)``: settings on the session stack with a fresh
    database and key prefix, and exactly ``installed`` enabled (``a__b`` means ``a.b``)."""
    names: list[str] = []

    def make(installed: dict[str, InstalledPlugin], **overrides: Any) -> Settings:
        unique = uuid.uuid4().hex[:12]
        names.append(f"test_hooks_{unique}")
        values: dict[str, Any] = {
            **_own_overrides(keel_stack.overrides, installed),
            "database.name": names[-1],
            "valkey.key_prefix": f"hooks{unique}",
            "queue.retry_delay_s": 0.05,
            "plugins.enabled": list(installed),
        }
        values.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_settings(
            environ={}, overrides=values, plugin_types=plugin_settings_types(installed)
        )

    yield make
    if names:
        settings = make({})
        mongo = core_db.connect(settings.database)
        try:
            for name in names:
                await mongo.drop_database(name)
        finally:
            mongo.close()


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan in this event loop and talk to it over ASGI."""
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://keel.test") as client:
            yield client


def keel_of(app: Litestar) -> Keel:
    keel: Keel = app.state.keel
    return keel


async def drain(keel: Keel) -> None:
    """Run a burst worker until every queue is empty (durable listeners, jobs)."""
    async with asyncio.timeout(30):
        await run_worker(keel, burst=True)


# -- add_hookspecs ---------------------------------------------------------------------


class _GreetingSpecs:
    @hookspec
    def register_greetings(self) -> list[str]:  # type: ignore[empty-body]
        """Return greetings for ``GET /api/greetings`` (a plugin-defined hook)."""


GREETINGS = StashKey[list[str]]("greetings.all")


class GreetingsPlugin(Plugin):
    name = "greetings"

    @hookimpl
    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(_GreetingSpecs)

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        keel.stash[GREETINGS] = [
            f"{greeting} (from {plugin})"
            for plugin, greetings in keel.host.collect("register_greetings")
            for greeting in greetings
        ]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/greetings", sync_to_thread=False)
        def list_greetings(keel: KeelDep) -> list[str]:
            return keel.stash[GREETINGS]

        return [list_greetings]


class FrenchPlugin(Plugin):
    name = "french"
    requires: ClassVar[tuple[str, ...]] = ("greetings",)

    @hookimpl
    def register_greetings(self) -> list[str]:
        return ["bonjour"]


async def test_hook_add_hookspecs(settings_for: SettingsFor) -> None:
    installed = installed_of(GreetingsPlugin, FrenchPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        response = await client.get("/api/greetings")
    assert response.status_code == 200
    assert response.json() == ["bonjour (from french)"]


# -- register_routes -------------------------------------------------------------------


class Thing(msgspec.Struct, frozen=True):
    id: str
    size: int


class ThingCreate(msgspec.Struct, frozen=True):
    id: str
    size: int


class ThingController(Controller):
    path = "/things"

    @post("/")
    async def create_thing(self, keel: KeelDep, data: JSONBody[ThingCreate]) -> Thing:
        await keel.valkey.set(keel.key("things", data.id), data.size)
        return Thing(data.id, data.size)

    @get("/{thing_id:str}")
    async def get_thing(self, keel: KeelDep, thing_id: FromPath[str]) -> Thing:
        size = await keel.valkey.get(keel.key("things", thing_id))
        if size is None:
            raise NotFoundError(f"no thing {thing_id!r}", details={"thing_id": thing_id})
        return Thing(thing_id, int(size))


@get("/things-status", sync_to_thread=False)
def things_status() -> dict[str, str]:
    return {"status": "fine"}


class ThingsPlugin(Plugin):
    name = "things"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [ThingController, RootRoutes([things_status])]


async def test_hook_register_routes(settings_for: SettingsFor) -> None:
    installed = installed_of(ThingsPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        created = await client.post("/api/things", json={"id": "t1", "size": 3})
        found = await client.get("/api/things/t1")
        missing = await client.get("/api/things/nope")
        invalid = await client.post("/api/things", json={"id": "t2", "size": "big"})
        at_root = await client.get("/things-status")
        not_under_api = await client.get("/api/things-status")
        schema = (await client.get("/schema/openapi.json")).json()
    assert created.status_code == 201
    assert found.json() == {"id": "t1", "size": 3}
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["details"] == {"thing_id": "nope"}
    assert invalid.status_code == 400
    assert "error" in invalid.json()
    assert schema["paths"]["/api/things/{thing_id}"]["get"]["tags"] == ["things"]
    assert at_root.json() == {"status": "fine"}
    assert not_under_api.status_code == 404
    assert schema["paths"]["/things-status"]["get"]["tags"] == ["things"]


async def test_routes_of_a_disabled_plugin_answer_404(settings_for: SettingsFor) -> None:
    installed = installed_of(ThingsPlugin, GreetingsPlugin)
    settings = settings_for(installed, plugins__enabled=["greetings"])
    app = create_app(settings, installed=installed)
    async with serve(app) as client:
        response = await client.get("/api/things/t1")
        schema = (await client.get("/schema/openapi.json")).json()
    assert response.status_code == 404
    assert not any(path.startswith("/api/things") for path in schema["paths"])


# -- register_models -------------------------------------------------------------------


class Badge(Model):
    model_config = {"collection": "badges_badges"}  # noqa: RUF012

    code: str = Field(unique=True)
    owner: str = Field(index=True)


class BadgesPlugin(Plugin):
    name = "badges"

    @hookimpl
    def register_models(self) -> list[type[Model]]:
        return [Badge]


async def test_hook_register_models(settings_for: SettingsFor) -> None:
    installed = installed_of(BadgesPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app):
        keel = keel_of(app)
        collection = keel.mongo[keel.settings.database.name]["badges_badges"]
        indexes = await collection.index_information()
        await keel.db.save(Badge(code="gold", owner="ada"))  # type: ignore[call-arg]
        with pytest.raises(Exception, match="duplicate key"):
            await keel.db.save(Badge(code="gold", owner="bob"))  # type: ignore[call-arg]
    keys = {
        tuple(key for key, _ in index["key"]): index.get("unique", False)
        for index in indexes.values()
    }
    assert keys[("code",)] is True
    assert ("owner",) in keys


# -- register_event_types --------------------------------------------------------------


class ParcelShipped(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "parcel.shipped"
    parcel_id: str


class ParcelLost(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "parcel.lost"
    parcel_id: str


class ParcelsPlugin(Plugin):
    name = "parcels"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [ParcelShipped]


class RivalParcelsPlugin(Plugin):
    name = "rival"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        class Shipped(Event, frozen=True, kw_only=True):
            name: ClassVar[str] = "parcel.shipped"

        return [Shipped]


async def test_hook_register_event_types(settings_for: SettingsFor) -> None:
    installed = installed_of(ParcelsPlugin)
    settings = settings_for(installed)
    keel = await open_keel(settings, PluginHost(settings, installed))
    try:
        catalog = keel.events.catalog()
        assert catalog["parcel.shipped"] is ParcelShipped
        assert "parcel.lost" not in catalog
        await keel.events.emit(ParcelShipped(parcel_id="p1"))  # catalogued: accepted
        with pytest.raises(UnknownEventError, match=r"parcel\.lost"):
            await keel.events.emit(ParcelLost(parcel_id="p1"))
    finally:
        await close_keel(keel)

    both = installed_of(ParcelsPlugin, RivalParcelsPlugin)
    settings = settings_for(both)
    with pytest.raises(ConfigError, match=r"'parcel\.shipped' is already used by plugin 'parcels'"):
        await open_keel(settings, PluginHost(settings, both))


# -- register_listeners ----------------------------------------------------------------


class Delivery(Model):
    model_config = {"collection": "watchers_deliveries"}  # noqa: RUF012

    parcel_id: str
    listener: str


async def note_inline(keel: Keel, event: ParcelShipped) -> None:
    await keel.db.save(Delivery(parcel_id=event.parcel_id, listener="inline"))  # type: ignore[call-arg]


async def note_durable(keel: Keel, event: ParcelShipped) -> None:
    await keel.db.save(Delivery(parcel_id=event.parcel_id, listener="durable"))  # type: ignore[call-arg]


async def fail_inline(keel: Keel, event: ParcelShipped) -> None:
    raise RuntimeError("this listener always fails")


class WatchersPlugin(Plugin):
    name = "watchers"
    requires: ClassVar[tuple[str, ...]] = ("parcels",)

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [
            Listener("parcel.shipped", fail_inline),
            Listener("parcel.shipped", note_inline),
            Listener("parcel.shipped", note_durable, mode="durable"),
        ]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @post("/parcels/{parcel_id:str}/ship", status_code=202)
        async def ship(keel: KeelDep, parcel_id: FromPath[str]) -> dict[str, str]:
            event = ParcelShipped(parcel_id=parcel_id)
            await keel.events.emit(event)
            return {"eventId": event.id}

        return [ship]


async def test_hook_register_listeners(settings_for: SettingsFor) -> None:
    installed = installed_of(ParcelsPlugin, WatchersPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        response = await client.post("/api/parcels/p7/ship")
        assert response.status_code == 202
        keel = keel_of(app)
        await keel.events.drain()
        found = await keel.db.find(Delivery, Delivery.parcel_id == "p7")
        assert [d.listener for d in found] == ["inline"]  # the failing one did not interfere
        await drain(keel)
        found = await keel.db.find(Delivery, Delivery.parcel_id == "p7")
        assert sorted(d.listener for d in found) == ["durable", "inline"]
        # A redelivery of the same event to the same listener is a no-op.
        payload = msgspec.json.encode(
            ParcelShipped(id=response.json()["eventId"], parcel_id="p7")
        ).decode()
        again = await keel.events.deliver(
            event="parcel.shipped", payload=payload, plugin="watchers", listener="note_durable"
        )
        assert again is False
        assert await keel.db.count(Delivery, Delivery.listener == "durable") == 1


# -- register_jobs ---------------------------------------------------------------------


class Report(Model):
    model_config = {"collection": "reports_reports"}  # noqa: RUF012

    period: str
    rows: int


async def build_report(ctx: dict[str, Any], *, period: str, rows: int) -> None:
    keel: Keel = ctx["keel"]
    await keel.db.save(Report(period=period, rows=rows))  # type: ignore[call-arg]


class ReportsPlugin(Plugin):
    name = "reports"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("build", build_report, queue="reports")]


async def test_hook_register_jobs(settings_for: SettingsFor) -> None:
    installed = installed_of(ReportsPlugin)
    settings = settings_for(installed)
    keel = await open_keel(settings, PluginHost(settings, installed))
    try:
        assert "reports.build" in keel.jobs.registry
        await keel.jobs.enqueue("reports.build", period="2026-11", rows=42)
        assert await keel.db.count(Report) == 0
        await drain(keel)
        reports = await keel.db.find(Report)
        assert [(r.period, r.rows) for r in reports] == [("2026-11", 42)]
    finally:
        await close_keel(keel)


# -- register_schedules ----------------------------------------------------------------


class Beat(Model):
    model_config = {"collection": "heart_beats"}  # noqa: RUF012

    job_key: str


async def record_beat(ctx: dict[str, Any]) -> None:
    keel: Keel = ctx["keel"]
    await keel.db.save(Beat(job_key=ctx["job"].key))  # type: ignore[call-arg]


class HeartPlugin(Plugin):
    name = "heart"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("beat", record_beat)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("every_second", "* * * * * *", "beat"),
            Schedule("yearly", "0 0 1 1 *", "beat"),
        ]


async def wait_until(predicate: Callable[[], Any], limit_s: float = 15.0) -> None:
    """Poll the async ``predicate`` until it is true (however slow the machine)."""
    for _ in range(int(limit_s / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {limit_s} s")


async def test_hook_register_schedules(settings_for: SettingsFor) -> None:
    installed = installed_of(HeartPlugin)
    settings = settings_for(installed)
    keel = await open_keel(settings, PluginHost(settings, installed))
    try:
        scheduler = get_scheduler(keel)
        assert set(scheduler.entries) == {"heart.every_second", "heart.yearly"}
        worker = asyncio.create_task(run_worker(keel))  # queues + scheduler, as `keel worker`

        async def two_ticks_ran() -> bool:
            return len(await keel.db.find(Beat)) >= 2

        await wait_until(two_ticks_ran)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        keys = [b.job_key for b in await keel.db.find(Beat)]
        assert len(set(keys)) == len(keys)  # one run per tick
        assert all(k.startswith("sched:heart.every_second:") for k in keys)
        last = await scheduler.last_run("heart.every_second")
        assert last is not None
        assert last.status == "enqueued"
        assert await scheduler.last_run("heart.yearly") is None
    finally:
        await close_keel(keel)


async def test_schedule_with_a_bad_cron_override_fails_at_startup(
    settings_for: SettingsFor,
) -> None:
    installed = installed_of(HeartPlugin)
    settings = settings_for(installed, **{"scheduler.overrides": {"heart.yearly": {"cron": "bad"}}})
    with pytest.raises(ConfigError, match=r"scheduler\.overrides\.heart\.yearly\.cron"):
        await open_keel(settings, PluginHost(settings, installed))


# -- register_health_checks ------------------------------------------------------------


async def disk_has_room(keel: Keel) -> None:
    if await keel.valkey.get(keel.key("probe", "disk_full")):
        raise RuntimeError("disk full")


class ProbePlugin(Plugin):
    name = "probe"

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        return [HealthCheck("disk", disk_has_room)]


async def test_hook_register_health_checks(settings_for: SettingsFor) -> None:
    installed = installed_of(ProbePlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        healthy = await client.get("/health/ready")
        keel = keel_of(app)
        await keel.valkey.set(keel.key("probe", "disk_full"), "1")
        failing = await client.get("/health/ready")
    assert healthy.status_code == 200
    assert healthy.json()["checks"]["probe.disk"]["status"] == "ok"
    assert set(healthy.json()["checks"]) == {"mongodb", "valkey", "queue", "probe.disk"}
    assert failing.status_code == 503
    error = failing.json()["error"]
    assert "probe.disk" in error["message"]
    assert error["details"]["failing"] == ["probe.disk"]


# -- register_dev_services -------------------------------------------------------------


class FilesSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: str = ""
    """The file server; empty starts one in development."""


class FilesPlugin(Plugin):
    name = "files"
    settings_type = FilesSettings

    @hookimpl
    def register_dev_services(self) -> list[DevService]:
        return [
            DevService(
                "fileserver",
                [
                    "{python}",
                    "-m",
                    "http.server",
                    "{port}",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    "{data}",
                ],
                settings_overrides={"plugins.files.url": "http://127.0.0.1:{port}/"},
                needed=lambda settings: not settings.plugins.get("files").url,
            )
        ]


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def test_hook_register_dev_services(settings_for: SettingsFor, tmp_path: Path) -> None:
    installed = installed_of(FilesPlugin)
    settings = settings_for(installed)
    host = PluginHost(settings, installed)
    with DevStack(settings, host.dev_services(), data_dir=tmp_path, ephemeral=True) as stack:
        url = stack.overrides["plugins.files.url"]
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
            assert response.status == 200
        # The override feeds the plugin's settings, like `keel run` does.
        effective = load_settings(
            environ={},
            overrides={**stack.overrides, "plugins.enabled": ["files"]},
            plugin_types=plugin_settings_types(installed),
        )
        assert effective.plugins.get("files").url == url
    assert not _port_open(url)  # stopped with the stack

    configured = settings_for(installed, plugins__files__url="http://x:1/")
    host = PluginHost(configured, installed)
    with DevStack(configured, host.dev_services(), data_dir=tmp_path, ephemeral=True) as stack:
        assert "plugins.files.url" not in stack.overrides  # configured: not needed


# -- register_cli_commands -------------------------------------------------------------


def test_hook_register_cli_commands(tmp_path: Path) -> None:
    enabled = tmp_path / "enabled.toml"
    enabled.write_text('[plugins]\nenabled = ["hello"]\n', encoding="utf-8")
    disabled = tmp_path / "disabled.toml"
    disabled.write_text('[plugins]\nenabled = ["cron"]\n', encoding="utf-8")
    runner = CliRunner()

    result = runner.invoke(keel_main, ["hello", "--who", "ada"], env={"KEEL_CONFIG": str(enabled)})
    assert result.exit_code == 0, result.output
    assert result.output == "hello, ada\n"
    listing = runner.invoke(keel_main, ["--help"], env={"KEEL_CONFIG": str(enabled)})
    assert "hello" in listing.output

    result = runner.invoke(keel_main, ["hello"], env={"KEEL_CONFIG": str(disabled)})
    assert result.exit_code == 2
    assert "No such command 'hello'" in result.output


def test_plugin_cli_commands_come_from_the_host(settings_for: SettingsFor) -> None:
    @click.command("shout")
    @click.argument("word")
    def shout(word: str) -> None:
        click.echo(word.upper())

    class LoudPlugin(Plugin):
        name = "loud"

        @hookimpl
        def register_cli_commands(self) -> list[click.Command]:
            return [shout]

    installed = installed_of(LoudPlugin)
    host = PluginHost(settings_for(installed), installed)
    [(plugin, command)] = host.cli_commands()
    assert plugin == "loud"
    result = CliRunner().invoke(command, ["hey"])
    assert result.output == "HEY\n"


# -- on_startup / on_shutdown ----------------------------------------------------------


def _lifecycle_plugin(plugin_name: str, needs: tuple[str, ...] = ()) -> type[Plugin]:
    state_key = StashKey[dict[str, Any]](f"{plugin_name}.state")  # one key per plugin

    class Lifecycle(Plugin):
        name = plugin_name
        requires: ClassVar[tuple[str, ...]] = needs

        @hookimpl
        async def on_startup(self, keel: Keel) -> None:
            await awaited(keel.valkey.rpush(keel.key("lifecycle"), f"start {self.name}"))
            keel.stash[state_key] = {"started": True}

        @hookimpl
        async def on_shutdown(self, keel: Keel) -> None:
            await awaited(keel.valkey.rpush(keel.key("lifecycle"), f"stop {self.name}"))
            await keel.mongo[keel.settings.database.name]["lifecycle_events"].insert_one(
                {"plugin": self.name, "event": "stopped"}
            )

        @hookimpl
        def register_routes(self) -> list[Any]:
            @get(f"/{plugin_name}/state", sync_to_thread=False)
            def state(keel: KeelDep) -> dict[str, Any]:
                return keel.stash[state_key]

            return [state]

    return Lifecycle


async def _lifecycle_log(settings: Settings) -> list[str]:
    """What the lifecycle plugins wrote, read with fresh connections."""
    valkey = core_valkey.connect(settings.valkey)
    mongo = core_db.connect(settings.database)
    try:
        raw = await awaited(valkey.lrange(f"{settings.valkey.key_prefix}:lifecycle", 0, -1))
        stopped = await mongo[settings.database.name]["lifecycle_events"].count_documents({})
    finally:
        await valkey.aclose()
        mongo.close()
    return [*(item.decode() for item in raw), f"{stopped} stopped"]


async def test_hook_on_startup(settings_for: SettingsFor) -> None:
    installed = installed_of(_lifecycle_plugin("late", ("early",)), _lifecycle_plugin("early"))
    settings = settings_for(installed, plugins__enabled=["late", "early"])
    app = create_app(settings, installed=installed)
    async with serve(app) as client:
        response = await client.get("/api/late/state")
        log = await _lifecycle_log(settings)
    assert response.json() == {"started": True}
    assert log == ["start early", "start late", "0 stopped"]  # requires first


async def test_hook_on_shutdown(settings_for: SettingsFor) -> None:
    installed = installed_of(_lifecycle_plugin("late", ("early",)), _lifecycle_plugin("early"))
    settings = settings_for(installed)
    async with serve(create_app(settings, installed=installed)):
        pass
    log = await _lifecycle_log(settings)
    # Reverse order, with MongoDB and Valkey still open.
    assert log == ["start early", "start late", "stop late", "stop early", "2 stopped"]


# -- check_settings, register_authenticator, create_user ----------------------------------


class _PickyPlugin(Plugin):
    name = "picky"

    @hookimpl
    def check_settings(self, settings: Settings) -> list[str]:
        if settings.app.name != "picky":
            return [
                f"app.name: must be 'picky' while the picky plugin is on, not {settings.app.name!r}"
            ]
        return []


async def test_hook_check_settings(settings_for: SettingsFor) -> None:
    installed = installed_of(_PickyPlugin)
    with pytest.raises(ConfigError) as refused:
        create_app(settings_for(installed), installed=installed)
    assert refused.value.problems == [
        "app.name: must be 'picky' while the picky plugin is on, not 'keel'"
    ]
    host = PluginHost(settings_for(installed, app__name="picky"), installed)
    assert host.settings_problems() == []
    create_app(settings_for(installed, app__name="picky"), installed=installed)


class _Caller(msgspec.Struct, frozen=True):
    id: str
    role: str


class _HeaderAuthPlugin(Plugin):
    """Who calls is whatever ``X-Role`` says: enough to show the core asks the hook."""

    name = "header_auth"

    @hookimpl
    def register_authenticator(self) -> Callable[[Any], Any]:
        async def authenticate(connection: Any) -> _Caller:
            role = connection.headers.get("x-role")
            if role is None:
                raise UnauthorizedError("no X-Role")
            return _Caller(id="someone", role=role)

        return authenticate


async def test_hook_register_authenticator(settings_for: SettingsFor) -> None:
    installed = installed_of(_HeaderAuthPlugin)
    async with serve(create_app(settings_for(installed), installed=installed)) as client:
        assert (await client.get("/health/detailed")).status_code == 401
        assert (
            await client.get("/health/detailed", headers={"X-Role": "customer"})
        ).status_code == 403
        admin = await client.get("/health/detailed", headers={"X-Role": "admin"})
        assert admin.status_code == 200, admin.text
        assert "header_auth" in admin.text
    # without any authenticator nobody gets in
    alone = installed_of(_PickyPlugin)
    app = create_app(settings_for(alone, app__name="picky"), installed=alone)
    async with serve(app) as client:
        assert (
            await client.get("/health/detailed", headers={"X-Role": "admin"})
        ).status_code == 401


class _DirectoryPlugin(Plugin):
    name = "directory"

    @hookimpl
    async def create_user(  # noqa: PLR0917 - pluggy passes hook arguments by name
        self,
        keel: Keel,
        email: str,
        password: str,
        name: str,
        role: str,
        verified: bool,
        publish: bool,
    ) -> str:
        await keel.valkey.set(keel.key("directory", email), f"{name}:{role}:{verified}")
        return "0123456789abcdef01234567"


async def test_hook_create_user(settings_for: SettingsFor) -> None:
    installed = installed_of(_DirectoryPlugin)
    settings = settings_for(installed)
    keel = await open_keel(settings, PluginHost(settings, installed))
    try:
        made = await keel.host.create_user(
            keel,
            email="ada@example.com",
            password="p" * 12,
            name="Ada",
            role="admin",
            verified=True,
        )
        assert made == "0123456789abcdef01234567"
        assert await keel.valkey.get(keel.key("directory", "ada@example.com")) == b"Ada:admin:True"
    finally:
        await close_keel(keel)
    nobody = installed_of(_PickyPlugin)
    settings = settings_for(nobody, app__name="picky")
    keel = await open_keel(settings, PluginHost(settings, nobody))
    try:
        with pytest.raises(PluginError, match="create_user"):
            await keel.host.create_user(
                keel,
                email="x@example.com",
                password="p" * 12,
                name="X",
                role="customer",
                verified=False,
            )
    finally:
        await close_keel(keel)


# -- the hello fixture plugin, found through its entry point ---------------------------


def _hello_settings(settings_for: SettingsFor, **overrides: Any) -> Settings:
    return settings_for({"hello": discover()["hello"]}, **overrides)


async def test_hello_is_disabled_unless_enabled(keel_settings: Settings) -> None:
    assert "hello" not in keel_settings.plugins.enabled
    app = create_app(keel_settings)
    async with serve(app) as client:
        assert (await client.get("/api/hello")).status_code == 404


async def test_hello_route_listener_and_job(keel_app_factory: Any) -> None:
    # The way a plugin author tests: core.testing's app fixture, the plugin enabled by name.
    async with keel_app_factory(plugins=["hello"], plugins__hello__message="hi there") as env:
        hello = await env.client.get("/api/hello")
        greeted = await env.client.post("/api/hello/greet", json={"who": "ada"})
        assert "hello.greeted" in env.keel.events.catalog()
        assert await env.keel.db.count(Greeting) == 0  # durable: waits for a worker
        await env.keel.jobs.enqueue("hello.record_tick")
        await env.drain()
        greetings = await env.keel.db.find(Greeting)
        ticks = await env.keel.db.find(Tick)
    assert hello.json() == {"message": "hi there"}
    assert greeted.status_code == 202
    assert [(g.who, g.event_id) for g in greetings] == [("ada", greeted.json()["eventId"])]
    assert len(ticks) == 1
    assert ticks[0].pid == os.getpid()


async def test_hello_schedule_fires(settings_for: SettingsFor) -> None:
    settings = _hello_settings(settings_for)
    installed = {"hello": discover()["hello"]}
    keel = await open_keel(settings, PluginHost(settings, installed))
    try:
        worker = asyncio.create_task(run_worker(keel))  # queues + scheduler, as `keel worker`

        async def two_ticks_ran() -> bool:
            return await keel.db.count(Tick) >= 2

        await wait_until(two_ticks_ran)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        ticks = await keel.db.find(Tick)
    finally:
        await close_keel(keel)
    keys = [t.job_key for t in ticks]
    assert len(keys) >= 2
    assert len(set(keys)) == len(keys)
    assert all(k.startswith("sched:hello.tick:") for k in keys)


# -- hook calls go through pluggy: wrappers and argument pruning, seen through the app -----


class RouteIndexPlugin(Plugin):
    """Wraps ``register_routes``: lists the other plugins' routes under ``/api/route-index``."""

    name = "route_index"

    @hookimpl(wrapper=True)
    def register_routes(self) -> Generator[None, list[list[Any]], list[list[Any]]]:
        results = yield
        seen = sorted(getattr(r, "__name__", type(r).__name__) for rs in results for r in rs)

        @get("/route-index", sync_to_thread=False)
        def route_index() -> list[str]:
            return seen

        return [*results, [route_index]]


async def test_a_register_routes_wrapper_sees_the_other_plugins_routes(
    settings_for: SettingsFor,
) -> None:
    installed = installed_of(ThingsPlugin, RouteIndexPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        index = await client.get("/api/route-index")
        things = await client.post("/api/things", json={"id": "t1", "size": 3})
        schema = (await client.get("/schema/openapi.json")).json()
    assert index.json() == ["RootRoutes", "ThingController"]
    assert things.status_code == 201
    assert schema["paths"]["/api/route-index"]["get"]["tags"] == ["route_index"]
    assert schema["paths"]["/api/things"]["post"]["tags"] == ["things"]


class _PrunedPlugin(Plugin):
    """Lifespan hooks declared without the ``keel`` argument the hookspecs pass."""

    name = "pruned"

    def __init__(self, settings: Any, app_settings: Any) -> None:
        super().__init__(settings, app_settings)
        self.state = "built"

    @hookimpl
    async def on_startup(self) -> None:
        self.state = "started"

    @hookimpl
    def check_settings(self) -> list[str]:
        return []

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/pruned/state", sync_to_thread=False)
        def state() -> dict[str, str]:
            return {"state": self.state}

        return [state]


async def test_on_startup_without_the_keel_argument_runs(settings_for: SettingsFor) -> None:
    installed = installed_of(_PrunedPlugin)
    app = create_app(settings_for(installed), installed=installed)
    async with serve(app) as client:
        response = await client.get("/api/pruned/state")
    assert response.json() == {"state": "started"}
