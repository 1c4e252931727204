"""Endpoints: autocomplete, limits and 400s, filters, sorting, pagination, user visibility."""

from __future__ import annotations

from plugins.accounts.events import UserCreated
from tests.plugins.search.conftest import Search, snapshot


async def test_autocomplete_prefixes_limits_and_errors(search: Search) -> None:
    await search.create(
        *(snapshot(f"Plumbing job {i}", category="repairs") for i in range(25)),
        snapshot("Emergency plumber", category="repairs"),
        snapshot("Pilates"),
    )
    body = await search.get("/autocomplete", query="plu")
    assert len(body["items"]) == 5  # the default limit
    assert set(body["items"][0]) == {"id", "name", "category"}
    body = await search.get("/autocomplete", query="plu", limit=20)
    assert len(body["items"]) == 20
    names = [s["name"] for s in (await search.get("/autocomplete", query="emergency pl"))["items"]]
    assert names == ["Emergency plumber"]
    later = [s["name"] for s in (await search.get("/autocomplete", query="plumber"))["items"]]
    assert later == ["Emergency plumber"]  # a later word of the name
    typo = [s["name"] for s in (await search.get("/autocomplete", query="pilatse"))["items"]]
    assert typo == ["Pilates"]  # nothing starts with it: typo-tolerant fallback
    assert (await search.get("/autocomplete", query="..."))["items"] == []
    error = await search.get("/autocomplete", 400, query="p")  # the documented minLength
    assert [d["field"] for d in error["error"]["details"]] == ["query"]
    assert "length >= 2" in error["error"]["message"]
    await search.get("/autocomplete", 422, query=" é ")  # 2 characters once trimmed: 1
    await search.get("/autocomplete", 400, query="pl", limit=21)
    await search.get("/autocomplete", 400, query="pl", limit=0)
    await search.get("/autocomplete", 400, query="x" * 101)
    await search.get("/services", 400, query="x" * 101)
    await search.get("", 400, query="x" * 101)
    await search.get("", 400, query="")
    await search.get("/services", 400, sortBy="name")
    await search.get("/services", 400, minRating=6)


async def test_filters_sorting_and_pagination(search: Search) -> None:
    snaps = [
        snapshot(f"Yoga class {i}", category="Wellness", price=1000 * i, rating_average=i % 5)
        for i in range(1, 13)
    ]
    await search.create(*snaps, snapshot("Yoga mats", category="Shop", price=500))
    body = await search.get("/services", query="yoga", category="wellness", limit=5)
    assert (body["total"], len(body["items"]), body["page"], body["limit"]) == (12, 5, 1, 5)
    body = await search.get(
        "/services", query="yoga", minPrice=3000, maxPrice=9000, sortBy="price", limit=4, page=2
    )
    assert body["total"] == 7
    assert [h["price"] for h in body["items"]] == [7000, 8000, 9000]
    body = await search.get("/services", query="yoga", sortBy="price", sortOrder="desc", limit=2)
    assert [h["price"] for h in body["items"]] == [12000, 11000]
    body = await search.get("/services", query="class", minRating=4, sortBy="rating")
    assert [h["ratingAverage"] for h in body["items"]] == [4.0, 4.0]
    body = await search.get("/services", sortBy="createdAt", limit=1)  # no query: everything
    assert (body["total"], body["items"][0]["name"]) == (13, "Yoga mats")
    body = await search.get("/services", sortBy="createdAt", sortOrder="asc", limit=1)
    assert body["items"][0]["name"] == "Yoga class 1"
    assert (await search.get("/services", query="yoga", page=99))["items"] == []
    hit = (await search.get("/services", query="mats"))["items"][0]
    assert set(hit) >= {"id", "name", "price", "currency", "ratingAverage", "ratingCount"}


async def test_user_search_public_profiles_and_admin_email(search: Search) -> None:
    env = search.env
    provider = await env.user(role="provider", name="Zoë Plumbwright", email="zoe@pipes.example")
    customer_user = await env.user(role="customer", name="Zoe Customer", email="zc@pipes.example")
    _, admin = await env.signed_in("admin")
    _, customer = await env.signed_in("customer")
    for user in (provider, customer_user):
        event = UserCreated(
            user_id=str(user.id), email=user.email, display_name=user.name, role=user.role
        )
        await env.keel.events.emit(event)
    await search.sync()
    anyone = await search.get("", query="zoe", type="users")
    assert [u["name"] for u in anyone["users"]["items"]] == ["Zoë Plumbwright"]
    assert "email" not in anyone["users"]["items"][0]
    assert "services" not in anyone
    assert (await search.get("", query="pipes", type="users"))["users"]["total"] == 0
    as_customer = await search.get("", query="pipes", type="users", headers=customer)
    assert as_customer["users"]["total"] == 0
    as_admin = await search.get("", query="pipes", type="users", headers=admin)
    emails = sorted(u["email"] for u in as_admin["users"]["items"])
    assert emails == ["zc@pipes.example", "zoe@pipes.example"]
    names = await search.get("", query="zoe", type="users", headers=admin)
    assert names["users"]["total"] == 2
    suggestions = await search.get("/autocomplete", query="zo", type="users")
    assert [u["name"] for u in suggestions["items"]] == ["Zoë Plumbwright"]
    both = await search.get("", query="zoe")
    assert set(both) == {"services", "users"}


async def test_facets_count_categories_and_price_buckets_of_the_query(search: Search) -> None:
    await search.create(
        snapshot("Yoga basics", category="Fitness", price=900),
        snapshot("Yoga flow", category="Fitness", price=2500),
        snapshot("Yoga retreat", category="Travel", price=60000),
        snapshot("Pilates", category="Fitness", price=1500),
    )
    body = await search.get("/services", query="yoga", facets="category,price", limit=1)
    assert (body["total"], len(body["items"])) == (3, 1)
    assert body["facets"]["category"] == [
        {"value": "Fitness", "count": 2},
        {"value": "Travel", "count": 1},
    ]
    assert body["facets"]["price"] == [
        {"min": 0, "max": 1000, "count": 1},
        {"min": 1000, "max": 2500, "count": 0},
        {"min": 2500, "max": 5000, "count": 1},
        {"min": 5000, "max": 10000, "count": 0},
        {"min": 10000, "max": 25000, "count": 0},
        {"min": 25000, "max": 50000, "count": 0},
        {"min": 50000, "count": 1},
    ]
    filtered = await search.get("/services", query="yoga", maxPrice=3000, facets="category")
    assert filtered["facets"] == {"category": [{"value": "Fitness", "count": 2}]}
    assert "facets" not in await search.get("/services", query="yoga")
    none = await search.get("/services", query="zzzz", facets="price")
    assert sum(b["count"] for b in none["facets"]["price"]) == 0
    await search.get("/services", 400, facets="rating")
    await search.get("/services", 400, facets="category,")
