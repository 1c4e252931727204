"""Templates an operator overrides, the development mailbox page, and an SMTP outage."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from core.devstack import serving_dev_pages
from core.devstack.smtp_sink import MaildirHandler
from core.settings import AppSettings, Settings
from core.testing import Mailbox
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


async def test_the_dev_mailbox_lists_and_renders_messages(keel_app_factory: AppFactory) -> None:
    with serving_dev_pages(admins_only=False):  # as `keel run` on 127.0.0.1
        async with keel_app_factory(plugins=PLUGINS, extra=EXTRA) as env:
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
            assert "<p>Your account (ann.dev@example.com) is ready." in shown.text
            assert str(mail["Subject"]) in shown.text
            assert (await env.client.get("/dev/mailbox/..%2Fsecret.eml")).status_code == 404
            missing = await env.client.get("/dev/mailbox/00000000000000000000.eml")
            assert missing.status_code == 404


async def test_the_public_dev_mailbox_answers_admins_only(keel_app_factory: AppFactory) -> None:
    with serving_dev_pages(admins_only=True):  # as `keel run --public` on 0.0.0.0
        async with keel_app_factory(plugins=PLUGINS, extra=EXTRA) as env:
            assert (await env.client.get("/dev/mailbox")).status_code == 401
            _, customer = await env.signed_in("customer")
            assert (await env.client.get("/dev/mailbox", headers=customer)).status_code == 403
            _, admin = await env.signed_in("admin")
            listing = await env.client.get("/dev/mailbox", headers=admin)
            assert listing.status_code == 200, listing.text
            assert "Dev mailbox" in listing.text


async def test_the_dev_mailbox_is_404_once_keel_run_is_over(keel_app_factory: AppFactory) -> None:
    with serving_dev_pages(admins_only=False):
        async with keel_app_factory(plugins=PLUGINS, extra=EXTRA) as env:
            assert (await env.client.get("/dev/mailbox")).status_code == 200
    async with keel_app_factory(plugins=PLUGINS, extra=EXTRA) as env:
        assert (await env.client.get("/dev/mailbox")).status_code == 404


@pytest.mark.parametrize("app_env", ["production", "development", "test"])
def test_the_dev_mailbox_is_only_mounted_under_keel_run(app_env: str) -> None:
    settings = Settings(app=AppSettings(env=app_env))  # type: ignore[arg-type]
    plugin = NotificationsPlugin(NotificationsSettings(), settings)
    assert [r.__name__ for r in plugin.register_routes()] == ["NotificationController"]
    with serving_dev_pages(admins_only=False):
        assert len(plugin.register_routes()) == 2


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
