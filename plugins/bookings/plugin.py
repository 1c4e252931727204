"""The bookings plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.bookings.settings import BookingsSettings


class BookingsPlugin(Plugin):
    """Services, bookings and reviews."""

    name = "bookings"
    settings_type = BookingsSettings
    requires: ClassVar[tuple[str, ...]] = ()
