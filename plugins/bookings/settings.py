"""Settings of the bookings plugin (``[plugins.bookings]``)."""

from __future__ import annotations

import msgspec


class BookingsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.bookings]`` in config.toml."""
