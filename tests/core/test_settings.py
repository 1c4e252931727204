"""Settings: defaults, TOML, environment overrides, every error at once."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core.errors import ConfigError
from core.settings import load_settings


class DemoSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    typing_timeout_s: float = 5.0
    features: list[str] = msgspec.field(default_factory=lambda: ["typing"])


TYPES = {"demo": DemoSettings, "other": DemoSettings}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_only_enabled_list_is_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[plugins]\nenabled = ["demo"]\n')
    settings = load_settings(path, environ={}, plugin_types=TYPES)
    assert settings.server.port == 8000
    assert settings.server.host == "127.0.0.1"
    assert settings.plugins.enabled == ["demo"]
    assert settings.plugins.get("demo") == DemoSettings()


def test_no_enabled_list_enables_every_installed_plugin(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={}, plugin_types=TYPES)
    assert settings.plugins.enabled == ["demo", "other"]


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n[plugins.demo]\ntyping_timeout_s = 1\n")
    environ = {
        "KEEL_SERVER__PORT": "9100",
        "KEEL_PLUGINS__DEMO__TYPING_TIMEOUT_S": "3",
        "KEEL_PLUGINS__DEMO__FEATURES": '["a", "b"]',
        "UNRELATED__X": "1",
    }
    settings = load_settings(path, environ=environ, plugin_types=TYPES)
    assert settings.server.port == 9100
    assert settings.plugins.get("demo").typing_timeout_s == 3.0
    assert settings.plugins.get("demo").features == ["a", "b"]


def test_overrides_apply_last(tmp_path: Path) -> None:
    environ = {"KEEL_DATABASE__NAME": "fromenv"}
    settings = load_settings(
        write(tmp_path, ""), environ=environ, overrides={"database.name": "x"}, plugin_types=TYPES
    )
    assert settings.database.name == "x"


def test_every_error_at_once_with_dotted_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = "not-a-port"
colour = "blue"
[database]
timeout_ms = -x
""".replace("-x", '"soon"')
        + """
[plugins]
enabled = ["demo", "nosuch"]
[plugins.demo]
typing_timeout_s = "slow"
[plugins.ghost]
x = 1
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={}, plugin_types=TYPES)
    text = str(info.value)
    assert "server.port" in text
    assert "'not-a-port'" in text
    assert "server.colour: unknown key" in text
    assert "database.timeout_ms" in text
    assert "plugins.demo.typing_timeout_s" in text
    assert "unknown plugin 'nosuch'; installed plugins: demo, other" in text
    assert "plugins.ghost: unknown plugin table" in text
    assert len(info.value.problems) == 6


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport=1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(path, environ={}, plugin_types=TYPES)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={}, plugin_types=TYPES)


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9200\n")
    settings = load_settings(environ={"KEEL_CONFIG": str(path)}, plugin_types=TYPES)
    assert settings.server.port == 9200


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={}, plugin_types=TYPES)
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"), [("[]", []), ('["demo"]', ["demo"]), ("demo, other", ["demo", "other"])]
)
def test_enabled_plugins_from_environment(tmp_path: Path, value: str, expected: list[str]) -> None:
    environ = {"KEEL_PLUGINS__ENABLED": value}
    settings = load_settings(write(tmp_path, ""), environ=environ, plugin_types=TYPES)
    assert settings.plugins.enabled == expected
