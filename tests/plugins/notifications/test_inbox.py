"""The in-app inbox: mine only, paginated, unread filter and count, read, read-all, delete."""

from __future__ import annotations

from core.testing import KeelTestApp
from plugins.accounts.documents import User
from plugins.accounts.events import UserUpdated

from . import _publisher as pub

API = "/api/notifications"


async def _three_notifications(env: KeelTestApp, customer: User) -> None:
    provider = await env.user(role="provider")
    for event in (
        pub.created(customer, provider),
        pub.reminder(customer, provider),
        pub.paid(customer),
    ):
        await env.keel.events.emit(event)
        await env.drain()  # one at a time: the inbox is ordered by creation


async def test_list_filter_count_read_and_delete(env: KeelTestApp) -> None:
    customer, headers = await env.signed_in()
    await _three_notifications(env, customer)

    page = (await env.client.get(API, params={"limit": 2}, headers=headers)).json()
    assert (page["total"], page["page"], page["limit"], len(page["items"])) == (3, 1, 2, 2)
    assert [n["kind"] for n in page["items"]] == ["payment.completed", "booking.reminder_due"]
    second = (await env.client.get(API, params={"limit": 2, "page": 2}, headers=headers)).json()
    assert [n["kind"] for n in second["items"]] == ["booking.created"]
    assert second["items"][0]["data"] == {"bookingId": "b0" * 12, "serviceId": "5e" * 12}
    first_id = page["items"][0]["id"]

    response = await env.client.patch(f"{API}/{first_id}/read", headers=headers)
    assert response.status_code == 200
    assert response.json()["read"] is True
    assert response.json()["readAt"] is not None
    assert "createdAt" in response.json()
    count = await env.client.get(f"{API}/unread-count", headers=headers)
    assert count.json() == {"count": 2}
    unread = (await env.client.get(API, params={"unread": "true"}, headers=headers)).json()
    assert unread["total"] == 2
    assert first_id not in [n["id"] for n in unread["items"]]
    read = (await env.client.get(API, params={"unread": "false"}, headers=headers)).json()
    assert [n["id"] for n in read["items"]] == [first_id]

    response = await env.client.post(f"{API}/read-all", headers=headers)
    assert response.json() == {"updated": 2}
    assert (await env.client.get(f"{API}/unread-count", headers=headers)).json() == {"count": 0}

    assert (await env.client.get(f"{API}/{first_id}", headers=headers)).status_code == 200
    assert (await env.client.delete(f"{API}/{first_id}", headers=headers)).status_code == 204
    assert (await env.client.get(f"{API}/{first_id}", headers=headers)).status_code == 404
    assert (await env.client.get(API, headers=headers)).json()["total"] == 2


async def test_other_users_notifications_are_404(env: KeelTestApp) -> None:
    owner, owner_headers = await env.signed_in()
    _other, headers = await env.signed_in()
    await _three_notifications(env, owner)
    nid = (await env.client.get(API, headers=owner_headers)).json()["items"][0]["id"]
    for method, path in [
        ("GET", f"{API}/{nid}"),
        ("PATCH", f"{API}/{nid}/read"),
        ("DELETE", f"{API}/{nid}"),
        ("GET", f"{API}/not-an-id"),
    ]:
        response = await env.client.request(method, path, headers=headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert (await env.client.get(API, headers=headers)).json()["total"] == 0
    assert (await env.client.post(f"{API}/read-all", headers=headers)).json() == {"updated": 0}
    assert (await env.client.get(f"{API}/{nid}", headers=owner_headers)).json()["read"] is False
    assert (await env.client.get(API)).status_code == 401
    too_big = await env.client.get(API, params={"limit": 101}, headers=headers)
    assert too_big.status_code == 400


async def test_user_updated_is_recorded_once_in_the_activity_log(env: KeelTestApp) -> None:
    user, headers = await env.signed_in()
    event = UserUpdated(
        user_id=str(user.id), changed=["avatar_upload_id", "name"], role="customer", verified=True
    )
    await env.keel.events.emit(event)
    await env.drain()
    await env.keel.events.emit(event)
    await env.drain()
    body = (await env.client.get(f"{API}/activity", headers=headers)).json()
    assert body["total"] == 1
    assert body["items"][0]["kind"] == "user.updated"
    assert body["items"][0]["changed"] == ["avatarUploadId", "name"]  # as the wire names them
    assert env.mailbox.messages(to=user.email) == []


async def test_the_routes_are_documented_in_openapi(env: KeelTestApp) -> None:
    paths = (await env.client.get("/schema/openapi.json")).json()["paths"]
    assert {
        "/api/notifications",
        "/api/notifications/unread-count",
        "/api/notifications/read-all",
        "/api/notifications/preferences",
        "/api/notifications/activity",
        "/api/notifications/{notification_id}",
        "/api/notifications/{notification_id}/read",
    } <= set(paths)
    assert not [p for p in paths if p.startswith("/dev")]
    assert paths["/api/notifications/preferences"]["put"]["tags"] == ["notifications"]
