"""CLI commands while ``keel run`` runs: they use its services and act on its data.

One real ``keel run`` in a scratch directory (data in its ``./var``); every command runs
as an operator would run it in a second terminal, and its effect is read back through
the running server's API (or its Valkey, named by the descriptor).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _keel_procs import BUILT_INS, KEEL, free_port, write_config
from _running_stack import Background, clean_env, get, login, run

from core.devstack import StackDescriptor, StackService

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

ADMIN, ADMIN_PASSWORD = "ops@example.com", "operator passphrase 2026"
DEMO_PASSWORD = "demo passphrase 2026"  # the public demo accounts' default
SCHEDULE = "cron.cleanup_otps"


def keel(cwd: Path, env: dict[str, str], *args: str, **extra: str) -> str:
    """``keel <args>`` in ``cwd``; its stdout (asserts exit 0)."""
    result = run([KEEL, *args], cwd, {**env, **extra})
    assert result.returncode == 0, f"keel {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "WiredTiger" not in result.stderr
    return result.stdout


def stale_descriptor(var: Path) -> Path:
    """A descriptor left by a ``keel run`` that died without removing it."""
    argv = [sys.executable, "-c", "import os; print(os.getpid())"]
    pid = int(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    descriptor = StackDescriptor(
        pid=pid,
        started="",
        data_dir=str(var),
        api="http://127.0.0.1:1",
        services={"valkey": StackService(pid=pid, port=1, url="redis://127.0.0.1:1/0")},
        settings={"valkey.url": "redis://127.0.0.1:1/0"},
    )
    var.mkdir(exist_ok=True)
    path = var / "keel-run.json"
    path.write_bytes(msgspec.json.encode(descriptor))
    return path


def test_cli_commands_act_on_a_running_keel_run(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=BUILT_INS)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = clean_env(KEEL_CONFIG=str(config), KEEL_SERVER__PORT=str(port))
    var = tmp_path / "var"

    # No keel run: a stale descriptor is ignored (and removed); the command starts its own.
    stale = stale_descriptor(var)
    assert "email" in keel(tmp_path, env, "users", "list")
    assert not stale.exists()

    stale_descriptor(var)
    server = Background([KEEL, "run"], tmp_path, env, tmp_path / "keel-run.log")
    try:
        server.wait_ready(api)
        descriptor = msgspec.json.decode((var / "keel-run.json").read_bytes())
        assert descriptor["pid"] == server.proc.pid  # the stale one was replaced
        assert (var / "keel-run.json").stat().st_mode & 0o777 == 0o600
        check_commands(tmp_path, env, api, descriptor)
        second = run([KEEL, "run"], tmp_path, {**env, "KEEL_SERVER__PORT": str(free_port())})
        assert second.returncode == 1
        assert f"keel run is already running on {var} (pid {server.proc.pid}" in second.stderr
        assert server.stop() == 0
    finally:
        server.kill()
    assert not (var / "keel-run.json").exists()


def check_commands(cwd: Path, env: dict[str, str], api: str, descriptor: dict[str, Any]) -> None:
    args = ["users", "create-admin", "--email", ADMIN, "--name", "Ops"]
    out = keel(cwd, env, *args, KEEL_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert f"created admin {ADMIN}" in out
    token = login(api, ADMIN, ADMIN_PASSWORD)["accessToken"]
    assert get(api, "/api/users/me", token)["role"] == "admin"

    out = keel(cwd, env, "demo")
    assert "demo.provider@example.com" in out
    login(api, "demo.provider@example.com", DEMO_PASSWORD)
    login(api, "demo.customer@example.com", DEMO_PASSWORD)

    keel(cwd, env, "cron", "run", SCHEDULE)
    runs = get(api, f"/api/cron/jobs/{SCHEDULE}/history", token)["items"]
    assert [(r["trigger"], r["outcome"]) for r in runs] == [("cli", "success")]

    out = keel(cwd, env, "cron", "pause", SCHEDULE)
    assert out.startswith(f"paused {SCHEDULE}")
    assert job(api, token)["paused"] is True
    out = keel(cwd, env, "cron", "history", SCHEDULE)
    header, first, *_ = out.splitlines()
    assert header.split() == ["started", "trigger", "outcome", "took", "attempt", "worker", "error"]
    assert first.split()[2:4] == ["cli", "success"]  # the date and time come first
    assert out.splitlines()[-1] == "runs 1-1 of 1"
    out = keel(cwd, env, "cron", "resume", SCHEDULE)
    assert out.startswith(f"resumed {SCHEDULE}: next run ")
    assert job(api, token)["paused"] is False

    unknown = run([KEEL, "cron", "pause", "nope"], cwd, env)
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines()[-1].startswith("keel: no schedule named 'nope'; known: ")
    assert "Traceback" not in unknown.stderr

    live = cwd / "search" / "CURRENT"  # the index generation keel run's readers serve
    generation = live.read_text(encoding="utf-8")
    out = keel(cwd, env, "search", "reindex")
    assert "48 service(s)" in out
    assert live.read_text(encoding="utf-8") != generation  # rebuilt and swapped in
    found = get(api, "/api/search/services", token, query="cleaning")
    assert found["total"] >= 6

    out = keel(cwd, env, "backup", "--dir", str(cwd / "backups"))
    summary = json.loads(out[out.index("{") :])
    assert sum(summary["collections"].values()) > 48  # the demo data and the admin
    assert os.stat(summary["path"]).st_mode & 0o777 == 0o600


def job(api: str, token: str) -> dict[str, Any]:
    jobs = get(api, "/api/cron/jobs", token)["items"]
    return next(j for j in jobs if j["name"] == SCHEDULE)
