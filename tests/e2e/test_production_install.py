"""A production install: the wheel, without the ``dev`` extra, in a clean virtualenv.

What ``Dockerfile`` and ``compose.yaml`` do, done here for real (no container engine runs
on these machines): build the wheel from a copy of the sources, install it with
``pip install -c constraints.txt <wheel>`` into a new virtualenv, check that no GPL
package (SecantusDB, localstripe) nor other development tool came with it, then run
``keel serve`` and ``keel worker`` from that virtualenv with production settings, from the
environment only (no config file), against the session's separately started SecantusDB,
valkey-server, SMTP sink and localstripe. A user registers through the API, the worker
mails the code, the code signs the user in, and a login answers a token that works.

pip reads PyPI (its cache makes a rerun quick); the test is skipped, saying so, only
when PyPI cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from _keel_procs import KeelProcess, free_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from core.testing import Mailbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "core", "plugins")
GPL = {"secantusdb", "localstripe"}
# Dev-extra packages a production install does need: litestar[standard] brings httpx
# (its test client) and uvicorn[standard] brings websockets.
RUNTIME_TOO = {"httpx", "websockets"}
PASSWORD = "a long production passphrase 42"


def _pip(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The project's own pip: the new virtualenv is made without one."""
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _require_pypi() -> None:
    try:
        httpx.head("https://pypi.org/simple/setuptools/", timeout=10, follow_redirects=True)
    except httpx.HTTPError as exc:
        pytest.skip(f"PyPI is unreachable ({exc!r}): the production install needs it")


def _build_wheel(tmp: Path) -> Path:
    """The wheel, built from a clean copy of the sources (no stale ``build/`` tree)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    built = _pip("wheel", "--no-deps", "--wheel-dir", str(tmp / "dist"), str(src))
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp / "dist").glob("keel-*.whl")
    return wheel


def _package_data() -> set[str]:
    """Every file under ``core/`` and ``plugins/`` that is not Python source."""
    return {
        path.relative_to(ROOT).as_posix()
        for top in ("core", "plugins")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py"
    }


def _install(wheel: Path, venv: Path) -> Path:
    """``pip install -c constraints.txt <wheel>`` into a new virtualenv; its python.

    The Dockerfile runs the same command; ``--no-compile`` only saves the test ~15 s of
    byte-compiling (the image compiles once at build time instead).
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    args = ["--python", str(python), "install", "--no-compile", "-c", str(ROOT / "constraints.txt")]
    installed = _pip(*args, str(wheel))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def _distributions(python: Path) -> dict[str, str]:
    """The virtualenv's distributions: canonical name -> version."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return {canonicalize_name(k): v for k, v in json.loads(out.stdout).items()}


def _dev_only() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = {
        str(canonicalize_name(Requirement(r).name)) for r in project["optional-dependencies"]["dev"]
    }
    return dev - RUNTIME_TOO


@dataclass
class ProdProcess(KeelProcess):
    """A ``keel`` process of the production virtualenv, run in a directory of its own."""

    keel: str = ""
    cwd: Path | None = None

    def start(self) -> ProdProcess:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [self.keel, *self.args],
            env=dict(self.env),
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self


def production_env(
    stack_env: dict[str, str], home: Path, *, database: str, prefix: str, port: int
) -> dict[str, str]:
    """What the Dockerfile and ``compose.yaml`` give every keel container: production, a
    random signing key, the services' URLs, a database, the upload and backup directories;
    nothing read from a config file. (The image binds 0.0.0.0 and port 8000; here
    127.0.0.1 and a free port.)"""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEEL_", "VIRTUAL_ENV", "PYTHON", "COV_", "COVERAGE_"))
    }
    return {
        **base,
        **stack_env,  # the SMTP sink and localstripe (as payments' api_base) too
        "KEEL_APP__ENV": "production",
        "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        # a Stripe endpoint's own signing secret: localstripe's public one is refused
        "KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET": f"whsec_{secrets.token_urlsafe(32)}",
        "KEEL_VALKEY__URL": stack_env["KEEL_VALKEY__URL"].replace("redis://", "valkey://", 1),
        "KEEL_DATABASE__NAME": database,
        "KEEL_VALKEY__KEY_PREFIX": prefix,
        "KEEL_SERVER__HOST": "127.0.0.1",
        "KEEL_SERVER__PORT": str(port),
        "KEEL_UPLOADS__DIR": str(home / "uploads"),
        "KEEL_PLUGINS__CRON__BACKUP_DIR": str(home / "backups"),
    }


@pytest.fixture
def prod(keel_stack: Any, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(the virtualenv's python, the production environment); drops the database after."""
    _require_pypi()
    began = time.monotonic()
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        missing = _package_data() - set(archive.namelist())
    assert not missing, f"package data left out of the wheel: {sorted(missing)}"
    python = _install(wheel, tmp_path / "venv")
    print(f"wheel and install: {time.monotonic() - began:.1f} s")  # noqa: T201 - shown with -s
    unique = uuid.uuid4().hex[:10]
    env = production_env(
        keel_stack.environ(),
        tmp_path / "home",
        database=f"prod_{unique}",
        prefix=f"prod{unique}",
        port=free_port(),
    )
    yield python, env
    with pymongo.MongoClient[dict[str, Any]](env["KEEL_DATABASE__URL"]) as client:
        client.drop_database(env["KEEL_DATABASE__NAME"])


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _code_for(mailbox: Mailbox, address: str, procs: Sequence[KeelProcess]) -> str:
    """The 6-digit code mailed to ``address`` (it also gets a welcome message)."""
    deadline = time.monotonic() + 30
    while True:
        for message in mailbox.messages(to=address):
            if match := re.search(r"Your code is: (\d{6})", _text(message)):
                return match.group(1)
        for proc in procs:
            proc.check_alive()
        assert time.monotonic() < deadline, [p.output()[-3000:] for p in procs]
        time.sleep(0.2)


def test_production_install_serves_and_works(
    prod: tuple[Path, dict[str, str]], mailbox: Mailbox, tmp_path: Path
) -> None:
    python, env = prod
    venv = python.parent.parent
    dists = _distributions(python)
    assert "keel" in dists
    assert not GPL & dists.keys(), f"GPL packages in a production install: {GPL & dists.keys()}"
    dev_only = _dev_only() & dists.keys()
    assert not dev_only, f"dev-only tools in a production install: {sorted(dev_only)}"
    where = subprocess.run(
        [python, "-c", "import core, plugins.accounts; print(core.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # not this checkout's sources

    home = tmp_path / "home"
    home.mkdir()  # the working directory, with no config.toml: all from the environment
    keel = str(venv / "bin" / "keel")
    port = int(env["KEEL_SERVER__PORT"])
    server = ProdProcess("serve", ["serve"], env, tmp_path / "serve.log", port, keel=keel, cwd=home)
    worker = ProdProcess("worker", ["worker"], env, tmp_path / "worker.log", keel=keel, cwd=home)
    procs = [server.start(), worker.start()]
    try:
        server.wait_ready(timeout=60)
        _register_and_sign_in(server.url, mailbox, procs)
        for proc in procs:
            proc.check_alive()
        assert "Traceback" not in server.output() + worker.output()
    finally:
        for proc in procs:
            proc.kill()


def _register_and_sign_in(base: str, mailbox: Mailbox, procs: Sequence[KeelProcess]) -> None:
    email = f"prod-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=10) as client:
        live = client.get("/health/live")
        assert live.status_code == 200, live.text
        assert client.get("/health/ready").status_code == 200
        # production headers: HSTS on, no development pages
        assert "strict-transport-security" in live.headers
        assert client.get("/realtime/demo").status_code == 404
        registered = client.post(
            "/api/auth/register", json={"name": "Prod User", "email": email, "password": PASSWORD}
        )
        assert registered.status_code == 202, registered.text
        weak = client.post(  # the common-password list ships in the wheel
            "/api/auth/register", json={"name": "W", "email": f"w{email}", "password": "password1"}
        )
        assert weak.is_client_error, weak.text
        assert "most common" in weak.json()["error"]["message"]
        code = _code_for(mailbox, email, procs)  # mailed by keel worker
        verified = client.post("/api/auth/verify-otp", json={"email": email, "code": code})
        assert verified.status_code == 200, verified.text
        login = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        sessions = client.get("/api/auth/sessions", headers={"Authorization": f"Bearer {token}"})
        assert sessions.status_code == 200, sessions.text
        assert len(sessions.json()) == 2  # the code's sign-in and the login
