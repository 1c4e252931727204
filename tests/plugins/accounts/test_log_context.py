"""Log lines name the signed-in user: every line written while serving the request after
the route authenticated the caller, tasks it started and its access line, never the token.
Runtime about 2 s."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from litestar import get
from litestar.di import Provide

from core import Plugin, hookimpl
from core.http import KeelDep
from core.logging import configure_logging, reset_logging
from plugins.accounts.api import UserDep, current_user

log = logging.getLogger("tests.logged")


@get("/logged/hello", dependencies={"user": Provide(current_user)})
async def hello(keel: KeelDep, user: UserDep) -> dict[str, str]:
    log.warning("in the handler")

    async def later() -> None:
        log.warning("in a task of the request")

    await asyncio.create_task(later())
    return {"id": user.id}


@get("/logged/anonymous")
async def anonymous() -> None:
    log.warning("nobody signed in")


class LoggedPlugin(Plugin):
    name = "logged"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [hello, anonymous]


async def test_lines_of_a_signed_in_request_carry_its_user_and_client_ip(
    keel_app_factory: Any, tmp_path: Path
) -> None:
    logged = {"app.log_dir": str(tmp_path), "app.log_format": "json"}
    async with keel_app_factory(plugins=[], extra=[LoggedPlugin], overrides=logged) as env:
        user, headers = await env.signed_in()
        configure_logging(env.settings, role="test")
        try:
            signed = await env.client.get(
                "/api/logged/hello", headers={**headers, "X-Request-ID": "signed"}
            )
            nobody = await env.client.get(
                "/api/logged/anonymous", headers={"X-Request-ID": "nobody"}
            )
            bad = await env.client.get(
                "/api/logged/hello",
                headers={"Authorization": "Bearer not-a-token", "X-Request-ID": "bad"},
            )
            await asyncio.sleep(0.3)  # access lines are handed to logging in batches
        finally:
            reset_logging()
    assert (signed.status_code, nobody.status_code, bad.status_code) == (200, 200, 401)
    text = (tmp_path / f"keel-test-{os.getpid()}.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line["requestId"], []).append(line)

    signed_lines = {line["msg"].split(" 200 ")[0]: line for line in by_id["signed"]}
    assert set(signed_lines) == {
        "in the handler",
        "in a task of the request",
        "GET /api/logged/hello",
    }
    for line in signed_lines.values():
        assert line["userId"] == str(user.id), line
        assert line["clientIp"] == "127.0.0.1", line
    for rid in ("nobody", "bad"):
        assert by_id[rid], rid
        assert all("userId" not in line and line["clientIp"] == "127.0.0.1" for line in by_id[rid])
    token = headers["Authorization"].removeprefix("Bearer ")
    assert token not in text
    assert "not-a-token" not in text
