"""Privacy and abuse limits: presence, typing and conversations only between contacts.

Contacts share a booking (learned from ``booking.*`` events) or an accepted direct
conversation; anyone may write to a provider; blocks cut a pair off both ways.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from _contacts_helpers import befriend
from _realtime_helpers import BookingRef, FakeBookingCreated, Serve, Served
from bson import ObjectId

from core.clock import utcnow
from plugins.realtime.contacts import are_contacts, record_booking

NOBODY = "c" * 24
NULL = {"online": None, "lastSeen": None}


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a ``BookingSnapshot`` that realtime reads."""

    id: str
    customer_id: str
    provider_id: str
    status: str
    updated_at: datetime


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _rooms(served: Served) -> int:
    return int(await served.env.keel.db.database["realtime_rooms"].count_documents({}))


async def test_a_stranger_sees_and_reaches_nothing_of_a_customer(serve: Serve) -> None:
    async with serve() as served:
        customer_id, customer_token = await served.token()
        _, stranger_token = await served.token()
        customer = await served.client(customer_token)
        stranger = await served.client(stranger_token)
        await stranger.send("getOnlineStatus", {"userIds": [customer_id, NOBODY]})
        users = (await stranger.expect("onlineStatus"))["users"]
        # the online customer looks exactly like an id that does not exist
        assert users == [{"userId": customer_id, **NULL}, {"userId": NOBODY, **NULL}]
        for event, data in (
            ("joinRoom", {"userId": customer_id}),
            ("message", {"receiverId": customer_id, "text": "hi"}),
            ("typing", {"receiverId": customer_id}),
            ("joinRoom", {"userId": NOBODY}),
            ("message", {"receiverId": NOBODY, "text": "hi"}),
        ):
            await stranger.send(event, data)
            assert (await stranger.expect("error"))["code"] == "not_found", (event, data)
        assert await _rooms(served) == 0  # nothing stored
        await customer.absent("message", within=0.05)
        await customer.absent("typing", within=0.05)
        await customer.close()
        await stranger.absent("userOffline")
        await stranger.close()


async def test_anyone_may_write_to_a_provider_who_becomes_a_contact_by_replying(
    serve: Serve,
) -> None:
    async with serve() as served:
        provider_id, provider_token = await served.token("provider")
        customer_id, customer_token = await served.token()
        provider = await served.client(provider_token)
        customer = await served.client(customer_token)
        await customer.send("joinRoom", {"userId": provider_id})
        room = (await customer.expect("roomJoined"))["room"]
        # not a contact yet: no presence, no typing
        await customer.send("getOnlineStatus", {"userIds": [provider_id]})
        assert (await customer.expect("onlineStatus"))["users"][0]["online"] is None
        await customer.send("typing", {"roomId": room["id"]})
        assert (await customer.expect("error"))["code"] == "not_found"
        await customer.send("message", {"roomId": room["id"], "text": "is 9 free?"})
        assert (await provider.expect("message"))["text"] == "is 9 free?"
        await provider.send("message", {"receiverId": customer_id, "text": "yes"})
        reply = await customer.expect("message", where=lambda m: m["senderId"] == provider_id)
        assert reply["text"] == "yes"
        # accepted: they are contacts now
        await customer.send("getOnlineStatus", {"userIds": [provider_id]})
        assert (await customer.expect("onlineStatus"))["users"][0]["online"] is True
        await provider.send("typing", {"receiverId": customer_id})
        assert (await customer.expect("typing"))["userId"] == provider_id
        await provider.close()
        assert (await customer.expect("userOffline"))["userId"] == provider_id
        await customer.close()


async def test_a_shared_booking_makes_contacts(serve: Serve) -> None:
    async with serve() as served:
        a_id, a_token = await served.token()
        b_id, b_token = await served.token()
        a = await served.client(a_token)
        booking = BookingRef(id=str(ObjectId()), customer_id=a_id, provider_id=b_id)
        await served.env.keel.events.emit(FakeBookingCreated(booking=booking))
        await served.env.drain()
        await a.send("getOnlineStatus", {"userIds": [b_id]})
        assert (await a.expect("onlineStatus"))["users"] == [
            {"userId": b_id, "online": False, "lastSeen": None}
        ]
        b = await served.client(b_token)
        assert await a.expect("userOnline") == {"userId": b_id}
        await b.send("joinRoom", {"userId": a_id})  # a customer, but a contact
        await b.expect("roomJoined")
        await b.send("typing", {"receiverId": a_id})
        assert (await a.expect("typing"))["userId"] == b_id
        for client in (a, b):
            await client.close()


async def test_a_cancelled_booking_keeps_contacts_for_30_days(serve: Serve) -> None:
    async with serve() as served:
        keel = served.env.keel
        a_id, b_id, c_id = (str(ObjectId()) for _ in range(3))
        recent, old = str(ObjectId()), str(ObjectId())
        now = utcnow()
        await record_booking(keel, Snapshot(
            id=recent, customer_id=a_id, provider_id=b_id, status="cancelled",
            updated_at=now - timedelta(days=29),
        ))  # fmt: skip
        cancelled = Snapshot(
            id=old, customer_id=a_id, provider_id=c_id, status="cancelled",
            updated_at=now - timedelta(days=31),
        )  # fmt: skip
        await record_booking(keel, cancelled)
        # a late `booking.created` does not revive a cancelled booking
        await record_booking(keel, msgspec.structs.replace(cancelled, status="pending"))
        assert await are_contacts(keel, a_id, b_id)
        assert not await are_contacts(keel, a_id, c_id)
        await record_booking(keel, Snapshot(
            id=str(ObjectId()), customer_id=c_id, provider_id=a_id, status="confirmed",
            updated_at=now,
        ))  # fmt: skip
        assert await are_contacts(keel, a_id, c_id)


async def test_blocking_cuts_presence_typing_and_messages(serve: Serve) -> None:
    async with serve() as served:
        a_id, a_token = await served.token()
        b_id, b_token = await served.token("provider")
        await befriend(served.env.keel, a_id, b_id)
        a, b = await served.client(a_token), await served.client(b_token)
        await b.send("joinRoom", {"userId": a_id})
        room_id = (await b.expect("roomJoined"))["room"]["id"]
        await a.send("getOnlineStatus", {"userIds": [b_id]})
        assert (await a.expect("onlineStatus"))["users"][0]["online"] is True
        http = served.env.client

        assert (
            await http.post(f"/api/realtime/blocks/{a_id}", headers=_auth(b_token))
        ).status_code == 204
        assert (
            await http.post(f"/api/realtime/blocks/{NOBODY}", headers=_auth(b_token))
        ).status_code == 404
        for me in (b_id, b_id.upper()):  # blocking oneself: well-formed, refused
            refused = await http.post(f"/api/realtime/blocks/{me}", headers=_auth(b_token))
            assert refused.status_code == 422
            assert refused.json()["error"]["code"] == "unprocessable_entity"
        # an upper-case spelling names the same user, stored once, in lower case
        assert (
            await http.post(f"/api/realtime/blocks/{a_id.upper()}", headers=_auth(b_token))
        ).status_code == 204
        listed = (await http.get("/api/realtime/blocks", headers=_auth(b_token))).json()
        assert listed["total"] == 1
        assert (listed["page"], listed["limit"]) == (1, 20)
        assert [i["userId"] for i in listed["items"]] == [a_id]

        # the blocked user: as if the blocker did not exist
        await a.send("getOnlineStatus", {"userIds": [b_id]})
        assert (await a.expect("onlineStatus"))["users"] == [{"userId": b_id, **NULL}]
        for event, data in (
            ("joinRoom", {"userId": b_id}),
            ("joinRoom", {"roomId": room_id}),
            ("message", {"receiverId": b_id, "text": "hi"}),
            ("message", {"roomId": room_id, "text": "hi"}),
            ("typing", {"receiverId": b_id}),
        ):
            await a.send(event, data)
            assert (await a.expect("error"))["code"] == "not_found", (event, data)
        # and nothing of the blocker reaches them
        for event, data in (
            ("message", {"roomId": room_id, "text": "hi"}),
            ("typing", {"roomId": room_id}),
            ("typing", {"receiverId": a_id}),
        ):
            await b.send(event, data)
            assert (await b.expect("error"))["code"] == "not_found", (event, data)
        await b.close()
        await a.absent("userOffline")
        await a.absent("message", within=0.05)
        await a.absent("typing", within=0.05)

        assert (
            await http.delete(f"/api/realtime/blocks/{a_id}", headers=_auth(b_token))
        ).status_code == 204
        assert (await http.get("/api/realtime/blocks", headers=_auth(b_token))).json()["total"] == 0
        await a.send("getOnlineStatus", {"userIds": [b_id]})
        assert (await a.expect("onlineStatus"))["users"][0]["online"] is False
        await a.close()


async def test_a_deleted_account_is_nobody(serve: Serve) -> None:
    async with serve() as served:
        a_id, a_token = await served.token()
        b_id, b_token = await served.token("provider")
        await befriend(served.env.keel, a_id, b_id)
        a = await served.client(a_token)
        deleted = await served.env.client.delete(f"/api/users/{b_id}", headers=_auth(b_token))
        assert deleted.status_code == 204
        await served.env.drain()
        await a.send("getOnlineStatus", {"userIds": [b_id]})
        assert (await a.expect("onlineStatus"))["users"] == [{"userId": b_id, **NULL}]
        await a.send("joinRoom", {"userId": b_id})
        assert (await a.expect("error"))["code"] == "not_found"
        assert await _rooms(served) == 0
        await a.close()


async def test_a_room_stored_before_the_contact_rules_still_works(serve: Serve) -> None:
    """Rooms written by an earlier keel have no ``spoke`` field: they read as if nobody had
    written yet, and messages flow (a bench found this)."""
    async with serve() as served:
        provider_id, provider_token = await served.token("provider")
        customer_id, customer_token = await served.token()
        members = sorted([provider_id, customer_id])
        now = utcnow()
        legacy = {
            "key": "direct:{}:{}".format(*members),
            "kind": "direct",
            "members": members,
            "booking_id": None,
            "created_at": now,
            "last_message_at": now,
        }
        db = served.env.keel.mongo[served.env.settings.database.name]
        room_id = str((await db["realtime_rooms"].insert_one(legacy)).inserted_id)
        provider = await served.client(provider_token)
        customer = await served.client(customer_token)
        await customer.send("message", {"roomId": room_id, "text": "still there?"})
        assert (await provider.expect("message"))["text"] == "still there?"
        await provider.close()
        await customer.close()
