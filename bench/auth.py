"""Authentication cost: login (argon2id) and an authenticated read, against GET /health/live.

Starts the embedded stack, creates a user with ``keel users create-admin``, runs one
``keel serve`` process (production settings, rate limits off so the numbers show the
work, not the limiter) and measures, with one load generator in the same run:

- ``POST /api/auth/login``: req/s and p99 (argon2id verification dominates; the
  parameters are printed);
- ``GET /api/users/me`` with a bearer token (JWT check + revocation lookup in Valkey +
  one MongoDB read), relative to ``GET /health/live``; and ``GET /api/users/x`` (the
  same authentication, then a 404 for the malformed id: no MongoDB) to split the two.

    .venv/bin/python bench/auth.py [--seconds 3] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import argon2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Result, measure, table
from bench._servers import base_env, free_port, keel_argv, process
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import Settings, load_settings
from plugins.accounts.passwords import PasswordHasher

EMAIL = "bench.admin@example.com"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 - a throwaway bench account
ROOT = Path(__file__).resolve().parent.parent


def _login(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/login",
        data=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.load(response)["accessToken"]
        return token


def _argon2_alone(settings: Settings, seconds: float = 2.0) -> float:
    """Raw argon2id verifications per second on two threads: the ceiling of login."""
    auth = settings.auth
    raw = argon2.PasswordHasher(
        time_cost=auth.argon2_time_cost,
        memory_cost=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
    )
    stored = raw.hash(PASSWORD)
    deadline = time.perf_counter() + seconds

    def spin() -> int:
        done = 0
        while time.perf_counter() < deadline:
            raw.verify(stored, PASSWORD)
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        total = sum(pool.map(lambda _: spin(), range(2)))
    return total / (time.perf_counter() - start)


def _median(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def _run(port: int, args: argparse.Namespace, settings: Settings) -> tuple[list[Result], float]:
    token = _login(port)
    login_body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    auth = {"Authorization": f"Bearer {token}"}
    cases: dict[str, tuple[str, dict[str, str], int]] = {
        "GET /health/live": ("/health/live", {}, 200),
        # authenticated, then a 404 for a malformed id: the auth cost without MongoDB
        "GET /api/users/<bad id>": ("/api/users/x", auth, 404),
        "GET /api/users/me": ("/api/users/me", auth, 200),
    }
    rounds: dict[str, list[Result]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(args.rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            path, headers, status = cases[name]
            rounds[name].append(
                asyncio.run(
                    measure(
                        name,
                        port,
                        path,
                        headers=headers,
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                        ok=frozenset({status}),
                    )
                )
            )
    ceiling = _argon2_alone(settings)  # just before login, while the server idles
    login = asyncio.run(
        measure(
            "POST /api/auth/login",
            port,
            "/api/auth/login",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=login_body,
            concurrency=args.login_concurrency,
            seconds=args.login_seconds,
        )
    )
    return [*(_median(rs) for rs in rounds.values()), login], ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--login-seconds", type=float, default=5.0)
    parser.add_argument("--login-concurrency", type=int, default=8)
    args = parser.parse_args()
    installed = discover()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text("", encoding="utf-8")
        settings = load_settings(config, environ={}, plugin_types=plugin_settings_types(installed))
        with DevStack(settings, [], data_dir=Path(tmp) / "stack", ephemeral=True) as stack:
            env = base_env(
                {
                    **stack.environ(),
                    "KEEL_CONFIG": str(config),
                    "KEEL_APP__ENV": "production",
                    "KEEL_APP__ACCESS_LOG": "false",
                    "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                    "KEEL_DATABASE__NAME": "bench_auth",
                    "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
                    "KEEL_ADMIN_PASSWORD": PASSWORD,
                }
            )
            keel = str(Path(sys.executable).with_name("keel"))
            subprocess.run(
                [keel, "users", "create-admin", "--email", EMAIL, "--name", "Bench"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            port = free_port()
            with process(keel_argv(port), env, f"http://127.0.0.1:{port}/health/live"):
                results, ceiling = _run(port, args, settings)
    print(
        f"keel serve (1 process), {args.concurrency} connections ({args.login_concurrency} "
        f"for login), median of {args.rounds} rounds of {args.seconds:.0f} s "
        f"(login: one run of {args.login_seconds:.0f} s)"
    )
    print(
        f"password hashing: {PasswordHasher(settings.auth).parameters}; "
        f"argon2id verify alone (2 threads, this run): {ceiling:.1f}/s"
    )
    print(table(results, baseline="GET /health/live"))
    me = next(r for r in results if r.name == "GET /api/users/me")
    live = next(r for r in results if r.name == "GET /health/live")
    login = results[-1]
    print(
        f"\nlogin: {login.rps:.1f} req/s ({login.rps / ceiling:.0%} of raw argon2id), "
        f"p50 {statistics.median(login.latencies_ms):.0f} ms, p99 {login.p99:.0f} ms; "
        f"GET /api/users/me = {me.rps / live.rps:.0%} of GET /health/live"
    )


if __name__ == "__main__":
    main()
