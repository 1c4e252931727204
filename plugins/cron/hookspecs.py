"""Hooks the cron plugin offers other plugins: the figures of the daily report.

The cron plugin adds this spec through ``add_hookspecs``; implement it with
``@hookimpl(optionalhook=True)`` so the plugin still loads when cron is switched off.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import hookspec

if TYPE_CHECKING:
    from core.context import Keel


@hookspec
async def report_figures(keel: Keel, start: datetime, end: datetime) -> Mapping[str, Any]:
    """Return this plugin's figures for the daily report of ``[start, end)`` (UTC).

    Called once per report (``cron.daily_report``, ``POST /api/cron/reports``), for every
    plugin that implements it, concurrently. Each returns a mapping of figure names to
    JSON-able values, under names of its own: the report shows ``new_users``,
    ``bookings``, ``reviews`` and ``payments`` in their own fields and any other figure
    under ``figures``. Two plugins returning the same name is an error in the report.
    Return Python (snake_case) names, as stored; the API spells the report's fields and
    the figure names in camelCase (``hello_greetings`` -> ``helloGreetings``), values
    as they are.

    Args:
        keel: the runtime context.
        start: the day's first instant (inclusive), timezone-aware UTC.
        end: the next day's first instant (exclusive).
    """
    raise NotImplementedError
