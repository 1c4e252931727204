"""One child process of the devstack: spawned so it never outlives keel, logged to a file."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _death_signal_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    The kernel ties the death signal to the *thread* that forked, not the process, so
    it is only armed from the main thread: a child started from a short-lived worker
    thread would otherwise be killed when that thread ends.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: keep it minimal
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


class ChildProcess:
    """A service process whose stdout and stderr go to ``log_path``.

    The child runs in its own session, so a terminal's Ctrl-C reaches only keel, which
    then stops its children in order; if keel dies without doing so, the kernel kills
    them (see :func:`_death_signal_preexec`).
    """

    def __init__(
        self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env)
        self._log_offset = 0
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id (after :meth:`spawn`)."""
        if self._popen is None:
            raise RuntimeError(f"{self.name}: not spawned")
        return self._popen.pid

    def spawn(self) -> None:
        """Start the process.

        Raises:
            OSError: the executable is missing or not runnable.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._popen = subprocess.Popen(  # noqa: S603 - argv built by the devstack
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=_death_signal_preexec(),  # noqa: PLW1509 - see its docstring
            )

    def exit_code(self) -> int | None:
        """The exit status once the process has ended, else None."""
        return None if self._popen is None else self._popen.poll()

    def terminate(self) -> None:
        """Ask the process (and its process group) to stop with SIGTERM."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process and its process group."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        # The whole group, even after the leader ended: a wrapper's own children remain.
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to end; True when it has."""
        if self._popen is None:
            return True
        try:
            self._popen.wait(max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return False
        return True

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines this run of the process wrote to its log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                data = log.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace").rstrip()
        return "\n".join(text.splitlines()[-lines:])
