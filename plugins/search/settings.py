"""Settings of the search plugin (``[plugins.search]``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class SearchSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.search]`` in config.toml."""

    index_dir: str = "./var/search"
    """This host's index: one tantivy index per generation under it (local disk)."""
    writer: Literal["auto", "always", "never"] = "auto"
    """Who keeps the index: ``auto`` = a process running queue workers (``keel worker``,
    ``keel run``); ``always`` = this process too (tests, a single all-in-one process);
    ``never`` = only read it. One writer per index at a time (a file lock)."""
    refresh_ms: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 100
    """How often every process looks for the writer's latest commit."""
    feed_max_len: Annotated[int, msgspec.Meta(ge=100, le=10_000_000)] = 200_000
    """Changes kept in the Valkey change feed; a host further behind rebuilds from MongoDB."""
    writer_heap_mb: Annotated[int, msgspec.Meta(ge=15, le=4096)] = 64
    """Memory of the index writer (tantivy's heap) before it flushes a segment."""
    reindex_batch: Annotated[int, msgspec.Meta(ge=10, le=100_000)] = 2000
    """Documents handed to the index writer at a time when rebuilding the index."""
    price_buckets: list[Annotated[int, msgspec.Meta(ge=1)]] = msgspec.field(
        default_factory=lambda: [1000, 2500, 5000, 10_000, 25_000, 50_000]
    )
    """Edges (minor units, ascending) of the price buckets of ``facets=price``."""
