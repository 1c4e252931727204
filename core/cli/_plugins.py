"""``keel plugins``: every installed plugin, enabled or not, and what it contributes."""

from __future__ import annotations

from typing import Any

import click
import msgspec
from litestar import Router
from rich.console import Console
from rich.table import Table

from core.cli._common import config_option, load
from core.pluginhost import InstalledPlugin, PluginHost, essential_names
from core.records import RootRoutes
from core.settings import Settings


def _routes(records: list[Any]) -> list[str]:
    api = [r for r in records if not isinstance(r, RootRoutes)]
    root = [h for r in records if isinstance(r, RootRoutes) for h in r.handlers]
    routers = [Router(path="/api", route_handlers=api), Router(path="/", route_handlers=root)]
    out: list[str] = []
    for route in (route for router in routers for route in router.routes):
        methods = sorted(m for m in getattr(route, "methods", ()) if m not in {"OPTIONS", "HEAD"})
        out.extend(f"{m} {route.path}" for m in methods or ["WS"])
    return out


def describe(settings: Settings, installed: dict[str, InstalledPlugin]) -> list[dict[str, Any]]:
    """One record per installed plugin: metadata, enabled state and contributions."""
    out: list[dict[str, Any]] = []
    essential = set(essential_names(settings, installed))
    for name, info in installed.items():
        host = PluginHost(settings, installed, names=[name], check_requires=False)
        hooks = sorted(impl.name for impl in host.pm.hook.__dict__.values() if impl.get_hookimpls())
        out.append(
            {
                "name": name,
                "version": info.version,
                "distribution": info.distribution,
                "enabled": name in settings.plugins.enabled or name in essential,
                "essential": getattr(info.cls, "essential", None),
                "requires": list(info.cls.requires),
                "hooks": hooks,
                "routes": _routes([r for _, r in host.routes()]),
                "listeners": [
                    f"{lst.event} -> {lst.key} ({lst.mode})" for _, lst in host.listeners()
                ],
                "jobs": [f"{name}.{job.name}" for _, job in host.jobs()],
                "schedules": [
                    {"name": f"{name}.{s.name}", "cron": s.cron, "tz": s.tz, "job": s.job}
                    for _, s in host.schedules()
                ],
            }
        )
    return out


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@config_option
def plugins_command(as_json: bool, config: str | None) -> None:
    """List built-in and installed third-party plugins."""
    settings, installed = load(config)
    rows = describe(settings, installed)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(rows)).decode())
        return
    table = Table(title="keel plugins")
    for column in (
        "name",
        "version",
        "enabled",
        "requires",
        "routes",
        "listeners",
        "jobs",
        "schedules",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["version"],
            "yes" if row["enabled"] else "no",
            ", ".join(row["requires"]) or "-",
            *(str(len(row[k])) for k in ("routes", "listeners", "jobs", "schedules")),
        )
    Console().print(table)
