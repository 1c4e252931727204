"""Races against the real embedded stack, each in a loop of rounds.

Every round uses its own service (its own provider's calendar) so rounds stay cheap and
independent; the requests of a round all run at once through the ASGI client.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from plugins.bookings.models import Booking, Service

from .conftest import Market, next_slot, seen

ROUNDS = 20


async def _active(
    market: Market, provider_id: str, around: datetime
) -> list[tuple[datetime, datetime]]:
    """The provider's pending or confirmed bookings starting within 6 hours of ``around``."""
    window = {"$gte": around - timedelta(hours=6), "$lt": around + timedelta(hours=6)}
    cursor = market.env.keel.db.get_collection(Booking).find(
        {
            "provider_id": ObjectId(provider_id),
            "status": {"$in": ["pending", "confirmed"]},
            "start": window,
        }
    )
    return sorted([(b["start"], b["end"]) async for b in cursor])


def _overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def test_100_requests_for_one_slot_give_one_201(market: Market) -> None:
    service = await market.service()
    for round_ in range(ROUNDS):
        start = next_slot(hours=24 * (round_ + 1))  # a fresh calendar day each round
        responses = await asyncio.gather(*(market.book(service, start) for _ in range(100)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] + [409] * 99, (round_, codes)
        assert len(await _active(market, market.provider.id, start)) == 1


async def test_overlapping_intervals_of_different_lengths(market: Market) -> None:
    hour = await market.service(durationMinutes=60)
    half = await market.service(name="Half", durationMinutes=30)
    for round_ in range(ROUNDS):
        start = next_slot(hours=24 * (round_ + 1), minute=30)
        attempts = [
            *(market.book(hour, start) for _ in range(5)),
            *(market.book(half, start + timedelta(minutes=30)) for _ in range(5)),
            *(market.book(half, start + timedelta(minutes=15)) for _ in range(5)),
            *(market.book(hour, start - timedelta(minutes=25)) for _ in range(5)),
        ]
        random.shuffle(attempts)
        codes = sorted(r.status_code for r in await asyncio.gather(*attempts))
        assert codes == [201] + [409] * 19, (round_, codes)
        assert len(await _active(market, market.provider.id, start)) == 1


async def test_random_intervals_never_overlap_and_never_refuse_wrongly(market: Market) -> None:
    rng = random.Random(20261125)
    services = {minutes: await market.service(durationMinutes=minutes) for minutes in (30, 60, 90)}
    for round_ in range(5):
        base = next_slot(hours=24 * (round_ + 1))
        wanted = [
            (rng.choice(list(services)), base + timedelta(minutes=5 * rng.randrange(0, 48)))
            for _ in range(40)
        ]
        responses = await asyncio.gather(*(market.book(services[m], s) for m, s in wanted))
        accepted = await _active(market, market.provider.id, base)
        for i, a in enumerate(accepted):
            assert not any(_overlaps(a, b) for b in accepted[i + 1 :])
        for (minutes, start), response in zip(wanted, responses, strict=True):
            interval = (start, start + timedelta(minutes=minutes))
            if response.status_code == 409:  # a refusal always has a reason
                assert any(_overlaps(interval, a) for a in accepted), interval
            else:
                assert response.status_code == 201


async def test_concurrent_transitions_succeed_once(market: Market) -> None:
    service = await market.service()
    for round_ in range(ROUNDS):
        booking = await market.booked(service, next_slot(hours=24 + round_))
        url = f"/api/bookings/{booking['id']}"
        confirms = await asyncio.gather(
            *(
                market.client.post(f"{url}/confirm", headers=market.provider.headers)
                for _ in range(2)
            )
        )
        assert sorted(r.status_code for r in confirms) == [200, 409]
        racing = await asyncio.gather(
            market.client.post(
                f"{url}/cancel", json={"reason": "a"}, headers=market.customer.headers
            ),
            market.client.post(
                f"{url}/cancel", json={"reason": "b"}, headers=market.provider.headers
            ),
        )
        assert sorted(r.status_code for r in racing) == [200, 409]
    await market.env.drain()
    assert len(seen("booking.cancelled")) == ROUNDS
    assert len(seen("booking.updated")) == ROUNDS


async def _completed_bookings(market: Market, service: dict[str, Any], n: int) -> list[str]:
    end = datetime.now(UTC) - timedelta(hours=1)
    docs = [
        Booking(
            id=ObjectId(),
            service_id=ObjectId(service["id"]),
            service_name=service["name"],
            provider_id=ObjectId(service["providerId"]),
            customer_id=market.customer.user.id,
            start=end - timedelta(hours=1),
            end=end,
            timezone="UTC",
            status="completed",
            price=service["price"],
            currency=service["currency"],
        ).model_dump_doc()
        for _ in range(n)
    ]
    await market.env.keel.db.get_collection(Booking).insert_many(docs)
    return [str(d["_id"]) for d in docs]


async def test_concurrent_reviews_never_lose_an_update(market: Market) -> None:
    service = await market.service()
    ratings = [1 + i % 5 for i in range(40)]
    ids = await _completed_bookings(market, service, len(ratings))
    responses = await asyncio.gather(
        *(
            market.client.post(
                f"/api/bookings/{booking_id}/review",
                json={"rating": rating},
                headers=market.customer.headers,
            )
            for booking_id, rating in zip(ids, ratings, strict=True)
        ),
        *(
            market.client.post(
                f"/api/bookings/{ids[0]}/review",
                json={"rating": 5},
                headers=market.customer.headers,
            )
            for _ in range(5)
        ),
    )
    assert sorted(r.status_code for r in responses) == [201] * 40 + [409] * 5
    doc = await market.env.keel.db.get_collection(Service).find_one(
        {"_id": ObjectId(service["id"])}
    )
    assert doc is not None
    assert (doc["rating_sum"], doc["rating_count"]) == (sum(ratings), 40)
    shown = (await market.client.get(f"/api/services/{service['id']}")).json()
    assert shown["ratingAverage"] == round(sum(ratings) / 40, 2)
    assert shown["ratingCount"] == 40
