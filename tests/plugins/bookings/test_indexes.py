"""Every list query of the plugin is served by an index (checked with ``explain()``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from core.accounts import CurrentUser
from core.testing import KeelTestApp
from plugins.bookings._booking import bookings_query
from plugins.bookings._catalog import services_query
from plugins.bookings.models import Booking, Review, Service


def _stages(plan: dict[str, Any]) -> list[str]:
    """Every stage name of a winning plan, depth first."""
    found = [plan.get("stage", "")]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += _stages(plan[key])
    for child in plan.get("inputStages", []):
        found += _stages(child)
    return found


async def _assert_indexed(
    env: KeelTestApp, model: type[Any], query: dict[str, Any], sort: list[tuple[str, int]]
) -> None:
    collection = env.keel.db.get_collection(model)
    explained = await collection.find(query).sort(sort).limit(20).explain()
    stages = _stages(explained["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in stages, (query, sort, stages)
    assert "COLLSCAN" not in stages, (query, sort, stages)
    assert "SORT" not in stages, (query, sort, stages)  # the index gives the order


CUSTOMER = CurrentUser(id=str(ObjectId()), role="customer", session="s")
PROVIDER = CurrentUser(id=str(ObjectId()), role="provider", session="s")
ADMIN = CurrentUser(id=str(ObjectId()), role="admin", session="s")
NOW = datetime.now(UTC)


@pytest.fixture
async def env(keel_app_factory: Any) -> Any:
    async with keel_app_factory(plugins=["bookings"]) as app:
        yield app


BOOKING_FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "confirmed"},
    {"start_from": NOW, "start_to": NOW + timedelta(days=7)},
    {"status": "pending", "start_from": NOW, "sort": "-start"},
]
SERVICE_FILTERS: list[dict[str, Any]] = [
    {},
    {"category": "plumbing"},
    {"provider_id": PROVIDER.id},
    {"active": True},
    {"category": "plumbing", "active": False},
]


async def test_bookings_list_uses_an_index(env: KeelTestApp) -> None:
    for caller in (CUSTOMER, PROVIDER, ADMIN):
        for filters in BOOKING_FILTERS:
            query, sort = bookings_query(caller, **filters)
            await _assert_indexed(env, Booking, query, sort)


async def test_services_list_uses_an_index(env: KeelTestApp) -> None:
    collection = env.keel.db.get_collection(Service)
    for caller in (None, PROVIDER, ADMIN):
        for sort in ("-created_at", "created_at", "price", "-price"):
            for filters in SERVICE_FILTERS:
                built = services_query(caller, sort=sort, **filters)  # type: ignore[arg-type]
                if built is None:  # nothing to query (others' inactive services)
                    continue
                query, order = built
                if isinstance(query.get("active"), dict):  # $in: a merge of index ranges
                    plan = (await collection.find(query).sort(order).explain())["queryPlanner"]
                    assert "COLLSCAN" not in _stages(plan["winningPlan"]), query
                    continue
                await _assert_indexed(env, Service, query, order)


async def test_reviews_list_uses_an_index(env: KeelTestApp) -> None:
    await _assert_indexed(
        env, Review, {"service_id": ObjectId()}, [("created_at", -1), ("_id", -1)]
    )
