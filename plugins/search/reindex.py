"""Rebuild the index from MongoDB into a new generation, then swap it in atomically.

Searches keep reading the live generation while the new one fills with fast bulk writes.
Listeners write to both generations meanwhile and mark what they touched as dirty in
the new one; those documents are re-applied from MongoDB (revision-checked) before the
swap, which only happens once nothing is dirty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from core.context import settings_of
from core.errors import ConflictError
from plugins.accounts.api import count_users, get_user, iter_users
from plugins.search._bulk import Vocabulary
from plugins.search.documents import service_payload, user_payload, user_revision
from plugins.search.index import SearchIndex
from plugins.search.settings import SearchSettings
from plugins.search.store import TOMBSTONE, count_services, iter_services, load_service

if TYPE_CHECKING:
    from core.context import Keel

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after each batch."""
Row = tuple[str, str, int, dict[str, Any] | None]
LOCK_TTL_S = 3600
DIRTY_BATCH = 500
log = logging.getLogger("plugins.search")


class ReindexResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a rebuild did."""

    generation: str
    services: int
    users: int
    dropped_keys: int


async def _rows(keel: Keel, counts: dict[str, int]) -> AsyncIterator[Row]:
    async for sid, snap in iter_services(keel):
        counts["s"] += 1
        if snap is None:
            yield "s", sid, TOMBSTONE, None
        else:
            yield "s", sid, snap.revision, service_payload(snap)
    async for doc in iter_users(keel):
        counts["u"] += 1
        yield "u", str(doc["_id"]), user_revision(doc), user_payload(doc)


async def _load(keel: Keel, generation: str, progress: Progress | None) -> dict[str, int]:
    """Bulk-write every document into ``generation``; one batch in flight while the next
    is prepared."""
    index = SearchIndex.of(keel)
    size = settings_of(keel, SearchSettings).reindex_batch
    total = await count_services(keel) + await count_users(keel)
    counts, vocabulary, batch = {"s": 0, "u": 0}, Vocabulary(), list[Row]()
    pending: asyncio.Task[None] | None = None
    done = 0
    async for row in _rows(keel, counts):
        batch.append(row)
        if len(batch) >= size:
            if pending is not None:
                await pending
            pending = asyncio.create_task(index.bulk_apply(generation, batch, vocabulary))
            done, batch = done + len(batch), []
            if progress is not None:
                progress(done, max(total, done))
    if pending is not None:
        await pending
    await index.bulk_apply(generation, batch, vocabulary)
    if progress is not None:
        progress(done + len(batch), max(total, done + len(batch)))
    return counts


async def _reapply(keel: Keel, generation: str, space: str, doc_id: str) -> None:
    index = SearchIndex.of(keel)
    if space == "s":
        known, snap = await load_service(keel, doc_id)
        if known:
            payload = None if snap is None else service_payload(snap)
            revision = TOMBSTONE if snap is None else snap.revision
            await index.apply_to(generation, "s", doc_id, revision, payload)
        return
    doc = await get_user(keel, doc_id)
    if doc is None:
        await index.apply_to(generation, "u", doc_id, TOMBSTONE, None)
    else:
        await index.apply_to(generation, "u", doc_id, user_revision(doc), user_payload(doc))


async def _swap_when_clean(keel: Keel, generation: str) -> str:
    index = SearchIndex.of(keel)
    while True:
        dirty = await index.pop_dirty(generation, DIRTY_BATCH)
        for space, doc_id in dirty:
            await _reapply(keel, generation, space, doc_id)
        if not dirty:
            old = await index.swap(generation)
            if old is not None:
                return old


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
        generation = await index.start_building()
        counts = await _load(keel, generation, progress)
        old = await _swap_when_clean(keel, generation)
        dropped = await index.drop(old) if old != generation else 0
    finally:
        await keel.valkey.delete(lock)
    log.info("search: reindexed %d services and %d users", counts["s"], counts["u"])
    return ReindexResult(
        generation=generation, services=counts["s"], users=counts["u"], dropped_keys=dropped
    )


async def reindex_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """The ``search.reindex`` job."""
    result = await reindex(ctx["keel"])
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]
