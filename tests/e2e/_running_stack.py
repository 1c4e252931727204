"""A real ``keel run`` (or ``make run``) in a scratch directory, and CLI commands beside it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any ``KEEL_*`` variable (as on a fresh shell), plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {**base, "COLUMNS": "200", **extra}


def run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion in ``cwd``, in its own session (no terminal: a password
    prompt reads its answer from ``stdin``, as when typed)."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,
    )


class Background:
    """A long-running command (``keel run``, ``make run``) whose output goes to a file."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.argv, self.cwd, self.env, self.log_path = list(argv), cwd, dict(env), log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, api: str, timeout: float = 120.0) -> None:
        """Wait until ``api``'s ``/health/ready`` answers 200 (fails if the process ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.argv} exited:\n{self.output()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"{self.argv} not ready in {timeout} s:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM its process group (as Ctrl-C in its terminal would stop it all); the exit
        code, or None if it had to be killed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """Make sure it is gone (teardown)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


def login(api: str, email: str, password: str) -> dict[str, Any]:
    """``POST /api/auth/login``; the token pair (asserts 200)."""
    response = httpx.post(
        f"{api}/api/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def get(api: str, path: str, token: str, **params: Any) -> Any:
    """``GET path`` with ``token``; the JSON body (asserts 200)."""
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{api}{path}", headers=headers, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()
