"""The session's embedded stack, and settings with a fresh database and key prefix per test."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.devstack import DevStack
from core.plugin import Plugin
from core.pluginhost import InstalledPlugin, PluginHost, discover, plugin_settings_types
from core.settings import Settings, config_path, load_settings

_numbers = itertools.count(1)


class SettingsFactory:
    """Builds :class:`Settings` on the session stack for one test.

    Every call in the same test gets the same database and key prefix (so settings
    for several apps or processes in one test share data); the next test gets new
    ones. Built from ``keel_config_file`` (the project's ``config.toml``), no
    environment, and these overrides, in order: the stack's URLs, ``database.name``,
    ``valkey.key_prefix``, ``app.env = "test"``, ``devstack.data_dir``, ``uploads.dir``
    (a directory of this test's under the stack's data), then the caller's.

    Call it as ``factory({"server.port": 9000})`` or ``factory(server__port=9000)``
    (``__`` stands for the dot); both may be combined, keywords win.

    Attributes:
        database_name: this test's database.
        key_prefix: this test's Valkey key prefix.
    """

    def __init__(
        self,
        stack: DevStack,
        installed: Mapping[str, InstalledPlugin],
        *,
        config_file: Path,
        test_name: str,
    ) -> None:
        self.stack = stack
        self.installed = dict(installed)
        self.config_file = config_file
        number = next(_numbers)
        slug = re.sub(r"[^0-9A-Za-z]+", "_", test_name).strip("_")[:40]
        self.database_name = f"t{number}_{slug}".rstrip("_")
        self.key_prefix = f"test{number}"

    def base_overrides(self) -> dict[str, Any]:
        """The overrides every call applies before the caller's."""
        return {
            **self.stack.overrides,
            "database.name": self.database_name,
            "valkey.key_prefix": self.key_prefix,
            "app.env": "test",
            "devstack.data_dir": str(self.stack.data_dir),
            "uploads.dir": str(Path(self.stack.data_dir) / "uploads" / self.key_prefix),
        }

    def for_plugins(
        self,
        plugins: Iterable[type[Plugin]],
        overrides: Mapping[str, Any] | None = None,
        /,
        **dotted: Any,
    ) -> tuple[Settings, dict[str, InstalledPlugin]]:
        """Settings with *only* ``plugins`` (test Plugin classes) installed and enabled.

        Overrides of other plugins' tables (e.g. a dev service's) are left out, since
        those plugins are not installed here.

        Returns:
            The settings and the ``installed`` mapping to build a host or app from.
        """
        installed = {p.name: InstalledPlugin(p.name, p, "0", "tests") for p in plugins}
        values = {
            key: value
            for key, value in self.base_overrides().items()
            if not key.startswith("plugins.") or key.split(".")[1] in installed
        }
        values["plugins.enabled"] = list(installed)
        values.update(overrides or {})
        values.update({key.replace("__", "."): value for key, value in dotted.items()})
        settings = load_settings(
            self.config_file,
            environ={},
            overrides=values,
            plugin_types=plugin_settings_types(installed),
        )
        return settings, installed

    def __call__(self, overrides: Mapping[str, Any] | None = None, /, **dotted: Any) -> Settings:
        """Settings for this test with ``overrides`` (dotted paths) applied last.

        Raises:
            ConfigError: an override names an unknown key or has a bad value.
        """
        values = self.base_overrides()
        values.update(overrides or {})
        values.update({key.replace("__", "."): value for key, value in dotted.items()})
        return load_settings(
            self.config_file,
            environ={},
            overrides=values,
            plugin_types=plugin_settings_types(self.installed),
        )


@pytest.fixture(scope="session")
def keel_installed() -> dict[str, InstalledPlugin]:
    """Every installed keel plugin (``core.pluginhost.discover()``), found once."""
    return discover()


@pytest.fixture(scope="session")
def keel_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config file tests read: ``$KEEL_CONFIG`` or ``./config.toml`` (so tests see the
    project's plugin selection and plugin tables), else an empty file. Service URLs, the
    database name and the key prefix always come from the stack and the factory."""
    found = config_path()
    if found is not None:
        return found.resolve()
    path = tmp_path_factory.mktemp("keel-config") / "config.toml"
    path.write_text("# all defaults\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def keel_stack(
    tmp_path_factory: pytest.TempPathFactory,
    keel_installed: dict[str, InstalledPlugin],
    keel_config_file: Path,
) -> Iterator[DevStack]:
    """The embedded services for the whole session: SecantusDB (with test commands),
    valkey-server, the SMTP sink and the needed dev services of every installed plugin
    (enabled or not), on free ports with data in a temporary directory. They start even
    when the config file names servers: tests never touch configured ones. Use
    ``keel_stack.overrides`` or ``keel_stack.environ()`` to point settings or processes
    at it."""
    settings = load_settings(
        keel_config_file,
        environ={},
        overrides={"database.url": "", "valkey.url": "", "mail.host": ""},
        plugin_types=plugin_settings_types(keel_installed),
    )
    host = PluginHost(settings, keel_installed, names=list(keel_installed), check_requires=False)
    dev_services = host.dev_services()
    stack = DevStack(
        settings,
        dev_services,
        data_dir=tmp_path_factory.mktemp("keel-stack"),
        ephemeral=True,
        enable_test_commands=True,
        handle_sigterm=False,  # pytest would report SystemExit as a failed test
        grace_s=5.0,
    )
    with stack:
        yield stack


@pytest.fixture
def keel_settings_factory(
    request: pytest.FixtureRequest,
    keel_stack: DevStack,
    keel_installed: dict[str, InstalledPlugin],
    keel_config_file: Path,
) -> SettingsFactory:
    """``factory(overrides=None, /, **dotted) -> Settings`` for this test: the stack's
    URLs, a database and key prefix of its own (see :class:`SettingsFactory`)."""
    return SettingsFactory(
        keel_stack, keel_installed, config_file=keel_config_file, test_name=request.node.name
    )


@pytest.fixture
def keel_settings(keel_settings_factory: SettingsFactory) -> Settings:
    """This test's settings: ``keel_settings_factory()``, every installed plugin enabled."""
    return keel_settings_factory()
