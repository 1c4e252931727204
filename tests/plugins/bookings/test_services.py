"""Services: CRUD, validation, visibility, listing and events."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .conftest import Market, seen


async def test_provider_creates_and_anyone_reads_a_service(market: Market) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(picture, "PNG")
    uploaded = await market.client.post(
        "/api/uploads",
        files={"file": ("van.png", picture.getvalue(), "image/png")},
        headers=market.provider.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    image_id = uploaded.json()["id"]
    created = await market.service(description="Leaks and taps", images=[image_id])
    assert created["images"] == [image_id]
    assert created["providerId"] == market.provider.id
    assert created["price"] == 4500
    assert created["currency"] == "EUR"
    assert created["ratingAverage"] == 0.0
    assert created["ratingCount"] == 0
    assert created["availability"]["monday"] == [{"start": "00:00", "end": "24:00"}]
    response = await market.client.get(f"/api/services/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    await market.env.drain()
    [event] = seen("service.created")
    assert event.service.id == created["id"]
    assert event.service.name == "Plumber visit"
    assert event.service.provider_id == market.provider.id
    assert event.service.revision == 1


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("price", -1, "price"),
        ("currency", "eur", "currency"),
        ("durationMinutes", 7, "durationMinutes"),
        ("name", "", "name"),
        ("images", ["../etc/passwd"], "images"),
        ("timezone", "Mars Olympus", "timezone"),  # not even the shape of a zone name
        ("availability", {"funday": [{"start": "09:00", "end": "10:00"}]}, "availability"),
        ("ratingAverage", 5, "ratingAverage"),
        ("duration_minutes", 30, "duration_minutes"),  # Python names are not the wire's
    ],
)
async def test_invalid_service_is_a_400_naming_the_field(
    market: Market, field: str, value: object, needle: str
) -> None:
    body = {
        "name": "X",
        "category": "plumbing",
        "price": 100,
        "currency": "EUR",
        "durationMinutes": 30,
        field: value,
    }
    response = await market.client.post("/api/services", json=body, headers=market.provider.headers)
    assert response.status_code == 400, response.text
    assert needle in response.text


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("timezone", "America", "unknown time zone 'America'"),  # a folder of zones
        ("availability", {"monday": [{"start": "18:00", "end": "09:00"}]}, "availability.monday"),
        ("availability", {"friday": [{"start": "24:00", "end": "24:00"}]}, "availability.friday"),
        ("images", ["0" * 24], "images"),  # the shape of an upload, but none of the caller's
    ],
)
async def test_schema_valid_but_unusable_service_is_a_422(
    market: Market, field: str, value: object, needle: str
) -> None:
    body = {"name": "X", "category": "c", "price": 0, "currency": "EUR", "durationMinutes": 30}
    created = await market.client.post(
        "/api/services", json={**body, field: value}, headers=market.provider.headers
    )
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "unprocessable_entity"
    assert needle in created.text
    service = await market.service()
    patched = await market.client.patch(
        f"/api/services/{service['id']}", json={field: value}, headers=market.provider.headers
    )
    assert patched.status_code == 422, patched.text
    assert needle in patched.text


async def test_update_bounds_are_those_of_create(market: Market) -> None:
    service = await market.service()
    url = f"/api/services/{service['id']}"
    for bad in ({"price": -2622}, {"currency": "eur"}, {"images": ["../x"]}, {"name": ""}):
        answer = await market.client.patch(url, json=bad, headers=market.provider.headers)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
    free = await market.client.patch(url, json={"price": 0}, headers=market.provider.headers)
    assert (free.status_code, free.json()["price"]) == (200, 0)


async def test_only_providers_create_and_only_owner_or_admin_change(market: Market) -> None:
    body = {"name": "X", "category": "c", "price": 1, "currency": "EUR", "durationMinutes": 30}
    anonymous = await market.client.post("/api/services", json=body)
    assert anonymous.status_code == 401
    customer = await market.client.post("/api/services", json=body, headers=market.customer.headers)
    assert customer.status_code == 403
    service = await market.service()
    url = f"/api/services/{service['id']}"
    other = await market.actor("provider")
    assert (
        await market.client.patch(url, json={"price": 1}, headers=other.headers)
    ).status_code == 403
    assert (await market.client.delete(url, headers=other.headers)).status_code == 403
    patched = await market.client.patch(url, json={"price": 999}, headers=market.admin.headers)
    assert patched.status_code == 200
    assert patched.json()["price"] == 999
    own = await market.client.patch(
        url, json={"name": "Pipe fixing", "active": False}, headers=market.provider.headers
    )
    assert own.json()["name"] == "Pipe fixing"
    await market.env.drain()
    updates = seen("service.updated")
    assert [u.changed for u in updates] == [["price"], ["active", "name"]]
    assert [u.service.revision for u in updates] == [2, 3]
    assert updates[-1].service.active is False
    deleted = await market.client.delete(url, headers=market.provider.headers)
    assert deleted.status_code == 204
    assert (await market.client.get(url, headers=market.provider.headers)).status_code == 404
    await market.env.drain()
    [gone] = seen("service.deleted")
    assert (gone.service_id, gone.deleted_by) == (service["id"], market.provider.id)


async def test_inactive_services_are_hidden_from_others(market: Market) -> None:
    service = await market.service(active=False)
    url = f"/api/services/{service['id']}"
    assert (await market.client.get(url)).status_code == 404
    assert (await market.client.get(url, headers=market.customer.headers)).status_code == 404
    assert (await market.client.get(url, headers=market.provider.headers)).status_code == 200
    assert (await market.client.get(url, headers=market.admin.headers)).status_code == 200
    public = await market.client.get("/api/services")
    assert public.json()["total"] == 0
    mine = await market.client.get(
        "/api/services",
        params={"providerId": market.provider.id, "active": "false"},
        headers=market.provider.headers,
    )
    assert mine.json()["total"] == 1
    assert (await market.client.get("/api/services/nothex")).status_code == 404


async def test_list_filters_sorts_and_paginates(market: Market) -> None:
    other = await market.actor("provider")
    for i, (category, owner) in enumerate(
        [("plumbing", market.provider), ("cleaning", market.provider), ("plumbing", other)] * 3
    ):
        await market.service(provider=owner, name=f"S{i}", category=category, price=100 * (9 - i))
    everything = await market.client.get("/api/services", params={"limit": 4})
    body = everything.json()
    assert (body["total"], body["page"], body["limit"], len(body["items"])) == (9, 1, 4, 4)
    assert [s["name"] for s in body["items"]] == ["S8", "S7", "S6", "S5"]
    page3 = await market.client.get("/api/services", params={"limit": 4, "page": 3})
    assert [s["name"] for s in page3.json()["items"]] == ["S0"]
    cheap = await market.client.get("/api/services", params={"sort": "price", "limit": 2})
    assert [s["price"] for s in cheap.json()["items"]] == [100, 200]
    plumbing = await market.client.get("/api/services", params={"category": "plumbing"})
    assert plumbing.json()["total"] == 6
    by_other = await market.client.get(
        "/api/services", params={"providerId": other.id, "category": "plumbing"}
    )
    assert by_other.json()["total"] == 3
    for bad in (
        {"limit": 101},
        {"page": 0},
        {"page": 10_001},
        {"sort": "name"},
        {"providerId": "x"},
        {"providerId": "0" * 23},
        {"providerId": "A" * 24},
    ):
        assert (await market.client.get("/api/services", params=bad)).status_code == 400, bad


async def test_the_document_states_what_the_server_enforces(market: Market) -> None:
    document = (await market.client.get("/schema/openapi.json")).json()
    update = document["components"]["schemas"]["ServiceUpdate"]["properties"]
    assert (update["price"]["minimum"], update["price"]["maximum"]) == (0, 100_000_000)
    assert update["images"]["items"]["pattern"].startswith("^(?:[0-9a-f]{24}|/api/uploads/")
    assert update["availability"]["propertyNames"]["enum"][0] == "monday"
    assert update["timezone"]["pattern"]
    paths = document["paths"]
    listing = paths["/api/services"]["get"]
    assert listing["security"] == [{}, {"BearerToken": []}]  # a token is optional
    [provider] = [p for p in listing["parameters"] if p["name"] == "providerId"]
    assert provider["schema"]["pattern"] == "^[0-9a-f]{24}$"
    statuses = {
        ("post", "/api/services"): {"403", "422"},
        ("patch", "/api/services/{service_id}"): {"403", "404", "422"},
        ("delete", "/api/services/{service_id}"): {"403", "404"},
        ("post", "/api/bookings"): {"403", "404", "409", "422"},
        ("post", "/api/bookings/{booking_id}/confirm"): {"403", "409"},
        ("post", "/api/bookings/{booking_id}/complete"): {"403", "409"},
        ("post", "/api/bookings/{booking_id}/cancel"): {"409"},
        ("post", "/api/bookings/{booking_id}/review"): {"403", "409"},
        ("delete", "/api/reviews/{review_id}"): {"403", "404"},
    }
    for (method, path), wanted in statuses.items():
        assert wanted <= set(paths[path][method]["responses"]), (method, path)


async def test_a_bad_token_is_a_401_where_a_token_is_optional(market: Market) -> None:
    service = await market.service()
    bad = {"Authorization": "Bearer not-a-token"}
    for url in (
        "/api/services",
        f"/api/services/{service['id']}",
        f"/api/services/{service['id']}/reviews",
    ):
        assert (await market.client.get(url)).status_code == 200, url
        assert (await market.client.get(url, headers=bad)).status_code == 401, url
