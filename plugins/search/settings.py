"""Settings of the search plugin (``[plugins.search]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class SearchSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.search]`` in config.toml."""

    cache_ttl_s: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 30
    """Seconds a public search or autocomplete result stays cached in Valkey (0: no cache).

    Every index change also invalidates the cache at once, so this only bounds memory."""
    prefix_expansions: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    """At most this many vocabulary words a prefix (the query's last word) expands to."""
    reindex_batch: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 500
    """Documents written to Valkey per pipeline when reindexing."""
