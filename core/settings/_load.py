"""Loading ``config.toml`` + ``KEEL_*`` environment overrides into :class:`Settings`.

Validation walks the settings tree field by field so that *every* error is reported at
once, each with its dotted path and the bad value, instead of msgspec's first-error-only.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from core.errors import ConfigError
from core.settings._types import PluginsSettings, Settings
from core.settings._urls import url_problems

ENV_PREFIX = "KEEL_"
CONFIG_ENV = "KEEL_CONFIG"
DEFAULT_CONFIG = "config.toml"


def config_path(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The config file to read: ``explicit``, else ``$KEEL_CONFIG``, else ``./config.toml``.

    Returns None when no path was named and ``./config.toml`` does not exist (all defaults).
    """
    if explicit:
        return Path(explicit)
    if env := (os.environ if environ is None else environ).get(CONFIG_ENV):
        return Path(env)
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


def read_raw(path: Path | None, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Read the TOML file and fold ``KEEL_<SECTION>__<KEY>`` variables into it."""
    errors: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            errors.append(f"{path}: config file not found")
        except tomllib.TOMLDecodeError as exc:
            errors.append(f"{path}: invalid TOML: {exc}")
    for key, value in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        set_path(raw, parts, value)
    return raw, errors


def set_path(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set ``raw[parts[0]][parts[1]]... = value``, creating tables on the way."""
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    plugin_types: Mapping[str, type[msgspec.Struct]] | None = None,
) -> Settings:
    """Build :class:`Settings` from the config file, the environment and ``overrides``.

    Args:
        path: config file; see :func:`config_path`.
        environ: environment to read ``KEEL_*`` overrides from (default ``os.environ``).
        overrides: dotted path -> value, applied last (used by the devstack and tests).
        plugin_types: installed plugins' settings types by plugin name; needed to
            decode ``[plugins.<name>]`` tables and to check ``enabled`` names.

    Raises:
        ConfigError: listing every problem found, each with its dotted path.
    """
    environ = os.environ if environ is None else environ
    raw, errors = read_raw(config_path(path, environ), environ)
    for dotted, value in (overrides or {}).items():
        set_path(raw, dotted.split("."), value)
    plugins_raw = raw.pop("plugins", {})
    settings = _convert(Settings, raw, "", errors)
    plugins = _load_plugins(plugins_raw, plugin_types or {}, errors)
    if settings is not None:
        errors.extend(url_problems(settings))
    if errors or settings is None or plugins is None:
        raise ConfigError(errors)
    result: Settings = msgspec.structs.replace(settings, plugins=plugins)
    return result


def _names(value: Any, path: str, errors: list[str]) -> list[str]:
    """A list of plugin names; from the environment, JSON or comma-separated."""
    if isinstance(value, str):
        try:
            return msgspec.json.decode(value, type=list[str])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return [n.strip() for n in value.split(",") if n.strip()]
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        errors.append(f"{path}: expected a list of plugin names, got {value!r}")
        return []
    return value


def _load_plugins(
    raw: Any, types: Mapping[str, type[msgspec.Struct]], errors: list[str]
) -> PluginsSettings | None:
    if not isinstance(raw, dict):
        errors.append(f"plugins: expected a table, got {raw!r}")
        return None
    installed = ", ".join(sorted(types)) or "(none)"
    disabled = _names(raw.pop("disabled", []), "plugins.disabled", errors)
    enabled = _names(raw.pop("enabled", sorted(types)), "plugins.enabled", errors)
    for name in enabled:
        if name not in types:
            errors.append(
                f"plugins.enabled: unknown plugin {name!r}; installed plugins: {installed}"
            )
    standby = _names(raw.pop("standby", []), "plugins.standby", errors)
    for name in standby:
        if name not in types:
            errors.append(
                f"plugins.standby: unknown plugin {name!r}; installed plugins: {installed}"
            )
    tables: dict[str, Any] = {}
    for name, plugin_type in types.items():
        table = raw.pop(name, {})
        value = _convert(plugin_type, table, f"plugins.{name}", errors)
        if value is not None:
            tables[name] = value
    for name in raw:
        errors.append(f"plugins.{name}: unknown plugin table; installed plugins: {installed}")
    return PluginsSettings(
        enabled=[n for n in dict.fromkeys(enabled) if n not in disabled],
        disabled=list(dict.fromkeys(disabled)),
        standby=[n for n in dict.fromkeys(standby) if n not in enabled],
        tables=tables,
    )


def _convert(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    """Convert ``value`` to ``tp``, recording every error below ``path``."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, dict):
            errors.append(f"{path or '<root>'}: expected a table, got {value!r}")
            return None
        return _convert_struct(tp, value, path, errors)
    origin = typing.get_origin(tp)
    if origin is dict and isinstance(value, dict):
        _key_tp, val_tp = typing.get_args(tp)
        if isinstance(val_tp, type) and issubclass(val_tp, msgspec.Struct):
            out = {k: _convert(val_tp, v, f"{path}.{k}", errors) for k, v in value.items()}
            return None if None in out.values() else out
    return _convert_leaf(tp, value, path, errors)


def _convert_struct(
    tp: type[msgspec.Struct], value: dict[str, Any], path: str, errors: list[str]
) -> Any:
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    prefix = f"{path}." if path else ""
    before = len(errors)
    for key in value:
        if key not in fields:
            known = ", ".join(sorted(fields)) or "(none)"
            errors.append(f"{prefix}{key}: unknown key (known keys: {known})")
    converted = {}
    for key, field in fields.items():
        if key in value:
            converted[key] = _convert(field.type, value[key], f"{prefix}{key}", errors)
    if len(errors) > before:
        return None
    try:
        return msgspec.convert(converted, tp, strict=False)
    except msgspec.ValidationError as exc:
        errors.append(f"{path or '<root>'}: {exc}")
        return None


def _convert_leaf(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    try:
        return msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        if isinstance(value, str):
            try:  # environment values: lists and tables are written as JSON
                return msgspec.convert(msgspec.json.decode(value), tp, strict=False)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass
        errors.append(f"{path}: {exc} (got {value!r})")
        return None
