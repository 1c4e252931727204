"""Fault injection with real signals: services of a test's own, frozen or killed.

A test that freezes a service must not freeze the session's shared stack (other tests,
in other xdist workers, use it), so :func:`private_stack` starts the services named for
one test only (e.g. a valkey-server), next to the shared ones::

    with private_stack(keel_stack, tmp_path, "valkey") as own:
        env = keel_app_factory(overrides=own.overrides)
        with frozen(own.services["valkey"].pid):
            ...   # Valkey answers nothing (SIGSTOP), its sockets stay open
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.devstack import DevStack
from core.settings import load_settings

_URLS = {"valkey": "valkey.url", "secantusdb": "database.url"}
STOP_WAIT_S = 5.0


def private_stack(shared: DevStack, data_dir: Path, *services: str) -> DevStack:
    """A (not yet started) :class:`DevStack` of ``services`` (``"valkey"``,
    ``"secantusdb"``) for one test; its :attr:`DevStack.overrides` hold the shared stack's
    settings with those services' URLs replaced by the private ones'."""
    overrides = {k: v for k, v in shared.overrides.items() if not k.startswith("plugins.")}
    overrides.update({_URLS[name]: "" for name in services})
    empty = data_dir / "private-stack.toml"
    data_dir.mkdir(parents=True, exist_ok=True)
    empty.write_text("# services of one test\n", encoding="utf-8")
    settings = load_settings(empty, environ={}, overrides=overrides)
    stack = _Private(
        settings,
        [],
        data_dir=data_dir,
        ephemeral=True,
        enable_test_commands=True,
        handle_sigterm=False,
        grace_s=2.0,
    )
    stack.shared = shared
    return stack


class _Private(DevStack):
    shared: DevStack

    def start(self) -> None:
        super().start()
        self.overrides = {**self.shared.overrides, **self.overrides}


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` (``R``, ``S``, ``T`` for stopped...)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def stop(pid: int) -> None:
    """SIGSTOP ``pid``'s process group and wait until it is stopped."""
    os.killpg(pid, signal.SIGSTOP)
    deadline = time.monotonic() + STOP_WAIT_S
    while process_state(pid) != "T":  # the signal lands asynchronously
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not stop")
        time.sleep(0.01)


def resume(pid: int) -> None:
    """SIGCONT ``pid``'s process group."""
    os.killpg(pid, signal.SIGCONT)


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """``pid``'s process group stopped (SIGSTOP) for the block, then continued."""
    stop(pid)
    try:
        yield
    finally:
        resume(pid)
