"""The run order of keel's built-in operations and what each needs to succeed.

The document says what each operation takes and answers, but not who may call it nor
which ids a run must carry from one request to the next; this table does, for the
built-in plugins, so that a top-to-bottom run against ``keel run`` + ``keel demo`` works.
An operation missing here (a third-party plugin's) still gets a request, generated
from the document alone, at the end of its folder. Field names here are the wire's
(camelCase); where a step overrides part of a body, the rest is still generated.
"""

from __future__ import annotations

from core.postman._run_market import MARKET
from core.postman._run_people import PEOPLE
from core.postman._step import NONE, Step

__all__ = ["ENVIRONMENT", "NONE", "STEPS", "Step"]

ENVIRONMENT: dict[str, str] = {
    "customerEmail": "demo.customer@example.com",
    "providerEmail": "demo.provider@example.com",
    "demoPassword": "demo passphrase 2026",
    "adminEmail": "admin@example.com",
    "adminPassword": "admin passphrase 2026",
    "stripeWebhookSecret": "whsec_localstripe",
    "paymentMethodId": "pm_card_visa",
}
"""The Local environment's starting values: ``keel demo``'s users (``[plugins.bookings]
demo_password``), an admin made with ``keel users create-admin``, localstripe's public
webhook secret and test card."""

STEPS: list[Step] = [*PEOPLE, *MARKET]
"""The run, top to bottom; folders appear in the order of their first step."""
