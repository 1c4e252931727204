"""The descriptor ``keel run`` leaves in its data directory, so CLI commands use its services.

``keel run`` holds the embedded SecantusDB's files (WiredTiger locks them), so a second
process cannot start its own on the same data directory. While it runs, ``keel run``
keeps ``<data_dir>/keel-run.json`` (mode 0600) naming its pid and its services' ports and
URLs; ``with_keel`` reads it and connects to those instead. The descriptor holds no
secret: the embedded services take no credentials, the development signing key stays in
``<data_dir>/jwt_secret`` and plugin dev services' settings (e.g. localstripe's per-run
webhook secret) are left out.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.devstack import _probes
from core.devstack._services import SECANTUS, SMTP, VALKEY
from core.errors import KeelError

if TYPE_CHECKING:
    from core.devstack._stack import DevStack

DESCRIPTOR_FILE = "keel-run.json"
"""Its file name in the data directory."""
SHARED_SETTINGS = ("database.url", "valkey.url", "mail.host", "mail.port", "mail.starttls")
"""The overrides another process needs to reach the core services (none is a secret)."""
log = logging.getLogger("core.devstack")


class StackService(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One service of a running ``keel run``."""

    pid: int
    port: int
    url: str = ""
    """How to reach it (core services only)."""
    plugin: str | None = None


class StackDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keel run`` publishes in ``<data_dir>/keel-run.json``.

    Attributes:
        pid: the ``keel run`` process.
        started: the kernel's start time of ``pid`` (``/proc/<pid>/stat``), so a pid
            reused by another process after a crash is not taken for ``keel run``.
        data_dir: the absolute data directory.
        api: the base URL of the API server.
        services: the embedded services by name.
        settings: dotted setting -> value that point another process at the core services.
    """

    pid: int
    started: str
    data_dir: str
    api: str
    services: dict[str, StackService]
    settings: dict[str, str | int | bool]


class StackNotAnsweringError(KeelError):
    """``keel run`` is alive on this data directory, but one of its services is not."""


def descriptor_path(data_dir: Path) -> Path:
    """Where ``keel run`` keeps its descriptor in ``data_dir``."""
    return Path(data_dir) / DESCRIPTOR_FILE


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time)`` of ``pid`` from ``/proc``; None if it is gone."""
    if not Path("/proc/self/stat").exists():  # not Linux: only say whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "R", ""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def _alive(pid: int, started: str) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in {"Z", "X"} and (not started or stat[1] == started)


@contextlib.contextmanager
def published(stack: DevStack, api: str) -> Iterator[Path]:
    """Keep ``stack``'s descriptor in its data directory while the block runs.

    Written atomically with mode 0600 (replacing a stale one); removed on exit, if it is
    still this process's.
    """
    stat = _proc_stat(os.getpid())
    services = {
        name: StackService(
            pid=s.pid, port=s.port, url=_url(name, s.port, stack.overrides), plugin=s.plugin
        )
        for name, s in stack.services.items()
    }
    descriptor = StackDescriptor(
        pid=os.getpid(),
        started=stat[1] if stat else "",
        data_dir=str(stack.data_dir),
        api=api,
        services=services,
        settings={k: v for k, v in stack.overrides.items() if k in SHARED_SETTINGS},
    )
    path = descriptor_path(stack.data_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, msgspec.json.format(msgspec.json.encode(descriptor)) + b"\n")
    finally:
        os.close(fd)
    tmp.replace(path)
    try:
        yield path
    finally:
        current = _read(path)
        if current is not None and current.pid == os.getpid():
            path.unlink(missing_ok=True)


def _url(name: str, port: int, overrides: dict[str, object]) -> str:
    if name == SECANTUS:
        return str(overrides.get("database.url", ""))
    if name == VALKEY:
        return str(overrides.get("valkey.url", ""))
    if name == SMTP:
        return f"smtp://{_probes.HOST}:{port}"
    return ""


def _read(path: Path) -> StackDescriptor | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=StackDescriptor)
    except (OSError, msgspec.DecodeError):
        return None


def running_stack(data_dir: Path) -> StackDescriptor | None:
    """The descriptor of the ``keel run`` serving ``data_dir``, or None when none runs.

    A descriptor whose process is gone (or whose pid now belongs to another process) or
    that cannot be read is stale: it is removed and None returned.

    Raises:
        StackNotAnsweringError: ``keel run`` is alive but a core service does not answer.
    """
    path = descriptor_path(data_dir)
    if not path.exists():
        return None
    found = _read(path)
    if found is None or not _alive(found.pid, found.started):
        log.info("devstack: removing the stale descriptor %s", path)
        path.unlink(missing_ok=True)
        return None
    for name, service in found.services.items():
        if not _answers(name, service):
            raise StackNotAnsweringError(
                f"keel run (pid {found.pid}) is running on {found.data_dir}, but its {name}"
                f" does not answer on port {service.port}; restart keel run"
            )
    return found


def _answers(name: str, service: StackService) -> bool:
    if name == SECANTUS:
        return _probes.mongo_ready(service.url, service.port)
    if name == VALKEY:
        return _probes.valkey_ready(service.port)
    if name == SMTP:
        return _probes.smtp_ready(service.port)
    return True  # plugin dev services: not this descriptor's readers' concern
