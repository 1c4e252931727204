"""Every hookspec is documented in docs/plugins.md and has a ``test_hook_<name>`` test."""

from __future__ import annotations

import re

import pluggy
import pytest
from _contract_scan import ROOT, hookspec_names, test_function_names

from core import hookspecs
from core.plugin import PROJECT

DOC = ROOT / "docs" / "plugins.md"
SPECS = hookspec_names()


def test_hookspecs_found_by_the_scan_are_the_registered_ones() -> None:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    assert sorted(SPECS) == sorted(pm.hook.__dict__)
    assert len(SPECS) >= 10


@pytest.mark.parametrize("hook", SPECS)
def test_hookspec_has_a_docs_section(hook: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    pattern = rf"^### `{re.escape(hook)}`\s*$"
    assert re.search(pattern, text, re.MULTILINE), f"docs/plugins.md has no '### `{hook}`'"


@pytest.mark.parametrize("hook", SPECS)
def test_hookspec_has_a_test(hook: str) -> None:
    assert f"test_hook_{hook}" in test_function_names(), f"no test_hook_{hook} under tests/"


@pytest.mark.parametrize("hook", SPECS)
def test_hookspec_has_a_docstring(hook: str) -> None:
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert doc.strip(), f"hookspec {hook} has no docstring"


def test_docs_have_no_section_for_a_hook_that_does_not_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z_]+)`\s*$", text, re.MULTILINE))
    assert documented <= set(SPECS), f"stale hook sections: {sorted(documented - set(SPECS))}"
