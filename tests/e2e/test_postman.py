"""The exported Postman collection, run by newman against ``keel run`` seeded by ``keel demo``.

newman is pinned in ``tools/package.json`` (``make tools`` installs it); the test installs
it the same way when it is missing, and is skipped only where Node or npm is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _keel_procs import BUILT_INS, KeelProcess, free_port, run_keel, write_config

pytestmark = pytest.mark.e2e

TOOLS = Path(__file__).resolve().parents[2] / "tools"
NEWMAN = TOOLS / "node_modules" / ".bin" / "newman"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin passphrase 2026"

# The seed's Postman collection (FEATURES.md, "Collection Structure": 31 endpoints) and
# the keel operation each became.
SEED_ENDPOINTS = {
    # Auth (7): register, login, OTP (verify, resend), password reset (forgot, reset),
    # and the token refresh the seed's auto token management uses
    "POST /api/auth/register",
    "POST /api/auth/login",
    "POST /api/auth/verify-otp",
    "POST /api/auth/resend-otp",
    "POST /api/auth/refresh",
    "POST /api/auth/forgot-password",
    "POST /api/auth/reset-password",
    # Users (6): CRUD (list, get, update, delete) and the profile (get, update)
    "GET /api/users",
    "GET /api/users/{user_id}",
    "PATCH /api/users/{user_id}",
    "DELETE /api/users/{user_id}",
    "GET /api/users/me",
    "PATCH /api/users/me",
    # Search (3): global, services, autocomplete
    "GET /api/search",
    "GET /api/search/services",
    "GET /api/search/autocomplete",
    # Uploads (2): single, multiple
    "POST /api/uploads",
    "POST /api/uploads/multiple",
    # Notifications (5): get, mark read, mark all read, delete, unread count
    "GET /api/notifications",
    "PATCH /api/notifications/{notification_id}/read",
    "POST /api/notifications/read-all",
    "DELETE /api/notifications/{notification_id}",
    "GET /api/notifications/unread-count",
    # Payments (3): create an intent (Stripe), list, get one
    "POST /api/payments/intents",
    "GET /api/payments",
    "GET /api/payments/{payment_id}",
    # Webhooks (1): Stripe
    "POST /api/webhooks/stripe",
    # Health (4): basic, detailed, the K8s probes (liveness, readiness)
    "GET /health",
    "GET /health/detailed",
    "GET /health/live",
    "GET /health/ready",
}


def _newman() -> Path:
    """newman from tools/, installed from the lock file if needed; skip without Node."""
    if NEWMAN.exists() and shutil.which("node"):
        return NEWMAN
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        pytest.skip("Node.js and npm are needed to run newman (apt-get install nodejs npm)")
    done = subprocess.run(
        [npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return NEWMAN


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    config = write_config(tmp_path / "config.toml", enabled=BUILT_INS)
    data = tmp_path / "var"
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {
        **base,
        "KEEL_CONFIG": str(config),
        "KEEL_DEVSTACK__DATA_DIR": str(data),
        "KEEL_UPLOADS__DIR": str(data / "uploads"),
        "KEEL_SERVER__PORT": str(port),
    }


def _seed(env: dict[str, str]) -> None:
    """``keel demo``, an admin and one past confirmed booking (before ``keel run``)."""
    demo = run_keel(["demo"], env, timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    admin = run_keel(
        ["users", "create-admin", "--email", ADMIN_EMAIL, "--name", "Admin"],
        {**env, "KEEL_ADMIN_PASSWORD": ADMIN_PASSWORD},
        timeout=120,
    )
    assert admin.returncode == 0, admin.stdout + admin.stderr


def _operations(collection: dict[str, Any]) -> list[str]:
    """``"METHOD /path/{param}"`` of every request in the collection, in order."""
    out: list[str] = []
    for item in collection["item"]:
        if "item" in item:
            out += _operations(item)
        else:
            request = item["request"]
            path = "/".join(
                "{" + p[1:] + "}" if p.startswith(":") else p for p in request["url"]["path"]
            )
            out.append(f"{request['method']} /{path}")
    return out


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{f['source'].get('name', '?')}: {f['error'].get('test') or f['error'].get('name')}: "
        f"{f['error'].get('message')}"
        for f in report["run"]["failures"]
    ]


@pytest.mark.timeout(900)
def test_the_collection_runs_green_against_keel_run(tmp_path: Path) -> None:
    newman = _newman()
    port = free_port()
    env = _env(tmp_path, port)
    _seed(env)
    server = KeelProcess("run", ["run"], env, tmp_path / "run.log", port)
    try:
        server.start().wait_ready(120)
        out = tmp_path / "postman"
        exported = run_keel(["export", "postman", "--out", str(out)], env, timeout=120)
        assert exported.returncode == 0, exported.stdout + exported.stderr
        collection = json.loads((out / "keel.postman_collection.json").read_text("utf-8"))
        environment = out / "keel-local.postman_environment.json"
        assert f"http://127.0.0.1:{port}" in environment.read_text("utf-8")
        assert set(_operations(collection)) >= SEED_ENDPOINTS

        report_path = tmp_path / "newman.json"
        run = subprocess.run(
            [
                str(newman), "run", str(out / "keel.postman_collection.json"),
                "--environment", str(environment),
                "--working-dir", str(out),
                "--env-var", f"adminEmail={ADMIN_EMAIL}",
                "--env-var", f"adminPassword={ADMIN_PASSWORD}",
                "--reporters", "cli,json",
                "--reporter-json-export", str(report_path),
                "--timeout-request", "30000",
                "--color", "off",
                "--disable-unicode",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )  # fmt: skip
        report = json.loads(report_path.read_text("utf-8"))
        output = run.stdout[-20000:] + run.stderr[-4000:]
        assert _failures(report) == [], output
        assert run.returncode == 0, output
        stats = report["run"]["stats"]
        assert stats["assertions"]["failed"] == 0, output
        ran = {
            f"{e['item']['request']['method']} "
            + "/" + "/".join(
                "{" + p[1:] + "}" if p.startswith(":") else p
                for p in e["item"]["request"]["url"]["path"]
            )
            for e in report["run"]["executions"]
            if e.get("assertions")
        }  # fmt: skip
        assert ran >= SEED_ENDPOINTS, sorted(SEED_ENDPOINTS - ran)
        # skipped without a room, which only the WebSocket makes (nothing else may skip)
        assert set(_operations(collection)) - ran <= {"GET /api/realtime/rooms/{room_id}/messages"}
        server.check_alive()
    finally:
        server.kill()
