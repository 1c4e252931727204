"""The cron plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.cron.settings import CronSettings


class CronPlugin(Plugin):
    """Housekeeping jobs and the operator view of every schedule."""

    name = "cron"
    settings_type = CronSettings
    requires: ClassVar[tuple[str, ...]] = ()
