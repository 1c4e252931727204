"""``/metrics`` of real ``keel serve --workers 2`` deployments on one embedded stack.

Each deployment gets its own metrics directory, database and key prefix. A response's
``X-Request-ID`` starts with its worker's random prefix (16 hex digits), which tells
which of the two processes answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from _keel_procs import KeelProcess, free_port, run_keel, write_config
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

PASSWORD = "a long admin passphrase 42"
TOKEN = "scraper-token-" + "x" * 32
REQUESTS = 60


def _deployment(
    keel_stack: Any, tmp: Path, name: str, extra_env: dict[str, str]
) -> tuple[KeelProcess, dict[str, str]]:
    config = write_config(tmp / "config.toml", enabled=["realtime"])
    unique = uuid.uuid4().hex[:10]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEEL_")},
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": f"metrics_{unique}",
        "KEEL_VALKEY__KEY_PREFIX": f"m{unique}",
        "KEEL_METRICS__DIR": str(tmp / "metrics"),
        "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
        **extra_env,
    }
    port = free_port()
    server = KeelProcess(
        name, ["serve", "--workers", "2", "--port", str(port)], env, tmp / f"{name}.log", port
    )
    return server, env


@pytest.fixture(scope="module")
def plain(keel_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeelProcess]:
    """``/metrics`` on the API port; an admin ``root@example.com`` exists."""
    tmp = tmp_path_factory.mktemp("metrics_plain")
    server, env = _deployment(keel_stack, tmp, "plain", {"KEEL_METRICS__TOKEN": TOKEN})
    for email in ("root@example.com", "cust@example.com"):
        created = run_keel(
            ["users", "create-admin", "--email", email, "--name", "Some One"],
            {**env, "KEEL_ADMIN_PASSWORD": PASSWORD},
        )
        assert created.returncode == 0, created.stdout + created.stderr
    with pymongo.MongoClient[dict[str, Any]](env["KEEL_DATABASE__URL"]) as client:
        users = client[env["KEEL_DATABASE__NAME"]]["users"]
        users.update_one({"email": "cust@example.com"}, {"$set": {"role": "customer"}})
    yield from _running(server, env)


@pytest.fixture(scope="module")
def bound(keel_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeelProcess]:
    """``[metrics] bind`` set: the scrape is on its own port (``server.scrape_port``)."""
    tmp = tmp_path_factory.mktemp("metrics_bound")
    scrape = free_port()
    server, env = _deployment(
        keel_stack, tmp, "bound", {"KEEL_METRICS__BIND": f"127.0.0.1:{scrape}"}
    )
    server.scrape_port = scrape  # type: ignore[attr-defined]
    yield from _running(server, env)


def _running(server: KeelProcess, env: dict[str, str]) -> Iterator[KeelProcess]:
    try:
        server.start().wait_ready(60)
        yield server
    finally:
        server.kill()
        with pymongo.MongoClient[dict[str, Any]](env["KEEL_DATABASE__URL"]) as client:
            client.drop_database(env["KEEL_DATABASE__NAME"])


def _spread_requests(url: str) -> set[str]:
    """``REQUESTS`` GETs of /health/live, each on a new connection; the workers' prefixes."""
    prefixes = set()
    for _ in range(REQUESTS):
        response = httpx.get(f"{url}/health/live", timeout=10)
        assert response.status_code == 200
        prefixes.add(response.headers["x-request-id"][:16])
    return prefixes


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name{labels}`` (labels in any order), or None."""
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found[1] != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(found[3])
    return None


def _login(url: str, email: str) -> dict[str, str]:
    login = httpx.post(
        f"{url}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


def _admin_headers(url: str) -> dict[str, str]:
    return _login(url, "root@example.com")


def _customer_headers(url: str) -> dict[str, str]:
    return _login(url, "cust@example.com")


def test_metrics_are_summed_over_both_workers(plain: KeelProcess) -> None:
    prefixes = _spread_requests(plain.url)
    assert len(prefixes) == 2, f"one worker answered every request: {prefixes}"
    text = httpx.get(f"{plain.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    assert _sample(text, "keel_http_request_duration_seconds_count", **live) == REQUESTS
    assert _sample(text, "keel_http_request_duration_seconds_bucket", le="+Inf", **live) == REQUESTS
    assert _sample(text, "keel_queue_stats_up") == 1
    assert _sample(text, "keel_queue_depth", queue="default") is not None
    assert _sample(text, "keel_queue_oldest_job_age_seconds", queue="email") is not None


def test_metrics_need_an_admin_or_the_scrape_token(plain: KeelProcess) -> None:
    url = f"{plain.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert httpx.get(url, headers=_customer_headers(plain.url)).status_code == 403
    admin = httpx.get(url, headers=_admin_headers(plain.url))
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/plain")
    assert "# TYPE keel_http_request_duration_seconds histogram" in admin.text
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_raw_paths_never_become_labels(plain: KeelProcess) -> None:
    _admin_headers(plain.url)  # a POST /api/auth/login
    secret_path = f"/api/nothing-here-{uuid.uuid4().hex}"
    assert httpx.get(f"{plain.url}{secret_path}").status_code == 404
    text = httpx.get(f"{plain.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert secret_path not in text
    assert (
        _sample(text, "keel_http_request_duration_seconds_count", route="<unmatched>", status="404")
        or 0
    ) >= 1
    login = _sample(
        text,
        "keel_http_request_duration_seconds_count",
        method="POST",
        route="/api/auth/login",
        status="200",
    )
    assert login is not None


def test_websocket_connections_frames_and_closes(plain: KeelProcess) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    token = _customer_headers(plain.url)["Authorization"].removeprefix("Bearer ")

    def scrape() -> str:
        return httpx.get(f"{plain.url}/metrics", headers=headers).text

    async def session() -> None:
        async with connect(f"ws://127.0.0.1:{plain.port}/ws?token={token}") as ws:
            await ws.send(json.dumps({"event": "ping", "data": {}}))
            await asyncio.wait_for(ws.recv(), 10)
            text = await asyncio.to_thread(scrape)
            assert _sample(text, "keel_websocket_connections") == 1
            await ws.close(1000)

    asyncio.run(session())
    text = scrape()
    assert _sample(text, "keel_websocket_connections") == 0
    assert (_sample(text, "keel_websocket_frames_total", direction="in") or 0) >= 1
    assert (_sample(text, "keel_websocket_frames_total", direction="out") or 0) >= 1
    assert _sample(text, "keel_websocket_closes_total", code="1000", side="client") == 1


def test_with_bind_the_api_port_has_no_metrics(bound: KeelProcess) -> None:
    prefixes = _spread_requests(bound.url)
    assert len(prefixes) == 2, f"one worker answered every request: {prefixes}"
    assert httpx.get(f"{bound.url}/metrics").status_code == 404
    assert httpx.get(f"{bound.url}/metrics", headers=_fake_admin()).status_code == 404
    scraped = httpx.get(f"http://127.0.0.1:{bound.scrape_port}/metrics")  # type: ignore[attr-defined]
    assert scraped.status_code == 200
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    count = _sample(scraped.text, "keel_http_request_duration_seconds_count", **live)
    assert count == REQUESTS
    assert _sample(scraped.text, "keel_queue_stats_up") == 1


def _fake_admin() -> dict[str, str]:
    """Any bearer at all: with ``bind`` set the route is absent, whoever asks."""
    return {"Authorization": f"Bearer {TOKEN}"}
