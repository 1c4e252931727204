"""The README's "Try it", run as written, in order, in a scratch copy of the project.

The scratch directory holds the checkout's files (tracked ones and new ones git does not
ignore, mtimes kept; ``python -m`` services started there import them) and a link to this
checkout's ``.venv``: building a new one would take minutes and need the network. ``make``
then sees the install is up to date, so ``make run`` is run for real and goes straight to
``.venv/bin/keel run``. The one liberty taken: the port (``KEEL_SERVER__PORT``), since 8000
may be taken on a shared machine. Each command of the second terminal runs in its own
session, like a terminal of its own; the password prompt of ``keel users create-admin``
gets its answer typed on stdin.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _keel_procs import free_port
from _running_stack import Background, clean_env, get, login, run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a walkthrough passphrase"


def try_it_commands() -> list[str]:
    """The command lines of the README's "Try it" shell block (comments dropped)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no ```sh block in the README's Try it"
    lines = [" ".join(shlex.split(line, comments=True)) for line in match[1].splitlines()]
    return [line for line in lines if line]


def scratch_clone(target: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored) under ``target``, and a link
    to its ``.venv``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def wait_gone(pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_readme_try_it_works_as_written(tmp_path: Path) -> None:
    commands = try_it_commands()
    assert commands[0] == "make run", commands  # terminal 1; the others run beside it
    clone = scratch_clone(tmp_path / "keel")
    if run(["make", "-q", ".venv/.installed"], clone, clean_env()).returncode != 0:
        pytest.skip("this checkout's .venv is older than pyproject.toml: run `make install`")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = clean_env(KEEL_SERVER__PORT=str(port))

    server = Background(["make", "run"], clone, env, tmp_path / "make-run.log")
    outputs: dict[str, str] = {}
    try:
        server.wait_ready(api, timeout=180)
        keel_pid = json.loads((clone / "var" / "keel-run.json").read_bytes())["pid"]
        for line in commands[1:]:
            typed = f"{PASSWORD}\n{PASSWORD}\n" if "create-admin" in line else ""
            result = run(["sh", "-c", line], clone, env, stdin=typed)
            assert result.returncode == 0, f"{line}:\n{result.stdout}\n{result.stderr}"
            outputs[line] = result.stdout
        check_logins(api, commands, outputs)
    finally:
        server.stop()
        server.kill()
    wait_gone(keel_pid)
    assert not (clone / "var" / "keel-run.json").exists()


def check_logins(api: str, commands: list[str], outputs: dict[str, str]) -> None:
    """The demo logins ``keel demo`` printed work, and so does the admin's."""
    (demo,) = [out for line, out in outputs.items() if line.endswith("keel demo")]
    logins = re.findall(r"(provider|customer): (\S+@\S+)\s+password: (.+)", demo)
    assert {role for role, _, _ in logins} == {"provider", "customer"}, demo
    for role, email, password in logins:
        token = login(api, email, password.strip())["accessToken"]
        assert get(api, "/api/users/me", token)["role"] == role
    (admin,) = [line for line in commands if "create-admin" in line]
    email = shlex.split(admin)[shlex.split(admin).index("--email") + 1]
    token = login(api, email, PASSWORD)["accessToken"]
    assert get(api, "/api/users/me", token)["role"] == "admin"
