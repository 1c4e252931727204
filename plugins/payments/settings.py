"""Settings of the payments plugin (``[plugins.payments]``)."""

from __future__ import annotations

import msgspec


class PaymentsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.payments]`` in config.toml."""
