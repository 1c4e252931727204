"""Sockets follow their session: revocations and expiry close them (4401), refresh extends.

The sockets sit on one app and the revocation is asked of another (two apps on one
database and key prefix, like two ``keel serve`` processes; the revoking one holds no
socket, so its hub never started), except in the last test, where they are real
``keel serve`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from _realtime_helpers import Client, Proc, Serve, serve_procs
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.testing import PASSWORD, KeelTestApp
from plugins.accounts.tokens import key_id
from plugins.realtime.hub import hub_of

WITHIN_S = 1.0
"""A revocation closes the sockets it covers within this long, everywhere."""
NEW_PASSWORD = "an entirely new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sessions(env: KeelTestApp, count: int, role: str = "customer") -> tuple[str, list[Any]]:
    """A new user and ``count`` logins of theirs (each its own session): id, token pairs."""
    user = await env.user(role=role)
    return str(user.id), [await env.login(user.email) for _ in range(count)]


async def closed(client: Client, within: float = WITHIN_S) -> tuple[int | None, str | None]:
    """Read until the server closes the socket: its close code and reason."""
    try:
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(within):
                while True:
                    client.seen.append(json.loads(await client.ws.recv()))
    except TimeoutError:
        raise AssertionError(f"still open {within} s later; saw {client.seen}") from None
    return client.ws.close_code, client.ws.close_reason


async def alive(client: Client) -> None:
    """The socket still answers."""
    await client.send("ping")
    await client.expect("pong", within=2)


def short_token(env: KeelTestApp, access_token: str, ttl_s: int) -> tuple[str, int]:
    """A token like ``access_token`` (same user and session) that expires in ``ttl_s``
    seconds, signed with the test's key as the accounts core signs: (token, exp)."""
    auth = env.settings.auth
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = time.time()
    exp = int(now) + ttl_s
    claims.update(iat=round(now, 3), nbf=int(now), exp=exp, jti=uuid.uuid4().hex)
    key = auth.jwt_secret
    token = jwt.encode(claims, key, algorithm=auth.jwt_algorithm, headers={"kid": key_id(key)})
    return token, exp


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


async def test_logout_closes_the_sockets_of_that_session_only(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        _, (first, second) = await sessions(one.env, 2)
        a = await one.client(first["accessToken"])
        a2 = await two.client(first["accessToken"])  # the same session, on the other app
        b = await one.client(second["accessToken"])
        response = await two.env.client.post(
            "/api/auth/logout", headers=bearer(first["accessToken"])
        )
        assert response.status_code == 204
        assert await closed(a) == (4401, "session_revoked")
        assert await closed(a2) == (4401, "session_revoked")
        await alive(b)
        await b.close()


async def test_logout_all_closes_every_session(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        _, (first, second) = await sessions(one.env, 2)
        _, (other,) = await sessions(one.env, 1)
        a, b = await one.client(first["accessToken"]), await one.client(second["accessToken"])
        bystander = await one.client(other["accessToken"])
        response = await two.env.client.post(
            "/api/auth/logout-all", headers=bearer(second["accessToken"])
        )
        assert response.status_code == 204
        assert await closed(a) == (4401, "session_revoked")
        assert await closed(b) == (4401, "session_revoked")
        await alive(bystander)
        await bystander.close()


async def test_deleting_a_session_closes_its_sockets(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        _, (first, second) = await sessions(one.env, 2)
        a, b = await one.client(first["accessToken"]), await one.client(second["accessToken"])
        listed = await two.env.client.get(
            "/api/auth/sessions", headers=bearer(second["accessToken"])
        )
        assert listed.status_code == 200, listed.text
        (other,) = [s for s in listed.json()["items"] if not s["current"]]
        response = await two.env.client.delete(
            f"/api/auth/sessions/{other['id']}", headers=bearer(second["accessToken"])
        )
        assert response.status_code == 204
        assert await closed(a) == (4401, "session_revoked")
        await alive(b)
        await b.close()


async def test_a_password_change_closes_the_other_sessions(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        _, (first, second) = await sessions(one.env, 2)
        a, b = await one.client(first["accessToken"]), await one.client(second["accessToken"])
        response = await two.env.client.post(
            "/api/auth/change-password",
            headers=bearer(second["accessToken"]),
            json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        )
        assert response.status_code == 200, response.text
        assert await closed(a) == (4401, "session_revoked")
        await alive(b)  # the session that changed the password goes on
        await b.close()


async def test_a_password_reset_closes_every_session(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        user = await one.env.user()
        first, second = await one.env.login(user.email), await one.env.login(user.email)
        a, b = await one.client(first["accessToken"]), await two.client(second["accessToken"])
        asked = await two.env.client.post("/api/auth/forgot-password", json={"email": user.email})
        assert asked.status_code == 202
        await two.env.drain()  # the worker sends the email
        mail = await two.env.mailbox.wait_for(lambda m: user.email in str(m["To"]), timeout=10)
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        found = re.search(r"reset token: ([A-Za-z0-9_-]+)", str(body.get_content()))
        assert found
        response = await two.env.client.post(
            "/api/auth/reset-password", json={"token": found.group(1), "password": NEW_PASSWORD}
        )
        assert response.status_code == 200, response.text
        assert await closed(a) == (4401, "session_revoked")
        assert await closed(b) == (4401, "session_revoked")


async def test_a_role_change_closes_the_users_sockets(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        user_id, (pair,) = await sessions(one.env, 1)
        _, admin = await two.env.signed_in("admin")
        socket = await one.client(pair["accessToken"])
        response = await two.env.client.patch(
            f"/api/users/{user_id}", headers=admin, json={"role": "provider"}
        )
        assert response.status_code == 200, response.text
        assert await closed(socket) == (4401, "session_revoked")
        # the client refreshes over HTTP and reconnects with the new role
        fresh = await one.env.client.post(
            "/api/auth/refresh", json={"refreshToken": pair["refreshToken"]}
        )
        assert fresh.status_code == 200, fresh.text
        again = await one.client(fresh.json()["accessToken"])
        await alive(again)
        await again.close()


async def test_deleting_the_account_closes_its_sockets(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        user_id, (first, second) = await sessions(one.env, 2)
        _, admin = await two.env.signed_in("admin")
        a, b = await one.client(first["accessToken"]), await two.client(second["accessToken"])
        response = await two.env.client.delete(f"/api/users/{user_id}", headers=admin)
        assert response.status_code == 204
        assert await closed(a) == (4401, "session_revoked")
        assert await closed(b) == (4401, "session_revoked")


async def test_reusing_a_spent_refresh_token_closes_its_session(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        _, (first, second) = await sessions(one.env, 2)
        a, b = await one.client(first["accessToken"]), await one.client(second["accessToken"])
        body = {"refreshToken": first["refreshToken"]}
        assert (await two.env.client.post("/api/auth/refresh", json=body)).status_code == 200
        assert (await two.env.client.post("/api/auth/refresh", json=body)).status_code == 401
        assert await closed(a) == (4401, "session_revoked")
        await alive(b)
        await b.close()


async def test_a_socket_closes_when_its_token_expires(serve: Serve) -> None:
    async with serve() as served:
        _, (pair,) = await sessions(served.env, 1)
        _, (stranger,) = await sessions(served.env, 1)
        later_token, later = short_token(served.env, pair["accessToken"], 4)
        token, exp = short_token(served.env, pair["accessToken"], 2)
        # the socket that expires later connects first: the one timer must move earlier
        late = await served.client(later_token)
        socket = await served.client(token)
        # another user's (valid) token is refused, and the socket keeps its expiry
        await socket.send("refresh", {"token": stranger["accessToken"]})
        refused = await socket.expect("error")
        assert refused["code"] == "unauthorized"
        await socket.send("refresh", {"token": "not-a-token"})
        assert (await socket.expect("error"))["code"] == "unauthorized"
        assert await closed(socket, within=exp - time.time() + WITHIN_S) == (
            4401,
            "token_expired",
        )
        assert exp <= time.time() <= exp + 0.5
        await alive(late)
        assert await closed(late, within=later - time.time() + WITHIN_S) == (
            4401,
            "token_expired",
        )
        assert later <= time.time() <= later + 0.5


async def test_a_refresh_frame_extends_the_socket_past_its_first_token(serve: Serve) -> None:
    async with serve() as served:
        _, (pair,) = await sessions(served.env, 1)
        token, exp = short_token(served.env, pair["accessToken"], 2)
        ws = Client(await connect(f"{served.ws_url}?token={token}"))
        connected = await ws.expect("connected")
        assert connected["expiresAt"] == iso(exp)
        # the client refreshes its tokens over HTTP, then hands the new access token over
        fresh = await served.env.client.post(
            "/api/auth/refresh", json={"refreshToken": pair["refreshToken"]}
        )
        assert fresh.status_code == 200, fresh.text
        new_access = fresh.json()["accessToken"]
        await ws.send("refresh", {"token": new_access})
        refreshed = await ws.expect("refreshed")
        new_exp = jwt.decode(new_access, options={"verify_signature": False})["exp"]
        assert refreshed == {"expiresAt": iso(new_exp)}
        await asyncio.sleep(exp - time.time() + 0.5)
        await alive(ws)  # past the first token's expiry
        await ws.close()


async def test_a_lost_revocation_message_is_caught_by_the_recheck(
    serve: Serve, keel_app_factory: Any
) -> None:
    """A process without the realtime plugin revokes: no message is published, so only
    the periodic recheck (``revocation_check_s``) can close the socket."""
    async with (
        serve({"plugins.realtime.revocation_check_s": 0.5}) as served,
        keel_app_factory(plugins=[]) as bare,
    ):
        _, (first, second) = await sessions(served.env, 2)
        a, b = (
            await served.client(first["accessToken"]),
            await served.client(second["accessToken"]),
        )
        response = await bare.client.post("/api/auth/logout", headers=bearer(first["accessToken"]))
        assert response.status_code == 204
        assert await closed(a, within=2.0) == (4401, "session_revoked")
        await alive(b)
        await b.close()


async def test_a_resubscribed_hub_checks_its_sockets_at_once(
    serve: Serve, keel_app_factory: Any
) -> None:
    """Messages published while the hub's subscription reconnects are lost: once it is
    back, the hub verifies its sockets' tokens without waiting for ``revocation_check_s``."""
    async with (
        serve({"plugins.realtime.heartbeat_timeout_s": 1.0}) as served,
        keel_app_factory(plugins=[]) as bare,
    ):
        _, (first, second) = await sessions(served.env, 2)
        a, b = (
            await served.client(first["accessToken"]),
            await served.client(second["accessToken"]),
        )
        response = await bare.client.post("/api/auth/logout", headers=bearer(first["accessToken"]))
        assert response.status_code == 204
        await a.absent("pong", within=1.5)  # no message, and the next recheck is 60 s away
        assert a.ws.close_code is None
        valkey = served.env.keel.valkey
        listing = await valkey.execute_command("CLIENT", "LIST")  # type: ignore[no-untyped-call]
        text = listing.decode() if isinstance(listing, bytes) else str(listing)
        name = f"name=keel-realtime-{hub_of(served.env.keel).process_id} "
        (client_id,) = [line.split()[0].split("=")[1] for line in text.splitlines() if name in line]
        await valkey.execute_command("CLIENT", "KILL", "ID", client_id)  # type: ignore[no-untyped-call]
        assert await closed(a, within=3.0) == (4401, "session_revoked")
        await alive(b)
        await b.close()


# -- real processes ----------------------------------------------------------------------


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database, to create users."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    with serve_procs(env, keel_stack, tmp_path, {"heartbeat_s": 30.0}) as started:
        yield started


async def test_revocations_close_sockets_on_other_processes(
    env: KeelTestApp, procs: list[Proc]
) -> None:
    one, two = procs
    user_id, (first, second) = await sessions(env, 2)
    _, (third,) = await sessions(env, 1)
    _, admin = await env.signed_in("admin")
    a, b = await one.client(first["accessToken"]), await one.client(second["accessToken"])
    c, d = await one.client(third["accessToken"]), await two.client(third["accessToken"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{two.port}") as http:
        # logout on the process without sockets: that session's socket closes, not the other
        response = await http.post("/api/auth/logout", headers=bearer(first["accessToken"]))
        assert response.status_code == 204
        assert await closed(a) == (4401, "session_revoked")
        await alive(b)
        # an admin deletes the account: its last socket closes
        response = await http.delete(f"/api/users/{user_id}", headers=admin)
        assert response.status_code == 204
        assert await closed(b) == (4401, "session_revoked")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{one.port}") as http:
        # logout-all on one process closes the user's sockets on both
        response = await http.post("/api/auth/logout-all", headers=bearer(third["accessToken"]))
        assert response.status_code == 204
        assert await closed(c) == (4401, "session_revoked")
        assert await closed(d) == (4401, "session_revoked")
