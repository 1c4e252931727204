"""The search plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.search.settings import SearchSettings


class SearchPlugin(Plugin):
    """Global search, service search and autocomplete."""

    name = "search"
    settings_type = SearchSettings
    requires: ClassVar[tuple[str, ...]] = ("bookings",)
