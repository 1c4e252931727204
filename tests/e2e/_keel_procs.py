"""Starting and watching real ``keel`` processes for the e2e tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

KEEL = str(Path(sys.executable).with_name("keel"))
BUILT_INS = ["bookings", "search", "realtime", "payments", "cron", "notifications"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, *, enabled: list[str], extra: str = "") -> Path:
    """A config.toml enabling ``enabled``, quiet logs, a short grace period, plus ``extra``
    (and, with search enabled, a search index next to the file)."""
    names = ", ".join(f'"{n}"' for n in enabled)
    if "search" in enabled:  # each test's own index, not ./var/search
        extra += f'\n[plugins.search]\nindex_dir = "{path.parent / "search"}"\n'
    path.write_text(
        f'[app]\nenv = "test"\nlog_level = "WARNING"\n\n'
        f"[server]\ngrace_period_s = 5.0\n\n"
        f"{extra}\n"
        f"[plugins]\nenabled = [{names}]\n",
        encoding="utf-8",
    )
    return path


def run_keel(args: list[str], env: Mapping[str, str], timeout: float = 60) -> Any:
    """Run ``keel <args>`` to completion; returns the ``CompletedProcess``."""
    return subprocess.run(
        [KEEL, *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class KeelProcess:
    """A long-running ``keel`` process whose output goes to a file."""

    name: str
    args: list[str]
    env: Mapping[str, str]
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)
    _signalled_at: float = field(default=0.0, repr=False)

    def start(self) -> KeelProcess:
        """Start the process (its own session, so signals reach it alone)."""
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [KEEL, *self.args],
            env=dict(self.env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def url(self) -> str:
        """Base URL of an API process."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def check_alive(self) -> None:
        """Fail with the process's output if it has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            msg = f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-4000:]}"
            raise AssertionError(msg)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/health/ready`` answers 200."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/health/ready", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            time.sleep(0.1)
        msg = f"{self.name} not ready in {timeout} s ({last}):\n{self.output()[-4000:]}"
        raise AssertionError(msg)

    def send(self, signum: int) -> None:
        """Send ``signum`` to the process and note the time, for :meth:`wait`."""
        assert self.proc is not None
        self._signalled_at = time.monotonic()
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> tuple[int | None, float]:
        """(exit code or None if still running after ``timeout``, seconds since signalled)."""
        assert self.proc is not None
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, round(time.monotonic() - self._signalled_at, 2)

    def kill(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
