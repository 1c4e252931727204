"""The index follows events (in any order) and rebuilds from MongoDB without a gap."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import ConflictError
from plugins.accounts.documents import User
from plugins.accounts.events import UserCreated, UserDeleted, UserUpdated
from plugins.bookings.events import ServiceCreated
from plugins.search._layout import FileLock, Layout
from plugins.search.models import IndexedService
from plugins.search.reader import SearchReader
from plugins.search.reindex import reindex
from tests.plugins.search.conftest import Search, changed, snapshot


async def test_index_follows_service_events(search: Search) -> None:
    tiler = snapshot("Tiler", rating_average=3.0, rating_count=1)
    mason = snapshot("Mason", description="tilework and stone", rating_average=4.0, rating_count=1)
    await search.create(tiler, mason)
    assert await search.names("tile", sortBy="rating") == ["Mason", "Tiler"]
    tiler = changed(tiler, rating_average=5.0, rating_count=2)  # a new review
    await search.update(tiler, ["rating"])
    assert await search.names("tile", sortBy="rating") == ["Tiler", "Mason"]
    tiler = changed(tiler, name="Roofer")
    await search.update(tiler)
    assert await search.names("tiler") == []
    assert await search.names("roofer") == ["Roofer"]
    assert [s["name"] for s in (await search.get("/autocomplete", query="ro"))["items"]] == [
        "Roofer"
    ]
    await search.update(changed(tiler, active=False), ["active"])
    assert await search.names("roofer") == []
    assert (await search.get("/autocomplete", query="ro"))["items"] == []
    await search.delete(mason)
    assert await search.names("") == []
    assert (await search.get("/services"))["total"] == 0


async def test_out_of_order_and_repeated_events(search: Search) -> None:
    first = snapshot("Gardener")
    second = changed(first, name="Landscaper")
    await search.update(second)  # the update arrives before the creation
    await search.create(first)
    await search.update(second)  # and again
    assert await search.names("landscaper") == ["Landscaper"]
    assert await search.names("gardener") == []
    await search.delete(second)
    await search.update(changed(second, name="Gardener"))  # late update of a deleted service
    assert (await search.get("/services"))["total"] == 0


async def test_index_follows_user_events(search: Search) -> None:
    env = search.env
    user = await env.user(role="provider", name="Ada Lovelace")
    await env.keel.events.emit(
        UserCreated(user_id=str(user.id), email=user.email, display_name=user.name, role="provider")
    )
    await search.sync()
    assert (await search.get("", query="ada", type="users"))["users"]["total"] == 1
    await env.keel.db.get_collection(User).update_one(
        {"_id": user.id},
        {"$set": {"role": "customer", "updated_at": user.updated_at.replace(year=2100)}},
    )
    await env.keel.events.emit(
        UserUpdated(user_id=str(user.id), changed=["role"], role="customer", verified=True)
    )
    await search.sync()
    assert (await search.get("", query="ada", type="users"))["users"]["total"] == 0
    _, admin = await env.signed_in("admin")
    assert (await search.get("", query="ada", type="users", headers=admin))["users"]["total"] == 1
    await env.keel.db.get_collection(User).delete_one({"_id": user.id})
    await env.keel.events.emit(UserDeleted(user_id=str(user.id), deleted_by=str(user.id)))
    await search.sync()
    assert (await search.get("", query="ada", type="users", headers=admin))["users"]["total"] == 0


async def test_repeated_deliveries_and_stale_snapshots_change_nothing(search: Search) -> None:
    env = search.env
    snap = snapshot("Chimney sweep", price=100)
    newer = changed(snap, price=200)
    for event in (ServiceCreated(service=newer), ServiceCreated(service=snap)):
        await env.keel.events.emit(event)
        await env.keel.events.emit(event)  # a redelivery
    await search.sync()
    body = await search.get("/services", query="chimney")
    assert [(h["price"], body["total"]) for h in body["items"]] == [(200, 1)]


async def test_reindex_gives_identical_results_and_repairs_the_index(search: Search) -> None:
    env = search.env
    snaps = [snapshot(f"Piano lesson {i}", price=100 * i, description="music") for i in range(30)]
    await search.create(*snaps, snapshot("Guitar lesson"))
    await search.delete(snaps[0])
    await search.update(changed(snaps[1], active=False), ["active"])
    provider = await env.user(role="provider", name="Clara Schumann")
    await env.keel.events.emit(
        UserCreated(
            user_id=str(provider.id), email=provider.email, display_name="C", role="provider"
        )
    )
    await search.sync()
    queries = [
        ("/services", {"query": "lesson", "sortBy": "price", "limit": 50}),
        ("/services", {"query": "muisc pian", "limit": 50}),
        ("/autocomplete", {"query": "pi", "limit": 20}),
        ("", {"query": "clara"}),
    ]
    before = [await search.get(path, **params) for path, params in queries]
    assert before[0]["total"] == 29
    # a change that reached MongoDB but never the feed: only a rebuild repairs it
    await env.keel.db.get_collection(IndexedService).update_one(
        {"_id": snaps[2].id}, {"$set": {"service.name": "Harp lesson"}}
    )
    assert await search.names("harp") == []
    reader = SearchReader.of(env.keel)
    live = reader.generation
    seen: list[tuple[int, int]] = []
    result = await reindex(env.keel, lambda done, total: seen.append((done, total)))
    assert (result.services, result.users) == (31, 1)
    assert seen[-1] == (32, 32)
    await search.sync()
    assert reader.generation == result.generation != live
    assert await search.names("harp") == ["Harp lesson"]
    await env.keel.db.get_collection(IndexedService).update_one(
        {"_id": snaps[2].id}, {"$set": {"service.name": snaps[2].name}}
    )
    await env.keel.jobs.enqueue("search.reindex")
    await search.sync()
    assert reader.generation not in {live, result.generation}
    assert [await search.get(path, **params) for path, params in queries] == before


async def test_a_reindex_during_searches_and_changes_loses_nothing(search: Search) -> None:
    env = search.env
    await search.create(*(snapshot(f"Drum lesson {i}") for i in range(40)))
    totals: list[int] = []
    rebuilding = asyncio.create_task(reindex(env.keel))
    added = snapshot("Drum lesson late")
    await env.keel.events.emit(ServiceCreated(service=added))
    while not rebuilding.done():
        totals.append((await search.get("/services", query="drum"))["total"])
        await env.drain()
    result = await rebuilding
    await search.sync()
    assert totals
    assert set(totals) <= {40, 41}  # every search during the rebuild was answered in full
    assert (await search.get("/services", query="drum"))["total"] == 41
    assert SearchReader.of(env.keel).generation == result.generation


async def test_one_reindex_at_a_time(search: Search) -> None:
    layout = Layout.of(search.env.settings.plugins.tables["search"].index_dir)  # type: ignore[attr-defined]
    held = FileLock(layout.root / "reindex.lock")
    assert held.acquire()
    try:
        with pytest.raises(ConflictError, match="already running"):
            await reindex(search.env.keel)
    finally:
        held.release()
