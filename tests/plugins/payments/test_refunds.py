"""Refunds by admins and by the cancellation policy; never more than what is left."""

from __future__ import annotations

import asyncio

import msgspec
from bson import ObjectId

from plugins.bookings.events import BookingCancelled, BookingSnapshot
from plugins.bookings.schemas import Booking
from plugins.payments.store import payments, refunds

from .conftest import PRICE, Shop, seen


async def _refund(shop: Shop, payment_id: str, amount: int | None, key: str | None = None) -> int:
    headers = {**shop.admin.headers, **({"Idempotency-Key": key} if key else {})}
    body = {} if amount is None else {"amount": amount}
    r = await shop.client.post(f"/api/payments/{payment_id}/refund", json=body, headers=headers)
    return r.status_code


async def test_admin_refunds_never_exceed_what_is_left(shop: Shop) -> None:
    payment = await shop.paid((await shop.booking())["id"])
    pid = payment["id"]
    r = await shop.client.post(
        f"/api/payments/{pid}/refund", json={"amount": 10}, headers=shop.customer.headers
    )
    assert r.status_code == 403
    assert await _refund(shop, pid, 1000, key="first") == 200
    assert await _refund(shop, pid, 1000, key="first") == 200  # same key: the same refund
    codes = await asyncio.gather(*(_refund(shop, pid, 2000) for _ in range(5)))
    assert sorted(codes) == [200] + [409] * 4  # 3500 was left: one 2000 fits
    assert await _refund(shop, pid, 1501) == 409
    assert await _refund(shop, pid, None) == 200  # the remaining 1500
    assert await _refund(shop, pid, None) == 409  # nothing left
    doc = await payments(shop.env.keel).find_one({"booking_id": payment["bookingId"]})
    assert doc is not None
    assert (doc["refunded"], doc["refund_pending"], doc["pending_refunds"]) == (PRICE, 0, [])
    await shop.env.keel.events.drain()
    totals = [e.total_refunded for e in seen("payment.refunded", pid)]
    assert totals == [1000, 3000, PRICE]
    assert seen("payment.refunded", pid)[-1].fully_refunded is True


async def test_cancellation_refunds_by_policy_exactly_once(shop: Shop) -> None:
    early = await shop.booking(hours=72)
    late = await shop.booking(hours=3)
    unpaid = await shop.booking(hours=96)
    paid_early = await shop.paid(early["id"])
    await shop.paid(late["id"])
    open_intent = (await shop.intent(unpaid["id"])).json()
    for booking in (early, late, unpaid):
        r = await shop.client.post(
            f"/api/bookings/{booking['id']}/cancel",
            json={"reason": "plans changed"},
            headers=shop.customer.headers,
        )
        assert r.status_code == 200, r.text
    await shop.env.drain()

    doc = await payments(shop.env.keel).find_one({"_id": ObjectId(paid_early["id"])})
    assert doc is not None
    assert doc["refunded"] == PRICE
    [refund] = seen("payment.refunded", paid_early["id"])
    assert (refund.reason, refund.refunded_amount) == ("booking_cancelled", PRICE)
    late_doc = await payments(shop.env.keel).find_one({"booking_id": late["id"]})
    assert late_doc is not None
    assert late_doc["refunded"] == 0  # cancelled 3 h before: no refund by the default policy
    voided = await payments(shop.env.keel).find_one({"_id": ObjectId(open_intent["id"])})
    assert voided is not None
    assert (voided["status"], voided["live"]) == ("canceled", False)

    # The cancellation delivered again (a new event id, as a replay would have).
    r = await shop.client.get(f"/api/bookings/{early['id']}", headers=shop.customer.headers)
    shown = msgspec.convert(r.json(), Booking)
    snapshot = BookingSnapshot(**msgspec.structs.asdict(shown))
    again = BookingCancelled(
        booking=snapshot,
        previous_status="pending",
        reason="replayed",
        cancelled_by=shop.customer.id,
        cancelled_by_role="customer",
    )
    await shop.env.keel.events.emit(again)
    await shop.env.drain()
    assert await refunds(shop.env.keel).count_documents({"payment_id": doc["_id"]}) == 1
    assert len(seen("payment.refunded", paid_early["id"])) == 1
