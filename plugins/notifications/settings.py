"""Settings of the notifications plugin (``[plugins.notifications]``)."""

from __future__ import annotations

import msgspec


class NotificationsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.notifications]`` in config.toml."""

    template_dir: str = ""
    """A directory of operator templates searched before the plugin's own: a file there
    named like a shipped one (``booking_created.txt``, ``inapp/booking_created.txt``, ...)
    replaces it. Empty: the shipped templates only."""
    queue: str = "notifications"
    """The queue that runs the reactions (durable listeners) to other plugins' events."""
    app_url: str = ""
    """Base URL of the client app, for links in emails (``{{ app_url }}`` in templates);
    empty: ``[app] public_url``."""
