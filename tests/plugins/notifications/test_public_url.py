"""Links in emails start at ``[app] public_url`` (or ``http://127.0.0.1:<port>`` when it is
empty, as under ``keel run``). Runtime: about 3 s here."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from core.errors import ConfigError
from core.testing import KeelTestApp, SettingsFactory
from core.testing._app import AppFactory
from plugins.accounts.events import UserCreated

from .conftest import EXTRA, PLUGINS, text_of

PUBLIC = "https://market.example.com"


def _links(mail: EmailMessage) -> list[str]:
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    return re.findall(r'href="([^"]+)"', str(html.get_content()))


async def _reset_mail(env: KeelTestApp, email: str) -> EmailMessage:
    response = await env.client.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 202, response.text
    await env.drain()
    (mail,) = [m for m in env.mailbox.messages(to=email) if "Reset" in str(m["Subject"])]
    return mail


async def test_every_link_in_the_mails_starts_at_the_public_url(
    keel_app_factory: AppFactory,
) -> None:
    async with keel_app_factory(
        plugins=PLUGINS, extra=EXTRA, overrides={"app.public_url": PUBLIC + "/"}
    ) as env:
        user = await env.user()
        event = UserCreated(
            user_id=str(user.id), email=user.email, display_name="Ann", role="customer"
        )
        await env.keel.events.emit(event)
        await env.drain()
        (welcome,) = env.mailbox.messages(to=user.email)
        reset = await _reset_mail(env, user.email)
    assert _links(welcome) == [PUBLIC, f"{PUBLIC}/settings/notifications"]
    (link,) = _links(reset)
    assert link.startswith(f"{PUBLIC}/reset-password?token=")
    assert link in text_of(reset)


async def test_without_a_public_url_links_point_at_this_machine(
    keel_app_factory: AppFactory,
) -> None:
    async with keel_app_factory(plugins=PLUGINS, extra=EXTRA, server__port=8123) as env:
        user = await env.user()
        reset = await _reset_mail(env, user.email)
    (link,) = _links(reset)
    assert link.startswith("http://127.0.0.1:8123/reset-password?token=")


async def test_an_absolute_reset_url_is_kept(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory(
        plugins=PLUGINS,
        extra=EXTRA,
        overrides={
            "app.public_url": PUBLIC,
            "auth.reset_url": "https://app.example.org/#/reset/{token}",
        },
    ) as env:
        user = await env.user()
        reset = await _reset_mail(env, user.email)
    (link,) = _links(reset)
    assert link.startswith("https://app.example.org/#/reset/")


@pytest.mark.parametrize(
    "bad", ["market.example.com", "ftp://market.example.com", "https://x.com/?a=1", "https://"]
)
def test_a_public_url_that_is_no_web_address_is_refused(
    keel_settings_factory: SettingsFactory, bad: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        keel_settings_factory({"app.public_url": bad})
    assert "app.public_url:" in str(caught.value)
