"""``keel config check|show``."""

from __future__ import annotations

import re
from typing import Any

import click
import msgspec

from core.cli._common import config_option, fail, load
from core.errors import ConfigError, PluginError
from core.pluginhost import PluginHost

_SECRET = re.compile(r"(password|secret|token|api_key|private_key)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def mask(value: Any, key: str = "") -> Any:
    """``value`` with secrets replaced by ``***`` and credentials stripped from URLs."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET.search(key):
            return "***"
        return _URL_CREDENTIALS.sub(r"\g<scheme>***@", value)
    return value


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
