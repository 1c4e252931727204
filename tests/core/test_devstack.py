"""The embedded services: they start, answer, keep data, stop without orphans, fail clearly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import valkey
from pymongo import MongoClient

from core.devstack import DevStack, DevStackError
from core.pluginhost import discover, plugin_settings_types
from core.records import DevService
from core.settings import Settings, load_settings
from core.testing import Mailbox, SettingsFactory

TYPES = plugin_settings_types(discover())  # the stack's dev services configure plugins

# Addresses nothing listens on: settings that name them make the devstack start no
# database, Valkey or SMTP sink, only the plugin services under test.
CONFIGURED = {
    "database.url": "mongodb://192.0.2.1:1/",
    "valkey.url": "redis://192.0.2.1:1/0",
    "mail.host": "192.0.2.1",
}
WEB = DevService(
    "web",
    ["{python}", "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "{data}"],
    settings_overrides={"app.name": "web-{port}"},
)


@pytest.fixture(scope="module")
def empty_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("devstack") / "config.toml"
    path.write_text("")
    return path


def settings(config: Path, **overrides: Any) -> Settings:
    return load_settings(config, environ={}, overrides=overrides, plugin_types=TYPES)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def assert_gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in pids if alive(pid)] == []


def mongo(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url, serverSelectionTimeoutMS=5000)


# -- the session stack and its fixtures -------------------------------------------------------


def test_session_stack_services_answer(keel_stack: DevStack, keel_settings: Settings) -> None:
    assert set(keel_stack.services) >= {"secantusdb", "valkey", "smtp-sink"}
    assert all(alive(s.pid) for s in keel_stack.services.values())
    url = keel_settings.database.url
    assert "retryWrites=false" in url
    assert "directConnection=true" in url
    with mongo(url) as client:
        assert client.admin.command("hello")["isWritablePrimary"] is True
        client[keel_settings.database.name].things.insert_one({"_id": 1})
        assert client[keel_settings.database.name].things.find_one() == {"_id": 1}
    with valkey.Valkey.from_url(keel_settings.valkey.url) as client_v:
        assert client_v.ping() is True


def test_environ_matches_overrides(keel_stack: DevStack, empty_config: Path) -> None:
    environ = keel_stack.environ()
    assert environ["KEEL_DATABASE__URL"] == keel_stack.overrides["database.url"]
    from_env = load_settings(empty_config, environ=environ, plugin_types=TYPES)
    from_overrides = settings(empty_config, **keel_stack.overrides)
    assert from_env == from_overrides
    assert from_env.mail.port == keel_stack.services["smtp-sink"].port


_names_seen: set[str] = set()


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_its_own_database_and_prefix(
    round_: int, keel_settings_factory: SettingsFactory, keel_settings: Settings
) -> None:
    assert keel_settings.database.name == keel_settings_factory.database_name
    assert "test_each_test_gets_its_own_database" in keel_settings.database.name
    assert keel_settings.valkey.key_prefix == keel_settings_factory.key_prefix
    assert keel_settings.app.env == "test"
    names = (keel_settings.database.name, keel_settings.valkey.key_prefix)
    assert _names_seen.isdisjoint(names)
    _names_seen.update(names)

    custom = keel_settings_factory({"server.port": 9001, "app.name": "a"}, app__name="b")
    assert (custom.server.port, custom.app.name) == (9001, "b")
    assert custom.database.name == keel_settings.database.name


async def test_sink_stores_each_message_sent_with_aiosmtplib(
    keel_settings: Settings, mailbox: Mailbox, keel_stack: DevStack
) -> None:
    to, bcc = f"{uuid.uuid4().hex}@example.com", f"{uuid.uuid4().hex}@example.com"
    for subject in ("first", "second"):
        message = EmailMessage()
        message["From"] = keel_settings.mail.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(f"body of {subject}")
        await aiosmtplib.send(
            message,
            recipients=[to, bcc],
            hostname=keel_settings.mail.host,
            port=keel_settings.mail.port,
        )

    second = await mailbox.wait_for(lambda m: m["Subject"] == "second", timeout=5)
    assert second.get_content().strip() == "body of second"
    assert [m["Subject"] for m in mailbox.messages(to=to)] == ["first", "second"]
    assert [m["Subject"] for m in mailbox.messages(to=bcc.upper())] == ["first", "second"]
    assert len(list(keel_stack.mail_dir.glob("*.eml"))) >= len(mailbox) >= 2
    with pytest.raises(TimeoutError, match=r"no message matching .* within 0\.1 s; \d+ arrived"):
        await mailbox.wait_for(lambda m: m["Subject"] == "never", timeout=0.1)


# -- own stacks ---------------------------------------------------------------------------------


def test_data_survives_a_restart_and_children_are_gone_after_exit(
    tmp_path: Path, empty_config: Path
) -> None:
    config = settings(empty_config, **{"mail.host": "192.0.2.1"})  # db and valkey only
    with DevStack(config, data_dir=tmp_path) as stack:
        with mongo(stack.overrides["database.url"]) as client:
            client.keep.docs.insert_one({"_id": "kept", "n": 1})
        with valkey.Valkey.from_url(stack.overrides["valkey.url"]) as client_v:
            client_v.set("kept", "yes")
        pids = [s.pid for s in stack.services.values()]
    assert len(pids) == 2
    assert_gone(pids)

    with DevStack(config, data_dir=tmp_path) as stack:
        with mongo(stack.overrides["database.url"]) as client:
            assert client.keep.docs.find_one({"_id": "kept"}) == {"_id": "kept", "n": 1}
        with valkey.Valkey.from_url(stack.overrides["valkey.url"]) as client_v:
            assert client_v.get("kept") == b"yes"
    assert (tmp_path / "logs" / "secantusdb.log").exists()


CHILD_SCRIPT = """
import json, sys, time
from pathlib import Path
from core.devstack import DevStack
from core.settings import load_settings

overrides = json.loads(sys.argv[3])
settings = load_settings(sys.argv[1], environ={}, overrides=overrides, plugin_types={})
with DevStack(settings, data_dir=Path(sys.argv[2]), ephemeral=True) as stack:
    print(json.dumps([s.pid for s in stack.services.values()]), flush=True)
    time.sleep(60)
"""


# SIGTERM and Ctrl-C unwind the ``with`` block, which stops the services (valkey alone
# keeps these cheap); after SIGKILL the kernel kills them all (PR_SET_PDEATHSIG).
CASES = {
    signal.SIGTERM: (128 + signal.SIGTERM, {"database.url": "mongodb://x", "mail.host": "x"}),
    signal.SIGINT: (-signal.SIGINT, {"database.url": "mongodb://x", "mail.host": "x"}),
    signal.SIGKILL: (-signal.SIGKILL, {}),
}


def test_children_die_with_their_parent(tmp_path: Path, empty_config: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD_SCRIPT)
    parents: dict[signal.Signals, subprocess.Popen[bytes]] = {}
    for signum, (_status, overrides) in CASES.items():  # all at once: each starts a stack
        argv = [str(script), str(empty_config), str(tmp_path / signum.name), json.dumps(overrides)]
        with (tmp_path / f"{signum.name}.err").open("wb") as stderr:
            parents[signum] = subprocess.Popen(
                [sys.executable, *argv],
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
    children: list[int] = []
    for signum, parent in parents.items():
        with parent:
            assert parent.stdout is not None
            line = parent.stdout.readline()
            assert line, (tmp_path / f"{signum.name}.err").read_text()
            pids = json.loads(line)
            assert len(pids) == 3 - len(CASES[signum][1])
            assert all(alive(pid) for pid in pids)
            children += pids
            parent.send_signal(signum)
            parent.wait(10)
        assert parent.returncode == CASES[signum][0], signum
    assert_gone(children)


def test_plugin_dev_service_runs_with_its_overrides(tmp_path: Path, empty_config: Path) -> None:
    unneeded = DevService("unneeded", ["/nonexistent/server"], needed=lambda s: False)
    config = settings(empty_config, **CONFIGURED)
    with DevStack(config, [("demo", WEB), ("demo", unneeded)], data_dir=tmp_path) as stack:
        assert list(stack.services) == ["demo.web"]
        web = stack.services["demo.web"]
        assert web.plugin == "demo"
        assert stack.overrides.pop("auth.jwt_secret")  # the development key, see below
        assert stack.overrides == {"app.name": f"web-{web.port}"}
        assert settings(empty_config, **stack.overrides).app.name == f"web-{web.port}"
        (tmp_path / "services" / "demo.web" / "hello.txt").write_text("hi")
        with urllib.request.urlopen(f"http://127.0.0.1:{web.port}/hello.txt") as response:
            assert response.read() == b"hi"
    assert_gone([web.pid])
    assert web.log_path == tmp_path / "logs" / "demo.web.log"


FAILING = {
    "exits": (
        ["{python}", "-c", "import sys; print('widget store is locked'); sys.exit(3)"],
        "exited with status 3 before answering",
        "widget store is locked",
    ),
    "mute": (
        ["{python}", "-c", "print('warming up', flush=True); import time; time.sleep(60)"],
        "within 0.5 s",
        "warming up",
    ),
    "missing": (["/nonexistent/bin/server"], "could not be started", ""),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_failing_service_reports_a_clear_error_and_stops_the_others(
    case: str, tmp_path: Path, empty_config: Path
) -> None:
    command, problem, log_line = FAILING[case]
    broken = DevService("broken", command, ready_timeout_s=0.5)
    config = settings(empty_config, **CONFIGURED)
    stack = DevStack(config, [("demo", WEB), ("demo", broken)], data_dir=tmp_path)

    with pytest.raises(DevStackError) as info:
        stack.start()

    message = str(info.value)
    assert "dev service 'demo.broken' of plugin 'demo'" in message
    assert problem in message
    assert log_line in info.value.log_tail
    assert info.value.service == "demo.broken"
    assert_gone([s.pid for s in stack.services.values()])


def test_a_development_signing_key_is_made_once_and_kept_private(
    tmp_path: Path, empty_config: Path
) -> None:
    config = settings(empty_config, **CONFIGURED)
    with DevStack(config, data_dir=tmp_path) as stack:
        first = stack.overrides["auth.jwt_secret"]
    key_file = tmp_path / "jwt_secret"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text() == first
    assert len(first) >= 64
    with DevStack(config, data_dir=tmp_path) as stack:  # a restart: the same key
        assert stack.overrides["auth.jwt_secret"] == first
    key_file.chmod(0o644)
    with DevStack(config, data_dir=tmp_path) as stack:
        assert stack.overrides["auth.jwt_secret"] == first
    assert key_file.stat().st_mode & 0o777 == 0o600  # tightened


def test_a_configured_key_wins_and_ephemeral_stacks_keep_none(
    tmp_path: Path, empty_config: Path
) -> None:
    own = settings(empty_config, **CONFIGURED, **{"auth.jwt_secret": "k" * 40})
    with DevStack(own, data_dir=tmp_path) as stack:
        assert "auth.jwt_secret" not in stack.overrides
    config = settings(empty_config, **CONFIGURED)
    with DevStack(config, data_dir=tmp_path, ephemeral=True) as one:
        first = one.overrides["auth.jwt_secret"]
    with DevStack(config, data_dir=tmp_path, ephemeral=True) as two:
        assert two.overrides["auth.jwt_secret"] != first
    assert not (tmp_path / "jwt_secret").exists()
