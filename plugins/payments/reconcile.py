"""Reconciliation: ask Stripe about recent intents and repair what webhooks missed.

Looks at every payment changed within ``reconcile_window_hours`` that is not canceled,
retrieves its intent (with the latest charge, for refunds) and applies it through the
same state machine as webhooks; it also emits events left in an outbox. Applying what
Stripe says is idempotent, so a second run changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from core.context import Keel
from core.errors import ServiceUnavailableError
from plugins.payments import state
from plugins.payments.gateway import StripeRejected, gateway, payments_settings
from plugins.payments.models import utcnow
from plugins.payments.store import change, flush_outbox, payments

log = logging.getLogger("plugins.payments")


async def reconcile(ctx: dict[str, Any], *, window_hours: int | None = None) -> dict[str, int]:
    """The ``payments.reconcile`` job: counts ``checked``, ``repaired``, ``flushed``, ``errors``."""
    keel: Keel = ctx["keel"]
    hours = window_hours or payments_settings(keel).reconcile_window_hours
    since = utcnow() - timedelta(hours=hours)
    counts = {"checked": 0, "repaired": 0, "flushed": 0, "errors": 0}
    gw = gateway(keel)
    cursor = payments(keel).find({"updated_at": {"$gte": since}}).sort("updated_at", 1)
    async for doc in cursor:
        counts["flushed"] += await flush_outbox(keel, doc)
        intent_id = doc.get("stripe_payment_intent_id")
        if not intent_id or doc["status"] == "canceled":
            continue
        counts["checked"] += 1
        try:
            intent = await gw.retrieve(str(intent_id))
        except (StripeRejected, ServiceUnavailableError) as exc:
            log.warning("payments: reconcile could not retrieve %s: %s", intent_id, exc)
            counts["errors"] += 1
            continue
        seen = state.observe_intent(intent)
        after = await change(keel, doc["_id"], state.apply(seen))
        if after is not None and _summary(after) != _summary(doc):
            counts["repaired"] += 1
            log.info("payments: reconciled payment %s to %s", doc["_id"], after["status"])
    log.info("payments: reconcile %s", counts)
    return counts


def _summary(doc: dict[str, Any]) -> tuple[Any, ...]:
    return doc["status"], doc.get("refunded", 0), doc.get("stripe_charge_id")
