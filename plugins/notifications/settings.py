"""Settings of the notifications plugin (``[plugins.notifications]``)."""

from __future__ import annotations

import msgspec


class NotificationsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.notifications]`` in config.toml."""
