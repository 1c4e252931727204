"""Building a whole generation: a new tantivy index filled in bulk, then published.

A generation is built under ``tmp-<name>`` and renamed when complete, so nothing ever
reads a half-built index; its ``keel.json`` records the feed position taken *before*
the data was read, so the writer replays every change made meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import msgspec
import tantivy

from core.context import settings_of
from plugins.accounts.api import count_users, iter_users
from plugins.search import feed
from plugins.search._layout import TMP, Layout
from plugins.search._schema import SCHEMA
from plugins.search.documents import service_document, user_document
from plugins.search.settings import SearchSettings
from plugins.search.store import count_services, iter_services, sync_from_bookings

if TYPE_CHECKING:
    from core.context import Keel

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after each batch."""

MB = 1_000_000


class GenerationBuilder:
    """Fills one new generation (blocking calls: run them in a thread from async code).

    Args:
        layout: the index directory.
        heap_mb: the tantivy writer's memory budget.
    """

    def __init__(self, layout: Layout, heap_mb: int) -> None:
        self.layout = layout
        self.name = layout.new_name()
        self._tmp = layout.path(TMP + self.name)
        self._tmp.mkdir(parents=True)
        self._index = tantivy.Index(SCHEMA, str(self._tmp))
        self._writer = self._index.writer(heap_mb * MB, 1)

    def add(self, docs: Iterable[tantivy.Document]) -> None:
        """Add documents (no two with the same key: the builder does not deduplicate)."""
        for doc in docs:
            self._writer.add_document(doc)

    def finish(self, cursor: str) -> str:
        """Commit, record ``cursor`` and publish the generation under its name."""
        self._writer.commit()
        self._writer.wait_merging_threads()
        self.layout.set_cursor(TMP + self.name, cursor)
        os.rename(self._tmp, self.layout.path(self.name))
        return self.name


class ReindexResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a rebuild did."""

    generation: str
    services: int
    users: int


async def build_from_mongo(
    keel: Keel, layout: Layout, progress: Progress | None = None
) -> ReindexResult:
    """Write ``search_services`` and ``users`` into a new generation (not yet live)."""
    settings = settings_of(keel, SearchSettings)
    cursor = await feed.head(keel)  # before reading: whatever changes later is replayed
    await sync_from_bookings(keel)  # services that no event brought here (search enabled late)
    total = await count_services(keel) + await count_users(keel)
    builder = await asyncio.to_thread(GenerationBuilder, layout, settings.writer_heap_mb)
    counts, done, batch = {"s": 0, "u": 0}, 0, list[tantivy.Document]()

    async def flush() -> None:
        nonlocal done, batch
        await asyncio.to_thread(builder.add, batch)
        done, batch = done + len(batch), []
        if progress is not None:
            progress(done, max(total, done))

    async for _, snap in iter_services(keel):
        counts["s"] += 1
        doc = service_document(snap) if snap is not None else None
        if doc is not None:
            batch.append(doc)
        if len(batch) >= settings.reindex_batch:
            await flush()
    async for user in iter_users(keel):
        counts["u"] += 1
        batch.append(user_document(user))
        if len(batch) >= settings.reindex_batch:
            await flush()
    await flush()
    if progress is not None:
        progress(max(total, done), max(total, done))  # tombstones and inactive count too
    name = await asyncio.to_thread(builder.finish, cursor)
    return ReindexResult(generation=name, services=counts["s"], users=counts["u"])
