"""Templates an operator overrides, the development mailbox page, and an SMTP outage."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from core.devstack.smtp_sink import MaildirHandler
from core.settings import AppSettings, Settings
from core.testing import KeelTestApp, Mailbox
from core.testing._app import AppFactory
from plugins.accounts.events import UserCreated
from plugins.notifications.plugin import NotificationsPlugin
from plugins.notifications.settings import NotificationsSettings

from .conftest import EXTRA, PLUGINS, text_of

OUTAGE_S = 10.0


def _welcome(email: str) -> UserCreated:
    return UserCreated(user_id="ab" * 12, email=email, display_name="Ann", role="customer")


async def test_an_operator_template_replaces_the_shipped_one(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    (tmp_path / "user_created.txt").write_text(
        "Subject: Hi {{ recipient.name }} from ACME\n\nACME says hello to {{ recipient.email }}\n"
    )
    async with keel_app_factory(
        plugins=PLUGINS,
        extra=EXTRA,
        overrides={"plugins.notifications.template_dir": str(tmp_path)},
    ) as env:
        await env.keel.events.emit(_welcome("ann.acme@example.com"))
        await env.drain()
        (mail,) = env.mailbox.messages(to="ann.acme@example.com")
    assert str(mail["Subject"]) == "Hi Ann from ACME"
    assert "ACME says hello to ann.acme@example.com" in text_of(mail)
    assert "Hello Ann" in str(mail.get_body(preferencelist=("html",)))  # shipped HTML kept


async def test_the_dev_mailbox_lists_and_renders_messages(env: KeelTestApp) -> None:
    await env.keel.events.emit(_welcome("ann.dev@example.com"))
    await env.drain()
    (mail,) = env.mailbox.messages(to="ann.dev@example.com")
    listing = await env.client.get("/dev/mailbox")
    assert listing.status_code == 200
    assert listing.headers["content-type"].startswith("text/html")
    assert "Welcome, Ann" in listing.text
    name = next(
        p.name
        for p in sorted(env.mailbox.directory.glob("*.eml"))[::-1]
        if "ann.dev@example.com" in p.read_text()
    )
    assert f"mailbox/{name}" in listing.text
    shown = await env.client.get(f"/dev/mailbox/{name}")
    assert shown.status_code == 200
    assert "<p>Your account (ann.dev@example.com) is ready." in shown.text  # rendered HTML
    assert str(mail["Subject"]) in shown.text
    assert (await env.client.get("/dev/mailbox/..%2Fsecret.eml")).status_code == 404
    assert (await env.client.get("/dev/mailbox/00000000000000000000.eml")).status_code == 404


def test_the_dev_mailbox_is_not_served_in_production() -> None:
    production = Settings(app=AppSettings(env="production"))
    routes = NotificationsPlugin(NotificationsSettings(), production).register_routes()
    assert [r.__name__ for r in routes] == ["NotificationController"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_smtp_server_down_for_10_s_delays_mail_but_loses_none(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    port = _free_port()
    settings = {
        "mail.host": "127.0.0.1",
        "mail.port": port,
        "queue.retries": 60,
        "queue.retry_delay_s": 0.1,
        "queue.retry_max_delay_s": 1.0,
    }
    addresses = [f"outage{i}@example.com" for i in range(3)]
    async with keel_app_factory(plugins=PLUGINS, extra=EXTRA, overrides=settings) as env:
        started = time.monotonic()
        for address in addresses:
            await env.keel.events.emit(_welcome(address))
        drained = asyncio.create_task(env.drain())
        await asyncio.sleep(OUTAGE_S)
        assert not drained.done()
        server = Controller(MaildirHandler(tmp_path), hostname="127.0.0.1", port=port)
        server.start()
        try:
            await drained
        finally:
            server.stop()
    elapsed = time.monotonic() - started
    mailbox = Mailbox(tmp_path)
    assert sorted(str(m["To"]) for m in mailbox) == addresses
    assert elapsed >= OUTAGE_S
