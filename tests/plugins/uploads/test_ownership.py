"""Avatars and service images name the caller's own uploads (``plugins.uploads.api``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.testing import KeelTestApp

from .conftest import Build, error_of, image_bytes, upload


@pytest.fixture
async def env(keel_app_factory: Build) -> AsyncIterator[KeelTestApp]:
    async with keel_app_factory(
        plugins=["bookings"], overrides={"server.rate_limit.enabled": False}
    ) as built:
        yield built


async def _image(env: KeelTestApp, headers: dict[str, str]) -> dict[str, str]:
    response = await upload(env, headers, image_bytes())
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def _refused(response: httpx.Response, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["details"]["field"] == field
    assert error["message"].startswith(f"{field}: ")


async def test_avatar_is_one_of_the_callers_uploads(env: KeelTestApp) -> None:
    _, mine = await env.signed_in()
    _, theirs = await env.signed_in()
    own, other = await _image(env, mine), await _image(env, theirs)
    for avatar in (other["id"], other["url"], "f" * 24):  # a reference, not to one of hers
        response = await env.client.patch("/api/users/me", json={"avatar": avatar}, headers=mine)
        _refused(response, "avatar")
        assert error_of(response)["code"] == "unprocessable_entity"
    for avatar in ("https://evil.example/x.png", "F" * 24, f"{own['id']}\n", own["url"] + "/"):
        response = await env.client.patch("/api/users/me", json={"avatar": avatar}, headers=mine)
        assert response.status_code == 400, response.text  # the document's pattern
        assert error_of(response)["code"] == "validation_error"
    for avatar in (own["id"], own["url"]):
        response = await env.client.patch("/api/users/me", json={"avatar": avatar}, headers=mine)
        assert response.status_code == 200, response.text
        assert response.json()["avatar"] == avatar
    cleared = await env.client.patch("/api/users/me", json={"avatar": None}, headers=mine)
    assert cleared.status_code == 200
    assert cleared.json()["avatar"] is None


async def test_service_images_are_uploads_of_its_provider(env: KeelTestApp) -> None:
    _, provider = await env.signed_in("provider")
    _, stranger = await env.signed_in("provider")
    own, other = await _image(env, provider), await _image(env, stranger)
    body = {"name": "Tiles", "category": "home", "price": 100, "currency": "EUR"}
    body["durationMinutes"] = 30
    refused = await env.client.post(
        "/api/services", json={**body, "images": [own["id"], other["id"]]}, headers=provider
    )
    _refused(refused, "images")
    assert error_of(refused)["details"]["invalid"] == [other["id"]]
    created = await env.client.post(
        "/api/services", json={**body, "images": [own["id"]]}, headers=provider
    )
    assert created.status_code == 201, created.text
    path = f"/api/services/{created.json()['id']}"
    patched = await env.client.patch(path, json={"images": [other["id"]]}, headers=provider)
    _refused(patched, "images")
    second = await _image(env, provider)
    patched = await env.client.patch(
        path, json={"images": [own["id"], second["id"]]}, headers=provider
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["images"] == [own["id"], second["id"]]
