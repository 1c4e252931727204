"""Shared CLI plumbing: loading settings with errors printed, not raised."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import click

from core.errors import ConfigError, PluginError
from core.pluginhost import InstalledPlugin, discover, plugin_settings_types
from core.settings import CONFIG_ENV, Settings, load_settings

config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Config file (default: ${CONFIG_ENV} or ./config.toml).",
)


def fail(exc: Exception) -> NoReturn:
    """Print a configuration or plugin error without a traceback and exit 1.

    A configuration error with a single problem is printed on one line.
    """
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        click.echo(f"keel: invalid configuration: {exc.problems[0]}", err=True)
    else:
        click.echo(f"keel: {exc}", err=True)
    sys.exit(1)


def load(
    config: str | None, overrides: Mapping[str, Any] | None = None
) -> tuple[Settings, dict[str, InstalledPlugin]]:
    """Discover plugins and load settings; exits 1 with every problem on error."""
    if config:
        os.environ[CONFIG_ENV] = config  # child processes (uvicorn workers) read the same file
    try:
        installed = discover()
        settings = load_settings(
            config, overrides=overrides, plugin_types=plugin_settings_types(installed)
        )
    except (ConfigError, PluginError) as exc:
        fail(exc)
    return settings, installed
