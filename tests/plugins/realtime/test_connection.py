"""The socket itself: authentication, frames, errors, limits, heartbeat, shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _realtime_helpers import Serve, StalledClient
from websockets.asyncio.client import connect

from core import Plugin, hookimpl
from core.devstack import serving_dev_pages
from core.errors import ConfigError
from plugins.realtime.hookspecs import WsContext, WsEvent
from plugins.realtime.hub import hub_of


async def test_no_or_bad_token_closes_4401(serve: Serve) -> None:
    async with serve() as served:
        for url in (served.ws_url, f"{served.ws_url}?token=nope"):
            ws = await connect(url)
            client_code = None
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except Exception:
                client_code = ws.close_code
            assert client_code == 4401


async def test_token_in_query_subprotocol_or_header(serve: Serve) -> None:
    async with serve() as served:
        user_id, token = await served.token()
        by_query = await served.client(token)
        ws = await connect(served.ws_url, subprotocols=["keel", token])  # type: ignore[list-item]
        assert ws.subprotocol == "keel"
        assert json.loads(await ws.recv())["data"]["userId"] == user_id
        header = await connect(
            served.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        )
        assert json.loads(await header.recv())["event"] == "connected"
        for c in (ws, header):
            await c.close()
        await by_query.close()


async def test_ping_and_errors_keep_the_socket_open(serve: Serve) -> None:
    async with serve() as served:
        _, token = await served.token()
        client = await served.client(token)
        await client.send("ping")
        assert await client.expect("pong") == {}
        await client.ws.send("{not json")
        assert (await client.expect("error"))["code"] == "bad_frame"
        await client.ws.send(json.dumps({"nope": 1}))
        assert (await client.expect("error"))["code"] == "bad_frame"
        await client.send("fly", {})
        error = await client.expect("error")
        assert error["code"] == "unknown_event"
        assert "fly" in error["message"]
        await client.send("typing", {"receiverId": "xyz"})
        assert (await client.expect("error"))["code"] == "invalid_data"
        await client.send("typing", {})
        assert (await client.expect("error"))["code"] == "invalid_data"
        await client.ws.send(b"\x00binary")
        assert (await client.expect("error"))["code"] == "bad_frame"
        await client.send("ping")
        assert await client.expect("pong") == {}
        await client.close()


async def test_oversized_frame_closes_1009(serve: Serve) -> None:
    async with serve({"plugins.realtime.max_frame_bytes": 1024}) as served:
        _, token = await served.token()
        client = await served.client(token)
        await client.send("echo", {"text": "x" * 2000})
        assert await client.closed() == 1009


async def test_rate_limit_errors_then_closes_1008(serve: Serve) -> None:
    overrides = {
        "plugins.realtime.rate_per_s": 5.0,
        "plugins.realtime.rate_burst": 5,
        "plugins.realtime.rate_strikes": 3,
    }
    async with serve(overrides) as served:
        _, token = await served.token()
        client = await served.client(token)
        for _ in range(6):
            await client.send("ping")
        assert (await client.expect("error"))["code"] == "rate_limited"
        for _ in range(10):
            await client.send("ping")
        assert await client.closed() == 1008
        assert 5 <= len([f for f in client.seen if f["event"] == "pong"]) <= 7


async def test_heartbeat_pings_and_drops_silent_clients(serve: Serve) -> None:
    overrides = {
        "plugins.realtime.heartbeat_s": 0.3,
        "plugins.realtime.heartbeat_timeout_s": 0.3,
    }
    async with serve(overrides) as served:
        _, token = await served.token()
        lively, silent = await served.client(token), await served.client(token)
        for _ in range(3):
            await lively.expect("ping", within=2)
            await lively.send("pong")
        assert await silent.closed(within=3) == 4408
        await lively.send("ping")
        await lively.expect("pong")
        assert len(hub_of(served.env.keel).connections) == 1
        await lively.close()


async def test_slow_reader_is_closed_1013_without_slowing_others(serve: Serve) -> None:
    overrides = {
        "plugins.realtime.send_queue_size": 4,
        "plugins.realtime.rate_per_s": 10_000.0,
        "plugins.realtime.rate_burst": 10_000,
    }
    async with serve(overrides) as served:
        hub = hub_of(served.env.keel)
        user_id, token = await served.token()
        slow_id, slow_token = await served.token()
        other = await served.client(token)
        slow = await StalledClient.connect(served.port, slow_token)
        big = "y" * 60_000
        for _ in range(1000):  # 60 MB of echoes: far more than the kernel buffers hold
            await slow.send("echo", {"text": big})
            await asyncio.sleep(0)
            if not any(c.user.id == slow_id and not c.closing for c in hub.connections):
                break
        else:
            raise AssertionError("the server never gave up on the stalled reader")
        await other.send("ping")
        await other.expect("pong", within=2)
        assert await slow.closed() == 1013
        assert [c.user.id for c in hub.connections] == [user_id]
        await other.close()


async def test_frames_held_back_by_a_slow_reader_arrive_in_order(serve: Serve) -> None:
    async with serve({"plugins.realtime.rate_per_s": 10_000.0}) as served:
        _, token = await served.token()
        slow = await StalledClient.connect(served.port, token)
        for i in range(150):  # ~9 MB: more than the kernel buffers, within the queue
            await slow.send("echo", {"text": f"{i:04d}" + "z" * 60_000})
        texts = []
        for _ in range(150):
            _, payload = await slow.frame()
            texts.append(json.loads(payload)["data"]["text"][:4])
        assert texts == [f"{i:04d}" for i in range(150)]
        await slow.close()


async def test_shutdown_closes_sockets_1001(serve: Serve) -> None:
    async with serve() as served:
        _, token = await served.token()
        client = await served.client(token)
        await hub_of(served.env.keel).close()
        assert await client.closed() == 1001


async def test_hook_register_ws_events(serve: Serve) -> None:
    async with serve() as served:
        user_id, token = await served.token()
        client = await served.client(token)
        await client.send("echo", {"text": "hi"})
        assert await client.expect("echoed") == {"text": "hi", "userId": user_id}
        await client.send("echo", {"text": "fail"})
        assert await client.expect("error") == {"code": "echo_failed", "message": "asked to fail"}
        await client.send("echo", {"txt": "hi"})
        assert (await client.expect("error"))["code"] == "invalid_data"
        await client.send("echoTyping", {"text": "on"})  # behind the `typing` switch
        assert await client.expect("echoed") == {"text": "on", "userId": user_id}
        await client.close()


async def test_disabled_feature_answers_feature_disabled(serve: Serve) -> None:
    overrides = {"plugins.realtime.typing": False, "plugins.realtime.messages": False}
    async with serve(overrides) as served:
        _, token = await served.token()
        client = await served.client(token)
        for event, data in (
            ("typing", {"roomId": "a" * 24}),
            ("joinRoom", {"userId": "b" * 24}),
            ("echoTyping", {"text": "hi"}),  # another plugin's event behind the switch
        ):
            await client.send(event, data)
            error = await client.expect("error")
            assert error["code"] == "feature_disabled", event
            assert event in error["message"]
        await client.send("getOnlineStatus", {"userIds": ["c" * 24]})
        # no such user: not a contact
        assert (await client.expect("onlineStatus"))["users"][0]["online"] is None
        _, headers = await served.env.signed_in()
        response = await served.env.client.get("/api/realtime/rooms", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "feature_disabled"
        await client.close()


async def test_demo_page_only_under_keel_run(serve: Serve) -> None:
    async with serve() as served:  # app.env = "test": not mounted by default
        assert (await served.env.client.get("/realtime/demo")).status_code == 404
    for overrides in ({"app.env": "development"}, {"plugins.realtime.demo": True}):
        async with serve(overrides) as served:  # mounted, but this is not `keel run`
            assert (await served.env.client.get("/realtime/demo")).status_code == 404
    with serving_dev_pages(admins_only=False):
        async with serve({"app.env": "development"}) as served:
            page = await served.env.client.get("/realtime/demo")
            assert page.status_code == 200
            assert "new WebSocket" in page.text
            csp = page.headers.get_list("content-security-policy")[0]
            assert csp.startswith("default-src 'none'")
    with serving_dev_pages(admins_only=True):  # `keel run --public`
        async with serve({"plugins.realtime.demo": True}) as served:
            assert (await served.env.client.get("/realtime/demo")).status_code == 401
            _, headers = await served.env.signed_in("customer")
            page = await served.env.client.get("/realtime/demo", headers=headers)
            assert page.status_code == 403
            _, headers = await served.env.signed_in("admin")
            page = await served.env.client.get("/realtime/demo", headers=headers)
            assert page.status_code == 200


class ClashingPlugin(Plugin):
    """Tries to take over realtime's own ``typing`` event."""

    name = "clashing"

    @hookimpl
    def register_ws_events(self) -> list[WsEvent]:
        return [WsEvent("typing", _noop)]


async def _noop(_ctx: WsContext, _data: Any) -> None:
    return None


async def test_a_clashing_ws_event_fails_startup(keel_app_factory: Any) -> None:
    # found while the app is built (create_app), before any lifespan or socket
    clash = (
        r"plugins\.clashing: WebSocket event 'typing' already exists"
        r" \(registered by plugin 'realtime'\)"
    )
    with pytest.raises(ConfigError, match=clash):
        async with keel_app_factory(plugins=["realtime"], extra=(ClashingPlugin,)):
            pass


async def test_the_hello_fixture_plugin_adds_a_websocket_event(serve: Serve) -> None:
    """A third-party plugin (installed through its entry point) adds a frame with the
    public toolkit only: ``plugins.realtime.hookspecs``."""
    async with serve(plugins=("hello",)) as served:
        user_id, token = await served.token()
        client = await served.client(token)
        await client.send("helloWave", {"to": "ada"})
        assert await client.expect("helloWaved") == {"to": "ada", "by": user_id}
        await client.send("helloWave", {"too": "ada"})
        assert (await client.expect("error"))["code"] == "invalid_data"
        await client.close()
