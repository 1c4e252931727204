"""Settings of the bookings plugin (``[plugins.bookings]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class BookingsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.bookings]`` in config.toml."""

    reminder_cron: str = "0 9 * * *"
    """When ``bookings.reminders`` runs (croniter; ``[scheduler.overrides]`` may change it)."""
    reminder_timezone: str = "UTC"
    """IANA time zone of ``reminder_cron`` and of the day whose bookings are reminded."""
    min_lead_minutes: Annotated[int, msgspec.Meta(ge=0)] = 0
    """How far in the future a booking's start must be at least."""
    demo_password: str = "demo passphrase 2026"  # noqa: S105 - public demo accounts
    """Password of the demo provider and customer that ``keel demo`` creates."""
