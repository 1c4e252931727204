"""keel's own test suite.

The fixtures (``keel_stack``, ``keel_settings_factory``, ``keel_settings``, ``mailbox``,
...) come from keel's pytest plugin, :mod:`core.testing.plugin`, which pytest loads
through the ``pytest11`` entry point; nothing needs registering here. The one local
change: ``keel_settings_factory`` enables the built-in plugins only (not ``hello``).
"""

from pathlib import Path
from typing import Any

import pytest

from core.devstack import DevStack
from core.pluginhost import InstalledPlugin
from core.testing import SettingsFactory


class _BuiltInsFactory(SettingsFactory):
    """keel's own suite enables only the built-in plugins by default: the ``hello`` fixture
    plugin is installed to prove discovery, and only tests that set ``plugins.enabled``
    turn it (and its every-second schedule) on."""

    def base_overrides(self) -> dict[str, Any]:
        built_ins = [n for n, p in self.installed.items() if p.distribution == "keel"]
        return {**super().base_overrides(), "plugins.enabled": built_ins}


@pytest.fixture
def keel_settings_factory(
    request: pytest.FixtureRequest,
    keel_stack: DevStack,
    keel_installed: dict[str, InstalledPlugin],
    keel_config_file: Path,
) -> SettingsFactory:
    """``core.testing``'s factory, with the built-in plugins enabled (see above)."""
    return _BuiltInsFactory(
        keel_stack, keel_installed, config_file=keel_config_file, test_name=request.node.name
    )
