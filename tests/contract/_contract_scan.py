"""AST helpers shared by the contract tests (no imports of the code under scan)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def parse(path: Path) -> ast.Module:
    """The module's syntax tree."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    """Dotted module name of ``path`` relative to the repository root."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(
    path: Path, *, source: str | None = None, package: str | None = None
) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` for every import in ``path``, relative ones resolved.

    ``from a.b import c`` yields ``a.b.c`` (``c`` may be a module or an attribute), so a
    rule can tell ``from plugins.x import events`` from ``from plugins.x import service``.
    ``source`` and ``package`` let a test scan text that is not a file of the repository.
    """
    if package is None:
        package = module_name(path)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
    tree = parse(path) if source is None else ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def hookspec_names() -> list[str]:
    """Names of the functions decorated with ``@hookspec`` in ``core/hookspecs.py``."""
    names = []
    for node in parse(ROOT / "core" / "hookspecs.py").body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            (isinstance(d, ast.Name) and d.id == "hookspec")
            or (
                isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "hookspec"
            )
            for d in node.decorator_list
        ):
            names.append(node.name)
    return names


@functools.cache
def test_function_names() -> frozenset[str]:
    """Names of every ``test_*`` function or method defined anywhere under ``tests/``."""
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                node.name.startswith("test_")
            ):
                names.add(node.name)
    return frozenset(names)


test_function_names.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def builtin_plugin_dirs() -> list[Path]:
    """Every package folder under ``plugins/``."""
    return sorted(
        p for p in (ROOT / "plugins").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
