"""Blocks: a user stops another seeing their presence, typing to them and reaching them.

A block works both ways for the pair (neither sees, types to or writes to the other),
and the blocked user cannot tell it from an id that does not exist (``not_found``,
``online: null``). Every process forgets, at once, what its sockets knew of the pair
(bus kind ``f``: the followed presence and the remembered contact).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.errors import NotFoundError, UnprocessableError
from plugins.accounts.api import get_user
from plugins.realtime.bus import publish
from plugins.realtime.contacts import FORGET
from plugins.realtime.models import Block

if TYPE_CHECKING:
    from core.context import Keel


async def block(keel: Keel, blocker_id: str, blocked_id: str) -> None:
    """``blocker_id`` blocks ``blocked_id`` (idempotent).

    Raises:
        NotFoundError: no such user.
        UnprocessableError: a user blocking themselves (a well-formed id, refused).
    """
    found = await get_user(keel, blocked_id)
    if found is None:
        raise NotFoundError(f"user {blocked_id[:64]} not found")
    blocked_id = str(found["_id"])  # the canonical spelling (ObjectId takes upper case too)
    if blocker_id == blocked_id:
        raise UnprocessableError(
            f"user {blocker_id} cannot block themselves", details={"userId": blocker_id}
        )
    try:
        await keel.db.get_collection(Block).insert_one(
            Block(id=ObjectId(), blocker=blocker_id, blocked=blocked_id).model_dump_doc()
        )
    except DuplicateKeyError:  # blocked already
        return
    await publish(keel, FORGET, [blocked_id], blocker_id)
    await publish(keel, FORGET, [blocker_id], blocked_id)


async def unblock(keel: Keel, blocker_id: str, blocked_id: str) -> None:
    """Undo a block (idempotent); the pair are contacts again if they were."""
    await keel.db.get_collection(Block).delete_one({"blocker": blocker_id, "blocked": blocked_id})


async def blocks_of(
    keel: Keel, blocker_id: str, *, page: int, limit: int
) -> tuple[list[Block], int]:
    """A page of the users ``blocker_id`` blocked, newest first, and their total."""
    collection = keel.db.get_collection(Block)
    total = int(await collection.count_documents({"blocker": blocker_id}))
    cursor = (
        collection.find({"blocker": blocker_id})
        .sort("created_at", -1)
        .skip((page - 1) * limit)
        .limit(limit)
    )
    return [Block.model_validate_doc(doc) async for doc in cursor], total
