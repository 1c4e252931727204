"""Several hosts: each keeps its own index from the one change feed, and builds it itself."""

from __future__ import annotations

from pathlib import Path

from core.testing._app import AppFactory
from plugins.accounts.events import UserCreated
from plugins.search import feed
from plugins.search.reader import SearchReader
from tests.plugins.search.conftest import Search, changed, indexed, search_app, snapshot


async def test_two_hosts_indexes_both_follow_one_feed(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    async with (
        search_app(keel_app_factory, tmp_path / "host1") as one,
        search_app(keel_app_factory, tmp_path / "host2") as two,
    ):
        first, second = Search(one), Search(two)
        hedge = snapshot("Hedge trimming", price=3000)
        await first.create(hedge, snapshot("Lawn mowing"))
        await second.update(changed(hedge, price=3500), ["price"])  # any host may publish
        await first.delete(snapshot("Never created"))
        await indexed(one)
        await indexed(two)
        for host in (first, second):
            body = await host.get("/services", query="hedge")
            assert [(h["name"], h["price"]) for h in body["items"]] == [("Hedge trimming", 3500)]
            assert (await host.get("/services"))["total"] == 2
        roots = {SearchReader.of(env.keel).layout.root for env in (one, two)}
        assert roots == {(tmp_path / "host1").resolve(), (tmp_path / "host2").resolve()}


async def test_a_fresh_host_builds_its_index_from_mongodb(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    async with search_app(keel_app_factory, tmp_path / "old") as old:
        existing = Search(old)
        await existing.create(*(snapshot(f"Tile repair {i}") for i in range(5)))
        provider = await old.user(role="provider", name="Tilda Tiler")
        event = UserCreated(
            user_id=str(provider.id), email=provider.email, display_name="T", role="provider"
        )
        await old.keel.events.emit(event)
        await existing.sync()
        async with search_app(keel_app_factory, tmp_path / "new") as new:
            fresh = Search(new)
            await indexed(new)  # built from MongoDB, then caught up with the feed
            assert (await fresh.get("/services", query="tile"))["total"] == 5
            assert (await fresh.get("", query="tilda", type="users"))["users"]["total"] == 1
            await existing.create(snapshot("Tile cleaning"))
            await indexed(new)
            assert (await fresh.get("/services", query="tile"))["total"] == 6


async def test_a_host_behind_the_trimmed_feed_rebuilds(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    async with search_app(keel_app_factory, tmp_path / "stale") as env:
        await Search(env).create(snapshot("Window cleaning"))
    async with search_app(keel_app_factory, tmp_path / "other") as other:
        await Search(other).create(snapshot("Window repair"))
        await other.keel.valkey.xtrim(feed.feed_key(other.keel), maxlen=0)  # retention
        async with search_app(keel_app_factory, tmp_path / "stale") as env:
            await indexed(env)
            names = sorted(await Search(env).names("window"))
            assert names == ["Window cleaning", "Window repair"]


async def test_enabling_search_on_existing_services_indexes_them(
    keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    body = {"category": "wellness", "price": 3000, "currency": "EUR", "durationMinutes": 60}
    async with keel_app_factory(plugins=["bookings"]) as before:  # search not enabled yet
        _, provider = await before.signed_in("provider")
        made = []
        for name in ("Yoga at dawn", "Yoga at dusk", "Yoga paused"):
            created = await before.client.post(
                "/api/services", json={**body, "name": name}, headers=provider
            )
            assert created.status_code == 201, created.text
            made.append(created.json()["id"])
        paused = await before.client.patch(
            f"/api/services/{made[2]}", json={"active": False}, headers=provider
        )
        assert paused.status_code == 200, paused.text
    async with search_app(keel_app_factory, tmp_path / "late") as env:
        await indexed(env)  # the first build copies bookings' services
        assert sorted(await Search(env).names("yoga")) == ["Yoga at dawn", "Yoga at dusk"]
