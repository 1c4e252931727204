"""The bookings plugin class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core import Job, Listener, Plugin, Schedule, hookimpl
from plugins.bookings.settings import BookingsSettings

if TYPE_CHECKING:
    from datetime import datetime

    import click
    import odmantic

    from core.context import Keel
    from core.events import Event


class BookingsPlugin(Plugin):
    """Services, bookings and reviews: the marketplace's core domain.

    Publishes ``service.*``, ``booking.*`` and ``review.*`` events
    (:mod:`plugins.bookings.events`), listens to ``payment.completed`` by name (so it
    runs with payments disabled), and reminds of each day's confirmed bookings through
    the ``bookings.reminders`` schedule. Unpaid pending bookings are capped per customer
    and expire through ``bookings.expire_pending`` (:mod:`plugins.bookings._pending`,
    :mod:`plugins.bookings._expiry`).
    """

    name = "bookings"
    settings_type = BookingsSettings
    requires: ClassVar[tuple[str, ...]] = ()
    settings: BookingsSettings

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.bookings.routes import route_handlers  # noqa: PLC0415 - Litestar lazily

        return route_handlers()

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.bookings.models import MODELS  # noqa: PLC0415

        return MODELS

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        from plugins.bookings.events import EVENT_TYPES  # noqa: PLC0415

        return EVENT_TYPES

    @hookimpl
    def register_listeners(self) -> Sequence[Listener]:
        from plugins.bookings.jobs import on_payment_completed  # noqa: PLC0415

        return [Listener("payment.completed", on_payment_completed, mode="durable")]

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.bookings._expiry import expire_pending  # noqa: PLC0415
        from plugins.bookings.jobs import send_reminders  # noqa: PLC0415

        return [
            Job("send_reminders", send_reminders, timeout=300),
            Job("expire_pending", expire_pending, timeout=120),
        ]

    @hookimpl
    def register_schedules(self) -> Sequence[Schedule]:
        from plugins.bookings._pending import resolve  # noqa: PLC0415

        reminders = Schedule(
            "reminders",
            self.settings.reminder_cron,
            "send_reminders",
            tz=self.settings.reminder_timezone,
        )
        enabled = getattr(getattr(self.app_settings, "plugins", None), "enabled", None)
        if not resolve(self.settings, enabled).ttl_minutes:
            return [reminders]
        # Expiry only needs to be roughly on time: a tick missed while every
        # scheduler was down is caught up by the next one, which sees every overdue booking.
        expiry = Schedule(
            "expire_pending", self.settings.expire_cron, "expire_pending", misfire="skip"
        )
        return [reminders, expiry]

    @hookimpl
    def register_cli_commands(self) -> Sequence[click.Command]:
        from plugins.bookings.cli import demo_command  # noqa: PLC0415

        return [demo_command]

    @hookimpl(optionalhook=True)
    async def report_figures(self, keel: Keel, start: datetime, end: datetime) -> Mapping[str, Any]:
        """The cron plugin's daily report: see :mod:`plugins.bookings.figures`."""
        from plugins.bookings.figures import report_figures  # noqa: PLC0415

        return await report_figures(keel, start, end)
