"""``keel events list`` and ``keel events replay`` as an operator runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.cli._events import parse_since
from core.testing import KeelTestApp
from core.testing._app import AppFactory

KEEL = str(Path(sys.executable).with_name("keel"))


def greet_body(who: str) -> dict[str, Any]:
    return {"who": who}


def keel_cli(env: KeelTestApp, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    s = env.settings
    extra = {
        "KEEL_DATABASE__URL": s.database.url,
        "KEEL_DATABASE__NAME": s.database.name,
        "KEEL_VALKEY__URL": s.valkey.url,
        "KEEL_VALKEY__KEY_PREFIX": s.valkey.key_prefix,
        "KEEL_AUTH__JWT_SECRET": s.auth.jwt_secret,
        "KEEL_MAIL__HOST": s.mail.host,
        "KEEL_MAIL__PORT": str(s.mail.port),
        "KEEL_PLUGINS__ENABLED": '["hello"]',
        "KEEL_APP__LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [KEEL, *args],
        env={**base, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_since_takes_iso_times_and_ages() -> None:
    assert parse_since("2026-01-02T03:04:05Z").isoformat() == "2026-01-02T03:04:05+00:00"
    assert parse_since("2026-01-02T03:04:05").tzinfo is not None
    now = parse_since("2026-01-02T00:00:00Z")
    assert parse_since("2h", now).isoformat() == "2026-01-01T22:00:00+00:00"


async def test_list_and_replay(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory(plugins=["hello"]) as env:
        for who in ("ann", "bob"):
            response = await env.client.post("/api/hello/greet", json=greet_body(who))
            assert response.status_code < 300, response.text
        await env.drain()
        listed = keel_cli(
            env, "events", "list", "--since", "1h", "--type", "hello.greeted", "--json"
        )
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [r["state"] for r in rows] == ["relayed", "relayed"]
        assert rows[0]["deliveries"] == ["hello.record_greeting"]
        none = keel_cli(env, "events", "list", "--type", "user.created")
        assert none.returncode == 0, none.stderr
        assert none.stdout == ""
        replayed = keel_cli(env, "events", "replay", "--since", "1h", "--plugin", "hello")
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.startswith("2 of 2 event(s)"), replayed.stdout
        await env.drain()
        greetings = env.keel.db.database["hello_greetings"]
        assert await greetings.count_documents({}) == 2  # handled once each
        bad = keel_cli(env, "events", "replay", "--since", "yesterday")
        assert bad.returncode == 2
        assert "30m, 2h, 7d" in bad.stderr
