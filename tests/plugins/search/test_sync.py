"""The index follows events (in any order), rebuilds without a gap, and its cache follows."""

from __future__ import annotations

from plugins.accounts.documents import User
from plugins.accounts.events import UserCreated, UserDeleted, UserUpdated
from plugins.bookings.events import ServiceCreated, ServiceUpdated
from plugins.search._bulk import Vocabulary
from plugins.search.documents import service_payload
from plugins.search.index import SearchIndex
from plugins.search.reindex import _swap_when_clean, reindex
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
    await env.drain()
    assert (await search.get("", query="ada", type="users"))["users"]["total"] == 1
    await env.keel.db.get_collection(User).update_one(
        {"_id": user.id},
        {"$set": {"role": "customer", "updated_at": user.updated_at.replace(year=2100)}},
    )
    await env.keel.events.emit(
        UserUpdated(user_id=str(user.id), changed=["role"], role="customer", verified=True)
    )
    await env.drain()
    assert (await search.get("", query="ada", type="users"))["users"]["total"] == 0
    _, admin = await env.signed_in("admin")
    assert (await search.get("", query="ada", type="users", headers=admin))["users"]["total"] == 1
    await env.keel.db.get_collection(User).delete_one({"_id": user.id})
    await env.keel.events.emit(UserDeleted(user_id=str(user.id), deleted_by=str(user.id)))
    await env.drain()
    assert (await search.get("", query="ada", type="users", headers=admin))["users"]["total"] == 0


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
    await env.drain()
    queries = [
        ("/services", {"query": "lesson", "sortBy": "price", "limit": 50}),
        ("/services", {"query": "muisc pian", "limit": 50}),
        ("/autocomplete", {"query": "pi", "limit": 20}),
        ("", {"query": "clara"}),
    ]
    before = [await search.get(path, **params) for path, params in queries]
    assert before[0]["total"] == 29
    index = SearchIndex.of(env.keel)
    live = await index.generation()
    await index.drop(live)  # lose the whole index
    assert (await search.get("/services", query="lesson", limit=50))["total"] == 0
    seen: list[tuple[int, int]] = []
    result = await reindex(env.keel, lambda done, total: seen.append((done, total)))
    assert (result.services, result.users) == (31, 1)
    assert seen[-1] == (32, 32)
    assert await index.generation() == result.generation != live
    assert [await search.get(path, **params) for path, params in queries] == before
    await env.keel.jobs.enqueue("search.reindex")
    await env.drain()
    assert await index.generation() != result.generation
    assert [await search.get(path, **params) for path, params in queries] == before
    assert not await env.keel.valkey.keys(f"{index.prefix}:g{live}:*")


async def test_changes_during_a_rebuild_win_over_the_bulk_load(search: Search) -> None:
    env = search.env
    old = snapshot("Violin lesson")
    await search.create(old)
    index = SearchIndex.of(env.keel)
    building = await index.start_building()
    await env.keel.events.emit(ServiceCreated(service=snapshot("Cello lesson")))
    renamed = changed(old, name="Viola lesson")
    await env.keel.events.emit(ServiceUpdated(service=renamed, changed=["name"], updated_by="x"))
    await env.drain()  # applied to both generations, marked dirty in the new one
    # the rebuild read the service before the update and writes it after: stale data
    await index.bulk_apply(building, [("s", old.id, 1, service_payload(old))], Vocabulary())
    assert await index.swap(building) is None  # not while anything is dirty
    await _swap_when_clean(env.keel, building)
    assert await index.generation() == building
    assert sorted(await search.names("lesson")) == ["Cello lesson", "Viola lesson"]
    assert await search.names("violin") == []


async def test_results_are_cached_and_invalidated_by_changes(search: Search) -> None:
    env = search.env
    boat = snapshot("Boat repair")
    await search.create(boat)
    assert await search.names("boat") == ["Boat repair"]
    cached = await env.keel.valkey.keys(f"{SearchIndex.of(env.keel).prefix}:c:*")
    assert len(cached) == 1
    assert await search.names("boat") == ["Boat repair"]  # served from the cache
    await search.update(changed(boat, name="Boat rental"))
    assert await search.names("boat") == ["Boat rental"]  # within the TTL: a new version
