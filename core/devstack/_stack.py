"""The :class:`DevStack`: embedded services as child processes, for ``keel run`` and tests."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import msgspec

from core.devstack import _probes, _services
from core.devstack._keys import dev_signing_key, new_key
from core.devstack._process import ChildProcess
from core.devstack._records import DevStackError, RunningService
from core.devstack._services import ServiceSpec
from core.errors import PluginError
from core.records import DevService
from core.settings import Settings

_POLL_S = 0.02
log = logging.getLogger("core.devstack")


class DevStack:
    """Embedded services for what ``settings`` leaves unconfigured, as a context manager.

    Starts SecantusDB when ``[database] url`` is empty, valkey-server when ``[valkey] url``
    is empty, an SMTP sink (one ``.eml`` file per message in :attr:`mail_dir`) when
    ``[mail] host`` is empty, and each plugin dev service whose ``needed(settings)`` is
    true. All start in parallel on free ports of 127.0.0.1; :meth:`start` returns once
    every one answers. On exit, on Ctrl-C and on SIGTERM the children are stopped; if
    this process dies without stopping them (even by SIGKILL), Linux kills them.
    When ``auth.jwt_secret`` is empty, :attr:`overrides` also carries a signing key: the
    one kept in ``data_dir/jwt_secret`` (made on first start, mode 0600), or a new random
    one when ``ephemeral``.

    Example::

        with DevStack(settings, host.dev_services()) as stack:
            settings = load_settings(overrides=stack.overrides, plugin_types=types)

    Args:
        settings: the configuration; decides what to start.
        dev_services: ``(plugin name, DevService)`` pairs, e.g. ``host.dev_services()``.
        data_dir: where data, mail and logs live; default ``[devstack] data_dir``.
            Layout: ``db/``, ``valkey/``, ``mail/``, ``logs/<service>.log``,
            ``services/<plugin>.<service>/`` (each plugin service's ``{data}``), ``tmp/``.
        ephemeral: keep no database or Valkey data (tests); mail and logs still go to
            ``data_dir``.
        enable_test_commands: start SecantusDB with ``--enable-test-commands``
            (``configureFailPoint``), for fault-injection tests.
        handle_sigterm: while running, turn SIGTERM into ``SystemExit`` so the ``with``
            block unwinds and stops the services; only done in the main thread and when
            nobody else handles SIGTERM.
        grace_s: how long services may take to stop before they are killed.

    Note:
        Start it from the main thread: Linux ties the kill-with-parent guarantee to the
        thread that spawned the children, so it is not armed from other threads.
    """

    def __init__(
        self,
        settings: Settings,
        dev_services: Iterable[tuple[str, DevService]] = (),
        *,
        data_dir: Path | None = None,
        ephemeral: bool = False,
        enable_test_commands: bool = False,
        handle_sigterm: bool = True,
        grace_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.dev_services = list(dev_services)
        self.data_dir = Path(data_dir or settings.devstack.data_dir).resolve()
        self.ephemeral = ephemeral
        self.enable_test_commands = enable_test_commands
        self.handle_sigterm = handle_sigterm
        self.grace_s = grace_s
        self.services: dict[str, RunningService] = {}
        """Services started by the last :meth:`start` (kept after :meth:`stop`)."""
        self.overrides: dict[str, Any] = {}
        """Dotted setting path -> value for ``load_settings(overrides=...)``."""
        self._specs: dict[str, ServiceSpec] = {}
        self._children: dict[str, ChildProcess] = {}
        self._previous_sigterm: Any = None

    @property
    def mail_dir(self) -> Path:
        """Where the SMTP sink writes one ``<arrival>.eml`` file per message."""
        return self.data_dir / "mail"

    @property
    def log_dir(self) -> Path:
        """Where each service's output goes, as ``<service>.log``."""
        return self.data_dir / "logs"

    def environ(self) -> dict[str, str]:
        """:attr:`overrides` as ``KEEL_<SECTION>__<KEY>`` variables, for child processes."""
        return {
            "KEEL_" + key.upper().replace(".", "__"): _env_value(value)
            for key, value in self.overrides.items()
        }

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the services and wait until each answers.

        Raises:
            DevStackError: a service exited or did not answer in time (its log's tail
                is in the message); every service already started is stopped.
            PluginError: a plugin's ``needed`` callable failed, or it named two dev
                services alike.
        """
        if self._children:
            raise RuntimeError("DevStack already started")
        began = time.monotonic()
        self.services, self.overrides, self._specs = {}, {}, {}
        specs = self._plan()
        try:
            self._spawn(specs)
            self._wait_ready(specs)
        except BaseException:
            self._stop_children()
            raise
        for spec in specs:
            self.overrides.update(spec.overrides)
        if not self.settings.auth.jwt_secret:
            self.overrides["auth.jwt_secret"] = (
                new_key() if self.ephemeral else dev_signing_key(self.data_dir)
            )
        self._install_sigterm_handler()
        if specs:
            ready = ", ".join(f"{spec.name} on port {spec.port}" for spec in specs)
            log.info("devstack ready in %.2f s: %s", time.monotonic() - began, ready)

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after ``grace_s``). Idempotent."""
        self._restore_sigterm_handler()
        self._stop_children()

    # -- planning ---------------------------------------------------------------------------

    def _plan(self) -> list[ServiceSpec]:
        wanted = self._wanted_plugin_services()
        s = self.settings
        core = [not s.database.url, not s.valkey.url, not s.mail.host]
        with _probes.reserved_ports(sum(core) + len(wanted)) as ports:
            free = iter(ports)
            specs: list[ServiceSpec] = []
            if core[0]:
                config = self._dir("tmp") / "secantusd.toml"
                config.write_text("# empty: secantus reads no config file of its own\n")
                db_dir = self.data_dir / "db" if self.ephemeral else self._dir("db")
                specs.append(
                    _services.secantus(
                        next(free),
                        db_dir,
                        config,
                        ephemeral=self.ephemeral,
                        test_commands=self.enable_test_commands,
                    )
                )
            if core[1]:
                specs.append(
                    _services.valkey(next(free), self._dir("valkey"), ephemeral=self.ephemeral)
                )
            if core[2]:
                specs.append(_services.smtp_sink(next(free), self._dir("mail")))
            for plugin, service in wanted:
                data = self._dir("services", f"{plugin}.{service.name}")
                specs.append(_services.plugin_service(plugin, service, next(free), data))
        return specs

    def _wanted_plugin_services(self) -> list[tuple[str, DevService]]:
        wanted: list[tuple[str, DevService]] = []
        seen: set[str] = set()
        for plugin, service in self.dev_services:
            key = f"{plugin}.{service.name}"
            if key in seen:
                raise PluginError(plugin, f"dev service {service.name!r} is registered twice")
            seen.add(key)
            try:
                needed = service.needed is None or bool(service.needed(self.settings))
            except Exception as exc:
                raise PluginError(
                    plugin, f"dev service {service.name!r}: needed() failed: {exc}"
                ) from exc
            if needed:
                wanted.append((plugin, service))
        return wanted

    def _dir(self, *parts: str) -> Path:
        path = self.data_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- running ----------------------------------------------------------------------------

    def _spawn(self, specs: list[ServiceSpec]) -> None:
        # A keel process measured by coverage.py (`make coverage`) carries COVERAGE_* in its
        # environment; the services are not keel's code, and tracing SecantusDB slows it ~8x.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
        env = {**inherited, "TMPDIR": str(self._dir("tmp")), "PYTHONUNBUFFERED": "1"}
        for spec in specs:
            child = ChildProcess(
                spec.name, spec.argv, log_path=self.log_dir / f"{spec.name}.log", env=env
            )
            self._specs[spec.name] = spec
            try:
                child.spawn()
            except OSError as exc:
                raise DevStackError(
                    spec.name,
                    f"{_describe(spec)} could not be started: {exc}",
                    log_path=child.log_path,
                    log_tail="",
                ) from exc
            self._children[spec.name] = child
            self.services[spec.name] = RunningService(
                spec.name, child.pid, spec.port, child.log_path, spec.plugin
            )

    def _wait_ready(self, specs: list[ServiceSpec]) -> None:
        # Everything was spawned at once, so waiting in turn costs only the slowest one.
        started = time.monotonic()
        for spec in specs:
            child = self._children[spec.name]
            while not spec.ready():
                problem = None
                if (code := child.exit_code()) is not None:
                    problem = f"exited with status {code} before answering"
                elif time.monotonic() - started > spec.timeout_s:
                    problem = f"did not answer on port {spec.port} within {spec.timeout_s:g} s"
                if problem:
                    message = f"{_describe(spec)} {problem}\ncommand: {' '.join(spec.argv)}"
                    raise DevStackError(
                        spec.name, message, log_path=child.log_path, log_tail=child.log_tail()
                    )
                time.sleep(_POLL_S)

    def _stop_children(self) -> None:
        children = list(reversed(self._children.values()))
        self._children.clear()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + self.grace_s
        for child in children:
            spec = self._specs[child.name]
            while not child.wait(0.05):
                if time.monotonic() > deadline:
                    break
                if spec.wake_on_stop:
                    _probes.port_open(spec.port)
            child.kill()  # past the grace period, and any stragglers of its process group
            child.wait(5.0)

    def _install_sigterm_handler(self) -> None:
        if not self.handle_sigterm or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_signal)

    def _restore_sigterm_handler(self) -> None:
        if (
            self._previous_sigterm is not None
            and threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _describe(spec: ServiceSpec) -> str:
    if spec.plugin:
        return f"dev service {spec.name!r} of plugin {spec.plugin!r}"
    return f"embedded service {spec.name!r}"


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return msgspec.json.encode(value).decode()
