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
    pending_ttl_minutes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Minutes an unpaid ``pending`` booking is held before ``bookings.expire_pending``
    cancels it (reason ``"expired"``, by ``"system"``) and frees its slot. Unset: 30 when
    the payments plugin is enabled, off otherwise (without payments nothing can pay a
    booking, so it waits for the provider's confirmation instead). ``0``: off."""
    max_pending_per_customer: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """How many unpaid ``pending`` bookings one customer may hold at once; one more is a
    409. A booking stops counting when it is paid, confirmed, cancelled or expired.
    Unset: 3 when the payments plugin is enabled, off otherwise (as above). ``0``: off."""
    expire_cron: str = "* * * * *"
    """When ``bookings.expire_pending`` runs (only scheduled while the TTL is on)."""
    demo_password: str = "demo passphrase 2026"  # noqa: S105 - public demo accounts
    """Password of the demo provider and customer that ``keel demo`` creates."""
