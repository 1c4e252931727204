"""Typing, presence, rooms, messages and pushes between two app instances.

Each test runs two apps on one database and Valkey key prefix, each served by its own
uvicorn, like two ``keel serve`` processes; the two users sit on different instances.
"""

from __future__ import annotations

import asyncio
import time

from _contacts_helpers import befriend
from _realtime_helpers import BookingRef, FakeBookingCreated, FakeNotificationCreated, Serve

SHORT_TYPING = {"plugins.realtime.typing_timeout_s": 0.4}


async def test_typing_to_a_user_follows_a_room_made_after_connecting(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token("provider")  # anyone may write to a provider
        a, b = await one.client(a_token), await two.client(b_token)
        await a.send("message", {"receiverId": b_id, "text": "hi"})  # creates the room
        await b.expect("message")
        await b.send("message", {"receiverId": a_id, "text": "hello"})  # accepted: contacts
        await a.expect("message")
        # b connected before the two were contacts: its first typing finds out
        await b.send("typing", {"receiverId": a_id})
        assert (await a.expect("typing"))["userId"] == b_id
        for client in (a, b):
            await client.close()


async def test_typing_reaches_the_receiver_only(serve: Serve) -> None:
    async with serve(SHORT_TYPING) as one, serve(SHORT_TYPING) as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        _, c_token = await two.token()
        a, b, c = await one.client(a_token), await two.client(b_token), await two.client(c_token)
        # typing goes only to someone the sender talks with
        await a.send("typing", {"receiverId": b_id})
        refused = await a.expect("error")
        assert refused["code"] == "not_found"
        assert b_id in refused["message"]
        await b.absent("typing", within=0.1)
        await befriend(one.env.keel, a_id, b_id)  # a booking of the two
        await a.send("typing", {"receiverId": b_id})
        got = await b.expect("typing")
        assert got == {"userId": a_id, "receiverId": b_id, "isTyping": True, "expiresInMs": 400}
        await a.send("stopTyping", {"receiverId": b_id})
        assert (await b.expect("stopTyping"))["userId"] == a_id
        await a.absent("typing")
        await c.absent("typing", within=0.05)
        # without a refresh it ends by itself, after the timeout (0.4 s) and within 110% of it
        await a.send("typing", {"receiverId": b_id})
        await b.expect("typing")
        started = time.monotonic()
        await a.send("typing", {"receiverId": b_id})  # a refresh restarts the timeout
        await b.expect("typing")
        await b.expect("stopTyping", within=2)
        assert 0.4 <= time.monotonic() - started <= 0.44 + 0.25  # 0.25 s: a loaded machine
        # a typing user who disconnects stops typing
        await a.send("typing", {"receiverId": b_id})
        await b.expect("typing")
        await a.close()
        assert (await b.expect("stopTyping", within=0.3))["userId"] == a_id
        for client in (b, c):
            await client.close()


async def test_room_typing_reaches_joined_members_only(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        _, c_token = await two.token()
        a, b, c = await one.client(a_token), await two.client(b_token), await two.client(c_token)
        await befriend(one.env.keel, a_id, b_id)
        await a.send("joinRoom", {"userId": b_id})
        room = (await a.expect("roomJoined"))["room"]
        assert room["kind"] == "direct"
        assert sorted(room["members"]) == sorted([a_id, b_id])
        await b.send("joinRoom", {"roomId": room["id"]})
        assert (await b.expect("roomJoined"))["room"]["id"] == room["id"]
        await c.send("joinRoom", {"roomId": room["id"]})
        assert (await c.expect("error"))["code"] == "not_found"
        await c.send("typing", {"roomId": room["id"]})
        assert (await c.expect("error"))["code"] == "not_found"
        await a.send("typing", {"roomId": room["id"]})
        assert await b.expect("typing") == {
            "userId": a_id,
            "roomId": room["id"],
            "isTyping": True,
            "expiresInMs": 5000,
        }
        await a.absent("typing", within=0.2)
        await b.send("leaveRoom", {"roomId": room["id"]})
        await b.expect("roomLeft")
        await a.send("typing", {"roomId": room["id"]})
        await b.absent("typing")
        for client in (a, b, c):
            await client.close()


async def test_messages_are_stored_delivered_and_paged(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token("provider")
        a, b = await one.client(a_token), await two.client(b_token)
        await a.send("message", {"receiverId": b_id, "text": "hello", "clientId": "c1"})
        got = await b.expect("message")
        assert (got["senderId"], got["text"], got["clientId"]) == (a_id, "hello", "c1")
        assert (await a.expect("message"))["id"] == got["id"]
        room_id = got["roomId"]
        for i in range(4):
            await b.send("message", {"roomId": room_id, "text": f"reply {i}"})
            assert (await a.expect("message"))["text"] == f"reply {i}"
        await a.send("message", {"roomId": room_id, "text": "x" * 4001})
        assert (await a.expect("error"))["code"] == "invalid_data"

        _, headers = await one.env.signed_in()  # not a member
        a_headers = {"Authorization": f"Bearer {a_token}"}
        rooms = (await two.env.client.get("/api/realtime/rooms", headers=a_headers)).json()
        assert rooms["total"] == 1
        assert rooms["items"][0]["id"] == room_id
        url = f"/api/realtime/rooms/{room_id}/messages"
        first = (await two.env.client.get(url, params={"limit": 3}, headers=a_headers)).json()
        assert [m["text"] for m in first["items"]] == ["reply 3", "reply 2", "reply 1"]
        params = {"limit": 3, "before": first["nextBefore"]}
        rest = (await one.env.client.get(url, params=params, headers=a_headers)).json()
        assert [m["text"] for m in rest["items"]] == ["reply 0", "hello"]
        assert rest["nextBefore"] is None
        denied = await one.env.client.get(url, headers=headers)
        assert denied.status_code == 404
        assert (await one.env.client.get(url)).status_code == 401
        for client in (a, b):
            await client.close()


async def test_booking_room_is_for_its_customer_and_provider(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        customer_id, customer_token = await one.token()
        provider_id, provider_token = await two.token("provider")
        _, stranger_token = await two.token()
        booking_id = "65a000000000000000000001"
        booking = BookingRef(id=booking_id, customer_id=customer_id, provider_id=provider_id)
        await one.env.keel.events.emit(FakeBookingCreated(booking=booking))
        await one.env.drain()
        customer = await one.client(customer_token)
        provider = await two.client(provider_token)
        stranger = await two.client(stranger_token)
        await stranger.send("joinRoom", {"bookingId": booking_id})
        assert (await stranger.expect("error"))["code"] == "not_found"
        await customer.send("message", {"bookingId": booking_id, "text": "see you at 9"})
        got = await provider.expect("message")
        assert got["text"] == "see you at 9"
        await provider.send("joinRoom", {"bookingId": booking_id})
        room = (await provider.expect("roomJoined"))["room"]
        assert (room["kind"], room["bookingId"], room["id"]) == (
            "booking",
            booking_id,
            got["roomId"],
        )
        await stranger.absent("message", within=0.05)
        for client in (customer, provider, stranger):
            await client.close()


async def test_presence_across_instances(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        _, c_token = await two.token()
        await befriend(one.env.keel, a_id, b_id)
        watcher = await one.client(a_token)
        await watcher.send("getOnlineStatus", {"userIds": [b_id]})
        status = (await watcher.expect("onlineStatus"))["users"]
        assert status == [{"userId": b_id, "online": False, "lastSeen": None}]
        c = await two.client(c_token)  # follows nobody
        b1 = await two.client(b_token)
        assert (await watcher.expect("userOnline")) == {"userId": b_id}
        b2 = await one.client(b_token)  # a second socket on the other instance
        await b1.close()
        await watcher.absent("userOffline")
        await b2.close()
        offline = await watcher.expect("userOffline")
        assert offline["userId"] == b_id
        assert offline["lastSeen"].endswith("Z")
        await watcher.send("getOnlineStatus", {"userIds": [b_id, a_id]})
        users = (await watcher.expect("onlineStatus"))["users"]
        assert [(u["userId"], u["online"]) for u in users] == [(b_id, False), (a_id, True)]
        await c.absent("userOnline", within=0.05)
        await c.absent("userOffline", within=0.05)
        await watcher.send("getOnlineStatus", {"userIds": ["a" * 24] * 101})
        assert (await watcher.expect("error"))["code"] == "invalid_data"
        for client in (watcher, c):
            await client.close()


async def test_room_members_follow_each_others_presence(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        a = await one.client(a_token)
        await befriend(one.env.keel, a_id, b_id)
        await a.close()
        a = await one.client(a_token)  # reconnects: follows all its contacts
        b = await two.client(b_token)
        assert await a.expect("userOnline") == {"userId": b_id}
        await a.close()
        assert (await b.expect("userOffline"))["userId"] == a_id
        await b.close()


async def test_notifications_and_plugin_events_reach_the_user_anywhere(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        a, b = await one.client(a_token), await two.client(b_token)
        note = FakeNotificationCreated(
            notification_id="n1",
            user_id=b_id,
            kind="booking.created",
            title="New booking",
            data={"booking_id": "b0" * 12},
        )
        await one.env.keel.events.emit(note)
        await one.env.keel.events.drain()
        got = await b.expect("notification")
        assert (got["userId"], got["title"], got["id"]) == (b_id, "New booking", note.id)
        assert (got["notificationId"], got["kind"]) == ("n1", "booking.created")
        assert got["data"] == {"bookingId": "b0" * 12}
        assert "occurredAt" in got
        assert not [k for k in got if "_" in k]  # camelCase, like every frame
        await a.absent("notification", within=0.05)
        await a.send("shout", {"to": b_id})
        assert await b.expect("shouted") == {"from": a_id}
        for client in (a, b):
            await client.close()


async def test_concurrent_first_messages_create_one_direct_room(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        a_id, a_token = await one.token()
        b_id, b_token = await two.token()
        a, b = await one.client(a_token), await two.client(b_token)
        await befriend(one.env.keel, a_id, b_id)
        await asyncio.gather(
            a.send("message", {"receiverId": b_id, "text": "from a"}),
            b.send("message", {"receiverId": a_id, "text": "from b"}),
        )
        first, second = await a.expect("message"), await a.expect("message")
        assert first["roomId"] == second["roomId"]
        for client in (a, b):
            await client.close()
