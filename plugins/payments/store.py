"""Payment documents: compare-and-set updates and the event outbox.

Every change of a payment is a compare-and-set on its ``rev``: read, decide (a pure
function), write only if nobody changed it meanwhile, else read again. The events a
change decides are written into the document's ``outbox`` in the same write, then
emitted and removed; a crash in between leaves them in the outbox, and the next change
or the reconciliation job emits them (their ids are stable, so listeners see each once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorCollection

from core.context import Keel
from core.errors import ServiceUnavailableError
from core.events import Event
from plugins.payments.events import EVENT_TYPES
from plugins.payments.models import BookingView, Payment, Refund, WebhookDelivery, utcnow

log = logging.getLogger("plugins.payments")
Doc = dict[str, Any]
Decide = Callable[[Doc], tuple[Doc, list[Event]]]
_BY_NAME = {tp.name: tp for tp in EVENT_TYPES}
_MAX_TRIES = 50


def payments(keel: Keel) -> AsyncIOMotorCollection[Doc]:
    """The ``payments_payments`` collection."""
    return keel.db.get_collection(Payment)


def bookings(keel: Keel) -> AsyncIOMotorCollection[Doc]:
    """The ``payments_bookings`` projection."""
    return keel.db.get_collection(BookingView)


def deliveries(keel: Keel) -> AsyncIOMotorCollection[Doc]:
    """The ``payments_webhook_events`` collection."""
    return keel.db.get_collection(WebhookDelivery)


def refunds(keel: Keel) -> AsyncIOMotorCollection[Doc]:
    """The ``payments_refunds`` collection."""
    return keel.db.get_collection(Refund)


def encode_outbox(events: list[Event]) -> list[Doc]:
    """Outbox entries for ``events``."""
    return [
        {"id": e.id, "name": type(e).name, "payload": msgspec.json.encode(e).decode()}
        for e in events
    ]


async def change(
    keel: Keel, payment_id: ObjectId, decide: Decide, *, doc: Doc | None = None
) -> Doc | None:
    """Apply ``decide`` to the payment atomically; the document after it (None: no payment).

    ``decide(doc)`` returns the fields to ``$set`` and the events to publish; ``({}, [])``
    changes nothing. ``doc``, a copy just read, saves the first read.
    """
    coll = payments(keel)
    for _ in range(_MAX_TRIES):
        if doc is None:
            doc = await coll.find_one({"_id": payment_id})
        if doc is None:
            return None
        fields, events = decide(doc)
        if not fields and not events:
            await flush_outbox(keel, doc)
            return doc
        fields = {**fields, "updated_at": utcnow()}
        outbox = [*doc.get("outbox", []), *encode_outbox(events)]
        result = await coll.update_one(
            {"_id": payment_id, "rev": doc["rev"]},
            {"$set": {**fields, "outbox": outbox}, "$inc": {"rev": 1}},
        )
        if result.modified_count == 1:
            new = {**doc, **fields, "outbox": outbox, "rev": doc["rev"] + 1}
            await flush_outbox(keel, new)
            return new
        doc = None
    raise ServiceUnavailableError("payment is too busy, try again", details={"id": str(payment_id)})


async def flush_outbox(keel: Keel, doc: Doc) -> int:
    """Emit the payment's pending events, oldest first, and remove them; how many."""
    sent = 0
    for entry in list(doc.get("outbox", [])):
        tp = _BY_NAME.get(entry["name"])
        if tp is None:  # pragma: no cover - only our own names are written
            continue
        event = msgspec.json.decode(entry["payload"], type=tp)
        if type(event).name in keel.events.catalog():
            await keel.events.emit(event)
        await payments(keel).update_one(
            {"_id": doc["_id"]}, {"$pull": {"outbox": {"id": entry["id"]}}, "$inc": {"rev": 1}}
        )
        sent += 1
    return sent
