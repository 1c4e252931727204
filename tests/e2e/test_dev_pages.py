"""Development pages with real processes: only ``keel run``, only on loopback or ``--public``.

``/dev/mailbox`` shows every mailed code and reset link, the realtime demo page is a
client for anyone, and localstripe's webhook secret is public. ``keel run`` refuses a
non-loopback ``server.host`` unless ``--public`` is given, and then answers admins only;
``keel serve`` never serves them, whatever ``app.env`` says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _keel_procs import KeelProcess, free_port, run_keel, write_config
from bson import ObjectId

from plugins.payments.dev import TEST_WEBHOOK_SECRET

PASSWORD = "correct horse battery staple"
PAGES = ["notifications", "realtime"]


def _base_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {**base, **extra}


def _run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = write_config(tmp_path / "config.toml", enabled=PAGES)
    data = tmp_path / "var"
    return _base_env(
        KEEL_CONFIG=str(config),
        KEEL_APP__ENV="development",  # the demo page is on by default there
        KEEL_DEVSTACK__DATA_DIR=str(data),
        KEEL_UPLOADS__DIR=str(data / "uploads"),
        **extra,
    )


def _status(base: str, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}{path}", headers=headers, timeout=10).status_code


@pytest.mark.parametrize("where", ["environment", "config"])
def test_keel_run_on_a_public_address_needs_public(tmp_path: Path, where: str) -> None:
    extra = '[server]\nhost = "0.0.0.0"\n' if where == "config" else ""
    config = tmp_path / "config.toml"
    config.write_text(f'{extra}[app]\nlog_level = "WARNING"\n', encoding="utf-8")
    env = _base_env(KEEL_CONFIG=str(config), KEEL_DEVSTACK__DATA_DIR=str(tmp_path / "var"))
    if where == "environment":
        env["KEEL_SERVER__HOST"] = "0.0.0.0"  # noqa: S104 - the address refused
    result = run_keel(["run"], env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--public" in lines[0]
    assert "'0.0.0.0' is not a loopback address" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "db").exists()  # refused before starting anything


def test_keel_run_public_serves_the_dev_pages_to_admins_only(tmp_path: Path) -> None:
    port = free_port()
    env = _run_env(tmp_path, KEEL_SERVER__HOST="0.0.0.0", KEEL_SERVER__PORT=str(port))  # noqa: S104
    created = run_keel(
        ["users", "create-admin", "--email", "root@example.com", "--name", "Root"],
        {**env, "KEEL_ADMIN_PASSWORD": PASSWORD},
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    run = KeelProcess("run", ["run", "--public"], env, tmp_path / "run.log", port)
    try:
        run.start().wait_ready(60)  # bound to 0.0.0.0, reached through 127.0.0.1
        assert _status(run.url, "/dev/mailbox") == 401
        assert _status(run.url, "/realtime/demo") == 401
        login = httpx.post(
            f"{run.url}/api/auth/login",
            json={"email": "root@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        assert _status(run.url, "/dev/mailbox", token) == 200
        assert _status(run.url, "/realtime/demo", token) == 200
    finally:
        run.kill()


def test_keel_run_on_loopback_shows_the_dev_pages(tmp_path: Path) -> None:
    port = free_port()
    env = _run_env(tmp_path, KEEL_SERVER__PORT=str(port))
    run = KeelProcess("run", ["run"], env, tmp_path / "run.log", port)
    try:
        run.start().wait_ready(60)
        page = httpx.get(f"{run.url}/dev/mailbox", timeout=10)
        assert page.status_code == 200, page.text
        assert "Dev mailbox" in page.text
        assert _status(run.url, "/realtime/demo") == 200
    finally:
        run.kill()


def _signed(body: bytes, secret: str) -> str:
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["worker"], ["config", "check"]], ids=" ".join
)
def test_the_public_webhook_secret_refuses_to_start(
    keel_stack: Any, tmp_path: Path, command: list[str]
) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["bookings", "payments"])
    env = _base_env(**keel_stack.environ(), KEEL_CONFIG=str(config))
    env["KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET"] = TEST_WEBHOOK_SECRET
    result = run_keel(command, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    [line] = [x for x in output.splitlines() if "plugins.payments.webhook_secret" in x]
    assert line.endswith(
        "plugins.payments.webhook_secret: localstripe's public secret, accepted only under"
        " `keel run` on a loopback address; set it to your Stripe endpoint's signing secret"
    )
    assert "Traceback" not in output


def test_keel_serve_never_serves_the_dev_pages(keel_stack: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["bookings", "payments", *PAGES])
    unique = ObjectId()
    env = _base_env(
        **keel_stack.environ(),  # localstripe's overrides: the stack's own webhook secret
        KEEL_CONFIG=str(config),
        KEEL_APP__ENV="development",
        KEEL_PLUGINS__REALTIME__DEMO="true",
        KEEL_PLUGINS__PAYMENTS__WEBHOOK_URL="http://127.0.0.1:9/api/webhooks/stripe",
        KEEL_DATABASE__NAME=f"pages_{unique}",
        KEEL_VALKEY__KEY_PREFIX=f"pages{unique}",
    )
    assert env["KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET"] != TEST_WEBHOOK_SECRET
    port = free_port()
    server = KeelProcess("serve", ["serve", "--port", str(port)], env, tmp_path / "serve.log", port)
    try:
        server.start().wait_ready()
        assert _status(server.url, "/dev/mailbox") == 404
        assert _status(server.url, "/dev/mailbox/00000000000000000000.eml") == 404
        assert _status(server.url, "/realtime/demo") == 404
        event = {
            "id": f"evt_{unique}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": f"pi_{unique}", "object": "payment_intent"}},
        }
        body = json.dumps(event).encode()
        answer = httpx.post(
            f"{server.url}/api/webhooks/stripe",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": _signed(body, TEST_WEBHOOK_SECRET),
            },
            timeout=10,
        )
        assert answer.status_code == 401, answer.text  # the public secret verifies nothing
    finally:
        server.kill()
