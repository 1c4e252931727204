"""``keel config check|show``."""

from __future__ import annotations

import click
import msgspec

from core.cli._common import config_option, fail, load
from core.errors import ConfigError, PluginError
from core.pluginhost import PluginHost
from core.toggles._config import mask


@click.group("config")
def config_group() -> None:
    """Check or show the effective configuration."""


@config_group.command("check")
@config_option
def check(config: str | None) -> None:
    """Validate config.toml and the environment; exit 1 listing every problem."""
    settings, installed = load(config)
    from core.runtime import validate  # noqa: PLC0415 - heavy import only when checking

    try:
        validate(settings, PluginHost(settings, installed))
    except (ConfigError, PluginError) as exc:
        fail(exc)
    click.echo("config OK")


@config_group.command("show")
@config_option
def show(config: str | None) -> None:
    """Print the effective configuration as JSON, secrets masked."""
    settings, _ = load(config)
    data = msgspec.to_builtins(settings)
    data["plugins"] = {"enabled": data["plugins"]["enabled"], **data["plugins"]["tables"]}
    click.echo(msgspec.json.format(msgspec.json.encode(mask(data))).decode())
