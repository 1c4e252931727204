"""The one writer of a host's index: follows the change feed, commits, swaps generations.

It runs as a background task of the process that holds ``writer.lock`` (``keel worker``
or ``keel run``; see ``[plugins.search] writer``). On start it builds the index from
MongoDB when there is none, when it is of another schema or when the feed no longer
holds every change since its last commit; then it applies feed entries in batches (one
commit per batch, so at least every 200 ms under load) and swaps in finished rebuilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import tantivy
from bson import ObjectId
from bson.errors import InvalidId

from core.context import settings_of
from core.stash import StashKey
from plugins.accounts.api import get_users
from plugins.search import feed
from plugins.search._build import MB, build_from_mongo
from plugins.search._layout import FileLock, Layout
from plugins.search.documents import service_document, service_key, user_document, user_key
from plugins.search.settings import SearchSettings
from plugins.search.store import load_services

if TYPE_CHECKING:
    from core.context import Keel

BATCH = 5000
"""Feed entries applied (and committed) at most at a time."""
BLOCK_MS = 50
"""How long one read of the feed waits for a new entry."""
GAP_CHECK_S = 30.0
RETRY_S = 2.0
log = logging.getLogger("plugins.search")
Change = tuple[str, tantivy.Document | None]


class SearchWriter:
    """Keeps one index directory in step with the change feed (see the module docstring).

    Args:
        keel: the runtime context (feed, MongoDB).
        layout: the index directory.
    """

    def __init__(self, keel: Keel, layout: Layout) -> None:
        self.keel = keel
        self.layout = layout
        self.settings = settings_of(keel, SearchSettings)
        self.lock = FileLock(layout.root / "writer.lock")
        self.generation: str | None = None
        self.cursor = feed.ORIGIN
        self._writer: tantivy.IndexWriter | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, keel: Keel) -> SearchWriter:
        """This process's writer (made once, kept in ``keel.stash``)."""
        layout = Layout.of(settings_of(keel, SearchSettings).index_dir)
        return keel.stash.get_or_create(WRITER, lambda: cls(keel, layout))

    @classmethod
    async def swap_once(cls, keel: Keel, layout: Layout) -> bool:
        """Swap in the pending generation here when no process holds the writer lock.

        Returns False, doing nothing, when a writer runs (it swaps it in itself).
        """
        writer = cls(keel, layout)
        if not writer.lock.acquire():
            return False
        try:
            pending = layout.pending()
            if pending is not None:
                await writer.swap(pending)
        finally:
            await writer.close()
        return True

    def start(self) -> None:
        """Run in the background: take the lock when free, then keep the index."""
        self._task = asyncio.create_task(self._run(), name="search:writer")

    async def stop(self) -> None:
        """Stop writing and give the lock up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.close()

    async def close(self) -> None:
        """Release the index writer and the lock."""
        await self._drop_writer()
        self.lock.release()

    async def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.wait_merging_threads)

    async def _run(self) -> None:
        while True:
            if await asyncio.to_thread(self.lock.acquire):
                break
            await asyncio.sleep(RETRY_S)  # another process on this host writes
        await self._retrying(self._bootstrap, "building or opening the index")
        while True:  # a failed step (MongoDB or Valkey too slow) is retried, not restarted
            await self._retrying(self._follow, "applying the change feed")

    @staticmethod
    async def _retrying(work: Callable[[], Awaitable[None]], what: str) -> None:
        while True:
            try:
                await work()
            except Exception:
                log.exception("search: %s failed; retrying in %.0f s", what, RETRY_S)
                await asyncio.sleep(RETRY_S)
            else:
                return

    async def _bootstrap(self) -> None:
        name = self.layout.pending() or self.layout.current()
        meta = self.layout.meta(name) if name else None
        if name is None or meta is None or await feed.has_gap(self.keel, meta.cursor):
            log.info("search: building the index of %s from MongoDB", self.layout.root)
            name = (await build_from_mongo(self.keel, self.layout)).generation
        await self.swap(name)

    async def swap(self, name: str) -> None:
        """Open ``name``, replay the feed onto it from its cursor, then make it live."""
        meta = self.layout.meta(name)
        index = tantivy.Index.open(str(self.layout.path(name)))
        old = self.generation
        await self._drop_writer()  # first: ``name`` may be the generation it writes
        self._writer = await asyncio.to_thread(index.writer, self.settings.writer_heap_mb * MB, 1)
        self.generation = name
        self.cursor = meta.cursor if meta is not None else feed.ORIGIN
        while await self._step(block_ms=None):
            pass  # caught up with the feed
        if self.layout.current() != name:
            self.layout.set_current(name)
        self.layout.set_pending(None)
        if old is not None and old != name:
            log.info("search: generation %s replaced %s", name, old)
        await asyncio.to_thread(self.layout.remove_stale)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            pending = self.layout.pending()
            if pending is not None:  # also one whose swap failed half-way
                await self.swap(pending)
            await self._step(block_ms=BLOCK_MS)
            if loop.time() - checked > GAP_CHECK_S:
                checked = loop.time()
                if await feed.has_gap(self.keel, self.cursor):
                    log.warning("search: the change feed was trimmed past this index")
                    await self.swap((await build_from_mongo(self.keel, self.layout)).generation)
                await asyncio.to_thread(self.layout.remove_stale)

    async def _step(self, *, block_ms: int | None) -> bool:
        """Apply the next batch of the feed and commit; False when there was none."""
        entries = await feed.read(self.keel, self.cursor, count=BATCH, block_ms=block_ms)
        if not entries:
            return False
        changes = await self._changes(entries)
        await asyncio.to_thread(self._commit, changes)
        self.cursor = entries[-1][0]
        assert self.generation is not None  # noqa: S101 - set by swap before any step
        self.layout.set_cursor(self.generation, self.cursor)
        return True

    async def _changes(self, entries: list[feed.Entry]) -> list[Change]:
        """The current state of every document named in ``entries`` (None: remove it)."""
        services = list(dict.fromkeys(i for _, space, i in entries if space == "s"))
        users = list(dict.fromkeys(i for _, space, i in entries if space == "u"))
        changes: list[Change] = []
        stored = await load_services(self.keel, services) if services else {}
        for sid in services:
            snap = stored.get(sid)
            changes.append((service_key(sid), service_document(snap) if snap else None))
        oids = []
        for uid in users:
            with contextlib.suppress(InvalidId, TypeError):
                oids.append(ObjectId(uid))
        found = await get_users(self.keel, oids) if oids else {}
        for uid in users:
            user = found.get(uid)
            changes.append((user_key(uid), user_document(user) if user else None))
        return changes

    def _commit(self, changes: list[Change]) -> None:
        writer = self._writer
        assert writer is not None  # noqa: S101 - opened by swap
        for key, doc in changes:
            writer.delete_documents_by_term("key", key)
            if doc is not None:
                writer.add_document(doc)
        writer.commit()


WRITER = StashKey[SearchWriter]("search.writer")
"""``keel.stash`` key of the process's :class:`SearchWriter`."""
