"""Rebuild the index from MongoDB into a new generation, then swap it in atomically.

Searches keep reading the live generation while the new one fills; listeners write to
both meanwhile, and the revision check stops the rebuild from overwriting a newer
change with the older copy it read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from core.accounts.documents import User
from core.errors import ConflictError
from plugins.search.documents import service_payload, user_payload, user_revision
from plugins.search.index import SearchIndex
from plugins.search.store import TOMBSTONE, count_services, iter_services

if TYPE_CHECKING:
    from core.context import Keel

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after each batch."""
LOCK_TTL_S = 3600
log = logging.getLogger("plugins.search")


class ReindexResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a rebuild did."""

    generation: str
    services: int
    users: int
    dropped_keys: int


async def reindex(keel: Keel, progress: Progress | None = None) -> ReindexResult:
    """Rebuild the whole index from ``search_services`` and ``users``; one at a time.

    Raises:
        ConflictError: another rebuild is running.
    """
    index = SearchIndex.of(keel)
    lock = keel.key("search", "reindex-lock")
    if not await keel.valkey.set(lock, "1", nx=True, ex=LOCK_TTL_S):
        raise ConflictError("a search reindex is already running")
    try:
        await index.ensure()
        batch_size: int = keel.host.plugins["search"].settings.reindex_batch
        users = keel.db.get_collection(User)
        total = await count_services(keel) + await users.count_documents({})
        generation = await index.start_building()
        done, batch = 0, []
        n_services = n_users = 0
        async for sid, snap in iter_services(keel):
            n_services += 1
            row = (
                ("s", sid, TOMBSTONE, None)
                if snap is None
                else ("s", sid, snap.revision, service_payload(snap))
            )
            batch.append(row)
            done = await _flush(index, generation, batch, batch_size, done, total, progress)
        async for doc in users.find({}):
            n_users += 1
            batch.append(("u", str(doc["_id"]), user_revision(doc), user_payload(doc)))
            done = await _flush(index, generation, batch, batch_size, done, total, progress)
        await _flush(index, generation, batch, 0, done, total, progress)
        old = await index.swap(generation)
        dropped = await index.drop(old) if old != generation else 0
    finally:
        await keel.valkey.delete(lock)
    log.info("search: reindexed %d services and %d users", n_services, n_users)
    return ReindexResult(
        generation=generation, services=n_services, users=n_users, dropped_keys=dropped
    )


async def _flush(  # noqa: PLR0917 - a private step of reindex
    index: SearchIndex,
    generation: str,
    batch: list[Any],
    size: int,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    if not batch or len(batch) < size:
        return done
    await index.bulk_apply(generation, batch)
    done += len(batch)
    batch.clear()
    if progress is not None:
        progress(done, max(total, done))
    return done


async def reindex_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """The ``search.reindex`` job."""
    result = await reindex(ctx["keel"])
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]
