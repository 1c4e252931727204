"""Fuzz a real keel with schemathesis: ``make fuzz`` (CI), or ``python tools/fuzz.py``.

Starts ``keel run`` (API + worker + embedded SecantusDB, valkey-server and dev services)
on a fresh data directory seeded by ``keel demo`` plus an admin, signs in the demo
customer and provider and the admin, then runs ``st run`` against
``/schema/openapi.json`` once per role (anonymous, customer, provider, admin) with
``--checks all`` and the phases examples, coverage, fuzzing and stateful, each bounded
by ``--max-time``. Prints, per role, the operations tested, the cases generated and the
failures, and exits non-zero on any failure. There is no baseline file: every failure
counts. Which checks are off, and why, is in ``tools/schemathesis.toml``.

Every token is taken before the first run: the anonymous run fuzzes ``/api/auth/login``
and its failed logins would get later sign-ins throttled. A signed-in role does not run
the operations that end its own session or account (logout, password change, deleting
a session or a user): one such case would turn the rest of the run into 401s. The
anonymous run covers them (they answer 401), and their own tests cover the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = Path(__file__).with_name("schemathesis.toml")
PLUGINS = ["bookings", "search", "realtime", "payments", "cron", "notifications"]
ROLES = ["anonymous", "customer", "provider", "admin"]
ADMIN_EMAIL = "fuzz.admin@example.com"
ADMIN_PASSWORD = "fuzzing admin passphrase 2026"  # noqa: S105 - a throwaway stack
DEMO_EMAILS = {"customer": "demo.customer@example.com", "provider": "demo.provider@example.com"}
SELF_ENDING = (
    r"^/api/auth/(logout|logout-all|change-password)$"
    r"|^/api/auth/sessions/\{[^}]+\}$"
    r"|^/api/users/\{[^}]+\}$"
    r"|^/api/admin/toggles$"
)
"""Paths whose operations end the caller's session or account, or switch the fuzzed
server's plugins off for the rest of the run (``PUT /api/admin/toggles``): run as
anonymous only."""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(data: Path, port: int) -> dict[str, str]:
    config = data / "config.toml"
    enabled = ", ".join(f'"{name}"' for name in PLUGINS)
    config.write_text(
        '[app]\nenv = "development"\nlog_level = "WARNING"\n\n'
        f"[server]\nport = {port}\ngrace_period_s = 5.0\n\n"
        f"[plugins]\nenabled = [{enabled}]\n",
        encoding="utf-8",
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {
        **base,
        "KEEL_CONFIG": str(config),
        "KEEL_DEVSTACK__DATA_DIR": str(data / "var"),
        "KEEL_UPLOADS__DIR": str(data / "var" / "uploads"),
        # the default per-client budget would turn most of a run into 429s; routes'
        # own limits (sign-in, sign-up...) stay, and so do their documented 429s
        "KEEL_SERVER__RATE_LIMIT__DEFAULT_PER_MINUTE": "1000000",
        "KEEL_AUTH__ACCESS_TTL_S": "86400",  # tokens outlive the whole run
    }


def _keel(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - our own CLI
        [str(BIN / "keel"), *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"keel {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"keel run exited:\n{log.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:  # noqa: PLR2004
                return
        time.sleep(0.2)
    raise SystemExit(f"keel run not ready in {timeout} s:\n{log.read_text(errors='replace')}")


def _token(url: str, email: str, password: str) -> str:
    response = httpx.post(
        f"{url}/api/auth/login", json={"email": email, "password": password}, timeout=30
    )
    body = response.json()
    token = body.get("accessToken") or body.get("access_token")
    if response.status_code != 200 or not token:  # noqa: PLR2004
        raise SystemExit(f"signing in {email} failed: {response.status_code} {response.text}")
    return str(token)


@dataclass
class Outcome:
    """What one role's run found."""

    role: str
    operations: int
    cases: int
    failures: int
    code: int


def _figures(report: Path) -> tuple[int, int, int]:
    """(operations, cases generated, distinct failures) from an ndjson events report."""
    operations: set[str] = set()
    failures: set[tuple[str, str, str]] = set()
    cases = 0
    if not report.exists():
        return 0, 0, 0
    for line in report.read_text(encoding="utf-8").splitlines():
        event: dict[str, Any] = json.loads(line)
        data = event.get("ScenarioFinished")
        if not isinstance(data, dict):
            continue
        recorder = data.get("recorder") or {}
        if data.get("phase") != "stateful" and recorder.get("label"):
            operations.add(recorder["label"])
        cases += len(recorder.get("cases") or {})
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                failure = ((check.get("failure_info") or {}).get("failure")) or {}
                if check.get("status") == "failure":
                    key = (failure.get("operation", ""), failure.get("code", ""))
                    failures.add((*key, str(failure.get("message", "")).split("\n")[0]))
    return len(operations), cases, len(failures)


def _run_role(
    role: str, url: str, token: str | None, args: argparse.Namespace, out: Path
) -> Outcome:
    report = out / f"{role}.ndjson"
    command = [
        str(BIN / "st"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/schema/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        str(args.max_time),
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--seed",
        str(args.seed),
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    if args.include_path_regex:
        command += ["--include-path-regex", args.include_path_regex]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
        command += ["--exclude-path-regex", SELF_ENDING]
    shown = " ".join(c if "Bearer" not in c else "'Authorization: Bearer …'" for c in command)
    _say(f"\n=== {role}: {shown}")
    code = subprocess.run(command, check=False).returncode  # noqa: S603 - schemathesis
    operations, cases, failures = _figures(report)
    return Outcome(role, operations, cases, failures, code)


def main() -> int:
    """Start the stack, run schemathesis per role, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=55, help="seconds per role")
    parser.add_argument("--max-examples", type=int, default=50, help="cases per operation")
    # One worker: with two, hypothesis' lambda descriptions run ast.parse in two threads
    # at once and CPython 3.11 can fail with "AST constructor recursion depth mismatch"
    # (cpython gh-106905), which ends a role's run as a runtime error.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated")
    parser.add_argument("--keep", type=Path, default=None, help="data + reports here")
    parser.add_argument(
        "--include-path-regex", default="", help="fuzz only these paths (e.g. '^/api/search')"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        env = _environment(work, port)
        _keel(["demo"], env)
        _keel(
            ["users", "create-admin", "--email", ADMIN_EMAIL, "--name", "Fuzz Admin"],
            {**env, "KEEL_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        log = work / "keel-run.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                [str(BIN / "keel"), "run"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(_stop, proc)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc, log, 90)
        demo_password = "demo passphrase 2026"  # noqa: S105 - bookings' default demo_password
        tokens: dict[str, str | None] = {
            "anonymous": None,
            **{role: _token(url, email, demo_password) for role, email in DEMO_EMAILS.items()},
            "admin": _token(url, ADMIN_EMAIL, ADMIN_PASSWORD),
        }
        outcomes = [
            _run_role(role, url, tokens[role], args, work) for role in args.roles.split(",")
        ]
    _say("\nrole       operations  cases  failures")
    for o in outcomes:
        _say(f"{o.role:<10} {o.operations:>10} {o.cases:>6} {o.failures:>9}")
    return 0 if all(o.code == 0 and o.failures == 0 for o in outcomes) else 1


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
