"""The ``keel`` command line as an operator runs it: a real process, a real config file."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from _keel_procs import BUILT_INS, run_keel, write_config

pytestmark = pytest.mark.e2e


SIGNING_KEY = secrets.token_urlsafe(48)


def _env(config: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return {
        **base,
        "KEEL_CONFIG": str(config),
        "KEEL_AUTH__JWT_SECRET": SIGNING_KEY,
        "COLUMNS": "200",
        **extra,
    }


def test_plugins_json_lists_built_ins_and_hello(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[*BUILT_INS, "hello"])
    result = run_keel(["plugins", "--json"], _env(config))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(BUILT_INS) | {"hello"} <= set(rows)
    assert all(rows[name]["enabled"] for name in [*BUILT_INS, "hello"])
    hello = rows["hello"]
    assert hello["version"] == "0.3.0"
    assert hello["distribution"] == "keel-hello"
    assert hello["routes"] == ["GET /api/hello", "POST /api/hello/greet"]
    assert hello["listeners"] == ["hello.greeted -> record_greeting (durable)"]
    assert hello["jobs"] == ["hello.record_tick"]
    assert [s["name"] for s in hello["schedules"]] == ["hello.tick"]
    for key in ("name", "version", "enabled", "requires", "routes", "listeners", "jobs"):
        assert all(key in row for row in rows.values())
    assert rows["payments"]["requires"] == ["bookings"]


def test_disabling_search_shows_it_disabled(tmp_path: Path) -> None:
    enabled = [name for name in BUILT_INS if name != "search"]
    config = write_config(tmp_path / "config.toml", enabled=enabled)
    as_json = run_keel(["plugins", "--json"], _env(config))
    table = run_keel(["plugins"], _env(config))
    assert as_json.returncode == 0, as_json.stderr
    assert table.returncode == 0, table.stderr
    states = {row["name"]: row["enabled"] for row in json.loads(as_json.stdout)}
    assert states["search"] is False
    assert states["bookings"] is True
    assert states["hello"] is False  # installed, not enabled
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert rows["search"].split("│")[3].strip() == "no"
    assert rows["bookings"].split("│")[3].strip() == "yes"


def test_config_check_accepts_a_good_config(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=[*BUILT_INS, "hello"])
    result = run_keel(["config", "check"], _env(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config OK" in result.stdout


def _check(tmp_path: Path, before_plugins: str, server: str = "") -> tuple[int, str]:
    """``keel config check`` on a config with hello enabled plus the given tables."""
    config = write_config(tmp_path / "config.toml", enabled=["hello"], extra=before_plugins)
    if server:
        text = config.read_text(encoding="utf-8").replace("[server]\n", f"[server]\n{server}")
        config.write_text(text, encoding="utf-8")
    result = run_keel(["config", "check"], _env(config))
    return result.returncode, result.stdout + result.stderr


def test_config_check_reports_unknown_keys_with_their_dotted_path(tmp_path: Path) -> None:
    code, output = _check(
        tmp_path, "[plugins.hello]\ntick_crn = '* * * * *'\n", server="prot = 8000\n"
    )
    assert code == 1, output
    assert "server.prot: unknown key" in output
    assert "plugins.hello.tick_crn: unknown key" in output  # every problem at once
    assert "Traceback" not in output


def test_config_check_reports_a_bad_cron_override_with_its_dotted_path(tmp_path: Path) -> None:
    code, output = _check(tmp_path, '[scheduler.overrides."hello.tick"]\ncron = "bad"\n')
    assert code == 1, output
    assert "scheduler.overrides.hello.tick.cron: invalid cron expression 'bad'" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("key", "url"),
    [("VALKEY", "http://localhost:6379"), ("VALKEY", "localhost:6379"), ("DATABASE", "pg://x")],
)
def test_config_check_rejects_an_unknown_url_scheme(tmp_path: Path, key: str, url: str) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["hello"])
    result = run_keel(["config", "check"], _env(config, **{f"KEEL_{key}__URL": url}))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{key.lower()}.url: unknown URL scheme" in output
    assert "Traceback" not in output


def test_config_check_accepts_valkey_schemes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["hello"])
    for url in ("valkey://cache:6379/0", "valkeys://cache:6380", "unix:///run/valkey.sock"):
        result = run_keel(["config", "check"], _env(config, KEEL_VALKEY__URL=url))
        assert result.returncode == 0, result.stdout + result.stderr


def test_serve_refuses_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["hello", "nope"])
    result = run_keel(["serve", "--port", "1"], _env(config))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "plugins.enabled: unknown plugin 'nope'" in output
    assert "hello" in output  # the installed plugins are listed
    assert "Traceback" not in output


def test_trace_hooks_prints_hook_calls(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["hello"])
    result = run_keel(["plugins", "--json"], _env(config, KEEL_TRACE_HOOKS="1"))
    assert result.returncode == 0, result.stderr
    assert "hook register_routes -> hello" in result.stderr
    assert "hook register_schedules -> hello" in result.stderr
    json.loads(result.stdout)  # tracing leaves stdout machine-readable
