"""The ``keel`` command line."""

from __future__ import annotations

import click

from core.cli._common import config_option, fail, load
from core.cli._config import config_group
from core.cli._events import events_group
from core.cli._export import export_group
from core.cli._plugins import plugins_command
from core.cli._runtime import with_keel
from core.cli._serve import run_command, serve_command, worker_command
from core.cli._toggles import apply_command, toggles_group
from core.errors import ConfigError, PluginError
from core.pluginhost import PluginHost

__all__ = ["KeelCLI", "config_option", "fail", "main", "with_keel"]
"""What plugins' CLI commands use: ``config_option`` (the ``--config`` option),
``with_keel(config, work)`` (runs ``await work(keel)`` on the configured services, or the
embedded ones in development) and ``fail(exc)`` (print an error, exit 1)."""


class KeelCLI(click.Group):
    """The built-in commands plus those that enabled plugins add."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        if "_plugin_commands" not in ctx.meta:
            commands: dict[str, click.Command] = {}
            try:
                settings, installed = load(None)
                for _, command in PluginHost(settings, installed).cli_commands():
                    if command.name:
                        commands[command.name] = command
            except (ConfigError, PluginError, SystemExit):
                pass  # `keel config check` reports these; built-in commands still work
            ctx.meta["_plugin_commands"] = commands
        result: dict[str, click.Command] = ctx.meta["_plugin_commands"]
        return result

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_commands(ctx).get(cmd_name)


@click.group(cls=KeelCLI)
@click.version_option(package_name="keel")
def main() -> None:
    """keel: a plugin-based backend for service marketplaces."""


main.add_command(run_command)
main.add_command(serve_command)
main.add_command(worker_command)
main.add_command(plugins_command)
main.add_command(config_group)
main.add_command(events_group)
main.add_command(toggles_group)
config_group.add_command(apply_command)
main.add_command(export_group)
