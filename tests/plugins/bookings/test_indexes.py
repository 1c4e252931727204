"""Every list query of the plugin is served by an index (checked with ``explain()``).

SecantusDB supports ``explain()``. Its executor differs from MongoDB's: it fetches every
document an index lookup matches, then sorts and cuts the page in Python, and it picks
the first index whose leading fields match the filter's equalities (not the one that
also gives the sort order). So the tests check, for every query shape a listing builds:

- the plan scans an index (never the collection) whose leading fields are the query's
  equality fields (SecantusDB's choice);
- the listing's declared ``index`` exists and is the equality fields followed by the
  sort fields: the index MongoDB walks to return a page with no ``SORT`` stage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from core.testing import KeelTestApp
from plugins.accounts.api import CurrentUser
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
    explained = await collection.find(listing.filter).sort(listing.sort).limit(20).explain()
    plan = explained["queryPlanner"]["winningPlan"]
    assert "COLLSCAN" not in _stages(plan), listing
    scans = [stage for stage in _walk(plan) if stage.get("stage") == "IXSCAN"]
    assert scans, (listing, _stages(plan))
    equalities = [k for k, v in listing.filter.items() if not isinstance(v, dict) or "$in" in v]
    ranged = [k for k, v in listing.filter.items() if isinstance(v, dict) and "$in" not in v]
    names = [k for k, _ in listing.index]
    for scan in scans:
        used = list(scan["keyPattern"])
        # with no filter, the scan is the walk of the sort's index
        assert used[0] in listing.filter or used == names, (listing, used)
    assert sorted(names[: len(equalities)]) == sorted(equalities), listing
    assert names[len(equalities) :][: len(listing.sort)] == [f for f, _ in listing.sort], listing
    assert all(field in names for field in ranged), listing
    declared = {tuple(ix["key"]) for ix in (await collection.index_information()).values()}
    assert tuple(listing.index) in declared, listing


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
        for sort in ("-createdAt", "createdAt", "price", "-price"):
            for filters in SERVICE_FILTERS:
                built = services_query(caller, sort=sort, **filters)
                if built is not None:  # None: nothing to query (others' inactive services)
                    await _assert_indexed(env, Service, built)


async def test_reviews_list_uses_an_index(env: KeelTestApp) -> None:
    await _assert_indexed(env, Review, reviews_query(ObjectId()))
