"""The descriptor ``keel run`` publishes: private, secret-free, found while live, stale else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from core.devstack import (
    DevStack,
    StackDescriptor,
    StackNotAnsweringError,
    StackService,
    descriptor_path,
    published,
    running_stack,
)
from core.pluginhost import discover, plugin_settings_types
from core.settings import Settings, load_settings

TYPES = plugin_settings_types(discover())
API = "http://127.0.0.1:8000"


def settings(tmp_path: Path, **overrides: str) -> Settings:
    """An empty config file's settings plus dotted ``overrides``."""
    config = tmp_path / "config.toml"
    config.write_text("")
    return load_settings(config, environ={}, overrides=overrides, plugin_types=TYPES)


def own_start_time() -> str:
    return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]


def dead_pid() -> int:
    argv = [sys.executable, "-c", "import os; print(os.getpid())"]
    child = subprocess.run(argv, check=True, capture_output=True, text=True)
    return int(child.stdout)


def write(data_dir: Path, *, pid: int, started: str, port: int = 1) -> Path:
    descriptor = StackDescriptor(
        pid=pid,
        started=started,
        data_dir=str(data_dir),
        api=API,
        services={"valkey": StackService(pid=pid, port=port, url=f"redis://127.0.0.1:{port}/0")},
        settings={"valkey.url": f"redis://127.0.0.1:{port}/0"},
    )
    path = descriptor_path(data_dir)
    path.write_bytes(msgspec.json.encode(descriptor))
    return path


def test_keel_runs_descriptor_is_private_secret_free_and_removed_on_exit(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    with DevStack(
        settings(tmp_path, **{"mail.host": "192.0.2.1"}), data_dir=data_dir, grace_s=5.0
    ) as stack:
        with published(stack, API) as path:
            assert path == data_dir / "keel-run.json"
            assert path.stat().st_mode & 0o777 == 0o600
            text = path.read_text()
            found = running_stack(data_dir)
            assert found is not None
            assert found.pid == os.getpid()
            assert found.api == API
            assert found.data_dir == str(data_dir.resolve())
            assert set(found.services) == {"secantusdb", "valkey"}
            assert found.services["valkey"].port == stack.services["valkey"].port
            assert found.settings == {
                "database.url": stack.overrides["database.url"],
                "valkey.url": stack.overrides["valkey.url"],
            }
            assert stack.overrides["auth.jwt_secret"] not in text
            assert (data_dir / "jwt_secret").read_text() not in text
        assert not path.exists()
        assert running_stack(data_dir) is None


@pytest.mark.parametrize("case", ["dead pid", "reused pid", "unreadable"])
def test_a_stale_descriptor_is_ignored_and_removed(tmp_path: Path, case: str) -> None:
    if case == "dead pid":
        path = write(tmp_path, pid=dead_pid(), started="")
    elif case == "reused pid":  # this pid is alive, but it is not the process that wrote it
        path = write(tmp_path, pid=os.getpid(), started="1")
    else:
        path = descriptor_path(tmp_path)
        path.write_text('{"pid": ')
    assert running_stack(tmp_path) is None
    assert not path.exists()


def test_a_live_keel_run_whose_service_is_gone_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, pid=os.getpid(), started=own_start_time(), port=1)
    with pytest.raises(StackNotAnsweringError, match=r"its valkey does not answer on port 1"):
        running_stack(tmp_path)
    assert path.exists()  # keel run is alive: its descriptor is not ours to remove


def test_publishing_replaces_a_stale_descriptor(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    write(data_dir, pid=dead_pid(), started="")
    configured = {
        "database.url": "mongodb://192.0.2.1:1/",
        "valkey.url": "redis://192.0.2.1:1/0",
        "mail.host": "192.0.2.1",
    }
    config = settings(tmp_path, **configured)
    with DevStack(config, data_dir=data_dir) as stack, published(stack, API) as path:
        found = running_stack(data_dir)
        assert found is not None
        assert (found.pid, found.services, found.settings) == (os.getpid(), {}, {})
    assert not path.exists()
