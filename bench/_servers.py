"""Start keel and bare comparison servers as subprocesses for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@contextlib.contextmanager
def process(argv: list[str], env: Mapping[str, str], ready_url: str) -> Iterator[None]:
    """Run ``argv`` until the block ends; its output is shown only if it never gets ready."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, env=dict(env), cwd=ROOT, stdout=log, stderr=log)
        try:
            try:
                wait_http(ready_url)
            except OSError:
                log.seek(0)
                sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
                raise
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def uvicorn_argv(target: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def keel_argv(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("keel")), "serve", "--port", str(port)]


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(extra)
    return env


@contextlib.contextmanager
def embedded_keel(
    plugins: list[str], database: str, extra: Mapping[str, str] | None = None
) -> Iterator[tuple[DevStack, dict[str, str]]]:
    """An ephemeral embedded stack and the environment for ``keel serve`` processes on it.

    The environment runs keel as in production (JSON logs, a random JWT key) with only
    ``plugins`` enabled, no access log and no rate limits (the benchmark is one client),
    plus ``extra``.
    """
    installed = discover()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        enabled = ", ".join(f'"{name}"' for name in plugins)
        config.write_text(f"[plugins]\nenabled = [{enabled}]\n", encoding="utf-8")
        types = plugin_settings_types(installed)
        settings = load_settings(config, environ={}, plugin_types=types)
        with DevStack(settings, [], data_dir=Path(tmp) / "stack", ephemeral=True) as stack:
            env = base_env(
                {
                    **stack.environ(),
                    "KEEL_CONFIG": str(config),
                    "KEEL_APP__ENV": "production",
                    "KEEL_APP__ACCESS_LOG": "false",
                    "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                    "KEEL_DATABASE__NAME": database,
                    "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
                    **(extra or {}),
                }
            )
            yield stack, env
