"""The index as this process reads it: the live generation, reloaded every ``refresh_ms``.

Every process (each ``keel serve`` worker, the worker, ``keel run``) has one reader; the
writer's commits and generation swaps reach it through the files of the index directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import tantivy

from core.context import settings_of
from core.stash import StashKey
from plugins.search._layout import Layout
from plugins.search.feed import ORIGIN, order
from plugins.search.settings import SearchSettings

if TYPE_CHECKING:
    from core.context import Keel

log = logging.getLogger("plugins.search")


class SearchReader:
    """The live generation of one index directory, opened read-only.

    Args:
        layout: the index directory.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.generation: str | None = None
        self.index: tantivy.Index | None = None
        self.searcher: tantivy.Searcher | None = None
        """The searcher of the latest refresh (None while no index exists yet)."""
        self.cursor = ORIGIN
        """The feed position the current searcher includes, at least."""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, keel: Keel) -> SearchReader:
        """This process's reader (made once, kept in ``keel.stash``)."""
        layout = Layout.of(settings_of(keel, SearchSettings).index_dir, create=False)
        return keel.stash.get_or_create(READER, lambda: cls(layout))

    def refresh(self) -> None:
        """Follow a swapped generation and load the latest commit (blocking, ~0.2 ms)."""
        name = self.layout.current()
        if name is None:
            return
        meta = self.layout.meta(name)  # read before reloading: the commit is older
        if name != self.generation or self.index is None:
            index = tantivy.Index.open(str(self.layout.path(name)))
            index.config_reader("manual", 0)
            self.index, self.generation = index, name
        else:
            self.index.reload()
        self.searcher = self.index.searcher()
        self.cursor = meta.cursor if meta is not None else ORIGIN

    async def start(self, interval_s: float) -> None:
        """Refresh now and then every ``interval_s`` in the background."""
        await asyncio.to_thread(self._refresh_quietly)
        self._task = asyncio.create_task(self._loop(interval_s), name="search:reader")

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except (ValueError, OSError) as exc:  # a generation removed under us: reopen next time
            log.warning("search: could not refresh the index reader: %s", exc)
            self.generation = None

    async def _loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self._refresh_quietly()

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, cursor: str, timeout_s: float = 10.0) -> bool:
        """Wait until the searcher includes the feed up to ``cursor``; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            self._refresh_quietly()
            if self.searcher is not None and order(self.cursor) >= order(cursor):
                return True
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)


READER = StashKey[SearchReader]("search.reader")
"""``keel.stash`` key of the process's :class:`SearchReader`."""
