"""Settings of the realtime plugin (``[plugins.realtime]``)."""

from __future__ import annotations

import msgspec


class RealtimeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.realtime]`` in config.toml."""
