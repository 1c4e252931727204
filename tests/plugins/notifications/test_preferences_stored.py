"""Stored preferences always satisfy their schema; old or broken documents are repaired.

Regression of issue 20: ``PUT {"preferences": {}}`` stored a document without ``choices``
and every later read of that user's preferences, and every delivery to them, failed.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import KeelTestApp
from plugins.accounts.documents import User
from plugins.notifications.models import Preference

from . import _publisher as pub
from .conftest import inbox_of

URL = "/api/notifications/preferences"


def _channels(body: dict[str, Any], event: str) -> dict[str, bool]:
    return next(i["channels"] for i in body["items"] if i["event"] == event)


async def _stored(env: KeelTestApp, user: User) -> dict[str, Any]:
    doc = await env.keel.db.get_collection(Preference).find_one({"user_id": user.id})
    assert doc is not None
    return dict(doc)


async def _delivered(env: KeelTestApp, customer: User) -> list[str]:
    provider = await env.user(role="provider")
    await env.keel.events.emit(pub.created(customer, provider))
    await env.drain()
    return [n["kind"] for n in await inbox_of(env, customer)]


@pytest.mark.parametrize(
    "body",
    [{"preferences": {}}, {"preferences": {"booking.created": {}}}],
    ids=["no-event", "no-channel"],
)
async def test_an_empty_change_stores_a_complete_document(
    env: KeelTestApp, body: dict[str, Any]
) -> None:
    customer, headers = await env.signed_in()
    response = await env.client.put(URL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert _channels(response.json(), "booking.created") == {"email": True, "inApp": True}
    stored = await _stored(env, customer)
    assert stored["choices"] == {}
    Preference.model_validate_doc(stored)  # the stored document fits its model
    again = await env.client.get(URL, headers=headers)
    assert again.status_code == 200
    assert await _delivered(env, customer) == ["booking.created"]


@pytest.mark.parametrize(
    "doc",
    [
        {},  # no choices at all (what the bug stored)
        {"choices": None},
        {"choices": "off"},
        {"choices": {"booking_created": "off", "nothing_here": {"email": False}}},
        {"choices": {"booking_created": {"email": "no", "in_app": False, "sms": False}}},
    ],
    ids=["missing", "null", "string", "bad-event", "bad-channel"],
)
async def test_a_broken_stored_document_is_repaired_not_a_500(
    env: KeelTestApp, doc: dict[str, Any]
) -> None:
    customer, headers = await env.signed_in()
    collection = env.keel.db.get_collection(Preference)
    await collection.insert_one({"user_id": customer.id, **doc})

    response = await env.client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    off = doc.get("choices") == {"booking_created": {"email": "no", "in_app": False, "sms": False}}
    expected = {"email": True, "inApp": not off}
    assert _channels(response.json(), "booking.created") == expected
    assert await _delivered(env, customer) == ([] if off else ["booking.created"])

    # the next change writes a whole, valid document over the broken one
    change = {"preferences": {"booking.updated": {"email": False}}}
    response = await env.client.put(URL, json=change, headers=headers)
    assert response.status_code == 200, response.text
    stored = await _stored(env, customer)
    Preference.model_validate_doc(stored)
    repaired = {"booking_updated": {"email": False}}
    if off:
        repaired["booking_created"] = {"in_app": False}
    assert stored["choices"] == repaired


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "preferences"),
        ({"preferences": []}, "preferences"),
        ({"preferences": {"booking.created": None}}, "preferences"),
        ({"preferences": {"booking.created": {"inApp": "yes"}}}, "inApp"),
        ({"preferences": {"booking.created": {"in_app": False}}}, "in_app"),  # old name
        ({"preferences": {"Booking": {}}}, "preferences"),
        ({"preferences": {"booking.created": {}}, "other": 1}, "other"),
    ],
)
async def test_odd_bodies_are_a_400_in_keels_error_body_and_store_nothing(
    env: KeelTestApp, body: dict[str, Any], field: str
) -> None:
    customer, headers = await env.signed_in()
    response = await env.client.put(URL, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in {"bad_request", "validation_error"}, error
    assert field in response.text
    found = await env.keel.db.get_collection(Preference).find_one({"user_id": customer.id})
    assert found is None


async def test_the_document_states_what_the_server_accepts(env: KeelTestApp) -> None:
    schema = (await env.client.get("/schema/openapi.json")).json()
    body = schema["paths"][URL]["put"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    preferences = schema["components"]["schemas"][name]["properties"]["preferences"]
    assert preferences["additionalProperties"] is False
    assert "booking.created" in preferences["propertyNames"]["enum"]
    assert "nothing.happened" not in preferences["propertyNames"]["enum"]
    receipt = preferences["patternProperties"][r"^payment\.completed$"]
    assert receipt["properties"] == {
        "email": {"type": "boolean", "const": True},
        "inApp": {"type": "boolean"},
    }
    assert receipt["additionalProperties"] is False
    welcome = preferences["patternProperties"][r"^user\.created$"]
    assert set(welcome["properties"]) == {"email"}  # no in-app notification to switch
