"""``keel config show``: the effective configuration an operator pastes into a ticket, with
every secret masked (a real process, a real config file and environment; ~2 s)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _keel_procs import run_keel, write_config

pytestmark = pytest.mark.e2e

SECRETS = {
    "KEEL_AUTH__JWT_SECRET": "signing-key-3f9c2a7b1e6d4c8a9b0f2e1d3c4b5a69",
    "KEEL_AUTH__JWT_PREVIOUS_SECRETS": '["retired-key-8e7d6c5b4a39281706f5e4d3c2b1a0ff"]',
    "KEEL_MAIL__PASSWORD": "smtp-password-correct-horse",
    "KEEL_PLUGINS__PAYMENTS__SECRET_KEY": "sk_test_51Hx0000000000000000000000",
    "KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET": "whsec_0000000000000000000000000000",
}
URLS = {
    "KEEL_DATABASE__URL": "mongodb://admin:db-pass-9871@127.0.0.1:27017/?retryWrites=false",
    "KEEL_VALKEY__URL": "redis://:valkey-pass-5512@127.0.0.1:6379/0",
}


def test_config_show_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", enabled=["payments"])
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env = {**base, "KEEL_CONFIG": str(config), "KEEL_MAIL__USERNAME": "mailer", **SECRETS, **URLS}

    result = run_keel(["config", "show"], env)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["auth"]["jwt_secret"] == "***"
    assert shown["auth"]["jwt_previous_secrets"] == ["***"]
    assert shown["mail"]["password"] == "***"
    assert shown["plugins"]["payments"]["secret_key"] == "***"
    assert shown["plugins"]["payments"]["webhook_secret"] == "***"
    # URLs keep everything an operator needs to check them but the credentials.
    assert shown["database"]["url"] == "mongodb://***@127.0.0.1:27017/?retryWrites=false"
    assert shown["valkey"]["url"] == "redis://***@127.0.0.1:6379/0"
    # What is not a secret is shown as configured: the file, the environment, the defaults.
    assert shown["mail"]["username"] == "mailer"
    assert shown["app"]["log_level"] == "WARNING"
    assert "payments" in shown["plugins"]["enabled"]
    for value in [*SECRETS.values(), "db-pass-9871", "valkey-pass-5512"]:
        plain = value.strip('[]"')
        assert plain not in result.stdout
        assert plain not in result.stderr
