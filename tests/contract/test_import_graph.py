"""The import graph of ``core`` and ``plugins``: no cycles, and no private core modules in
plugins (they get the same public API a third-party plugin gets).

The graph comes from the standard library's ``ast``: every ``import`` and ``from ...
import`` anywhere in a module (inside functions too), except under ``if TYPE_CHECKING:``.
``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from _contract_scan import ROOT, imported_modules, module_name, parse


def _modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for base in ("core", "plugins")
        for path in sorted((ROOT / base).rglob("*.py"))
    }


def _type_checking_lines(path: Path) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at run time."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        skipped = _type_checking_lines(path)
        for line, imported in imported_modules(path):
            if line in skipped:
                continue
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _private(module: str) -> bool:
    return module.startswith("core.") and any(p.startswith("_") for p in module.split(".")[1:])


def test_plugins_import_nothing_private_from_the_core() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for base in (ROOT / "plugins", ROOT / "tests" / "fixture_plugins")
        for path in sorted(base.rglob("*.py"))
        for line, target in imported_modules(path)
        if _private(target) and not target.endswith(".__future__")
    ]
    assert not offences, "\n".join(offences)


def test_the_private_rule_catches_what_it_should() -> None:
    assert _private("core.cli._common.load")
    assert _private("core.settings._types.AuthSettings")
    assert not _private("core.cli.with_keel")
    assert not _private("plugins.accounts._auth")  # the plugin's own business
