"""Every built-in plugin follows the package contract of STYLE.md ("One name, everywhere")."""

from __future__ import annotations

import ast
import importlib
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import msgspec
import pytest
from _contract_scan import ROOT, builtin_plugin_dirs, parse

from core import Plugin
from core.pluginhost import ENTRY_POINT_GROUP, discover

PLUGIN_DIRS = builtin_plugin_dirs()
BUILT_INS = {
    "accounts",
    "uploads",
    "bookings",
    "search",
    "realtime",
    "payments",
    "cron",
    "notifications",
}
HELLO = ROOT / "tests" / "fixture_plugins" / "keel_hello" / "keel_hello.py"


def _class_name(folder: Path) -> str:
    return "".join(part.capitalize() for part in folder.name.split("_")) + "Plugin"


def _pyproject_entry_points() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    result: dict[str, str] = data["project"]["entry-points"][ENTRY_POINT_GROUP]
    return result


def test_the_eight_built_ins_exist() -> None:
    assert {p.name for p in PLUGIN_DIRS} == BUILT_INS


@pytest.mark.parametrize("folder", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_class_name_and_entry_point(folder: Path) -> None:
    assert (folder / "plugin.py").is_file(), f"{folder.name}: no plugin.py"
    module = importlib.import_module(f"plugins.{folder.name}.plugin")
    cls = getattr(module, _class_name(folder), None)
    assert isinstance(cls, type), f"plugins/{folder.name}/plugin.py has no {_class_name(folder)}"
    assert issubclass(cls, Plugin)
    assert cls.name == folder.name
    target = f"plugins.{folder.name}.plugin:{_class_name(folder)}"
    assert _pyproject_entry_points().get(folder.name) == target
    installed = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert installed.get(folder.name) == target, "reinstall: pip install -e ."
    assert discover()[folder.name].cls is cls


def _assert_settings_type(cls: type[Plugin]) -> None:
    settings_type = cls.settings_type
    assert issubclass(settings_type, msgspec.Struct)
    config = settings_type.__struct_config__
    assert config.frozen, f"{settings_type.__name__} is not frozen"
    assert config.forbid_unknown_fields, f"{settings_type.__name__} allows unknown fields"
    settings_type()  # every field has a default: a config without the table is valid


@pytest.mark.parametrize("folder", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_settings_type_is_frozen_and_strict(folder: Path) -> None:
    _assert_settings_type(discover()[folder.name].cls)


def _undocumented_fields(path: Path) -> list[str]:
    """``Class.field`` for each Struct field in ``path`` not followed by a docstring."""
    missing = []
    for node in ast.walk(parse(path)):
        if not isinstance(node, ast.ClassDef) or not node.name.endswith("Settings"):
            continue
        body = node.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                nxt = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)
                )
                if not documented and "ClassVar" not in ast.unparse(stmt.annotation):
                    missing.append(f"{path.relative_to(ROOT)}: {node.name}.{stmt.target.id}")
    return missing


@pytest.mark.parametrize("folder", PLUGIN_DIRS, ids=lambda p: p.name)
def test_every_settings_field_has_a_docstring(folder: Path) -> None:
    missing = [m for path in sorted(folder.rglob("*.py")) for m in _undocumented_fields(path)]
    assert not missing, "settings fields without a docstring:\n" + "\n".join(missing)


def test_fixture_plugin_follows_the_same_contract() -> None:
    hello = discover()["hello"]
    assert hello.distribution == "keel-hello"
    assert hello.version == "0.3.0"
    assert hello.cls.name == "hello"
    assert hello.cls.__name__ == "HelloPlugin"
    _assert_settings_type(hello.cls)
    assert not _undocumented_fields(HELLO)
