"""Fixtures of the notifications tests: an app with notifications and the test publishers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from bson import ObjectId

from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.accounts.documents import User
from plugins.notifications.models import Notification

from ._publisher import RECEIVED, PublisherPlugin, RecorderPlugin

PLUGINS = ["notifications"]
"""Only notifications: every publisher but the core's accounts is disabled."""
EXTRA = (PublisherPlugin, RecorderPlugin)


@pytest.fixture
async def env(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    """A running app with notifications, the test publisher and the recorder."""
    RECEIVED.clear()
    async with keel_app_factory(plugins=PLUGINS, extra=EXTRA, queue__retry_delay_s=0) as app:
        yield app


def text_of(message: EmailMessage) -> str:
    """The plain-text part of ``message``."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML part of ``message``."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def inbox_of(env: KeelTestApp, user: User | str) -> list[dict[str, Any]]:
    """The stored notifications of ``user``, oldest first."""
    oid = user.id if isinstance(user, User) else ObjectId(user)
    cursor = env.keel.db.get_collection(Notification).find({"user_id": oid}).sort("_id", 1)
    return [doc async for doc in cursor]
