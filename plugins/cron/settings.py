"""Settings of the cron plugin (``[plugins.cron]``)."""

from __future__ import annotations

import msgspec


class CronSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.cron]`` in config.toml."""
