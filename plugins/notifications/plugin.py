"""The notifications plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.notifications.settings import NotificationsSettings


class NotificationsPlugin(Plugin):
    """In-app inbox, email on domain events, preferences."""

    name = "notifications"
    settings_type = NotificationsSettings
    requires: ClassVar[tuple[str, ...]] = ()
