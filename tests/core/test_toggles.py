"""Live toggles in one process: the admin API, what "off" hides and holds, the refusals.

The multi-process behaviour (two ``keel serve``, one ``keel worker``) is in
``tests/e2e/test_live_toggles.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import click
import msgspec
import pytest
from keel_hello import Greeting, HelloGreeted

from core import Plugin, Toggle, hookimpl
from core.cli._toggles import parse_switches
from core.context import Keel
from core.pluginhost import PluginHost
from core.runtime import close_keel, open_keel
from core.testing import KeelTestApp
from core.toggles import HeldDelivery
from core.toggles._config import plan_apply

BOARD = "/api/admin/toggles"


class NeedsHello(Plugin):
    """A test plugin that cannot run without ``hello``."""

    name = "needs_hello"
    requires: ClassVar[tuple[str, ...]] = ("hello",)


class Recorder(Plugin):
    """A test plugin that notes its lifecycle hooks and declares a feature."""

    name = "recorder"
    calls: ClassVar[list[str]] = []

    @hookimpl
    def register_toggles(self) -> list[Toggle]:
        return [Toggle("shiny", default=False, description="Something new")]

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        self.calls.append("startup")

    @hookimpl
    async def on_deactivate(self, keel: Keel) -> None:
        self.calls.append(f"deactivate {keel.toggles.active(self.name)}")

    @hookimpl
    async def on_activate(self, keel: Keel) -> None:
        self.calls.append(f"activate {keel.toggles.active(self.name)}")


async def _admin(env: KeelTestApp) -> dict[str, str]:
    _, headers = await env.signed_in("admin")
    return headers


async def _set(env: KeelTestApp, headers: dict[str, str], status: int = 200, **changes: Any) -> Any:
    response = await env.client.put(BOARD, json={"changes": changes}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def test_only_admins_see_and_change_the_switchboard(keel_app_factory: Any) -> None:
    async with keel_app_factory(plugins=["hello", "realtime"]) as env:
        assert (await env.client.get(BOARD)).status_code == 401
        _, customer = await env.signed_in()
        assert (await env.client.get(BOARD, headers=customer)).status_code == 403
        put = await env.client.put(BOARD, json={"changes": {"hello": False}}, headers=customer)
        assert put.status_code == 403
        assert (await env.client.get("/api/hello")).status_code == 200  # nothing changed

        board = (await env.client.get(BOARD, headers=await _admin(env))).json()
        assert board["version"] == 0
        plugins = {p["name"]: p for p in board["plugins"]}
        assert plugins["accounts"]["essential"] is True
        assert plugins["hello"] == {
            "name": "hello",
            "active": True,
            "default": True,
            "source": "config",
            "essential": False,
            "requires": [],
        }
        features = {f["key"]: f for f in board["features"]}
        assert {"realtime.typing", "realtime.presence", "realtime.messages"} <= set(features)
        assert features["realtime.typing"]["enabled"] is True


async def test_a_plugin_switched_off_answers_404_and_leaves_the_document(
    keel_app_factory: Any,
) -> None:
    async with keel_app_factory(plugins=["hello"]) as env:
        admin = await _admin(env)
        unknown = await env.client.get("/api/no-such-thing")
        board = await _set(env, admin, hello=False)
        assert board["changed"] == [{"key": "hello", "before": True, "after": False}]
        assert board["version"] == 1
        off = await env.client.get("/api/hello")
        assert off.status_code == 404
        assert off.json() == unknown.json()  # as if it were not installed
        greet = await env.client.post("/api/hello/greet", json={"who": "x"})
        assert greet.status_code == 404
        document = (await env.client.get("/schema/openapi.json")).json()
        assert not [p for p in document["paths"] if p.startswith("/api/hello")]
        assert "hello" not in {t["name"] for t in document.get("tags", [])}
        assert any(p.startswith("/api/auth") for p in document["paths"])  # the rest stays

        assert (await _set(env, admin, hello=False))["changed"] == []  # no new version
        board = await _set(env, admin, hello=True)
        assert board["version"] == 2
        assert (await env.client.get("/api/hello")).status_code == 200
        document = (await env.client.get("/schema/openapi.json")).json()
        assert "/api/hello" in document["paths"]


async def test_refusals_say_why_and_change_nothing(keel_app_factory: Any) -> None:
    async with keel_app_factory(plugins=["hello"], extra=[NeedsHello]) as env:
        admin = await _admin(env)
        essential = await _set(env, admin, 409, accounts=False)
        assert "essential" in essential["error"]["message"]
        needed = await _set(env, admin, 409, hello=False)
        assert needed["error"]["code"] == "conflict"
        assert "needs_hello" in needed["error"]["message"]
        assert needed["error"]["details"] == {"plugin": "hello", "requiredBy": "needs_hello"}
        unknown = await _set(env, admin, 404, search=False)  # installed, not loaded here
        assert unknown["error"]["details"] == {"key": "search"}
        await _set(env, admin, 404, **{"hello.nothing": False})
        for body in ({"changes": {}}, {"changes": {"hello": "off"}}, {"changes": {"Bad Key": 1}}):
            response = await env.client.put(BOARD, json=body, headers=admin)
            assert response.status_code == 400, response.text
        board = (await env.client.get(BOARD, headers=admin)).json()
        assert board["version"] == 0  # nothing refused was stored

        await _set(env, admin, needs_hello=False, hello=False)  # dependant first: fine
        late = await _set(env, admin, 409, needs_hello=True)
        assert "'hello'" in late["error"]["message"]
        history = (await env.client.get(f"{BOARD}/history", headers=admin)).json()
        assert history["total"] == 1
        [record] = history["items"]
        assert record["source"] == "api"
        assert record["by"].startswith("user:")
        assert {c["key"] for c in record["changes"]} == {"needs_hello", "hello"}


async def test_durable_deliveries_wait_while_off_and_run_once_when_back_on(
    keel_app_factory: Any,
) -> None:
    async with keel_app_factory(plugins=["hello"]) as env:
        admin = await _admin(env)
        await _set(env, admin, hello=False)
        event = HelloGreeted(who="while off")
        await env.keel.events.emit(event)
        await env.drain()
        assert await env.keel.db.count(Greeting) == 0
        held = env.keel.db.get_collection(HeldDelivery)
        assert await held.count_documents({"plugin": "hello"}) == 1

        await _set(env, admin, hello=True)
        await env.drain()  # the switch released it; this process runs the queue
        greetings = await env.keel.db.find(Greeting)
        assert [g.who for g in greetings] == ["while off"]
        assert await held.count_documents({}) == 0
        await env.keel.events.emit(event)  # the same event again: already delivered
        await env.drain()
        assert await env.keel.db.count(Greeting) == 1


async def test_a_standby_plugin_starts_off_and_switches_on_live(keel_app_factory: Any) -> None:
    async with keel_app_factory(plugins=[], standby=["hello"]) as env:
        assert (await env.client.get("/api/hello")).status_code == 404
        admin = await _admin(env)
        board = (await env.client.get(BOARD, headers=admin)).json()
        hello = next(p for p in board["plugins"] if p["name"] == "hello")
        assert (hello["active"], hello["default"]) == (False, False)
        await _set(env, admin, hello=True)
        assert (await env.client.get("/api/hello")).status_code == 200


async def test_hook_register_toggles(keel_app_factory: Any) -> None:
    async with keel_app_factory(plugins=[], extra=[Recorder]) as env:
        admin = await _admin(env)
        board = (await env.client.get(BOARD, headers=admin)).json()
        [shiny] = [f for f in board["features"] if f["key"] == "recorder.shiny"]
        assert shiny == {
            "key": "recorder.shiny",
            "enabled": False,
            "default": False,
            "source": "config",
            "description": "Something new",
        }
        assert not env.keel.toggles.feature("recorder", "shiny")
        await _set(env, admin, **{"recorder.shiny": True})
        assert env.keel.toggles.feature("recorder", "shiny")
        await _set(env, admin, recorder=False)
        assert not env.keel.toggles.feature("recorder", "shiny")  # its plugin is off


async def test_hook_on_deactivate(keel_app_factory: Any) -> None:
    Recorder.calls.clear()
    async with keel_app_factory(plugins=[], extra=[Recorder]) as env:
        admin = await _admin(env)
        await _set(env, admin, recorder=False)
        await _set(env, admin, recorder=False)  # no change: not called again
    assert Recorder.calls == ["startup", "deactivate False"]


async def test_hook_on_activate(keel_app_factory: Any) -> None:
    Recorder.calls.clear()
    async with keel_app_factory(plugins=[], extra=[Recorder], standby=["recorder"]) as env:
        admin = await _admin(env)
        await _set(env, admin, recorder=True)
    # a standby plugin starts, is deactivated at once, then switched on live
    assert Recorder.calls == ["startup", "deactivate False", "activate True"]


def test_the_cli_reads_switches_as_words_or_pairs() -> None:
    assert parse_switches(("search", "off")) == {"search": False}
    assert parse_switches(("search=on", "realtime.typing=0")) == {
        "search": True,
        "realtime.typing": False,
    }
    for words in (("search=maybe",), ("search",), ("a", "b", "c")):
        with pytest.raises(click.BadParameter):
            parse_switches(words)


async def test_config_apply_switches_what_changed_and_lists_what_needs_a_restart(
    keel_app_factory: Any,
) -> None:
    async with keel_app_factory(plugins=["hello", "realtime"]) as env:
        running = env.settings
        tables = {**running.plugins.tables}
        tables["realtime"] = msgspec.structs.replace(tables["realtime"], typing=False)
        edited = msgspec.structs.replace(
            running,
            server=msgspec.structs.replace(running.server, grace_period_s=7.0),
            plugins=msgspec.structs.replace(
                running.plugins, enabled=["realtime"], standby=["hello"], tables=tables
            ),
        )
        cli = await open_keel(edited, PluginHost(edited, env.keel.host.installed))
        try:  # the `keel config apply` process: the edited file, the running processes' record
            plan = plan_apply(edited, cli.host, await cli.toggles.running_config())
            assert plan.changes["hello"] is False
            assert plan.changes["realtime.typing"] is False
            assert plan.restart == ["server.grace_period_s: 30.0 -> 7.0"]
            dry = await cli.toggles.set(
                plan.changes,
                by="t",
                source="config apply",
                pin=True,
                defaults=plan.defaults,
                dry_run=True,
            )
            assert {(c.key, c.before, c.after) for c in dry} == {
                ("hello", True, False),
                ("realtime.typing", True, False),
            }
            assert env.keel.toggles.version == 0  # a dry run stores nothing
            await cli.toggles.set(
                plan.changes, by="t", source="config apply", pin=True, defaults=plan.defaults
            )
        finally:
            await close_keel(cli)
        await env.keel.toggles.refresh()  # what the announcement makes every process do
        assert not env.keel.toggles.active("hello")
        assert not env.keel.toggles.feature("realtime", "typing")
        assert env.keel.toggles.feature("realtime", "presence")
