"""A lease in MongoDB: at most one holder of a named role across the cluster at a time.

``core_leases`` holds ``{_id: <role>, owner, until}``. A holder renews before ``until``;
once it has passed (the holder died, hung or lost MongoDB), any candidate takes it over
with one conditional upsert (the unique ``_id`` lets exactly one win). It lives in MongoDB,
not Valkey, because the outbox relay that uses it must keep its role while Valkey is down.
Times are the candidates' clocks: keep them in sync (NTP) within a fraction of the term.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorCollection

    from core.context import Keel

COLLECTION = "core_leases"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_owner() -> str:
    """A unique candidate name: ``<host>:<pid>:<random>``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One candidate for role ``name``, holding it for ``term_s`` per renewal.

    Args:
        keel: the runtime context (its database).
        name: the role, e.g. ``"outbox-relay"``.
        term_s: how long one acquisition or renewal lasts.
    """

    def __init__(self, keel: Keel, name: str, term_s: float) -> None:
        self.name = name
        self.term_s = term_s
        self.owner = new_owner()
        self._coll: AsyncIOMotorCollection[Any] = keel.db.database[COLLECTION]
        self.held_until: datetime = EPOCH

    def held(self) -> bool:
        """Whether this candidate holds the role now (by its own clock)."""
        return datetime.now(UTC) < self.held_until

    async def acquire(self) -> bool:
        """Take or renew the role; False while another candidate holds it.

        Raises:
            pymongo.errors.PyMongoError: MongoDB unreachable (the role is not renewed).
        """
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self.term_s)
        try:
            await self._coll.find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": until}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            self.held_until = EPOCH
            return False
        self.held_until = until
        return True

    async def release(self) -> None:
        """Give the role up now, if held (a standby takes it at its next try)."""
        self.held_until = EPOCH
        await self._coll.update_one(
            {"_id": self.name, "owner": self.owner}, {"$set": {"until": EPOCH}}
        )

    async def holder(self) -> dict[str, Any] | None:
        """The lease document: ``{_id, owner, until}``, or None before anyone held it."""
        doc: dict[str, Any] | None = await self._coll.find_one({"_id": self.name})
        return doc
