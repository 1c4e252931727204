"""The realtime plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.realtime.settings import RealtimeSettings


class RealtimePlugin(Plugin):
    """WebSocket typing indicators, presence and messages."""

    name = "realtime"
    settings_type = RealtimeSettings
    requires: ClassVar[tuple[str, ...]] = ()
