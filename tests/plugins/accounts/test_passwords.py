"""Password policy, argon2id parameters and the ``[auth]`` settings floors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ConfigError, UnprocessableError
from core.settings import AuthSettings, Settings, load_settings
from plugins.accounts.passwords import (
    PasswordHasher,
    check_policy,
    common_passwords,
    hash_threads,
)
from plugins.accounts.tokens import check_settings


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Settings]:
    """``load(**dotted)``: settings from an empty config file plus overrides."""
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")

    def load(**overrides: object) -> Settings:
        return load_settings(config, environ={}, overrides=overrides)

    return load


def test_owasp_minimums_are_the_floor(load: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            **{
                "auth.argon2_memory_kib": 8192,
                "auth.argon2_time_cost": 1,
                "auth.password_min_length": 6,
            }
        )
    text = str(caught.value)
    for path in ("auth.argon2_memory_kib", "auth.argon2_time_cost", "auth.password_min_length"):
        assert path in text


def test_default_hashes_are_argon2id_with_owasp_parameters() -> None:
    hasher = PasswordHasher(AuthSettings())
    assert hasher.parameters == "argon2id m=19456 KiB t=2 p=1"


async def test_hash_verify_and_rehash() -> None:
    hasher = PasswordHasher(AuthSettings())
    stored = await hasher.hash("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify(stored, "a long enough passphrase")
    assert not await hasher.verify(stored, "another passphrase")
    assert not await hasher.verify(None, "anything at all")
    assert not await hasher.verify("not a hash", "anything at all")
    assert not hasher.needs_rehash(stored)
    stronger = PasswordHasher(AuthSettings(argon2_time_cost=3))
    assert stronger.needs_rehash(stored)


def test_the_common_password_list_ships_with_the_package() -> None:
    words = common_passwords()
    assert len(words) == 1000
    assert {"password", "12345678", "iloveyou"} <= words
    assert all(len(w) >= 8 for w in words)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("x" * 257, "at most 256"),
        ("Password", "common"),
        ("me@example.com", "email"),
    ],
)
def test_policy_rejects(password: str, problem: str) -> None:
    with pytest.raises(UnprocessableError) as caught:
        check_policy(password, AuthSettings(), email="ME@example.com")
    assert problem in caught.value.message
    assert caught.value.details[0]["field"] == "password"


def test_policy_accepts_a_passphrase() -> None:
    check_policy("correct horse battery staple", AuthSettings(), email="me@example.com")


@pytest.mark.parametrize("env", ["production", "development", "test"])
def test_every_environment_needs_a_long_enough_jwt_secret(
    load: Callable[..., Settings], env: str
) -> None:
    base = {"app.env": env}
    (missing,) = check_settings(load(**base))
    assert "KEEL_AUTH__JWT_SECRET" in missing
    assert "at least 32 bytes" in missing
    short = load(**base, **{"auth.jwt_secret": "s" * 31})
    assert "too short" in check_settings(short)[0]
    assert check_settings(load(**base, **{"auth.jwt_secret": "s" * 32})) == []
    hs512 = load(**base, **{"auth.jwt_secret": "s" * 32, "auth.jwt_algorithm": "HS512"})
    assert "at least 64" in check_settings(hs512)[0]
    old = load(**base, **{"auth.jwt_secret": "s" * 32, "auth.jwt_previous_secrets": ["p"]})
    assert "auth.jwt_previous_secrets[0]: too short" in check_settings(old)[0]


def test_the_once_published_development_key_is_refused(load: Callable[..., Settings]) -> None:
    published = "keel-development-secret-not-for-production-use-keel-development-secret"
    (problem,) = check_settings(load(**{"auth.jwt_secret": published}))
    assert "published" in problem


_BURST = """
import asyncio, json, pathlib, sys
from core.settings import AuthSettings
from plugins.accounts.passwords import PasswordHasher

def rss_kib():
    status = pathlib.Path("/proc/self/status").read_text()
    return next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmRSS:"))

async def main():
    hasher = PasswordHasher(AuthSettings())
    stored = await hasher.hash("a long enough passphrase")
    before = rss_kib()
    for _ in range(3):
        checks = [hasher.verify(stored, "a long enough passphrase") for _ in range(12)]
        assert all(await asyncio.gather(*checks))
    print(json.dumps({"grown_kib": rss_kib() - before}))

asyncio.run(main())
"""


def test_a_burst_of_logins_keeps_a_bounded_amount_of_argon2_memory() -> None:
    # glibc keeps a freed argon2 block in the malloc arena of each thread that hashed:
    # 12 logins at once through the default executor (cpu_count + 4 threads) left up to
    # that many 19 MiB blocks behind for good. A fresh process, so nothing else has hashed.
    # Runtime: ~2 s.
    done = subprocess.run(
        [sys.executable, "-c", _BURST], capture_output=True, text=True, timeout=60, check=True
    )
    grown = json.loads(done.stdout)["grown_kib"]
    bound = (hash_threads() + 1) * AuthSettings().argon2_memory_kib
    assert grown <= bound, f"RSS grew {grown} KiB after 36 logins, more than {bound} KiB"
