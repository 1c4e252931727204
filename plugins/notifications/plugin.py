"""The notifications plugin class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from core import Plugin, RootRoutes, hookimpl
from core.devstack import dev_pages
from core.events import Event
from core.records import Listener
from core.settings import public_url
from plugins.notifications.delivery import Reactor
from plugins.notifications.devmail import DevMailboxController
from plugins.notifications.events import EVENT_TYPES
from plugins.notifications.listeners import listeners
from plugins.notifications.models import MODELS
from plugins.notifications.rendering import environment
from plugins.notifications.routes import NotificationController
from plugins.notifications.settings import NotificationsSettings


class NotificationsPlugin(Plugin):
    """In-app inbox, email on domain events, preferences.

    Reacts to ``user.*``, ``booking.*``, ``review.created`` and ``payment.*`` by name
    (any publisher may be disabled), publishes ``notification.created``, and under
    ``keel run`` serves the SMTP sink's messages at ``/dev/mailbox``.
    """

    name = "notifications"
    settings_type = NotificationsSettings
    requires: ClassVar[tuple[str, ...]] = ()
    settings: NotificationsSettings

    def __init__(self, settings: Any, app_settings: Any) -> None:
        super().__init__(settings, app_settings)
        app_url = settings.app_url.rstrip("/") or public_url(app_settings)
        self.reactor = Reactor(environment(settings.template_dir), app_url)

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        """The inbox controller, and the dev mailbox under ``keel run`` only.

        Whatever ``app.env`` says: the mailbox shows every code and reset link mailed.
        """
        routes: list[Any] = [NotificationController]
        if dev_pages() is not None:
            routes.append(RootRoutes([DevMailboxController]))
        return routes

    @hookimpl
    def register_models(self) -> Sequence[Any]:
        """Inbox, deliveries, preferences and activity log."""
        return list(MODELS)

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        """``notification.created``."""
        return list(EVENT_TYPES)

    @hookimpl
    def register_listeners(self) -> Sequence[Listener]:
        """A durable listener per reaction, and ``user.updated`` for the activity log."""
        return listeners(self.reactor, self.settings.queue)
