"""A contact that lapses while sockets are open: they stop sharing presence and typing.

A cancelled booking keeps its pair contacts for 30 days; open sockets learn the lapse
within ``contacts_check_s`` (blocks reach them at once: see ``test_privacy``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from _realtime_helpers import Serve
from bson import ObjectId
from test_privacy import Snapshot

from core.clock import utcnow
from plugins.realtime.contacts import CANCELLED_GRACE, record_booking

LAPSES_IN_S = 2.0


async def test_open_sockets_forget_a_contact_whose_grace_ran_out(serve: Serve) -> None:
    async with serve({"plugins.realtime.contacts_check_s": 0.5}) as served:
        a_id, a_token = await served.token()
        b_id, b_token = await served.token()
        c_id, c_token = await served.token()
        cancelled = utcnow() - CANCELLED_GRACE + timedelta(seconds=LAPSES_IN_S)
        for other in (b_id, c_id):  # a's booking with b lapses soon; with c it stays
            status = "cancelled" if other == b_id else "confirmed"
            await record_booking(served.env.keel, Snapshot(
                id=str(ObjectId()), customer_id=a_id, provider_id=other, status=status,
                updated_at=cancelled,
            ))  # fmt: skip
        a = await served.client(a_token)
        b, c = await served.client(b_token), await served.client(c_token)
        await a.send("getOnlineStatus", {"userIds": [b_id, c_id]})
        shown = (await a.expect("onlineStatus"))["users"]
        assert [u["online"] for u in shown] == [True, True]
        await a.send("typing", {"receiverId": b_id})
        assert (await b.expect("typing"))["userId"] == a_id

        await asyncio.sleep(LAPSES_IN_S + 1.0)  # the grace ends, then a check runs
        await a.send("typing", {"receiverId": b_id})
        assert (await a.expect("error"))["code"] == "not_found"
        await b.send("typing", {"receiverId": a_id})
        assert (await b.expect("error"))["code"] == "not_found"
        await b.close()
        await c.close()
        offline = await a.expect("userOffline")  # c's, still a contact; b's never comes
        assert offline["userId"] == c_id
        await a.absent("userOffline", within=0.5)
        await a.close()
