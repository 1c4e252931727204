"""The payments plugin class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core import DevService, Job, Listener, Plugin, Schedule, hookimpl
from core.context import settings_of
from plugins.payments.settings import PaymentsSettings

if TYPE_CHECKING:
    from datetime import datetime

    import odmantic

    from core.context import Keel
    from core.events import Event
    from core.settings import Settings


class PaymentsPlugin(Plugin):
    """Stripe payment intents, verified webhooks, refunds and reconciliation.

    Publishes ``payment.completed``, ``payment.failed`` and ``payment.refunded``
    (:mod:`plugins.payments.events`). Keeps its own projection of bookings from
    ``booking.*`` events (never reads the bookings collections), refunds cancelled paid
    bookings by policy, and reconciles recent intents with Stripe hourly. Without a
    secret key, the dev stack runs localstripe and keel registers its webhook with it.
    """

    name = "payments"
    settings_type = PaymentsSettings
    requires: ClassVar[tuple[str, ...]] = ("bookings",)
    settings: PaymentsSettings

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.payments.routes import route_handlers  # noqa: PLC0415 - Litestar lazily

        return route_handlers()

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.payments.models import MODELS  # noqa: PLC0415

        return MODELS

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        from plugins.payments.events import EVENT_TYPES  # noqa: PLC0415

        return EVENT_TYPES

    @hookimpl
    def register_listeners(self) -> Sequence[Listener]:
        from plugins.payments.refunds import (  # noqa: PLC0415
            on_booking_cancelled,
            refund_if_cancelled,
        )
        from plugins.payments.service import project_booking  # noqa: PLC0415

        # The projection is written twice: inline, so the customer can pay the moment the
        # booking exists, and durably, so it is never lost (the upsert is idempotent).
        projections = [
            Listener(event, project_booking, mode, f"project_{event.split('.')[1]}_{mode}")
            for event in ("booking.created", "booking.updated", "booking.cancelled")
            for mode in ("inline", "durable")
            if (event, mode) != ("booking.cancelled", "durable")
        ]
        return [
            *projections,
            Listener("booking.cancelled", on_booking_cancelled, "durable"),
            Listener("payment.completed", refund_if_cancelled, "durable"),
        ]

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.payments.reconcile import reconcile  # noqa: PLC0415

        return [Job("reconcile", reconcile, timeout=600)]

    @hookimpl
    def register_schedules(self) -> Sequence[Schedule]:
        return [Schedule("reconcile", self.settings.reconcile_cron, "reconcile")]

    @hookimpl
    def check_settings(self, settings: Settings) -> Sequence[str]:
        """Refuse localstripe's public webhook secret outside ``keel run`` on loopback."""
        from plugins.payments.dev import public_secret_problem  # noqa: PLC0415

        secret = settings_of(settings, PaymentsSettings).webhook_secret
        problem = public_secret_problem(secret)
        return [problem] if problem else []

    @hookimpl
    def register_dev_services(self) -> Sequence[DevService]:
        from plugins.payments.dev import localstripe_service  # noqa: PLC0415

        return [localstripe_service()]

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        from plugins.payments.dev import register_webhook  # noqa: PLC0415
        from plugins.payments.gateway import gateway  # noqa: PLC0415

        gateway(keel)
        if self.settings.emulator:
            await register_webhook(self.settings, keel.settings)

    @hookimpl
    async def on_shutdown(self, keel: Keel) -> None:
        from plugins.payments.gateway import GATEWAY  # noqa: PLC0415

        gw = keel.stash.pop(GATEWAY, None)
        if gw is not None:
            await gw.close()

    @hookimpl(optionalhook=True)
    async def report_figures(self, keel: Keel, start: datetime, end: datetime) -> Mapping[str, Any]:
        """The cron plugin's daily report: see :mod:`plugins.payments.figures`."""
        from plugins.payments.figures import report_figures  # noqa: PLC0415

        return await report_figures(keel, start, end)
