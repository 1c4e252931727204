"""Import rules: ``core`` never imports ``plugins``; of another plugin, a plugin imports only
its ``events``, ``hookspecs`` and ``api`` modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from _contract_scan import ROOT, builtin_plugin_dirs, imported_modules

PLUGIN_DIRS = builtin_plugin_dirs()


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_core_never_imports_plugins() -> None:
    offences = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for line, module in imported_modules(path)
        if module == "plugins" or module.startswith("plugins.")
    ]
    assert not offences, "\n".join(offences)


def _foreign_import_allowed(module: str, own: str) -> bool:
    """True when ``module`` is not another plugin's, or is another plugin's ``events``,
    ``hookspecs`` or ``api``."""
    parts = module.split(".")
    if parts[0] != "plugins":
        return True
    if len(parts) == 1:
        return False  # `import plugins` / `from plugins import x` reaches into every plugin
    if parts[1] == own:
        return True
    return len(parts) >= 3 and parts[2] in {"events", "hookspecs", "api"}


@pytest.mark.parametrize("folder", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_imports_only_events_of_other_plugins(folder: Path) -> None:
    offences = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in imported_modules(path):
            if not _foreign_import_allowed(module, folder.name):
                offences.append(f"{_rel(path)}:{line}: imports {module}")
    assert not offences, "\n".join(offences)


def test_the_rule_catches_what_it_should() -> None:
    assert _foreign_import_allowed("core.events", "bookings")
    assert _foreign_import_allowed("plugins.bookings.service", "bookings")
    assert _foreign_import_allowed("plugins.bookings.events", "search")
    assert not _foreign_import_allowed("plugins.bookings.service", "search")
    assert not _foreign_import_allowed("plugins", "search")
    assert _foreign_import_allowed("plugins.accounts.api", "search")
    assert not _foreign_import_allowed("plugins.accounts", "search")  # the package root
    assert not _foreign_import_allowed("plugins.accounts._auth", "bookings")


def test_the_scan_resolves_relative_imports() -> None:
    source = "from ..bookings import events\nfrom ..bookings.service import book\nfrom . import x\n"
    found = [m for _, m in imported_modules(ROOT / "x.py", source=source, package="plugins.search")]
    assert found == ["plugins.bookings.events", "plugins.bookings.service.book", "plugins.search.x"]
    assert [m for m in found if not _foreign_import_allowed(m, "search")] == [
        "plugins.bookings.service.book"
    ]
