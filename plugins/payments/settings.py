"""Settings of the payments plugin (``[plugins.payments]``).

Secrets come from the environment (``KEEL_PLUGINS__PAYMENTS__SECRET_KEY``,
``KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET``). With no ``secret_key``, ``keel run`` and
the test stack start localstripe and point ``api_base`` at it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

STRIPE_API = "https://api.stripe.com"


class PaymentsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.payments]`` in config.toml."""

    secret_key: str = ""
    """Stripe secret API key (``sk_...``); from the environment. Empty: localstripe."""
    webhook_secret: str = ""
    """Signing secret of the webhook endpoint (``whsec_...``); empty rejects every delivery."""
    api_base: str = STRIPE_API
    """Base URL of the Stripe API (the dev service points it at localstripe)."""
    emulator: bool = False
    """``api_base`` is localstripe: register keel's webhook URL with it at startup."""
    webhook_url: str = ""
    """URL localstripe posts events to; empty: ``http://<server.host>:<server.port>/api/webhooks/stripe``."""
    default_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "EUR"
    """Currency of a booking that names none (bookings normally carry their own)."""
    currencies: list[str] = msgspec.field(default_factory=list)
    """Currencies accepted for payment (ISO 4217, upper case); empty accepts any."""
    full_refund_hours: Annotated[int, msgspec.Meta(ge=0)] = 24
    """A paid booking the customer cancels at least this many hours before its start is
    fully refunded (cancellations by the provider or an admin are always refunded in full)."""
    late_refund_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    """Percent refunded when the customer cancels later than ``full_refund_hours``."""
    reconcile_cron: str = "0 * * * *"
    """When ``payments.reconcile`` asks Stripe about recent intents (hourly)."""
    reconcile_window_hours: Annotated[int, msgspec.Meta(ge=1)] = 72
    """How far back reconciliation looks at unfinished or recently changed payments."""
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    """Timeout of one Stripe API call."""
    webhook_lease_s: Annotated[int, msgspec.Meta(ge=1)] = 60
    """How long a delivery being processed blocks its duplicates from taking it over."""
