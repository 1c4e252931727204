"""Preferences: per event type and channel; receipts and security mail always go out."""

from __future__ import annotations

from typing import Any

from core.testing import KeelTestApp

from . import _publisher as pub
from .conftest import inbox_of

URL = "/api/notifications/preferences"


def _by_event(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["event"]: item for item in body["items"]}


async def test_defaults_are_all_on_and_locked_channels_are_named(env: KeelTestApp) -> None:
    _user, headers = await env.signed_in()
    response = await env.client.get(URL, headers=headers)
    assert response.status_code == 200
    items = _by_event(response.json())
    assert items["booking.created"]["channels"] == {"email": True, "inApp": True}
    assert items["user.created"]["channels"] == {"email": True}
    assert items["payment.completed"]["alwaysSent"] == ["email"]
    assert items["user.deleted"]["alwaysSent"] == ["email"]
    assert items["booking.created"]["alwaysSent"] == []


async def test_switched_off_channels_are_not_sent_but_receipts_are(env: KeelTestApp) -> None:
    customer, headers = await env.signed_in()
    provider = await env.user(role="provider")
    body = {
        "preferences": {
            "booking.created": {"email": False, "inApp": False},
            "payment.completed": {"inApp": False},
        }
    }
    response = await env.client.put(URL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    items = _by_event(response.json())
    assert items["booking.created"]["channels"] == {"email": False, "inApp": False}
    assert items["payment.completed"]["channels"] == {"email": True, "inApp": False}
    # a later change of one channel keeps the others
    body = {"preferences": {"booking.created": {"inApp": True}}}
    response = await env.client.put(URL, json=body, headers=headers)
    assert _by_event(response.json())["booking.created"]["channels"] == {
        "email": False,
        "inApp": True,
    }

    await env.keel.events.emit(pub.created(customer, provider))
    await env.keel.events.emit(pub.paid(customer))
    await env.drain()
    subjects = [str(m["Subject"]) for m in env.mailbox.messages(to=customer.email)]
    assert subjects == ["Receipt: 12.50 EUR paid"]
    assert [n["kind"] for n in await inbox_of(env, customer)] == ["booking.created"]
    assert [n["kind"] for n in await inbox_of(env, provider)] == ["booking.created"]


async def test_bad_preferences_are_rejected_with_every_problem(env: KeelTestApp) -> None:
    _user, headers = await env.signed_in()
    body = {
        "preferences": {
            "payment.completed": {"email": False},
            "user.created": {"inApp": False},
            "nothing.happened": {"email": False},
        }
    }
    response = await env.client.put(URL, json=body, headers=headers)
    assert response.status_code == 400
    problems = response.json()["error"]["details"]["problems"]
    assert problems == [
        "preferences.payment.completed.email: receipts and security mail are always sent",
        "preferences.user.created.inApp: this event has no inApp notification",
        "preferences.nothing.happened: unknown event type",
    ]
    bad_field = {"preferences": {"booking.created": {"sms": True}}}
    response = await env.client.put(URL, json=bad_field, headers=headers)
    assert response.status_code == 400
    response = await env.client.get(URL)
    assert response.status_code == 401


async def test_choices_must_be_json_booleans(env: KeelTestApp) -> None:
    _user, headers = await env.signed_in()
    for value in (0, 1, "true", "false", None):
        body = {"preferences": {"user.created": {"email": value}}}
        response = await env.client.put(URL, json=body, headers=headers)
        assert response.status_code == 400, (value, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["location"] == "body"
    # nothing was stored: the welcome email is still on
    response = await env.client.get(URL, headers=headers)
    assert _by_event(response.json())["user.created"]["channels"] == {"email": True}
