"""What the devstack reports: the services it runs and why one did not start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import KeelError


class DevStackError(KeelError):
    """An embedded service did not start.

    Attributes:
        service: the service's name (``secantusdb``, ``valkey``, ``smtp-sink`` or
            ``<plugin>.<service>``).
        log_path: the file holding the service's output.
        log_tail: the last lines it wrote, also part of the message.
    """

    def __init__(self, service: str, message: str, *, log_path: Path, log_tail: str) -> None:
        self.service = service
        self.log_path = log_path
        self.log_tail = log_tail
        tail = log_tail or "(empty)"
        super().__init__(f"devstack: {message}\n--- last lines of {log_path} ---\n{tail}\n---")


@dataclass(frozen=True, slots=True)
class RunningService:
    """A service the stack started.

    Attributes:
        name: ``secantusdb``, ``valkey``, ``smtp-sink`` or ``<plugin>.<service>``.
        pid: its process id (the leader of its own process group).
        port: the port it listens on, on 127.0.0.1.
        log_path: where its stdout and stderr go.
        plugin: the plugin that asked for it, for plugin dev services.
    """

    name: str
    pid: int
    port: int
    log_path: Path
    plugin: str | None = None
