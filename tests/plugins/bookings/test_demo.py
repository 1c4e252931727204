"""``keel demo``: seeds through the service layer, idempotently."""

from __future__ import annotations

from core.testing import KeelTestApp
from plugins.bookings.demo import CUSTOMER_EMAIL, PROVIDER_EMAIL, seed_demo
from plugins.bookings.models import Review, Service

from .conftest import seen


async def test_demo_seeds_once_and_its_users_can_log_in(env: KeelTestApp) -> None:
    first = await seed_demo(env.keel, "demo passphrase 2026")
    assert first.users_created == 2
    assert first.services_created >= 24
    assert first.reviews_created > 0
    again = await seed_demo(env.keel, "demo passphrase 2026")
    assert (again.users_created, again.services_created, again.reviews_created) == (0, 0, 0)
    services = env.keel.db.get_collection(Service)
    assert await services.count_documents({}) == first.services_created
    assert await env.keel.db.get_collection(Review).count_documents({}) == first.reviews_created
    assert len(await services.distinct("category")) >= 6
    await env.drain()
    assert len(seen("service.created")) == first.services_created
    assert len(seen("review.created")) == first.reviews_created
    for email in (PROVIDER_EMAIL, CUSTOMER_EMAIL):
        tokens = await env.login(email, "demo passphrase 2026")
        assert tokens["access_token"]
    listing = (await env.client.get("/api/services", params={"sort": "price"})).json()
    assert listing["total"] == first.services_created
