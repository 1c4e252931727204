"""Every list query of the plugin is served by an index (checked with ``explain()``).

SecantusDB supports ``explain()``. Its planner does not always pick the best compound
index (e.g. ``(active, created_at)`` for a sort by price), so each listing names its
index as a ``hint``; and it adds a (top-k) in-memory ``SORT`` stage whenever the filter
has an equality prefix, where MongoDB reads the order from the index. The tests check
that the plan scans the hinted, declared index whose keys are the equality fields
followed by the sort fields (so MongoDB needs no ``SORT``), and never the collection.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from core.accounts import CurrentUser
from core.testing import KeelTestApp
from plugins.bookings._booking import bookings_query
from plugins.bookings._catalog import services_query
from plugins.bookings._docs import ListQuery
from plugins.bookings._review import reviews_query
from plugins.bookings.models import Booking, Review, Service


def _walk(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage of a winning plan, depth first."""
    found = [plan]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += _walk(plan[key])
    for child in plan.get("inputStages", []):
        found += _walk(child)
    return found


def _stages(plan: dict[str, Any]) -> list[str]:
    return [stage.get("stage", "") for stage in _walk(plan)]


async def _assert_indexed(env: KeelTestApp, model: type[Any], listing: ListQuery) -> None:
    collection = env.keel.db.get_collection(model)
    explained = (
        await collection.find(listing.filter).sort(listing.sort).hint(listing.hint).explain()
    )
    plan = explained["queryPlanner"]["winningPlan"]
    assert "COLLSCAN" not in _stages(plan), listing
    [scan] = [stage for stage in _walk(plan) if stage.get("stage") == "IXSCAN"]
    keys = list(scan["keyPattern"].items())
    assert keys == listing.hint, listing
    equalities = [k for k, v in listing.filter.items() if not isinstance(v, dict) or "$in" in v]
    ranged = [k for k, v in listing.filter.items() if isinstance(v, dict) and "$in" not in v]
    names = [k for k, _ in keys]
    assert sorted(names[: len(equalities)]) == sorted(equalities), listing
    assert names[len(equalities) :][: len(listing.sort)] == [f for f, _ in listing.sort], listing
    assert all(field in names for field in ranged), listing
    declared = {tuple(ix["key"]) for ix in (await collection.index_information()).values()}
    assert tuple(listing.hint) in declared


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
            await _assert_indexed(env, Booking, bookings_query(caller, **filters))


async def test_services_list_uses_an_index(env: KeelTestApp) -> None:
    for caller in (None, PROVIDER, ADMIN):
        for sort in ("-created_at", "created_at", "price", "-price"):
            for filters in SERVICE_FILTERS:
                built = services_query(caller, sort=sort, **filters)  # type: ignore[arg-type]
                if built is not None:  # None: nothing to query (others' inactive services)
                    await _assert_indexed(env, Service, built)


async def test_reviews_list_uses_an_index(env: KeelTestApp) -> None:
    await _assert_indexed(env, Review, reviews_query(ObjectId()))
