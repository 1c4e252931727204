"""The soak's system: an embedded stack (with localstripe and the SMTP sink), two
``keel serve`` processes and one ``keel worker``, every built-in plugin enabled.

The processes are the e2e tests' :class:`KeelProcess` (``tests/e2e/_keel_procs.py``):
their own session, output to a file. They run as in production (JSON logs, a random
signing key from the stack) and each also writes its JSON lines to ``[app] log_dir``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench._servers import ROOT, base_env
from core.devstack import DevStack
from core.pluginhost import PluginHost, discover, plugin_settings_types
from core.settings import Settings, load_settings

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from _keel_procs import BUILT_INS, KeelProcess, free_port, write_config


@dataclass
class SoakSystem:
    """What the load and the probes need to reach."""

    settings: Settings
    stack: DevStack
    env: dict[str, str]
    servers: list[KeelProcess]
    worker: KeelProcess
    log_dir: Path
    database: str
    prefix: str

    @property
    def processes(self) -> list[KeelProcess]:
        return [*self.servers, self.worker]

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers if s.port is not None]

    @property
    def mongo_url(self) -> str:
        return str(self.stack.overrides["database.url"])

    @property
    def valkey_url(self) -> str:
        return str(self.stack.overrides["valkey.url"])

    def stop(self, timeout: float = 20.0) -> list[tuple[str, int | None, float]]:
        """SIGTERM every process at once; (name, exit code or None, seconds) of each."""
        for proc in self.processes:
            proc.send(signal.SIGTERM)
        return [(p.name, *p.wait(timeout)) for p in self.processes]


def _environment(stack: DevStack, config: Path, log_dir: Path, api: int) -> dict[str, str]:
    unique = uuid.uuid4().hex[:8]
    return base_env(
        {
            **stack.environ(),
            "KEEL_CONFIG": str(config),
            "KEEL_APP__ENV": "production",
            "KEEL_APP__LOG_LEVEL": "WARNING",
            "KEEL_APP__ACCESS_LOG": "false",
            "KEEL_APP__LOG_DIR": str(log_dir),
            "KEEL_DATABASE__NAME": f"soak_{unique}",
            "KEEL_VALKEY__KEY_PREFIX": f"soak{unique}",
            # one client IP (this script) is every user: per-IP limits are for the internet
            "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
            "KEEL_PLUGINS__REALTIME__UPGRADES_PER_IP_PER_MINUTE": "0",
            # the run outlasts the default 15 min access token of the users signed in once
            "KEEL_AUTH__ACCESS_TTL_S": "3600",
            # localstripe keeps one webhook URL: both processes would register their own
            "KEEL_PLUGINS__PAYMENTS__WEBHOOK_URL": f"http://127.0.0.1:{api}/api/webhooks/stripe",
        }
    )


@contextlib.contextmanager
def soak_system(tmp: Path) -> Iterator[SoakSystem]:
    """Start everything under ``tmp``; stops (and if need be kills) it all on exit."""
    installed = discover()
    config = write_config(tmp / "config.toml", enabled=BUILT_INS)
    settings = load_settings(
        config,
        environ={},
        overrides={"database.url": "", "valkey.url": "", "mail.host": ""},
        plugin_types=plugin_settings_types(installed),
    )
    host = PluginHost(settings, installed, check_requires=False)
    log_dir = tmp / "logs"
    log_dir.mkdir()
    with DevStack(
        settings, host.dev_services(), data_dir=tmp / "stack", ephemeral=True, grace_s=5.0
    ) as stack:
        ports = [free_port(), free_port()]
        env = _environment(stack, config, log_dir, ports[0])
        servers = [
            KeelProcess(
                f"serve{i}",
                ["serve", "--port", str(port), "--workers", "1"],
                env,
                tmp / f"serve{i}.out",
                port,
            )
            for i, port in enumerate(ports, start=1)
        ]
        worker = KeelProcess("worker", ["worker"], env, tmp / "worker.out")
        system = SoakSystem(
            settings=settings,
            stack=stack,
            env=env,
            servers=servers,
            worker=worker,
            log_dir=log_dir,
            database=env["KEEL_DATABASE__NAME"],
            prefix=env["KEEL_VALKEY__KEY_PREFIX"],
        )
        try:
            for proc in system.processes:
                proc.start()
            for server in servers:
                server.wait_ready(60)
            yield system
        finally:
            for proc in system.processes:
                proc.kill()
