"""The payments plugin class."""

from __future__ import annotations

from typing import ClassVar

from core import Plugin
from plugins.payments.settings import PaymentsSettings


class PaymentsPlugin(Plugin):
    """Stripe payment intents, webhooks and refunds."""

    name = "payments"
    settings_type = PaymentsSettings
    requires: ClassVar[tuple[str, ...]] = ("bookings",)
