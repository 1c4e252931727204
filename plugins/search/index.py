"""The shared search index in Valkey: apply changes, query, autocomplete, swap generations.

Every process reads and writes the same keys through atomic Lua scripts, so any number
of API processes and workers see one index; each public call is one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from valkey.commands.core import AsyncScript

from core.stash import StashKey
from core.valkey import awaited
from plugins.search import _bulk, _lua

if TYPE_CHECKING:
    import valkey.asyncio as valkey_async

    from core.context import Keel

_encode = msgspec.json.Encoder().encode
SCAN_BATCH = 1000


class SearchIndex:
    """One deployment's index, under ``<key prefix>:search``.

    Args:
        client: the Valkey client.
        prefix: the key prefix of the index (``keel.key("search")``).
    """

    def __init__(self, client: valkey_async.Valkey, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._apply: AsyncScript = client.register_script(_lua.APPLY)
        self._search: AsyncScript = client.register_script(_lua.SEARCH)
        self._complete: AsyncScript = client.register_script(_lua.AUTOCOMPLETE)
        self._swap: AsyncScript = client.register_script(_lua.SWAP)

    @classmethod
    def of(cls, keel: Keel) -> SearchIndex:
        """The index of ``keel`` (made once per process, kept in ``keel.stash``)."""
        return keel.stash.get_or_create(INDEX, lambda: cls(keel.valkey, keel.key("search")))

    async def ensure(self) -> bool:
        """Create the generation counter on first start; True when it did (empty index)."""
        return bool(await self.client.set(f"{self.prefix}:gen", "1", nx=True))

    async def apply(
        self, space: str, doc_id: str, revision: int, payload: dict[str, Any] | None
    ) -> int:
        """Index ``payload`` (None: deleted for good) in the live and building generations.

        Applied only when ``revision`` is newer than what the index holds, so events may
        arrive late, twice or out of order. Returns how many generations changed.
        """
        body = "" if payload is None else _encode(payload).decode()
        args: list[str | int] = [self.prefix, "live", space, doc_id, revision, body]
        applied: int = await self._apply(keys=[], args=args)
        return applied

    async def bulk_apply(
        self,
        generation: str,
        docs: Sequence[tuple[str, str, int, dict[str, Any] | None]],
        vocabulary: _bulk.Vocabulary,
    ) -> None:
        """Load ``(space, id, revision, payload)`` tuples into a generation being built.

        Plain pipelined writes, no revision check: use only on a generation no search
        reads yet, and re-apply :meth:`dirty` documents before :meth:`swap`.
        ``vocabulary`` carries the words written so far between calls of one load.
        """
        pipe = self.client.pipeline(transaction=False)
        _bulk.queue_batch(pipe, f"{self.prefix}:g{generation}:", docs, vocabulary)
        await pipe.execute()

    async def apply_to(
        self, generation: str, space: str, doc_id: str, revision: int, payload: Any
    ) -> int:
        """:meth:`apply` to one generation only (without marking it dirty)."""
        body = "" if payload is None else _encode(payload).decode()
        args: list[str | int] = [self.prefix, generation, space, doc_id, revision, body]
        applied: int = await self._apply(keys=[], args=args)
        return applied

    async def pop_dirty(self, generation: str, count: int) -> list[tuple[str, str]]:
        """Up to ``count`` ``(space, id)`` that listeners changed while ``generation`` built."""
        key = f"{self.prefix}:g{generation}:dirty"
        members: list[bytes] | None = await self.client.spop(key, count)  # type: ignore[misc]
        pairs = (m.decode().split(":", 1) for m in members or [])
        return [(space, doc_id) for space, doc_id in pairs]

    async def search(self, cache: str, ttl: int, query: dict[str, Any], tail: str) -> bytes:
        """Run one search (see ``_lua.SEARCH``); the JSON body ends with ``tail``.

        ``cache`` names the cached body (read and written only when ``ttl`` > 0).
        """
        cache = cache if ttl > 0 else ""
        body: bytes = await self._search(
            keys=[], args=[self.prefix, cache, ttl, _encode(query), tail]
        )
        return body

    async def autocomplete(
        self, cache: str, ttl: int, text: str, *, limit: int, doc: str, sets: Sequence[str]
    ) -> bytes | None:
        """Names starting with ``text`` (whole name first, then later words), or None."""
        cache = cache if ttl > 0 else ""
        args: list[str | int] = [self.prefix, cache, ttl, text, limit, doc, "}", *sets]
        body: bytes | None = await self._complete(keys=[], args=args)
        return body

    async def generation(self) -> str:
        """The live generation."""
        value = await self.client.get(f"{self.prefix}:gen")
        return value.decode() if value else "1"

    async def start_building(self) -> str:
        """A fresh generation that listeners also write to until :meth:`swap`."""
        new = str(await awaited(self.client.incr(f"{self.prefix}:gens")) + 1)
        live = int(await self.generation())
        if int(new) <= live:
            new = str(live + 1)
            await self.client.set(f"{self.prefix}:gens", new)
        await self.drop(new)
        await self.client.set(f"{self.prefix}:building", new)
        return new

    async def swap(self, generation: str) -> str | None:
        """Make ``generation`` live atomically; returns the previous one (not yet dropped).

        Returns None, changing nothing, while documents changed during the build are
        still to be re-applied (see :meth:`pop_dirty`).
        """
        old: bytes | None = await self._swap(keys=[], args=[self.prefix, generation])
        return None if old is None else old.decode()

    async def drop(self, generation: str) -> int:
        """Delete every key of ``generation``; returns how many."""
        count = 0
        pattern = f"{self.prefix}:g{generation}:*"
        async for batch in _batches(self.client.scan_iter(match=pattern, count=SCAN_BATCH)):
            count += await awaited(self.client.unlink(*batch))
        return count


INDEX = StashKey[SearchIndex]("search.index")
"""``keel.stash`` key of the process's :class:`SearchIndex`."""


async def _batches(keys: Any) -> Any:
    batch: list[bytes] = []
    async for key in keys:
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
