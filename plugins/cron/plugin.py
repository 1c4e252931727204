"""The cron plugin class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core import Job, Plugin, Schedule, hookimpl
from plugins.cron.settings import DEFAULT_CRONS, CronJobSettings, CronSettings

if TYPE_CHECKING:
    import click
    import odmantic
    import pluggy


class CronPlugin(Plugin):
    """Housekeeping jobs and the operator view of every schedule.

    Jobs ``cron.cleanup_otps``, ``cron.daily_report``, ``cron.cleanup_logs``,
    ``cron.backup_database`` and ``cron.cleanup_sessions``, each on a schedule of the same
    name configured in ``[plugins.cron.<job>]``; routes under ``/api/cron`` (admins);
    ``keel cron list|run``, ``keel backup`` and ``keel restore``.
    """

    name = "cron"
    settings_type = CronSettings
    requires: ClassVar[tuple[str, ...]] = ()
    settings: CronSettings

    @hookimpl
    def add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        """``report_figures``, which plugins implement for the daily report."""
        from plugins.cron import hookspecs  # noqa: PLC0415

        plugin_manager.add_hookspecs(hookspecs)

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.cron.jobs import jobs  # noqa: PLC0415 - keeps `keel --help` light

        return jobs()

    @hookimpl
    def register_schedules(self) -> Sequence[Schedule]:
        schedules = []
        for name, default in DEFAULT_CRONS.items():
            table: CronJobSettings = getattr(self.settings, name)
            schedules.append(
                Schedule(
                    name,
                    table.cron or default,
                    name,
                    tz=self.settings.tz,
                    enabled=table.enabled,
                )
            )
        return schedules

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.cron.models import Report  # noqa: PLC0415

        return [Report]

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.cron.routes import CronController  # noqa: PLC0415

        return [CronController]

    @hookimpl
    def register_cli_commands(self) -> Sequence[click.Command]:
        from plugins.cron.cli import commands  # noqa: PLC0415

        return commands()
