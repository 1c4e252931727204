"""Reviews: once per completed booking, rating kept in step, deletion corrects it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from plugins.bookings.models import Booking

from .conftest import Market, next_slot, seen


async def _completed(market: Market, service: dict[str, Any], hours: int) -> dict[str, Any]:
    """A booking made through the API, confirmed, moved into the past, completed."""
    booking = await market.booked(service, next_slot(hours=hours))
    url = f"/api/bookings/{booking['id']}"
    await market.client.post(f"{url}/confirm", headers=market.provider.headers)
    start = datetime.now(UTC) - timedelta(hours=2)
    await market.env.keel.db.get_collection(Booking).update_one(
        {"_id": ObjectId(booking["id"])},
        {"$set": {"start": start, "end": start + timedelta(hours=1)}},
    )
    done = await market.client.post(f"{url}/complete", headers=market.provider.headers)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def test_review_lifecycle(market: Market) -> None:
    service = await market.service()
    pending = await market.booked(service, next_slot(hours=60))
    url = f"/api/bookings/{pending['id']}/review"
    early = await market.client.post(url, json={"rating": 5}, headers=market.customer.headers)
    assert early.status_code == 409
    assert "booking is pending" in early.text
    first, second = await _completed(market, service, 30), await _completed(market, service, 31)
    bad = await market.client.post(
        f"/api/bookings/{first['id']}/review", json={"rating": 6}, headers=market.customer.headers
    )
    assert bad.status_code == 400
    assert "rating" in bad.text
    long = await market.client.post(
        f"/api/bookings/{first['id']}/review",
        json={"rating": 4, "comment": "x" * 1001},
        headers=market.customer.headers,
    )
    assert long.status_code == 400
    by_provider = await market.client.post(
        f"/api/bookings/{first['id']}/review", json={"rating": 1}, headers=market.provider.headers
    )
    assert by_provider.status_code == 403
    created = await market.client.post(
        f"/api/bookings/{first['id']}/review",
        json={"rating": 4, "comment": "Fixed the leak"},
        headers=market.customer.headers,
    )
    assert created.status_code == 201, created.text
    review = created.json()
    assert (review["rating"], review["comment"], review["customerId"]) == (
        4,
        "Fixed the leak",
        market.customer.id,
    )
    twice = await market.client.post(
        f"/api/bookings/{first['id']}/review", json={"rating": 5}, headers=market.customer.headers
    )
    assert twice.status_code == 409
    await market.client.post(
        f"/api/bookings/{second['id']}/review", json={"rating": 1}, headers=market.customer.headers
    )
    shown = (await market.client.get(f"/api/services/{service['id']}")).json()
    assert (shown["ratingAverage"], shown["ratingCount"]) == (2.5, 2)
    listing = (await market.client.get(f"/api/services/{service['id']}/reviews")).json()
    assert listing["total"] == 2
    assert [r["rating"] for r in listing["items"]] == [1, 4]  # newest first
    await market.env.drain()
    events = seen("review.created")
    assert [(e.review.rating, e.rating_average, e.rating_count) for e in events] == [
        (4, 4.0, 1),
        (1, 2.5, 2),
    ]
    assert [u.changed for u in seen("service.updated")] == [["rating"], ["rating"]]

    stranger = await market.actor("customer")
    gone_url = f"/api/reviews/{review['id']}"
    assert (await market.client.delete(gone_url, headers=stranger.headers)).status_code == 403
    assert (
        await market.client.delete(gone_url, headers=market.customer.headers)
    ).status_code == 204
    assert (await market.client.delete(gone_url, headers=market.admin.headers)).status_code == 404
    shown = (await market.client.get(f"/api/services/{service['id']}")).json()
    assert (shown["ratingAverage"], shown["ratingCount"]) == (1.0, 1)
    await market.env.drain()
    [deleted] = seen("review.deleted")
    assert (deleted.review.id, deleted.rating_average, deleted.rating_count) == (
        review["id"],
        1.0,
        1,
    )
    unknown = await market.client.get(f"/api/services/{ObjectId()}/reviews")
    assert unknown.status_code == 404
