"""Settings of the search plugin (``[plugins.search]``)."""

from __future__ import annotations

import msgspec


class SearchSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.search]`` in config.toml."""
