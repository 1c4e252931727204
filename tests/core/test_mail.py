"""Mail: templates, and messages sent through the ``email`` queue into the SMTP sink."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import jinja2
import pytest
from saq.job import Status

from core.mail import render, template_env
from core.pluginhost import PluginHost
from core.runtime import close_keel, open_keel, run_worker


@pytest.fixture
async def make_keel(keel_settings_factory: Any) -> Any:
    """``make(**dotted overrides)``: a Keel with no plugin enabled, on this test's stack."""
    opened: list[Any] = []

    async def make(**overrides: Any) -> Any:
        settings = keel_settings_factory(
            {"plugins.enabled": [], "queue.retry_delay_s": 0, **overrides}
        )
        keel = await open_keel(settings, PluginHost(settings, keel_settings_factory.installed))
        opened.append(keel)
        return keel

    yield make
    for keel in opened:
        await close_keel(keel)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "welcome.txt").write_text(
        "Subject: Welcome, {{ name }}\n\nHello {{ name }}, your code is {{ code }}.\n"
    )
    (tmp_path / "welcome.html").write_text("<p>Hello {{ name }}, your code is {{ code }}.</p>\n")
    (tmp_path / "plain.txt").write_text("Subject: Plain\n\nJust text.\n")
    (tmp_path / "nosubject.txt").write_text("Hello\n")
    return tmp_path


async def drain(keel: Any) -> None:
    async with asyncio.timeout(30):
        await run_worker(keel, burst=True)


async def test_mail_sent_through_the_queue_reaches_the_sink(make_keel: Any, mailbox: Any) -> None:
    keel = await make_keel()
    to = f"{uuid.uuid4().hex}@example.com"

    job = await keel.mail.send(to, "Booking confirmed", text="See you soon.", html="<b>Soon</b>")
    assert job is not None
    assert job.queue.name.endswith(":email")
    await drain(keel)

    message = await mailbox.wait_for(lambda m: m["To"] == to, timeout=10)
    assert message["Subject"] == "Booking confirmed"
    assert message["From"] == keel.settings.mail.sender
    assert message.get_body(("plain",)).get_content().strip() == "See you soon."
    assert message.get_body(("html",)).get_content().strip() == "<b>Soon</b>"


async def test_template_mail_reaches_the_sink(
    make_keel: Any, mailbox: Any, templates: Path
) -> None:
    keel = await make_keel()
    to = f"{uuid.uuid4().hex}@example.com"

    await keel.mail.send_template(to, templates, "welcome", name="Ada", code="42")
    await drain(keel)

    message = await mailbox.wait_for(lambda m: m["To"] == to, timeout=10)
    assert message["Subject"] == "Welcome, Ada"
    assert "Hello Ada, your code is 42." in message.get_body(("plain",)).get_content()
    assert "<p>Hello Ada" in message.get_body(("html",)).get_content()


async def test_unreachable_smtp_server_fails_after_the_retries(make_keel: Any) -> None:
    keel = await make_keel(**{"mail.host": "127.0.0.1", "mail.port": 1, "queue.retries": 2})

    job = await keel.mail.send("x@example.com", "Lost", text="never")
    await drain(keel)

    stored = await keel.jobs.queue("email").job(job.key)
    assert (stored.status, stored.attempts) == (Status.FAILED, 2)


def test_render_escapes_html_only(templates: Path) -> None:
    mail = render(templates, "welcome", name="<Bob>", code="1 & 2")

    assert mail.subject == "Welcome, <Bob>"
    assert mail.text == "Hello <Bob>, your code is 1 & 2.\n"
    assert mail.html == "<p>Hello &lt;Bob&gt;, your code is 1 &amp; 2.</p>\n"


def test_render_without_html_part(templates: Path) -> None:
    mail = render(template_env(templates), "plain")

    assert (mail.subject, mail.text, mail.html) == ("Plain", "Just text.\n", None)


def test_render_errors(templates: Path) -> None:
    with pytest.raises(jinja2.UndefinedError):
        render(templates, "welcome", name="Ada")
    with pytest.raises(ValueError, match="Subject:"):
        render(templates, "nosubject")
    with pytest.raises(jinja2.TemplateNotFound):
        render(templates, "missing")
