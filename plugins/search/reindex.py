"""Rebuilding this host's index from MongoDB into a new generation, then swapping it in.

Searches keep reading the live generation meanwhile. The rebuild notes the change feed's
head before reading MongoDB; the writer replays the feed from there onto the new
generation before making it live, so no change made during the rebuild is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from core.context import settings_of
from core.errors import ConflictError, ServiceUnavailableError
from plugins.search._build import Progress, ReindexResult, build_from_mongo

__all__ = ["ReindexResult", "reindex", "reindex_job"]
from plugins.search._layout import FileLock, Layout
from plugins.search.settings import SearchSettings
from plugins.search.writer import SearchWriter

if TYPE_CHECKING:
    from core.context import Keel

SWAP_TIMEOUT_S = 120.0
log = logging.getLogger("plugins.search")


async def reindex(keel: Keel, progress: Progress | None = None) -> ReindexResult:
    """Rebuild this host's index and swap it in; one rebuild at a time per index directory.

    The swap is made by the host's writer (``keel worker`` or ``keel run``); when no
    writer runs, by this process itself.

    Raises:
        ConflictError: another rebuild of this index directory is running.
        ServiceUnavailableError: the writer did not swap the new generation in.
    """
    layout = Layout.of(settings_of(keel, SearchSettings).index_dir)
    lock = FileLock(layout.root / "reindex.lock")
    if not await asyncio.to_thread(lock.acquire):
        raise ConflictError("a search reindex is already running")
    try:
        result = await build_from_mongo(keel, layout, progress)
        layout.set_pending(result.generation)
        if not await SearchWriter.swap_once(keel, layout):
            await _wait_swapped(layout, result.generation)
    finally:
        lock.release()
    log.info("search: reindexed %d services and %d users", result.services, result.users)
    return result


async def _wait_swapped(layout: Layout, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SWAP_TIMEOUT_S
    while layout.current() != name:
        if loop.time() > deadline:
            raise ServiceUnavailableError(f"the search index writer did not swap in {name!r}")
        await asyncio.sleep(0.05)


async def reindex_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """The ``search.reindex`` job: rebuilds the index of the host whose worker runs it."""
    result = await reindex(ctx["keel"])
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]
