"""Every metric the operator docs name (tables and example alert rules in
``docs/metrics.md``, the summary in ``docs/deploy.md``) is one keel serves, so an alert
copied from them never watches a series that cannot exist. Runtime: about 10 s here
(one app with every built-in plugin)."""

from __future__ import annotations

import re
from pathlib import Path

from core.metrics import render
from core.testing import AppFactory

DOCS = Path(__file__).parents[2] / "docs"
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}


def _named_in_docs() -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for page in ("metrics.md", "deploy.md"):
        for name in re.findall(r"(?<![/\w])keel_[a-z0-9_]*[a-z0-9]\b", (DOCS / page).read_text()):
            named.setdefault(name, set()).add(page)
    return named


def _served(exposition: str) -> set[str]:
    """Family names and every series name they produce."""
    served: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        base = name.removesuffix("_total") if kind == "counter" else name
        served |= {name, base, *(base + suffix for suffix in SUFFIXES.get(kind, ()))}
    return served


async def test_every_metric_in_the_docs_is_served(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory() as env:  # every built-in plugin, as config.toml has it
        served = _served(render(env.settings).decode())
    named = _named_in_docs()
    assert len(named) > 20  # the pattern still finds the tables
    missing = {name: sorted(pages) for name, pages in named.items() if name not in served}
    assert missing == {}
