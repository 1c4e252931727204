"""``keel users create-admin`` and ``keel users list`` against the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from core.cli import main
from core.settings import Settings

from .conftest import PASSWORD, Env


@pytest.fixture
async def cli_env(make_env: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Env]:
    async with make_env() as env:
        settings: Settings = env.keel.settings
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[database]
url = "{settings.database.url}"
name = "{settings.database.name}"
[valkey]
url = "{settings.valkey.url}"
key_prefix = "{settings.valkey.key_prefix}"
[auth]
jwt_secret = "{settings.auth.jwt_secret}"
[plugins]
enabled = []
""",
            encoding="utf-8",
        )
        env.config = str(config)
        yield env


async def _keel(args: list[str], *, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, main, args, env=env, input=stdin, catch_exceptions=False
    )


def _create(env: Env, email: str, *extra: str) -> list[str]:
    config = env.config
    return ["users", "create-admin", "--config", config, "--email", email, "--name", "Root", *extra]


async def test_create_admin_with_password_option(cli_env: Env) -> None:
    env = cli_env
    email = env.email("root")
    result = await _keel(_create(env, email, "--password", PASSWORD))
    assert result.exit_code == 0, result.output
    assert f"created admin {email}" in result.output
    tokens = await env.login(email)
    me = await env.client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"}
    )
    assert (me.json()["role"], me.json()["verified"]) == ("admin", True)


async def test_create_admin_reads_the_environment_then_a_prompt(cli_env: Env) -> None:
    env = cli_env
    from_env = env.email("env")
    result = await _keel(_create(env, from_env), env={"KEEL_ADMIN_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    await env.login(from_env)

    prompted = env.email("prompt")
    result = await _keel(
        _create(env, prompted), env={"KEEL_ADMIN_PASSWORD": ""}, stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    await env.login(prompted)


async def test_create_admin_refuses_duplicates_and_weak_passwords(cli_env: Env) -> None:
    env = cli_env
    user = await env.user()
    duplicate = await _keel(_create(env, user.email.upper(), "--password", PASSWORD))
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output
    weak = await _keel(_create(env, env.email(), "--password", "password"))
    assert weak.exit_code == 1
    assert "common" in weak.output


async def test_users_list(cli_env: Env) -> None:
    env = cli_env
    provider = await env.user(role="provider")
    customer = await env.user(role="customer")
    config = env.config
    result = await _keel(["users", "list", "--config", config])
    assert result.exit_code == 0, result.output
    assert provider.email in result.output
    assert customer.email in result.output
    only = await _keel(["users", "list", "--config", config, "--role", "provider"])
    assert provider.email in only.output
    assert customer.email not in only.output
