"""Accounts tests: the real app (in this event loop) on the session's embedded stack.

Each test gets its own database and Valkey prefix (``keel_settings_factory``), an app
built by ``create_app`` with a small real plugin that records ``user.*`` events, an
httpx client speaking ASGI to it, and helpers to drain the email queue with a burst
worker and read what reached the SMTP sink.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import msgspec
import pytest
from bson import ObjectId
from litestar import Litestar

from core import StashKey
from core.app import create_app
from core.context import Keel
from core.events import Event
from core.plugin import Plugin, hookimpl
from core.pluginhost import InstalledPlugin, discover
from core.records import Listener
from core.runtime import run_worker
from core.settings import AuthSettings, PluginsSettings, Settings
from core.testing import Mailbox, SettingsFactory, running
from plugins.accounts.documents import User
from plugins.accounts.passwords import PasswordHasher

PASSWORD = "correct horse battery staple"
USER_EVENTS = StashKey[list[Event]]("user_spy.events")
_HASHES: dict[str, str] = {}


class UserSpyPlugin(Plugin):
    """Records every ``user.*`` event it sees in ``keel.stash[USER_EVENTS]``."""

    name = "user_spy"

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def record(keel: Keel, event: Event) -> None:
            if type(event).name.startswith("user."):
                keel.stash.get_or_create(USER_EVENTS, list).append(event)

        return [Listener("*", record, name="record")]


@dataclass
class Env:
    """One test's app, client and helpers."""

    app: Litestar
    client: httpx.AsyncClient
    mailbox: Mailbox
    emails: list[str] = field(default_factory=list)
    config: str = ""
    """A config file pointing at this test's database and Valkey prefix (CLI tests)."""

    @property
    def keel(self) -> Keel:
        keel: Keel = self.app.state.keel
        return keel

    @property
    def events(self) -> list[Event]:
        return list(self.keel.stash.get(USER_EVENTS, []))

    async def drain(self) -> None:
        """Run every queued job (emails included) and the inline listeners."""
        await run_worker(self.keel, burst=True, scheduler=False)
        await self.keel.events.drain()

    def email(self, tag: str = "u") -> str:
        """A unique address for this test."""
        address = f"{tag}.{ObjectId()}@example.com"
        self.emails.append(address)
        return address

    async def user(
        self, *, role: str = "customer", verified: bool = True, email: str | None = None
    ) -> User:
        """Insert a user whose password is ``PASSWORD`` (hash made once per session)."""
        if "hash" not in _HASHES:
            _HASHES["hash"] = await PasswordHasher(AuthSettings()).hash(PASSWORD)
        address = email or self.email(role)
        user = User(
            id=ObjectId(),
            name=f"{role.title()} Person",
            email=address,
            email_key=address.casefold(),
            role=role,
            verified=verified,
            password_hash=_HASHES["hash"],
        )
        await self.keel.db.get_collection(User).insert_one(user.model_dump_doc())
        return user

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in; returns the token pair body."""
        response = await self.client.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def signed_in(self, role: str = "customer") -> tuple[User, dict[str, str]]:
        """A new verified user and the ``Authorization`` header of a fresh login."""
        user = await self.user(role=role)
        tokens = await self.login(user.email)
        return user, bearer(tokens["accessToken"])

    async def mail_to(self, address: str, *, contains: str = "") -> EmailMessage:
        """The newest message to ``address`` (after draining the queue)."""
        await self.drain()

        def match(message: EmailMessage) -> bool:
            return address in str(message["To"]) and contains in str(message["Subject"])

        await self.mailbox.wait_for(match, timeout=10)
        newest: EmailMessage = [m for m in self.mailbox if match(m)][-1]
        return newest

    @asynccontextmanager
    async def client_from(self, ip: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client of the same app whose requests come from client IP ``ip``."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40_000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every message to ``address`` so far."""
        return list(self.mailbox.messages(to=address))


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header."""
    return {"Authorization": f"Bearer {token}"}


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def code_in(message: EmailMessage) -> str:
    """The 6-digit code in an OTP email."""
    match = re.search(r"Your code is: (\d{6})", text_of(message))
    assert match, text_of(message)
    return match.group(1)


def reset_token_in(message: EmailMessage) -> str:
    """The token in a password-reset email."""
    match = re.search(r"reset token: ([A-Za-z0-9_-]+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body every 4xx/5xx carries."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    error: dict[str, Any] = body["error"]
    return error


def with_spy(settings: Settings) -> tuple[Settings, dict[str, InstalledPlugin]]:
    """The settings with only the spy plugin enabled, and the plugins to build from."""
    installed = {
        **discover(),
        "user_spy": InstalledPlugin("user_spy", UserSpyPlugin, "0", "tests"),
    }
    tables = {**settings.plugins.tables, "user_spy": UserSpyPlugin.settings_type()}
    plugins = PluginsSettings(enabled=["user_spy"], tables=tables)
    return msgspec.structs.replace(settings, plugins=plugins), installed


@pytest.fixture
def make_env(keel_settings_factory: SettingsFactory, mailbox: Mailbox) -> Callable[..., Any]:
    """``async with make_env(**overrides) as env``: an app on fresh settings."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[Env]:
        overrides.setdefault("auth.otp_resend_interval_s", 0)
        settings, installed = with_spy(keel_settings_factory(overrides))
        app = create_app(settings, installed=installed)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with (
            running(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            yield Env(app=app, client=client, mailbox=mailbox)

    return build


@pytest.fixture
async def env(make_env: Callable[..., Any]) -> AsyncIterator[Env]:
    """An app on default test settings (resend interval off)."""
    async with make_env() as built:
        yield built
