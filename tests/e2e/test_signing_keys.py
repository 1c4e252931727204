"""Signing keys with real processes: no key, no server; the dev key; forged tokens.

``keel serve`` and ``keel worker`` refuse to start without ``auth.jwt_secret``, whatever
``app.env`` says; ``keel run`` makes a key once under its data directory and keeps it, so
tokens survive a restart; and neither accepts a token forged with the key that once
shipped in keel's source, nor one of a user who does not exist.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from _keel_procs import KeelProcess, free_port, run_keel, write_config
from bson import ObjectId

from plugins.accounts.tokens import key_id

PUBLISHED_KEY = "keel-development-secret-not-for-production-use-keel-development-secret"
PASSWORD = "correct horse battery staple"


def _base_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {**base, **extra}


def _forged(key: str, user_id: str, role: str = "admin", *, kid: bool = True) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": role,
        "fam": "f" * 32,
        "typ": "access",
        "iss": "keel",
        "aud": "keel-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    headers = {"kid": key_id(key)} if kid else None
    return jwt.encode(claims, key, algorithm="HS256", headers=headers)


def _status(base: str, path: str, token: str) -> int:
    response = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    return response.status_code


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["config", "check"]])
@pytest.mark.parametrize("app_env", ["production", "development"])
def test_no_key_no_start(tmp_path: Path, command: list[str], app_env: str) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[])
    env = _base_env(KEEL_CONFIG=str(config), KEEL_APP__ENV=app_env)
    result = run_keel(command, env, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "KEEL_AUTH__JWT_SECRET" in lines[0]
    assert "at least 32 bytes" in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_refuses_the_published_key_as_its_own(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[])
    env = _base_env(KEEL_CONFIG=str(config), KEEL_AUTH__JWT_SECRET=PUBLISHED_KEY)
    result = run_keel(["serve"], env, timeout=30)
    assert result.returncode == 1
    assert "published" in result.stderr


def test_keel_serve_refuses_forged_tokens(keel_stack: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[])
    unique = ObjectId()
    env = _base_env(
        **keel_stack.environ(),
        KEEL_CONFIG=str(config),
        KEEL_DATABASE__NAME=f"keys_{unique}",
        KEEL_VALKEY__KEY_PREFIX=f"keys{unique}",
    )
    port = free_port()
    server = KeelProcess("serve", ["serve", "--port", str(port)], env, tmp_path / "serve.log", port)
    try:
        server.start().wait_ready()
        nobody = str(ObjectId())
        for token in (
            _forged(PUBLISHED_KEY, nobody),
            _forged(PUBLISHED_KEY, nobody, kid=False),
            _forged(env["KEEL_AUTH__JWT_SECRET"], nobody),  # the right key, no such user
        ):
            assert _status(server.url, "/api/users/me", token) == 401
            assert _status(server.url, "/api/users", token) == 401
    finally:
        server.kill()


def test_keel_run_makes_a_key_once_and_its_tokens_survive_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[])
    data = tmp_path / "var"
    port = free_port()
    env = _base_env(
        KEEL_CONFIG=str(config),
        KEEL_DEVSTACK__DATA_DIR=str(data),
        KEEL_UPLOADS__DIR=str(data / "uploads"),
        KEEL_SERVER__PORT=str(port),
    )
    created = run_keel(
        ["users", "create-admin", "--email", "root@example.com", "--name", "Root"],
        {**env, "KEEL_ADMIN_PASSWORD": PASSWORD},
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    key_file = data / "jwt_secret"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()

    first = KeelProcess("run1", ["run"], env, tmp_path / "run1.log", port)
    try:
        first.start().wait_ready(60)
        login = httpx.post(
            f"{first.url}/api/auth/login",
            json={"email": "root@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        assert _status(first.url, "/api/users/me", token) == 200
        admin_id = httpx.get(
            f"{first.url}/api/users/me", headers={"Authorization": f"Bearer {token}"}
        ).json()["id"]
        assert _status(first.url, "/api/users", _forged(PUBLISHED_KEY, admin_id)) == 401
        first.send(signal.SIGTERM)
        assert first.wait(30)[0] == 0, first.output()[-3000:]
    finally:
        first.kill()

    second = KeelProcess("run2", ["run"], env, tmp_path / "run2.log", port)
    try:
        second.start().wait_ready(60)
        assert _status(second.url, "/api/users/me", token) == 200
        assert key_file.read_text() == key
    finally:
        second.kill()
