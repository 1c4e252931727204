"""``facets=category,price``: category counts and price buckets of every match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from plugins.search.schemas import CategoryCount, Facets, PriceBucket

if TYPE_CHECKING:
    import tantivy

    from plugins.search.settings import SearchSettings

MAX_CATEGORIES = 50
_encode = msgspec.json.Encoder().encode


def _buckets(edges: Sequence[int], counts: dict[int, int]) -> list[PriceBucket]:
    lows = [0, *edges]
    highs: list[int | None] = [*edges, None]
    return [
        PriceBucket(min=lo, max=hi, count=counts.get(lo, 0))
        for lo, hi in zip(lows, highs, strict=True)
    ]


def _aggregate(
    searcher: tantivy.Searcher, query: tantivy.Query, wanted: Sequence[str], edges: Sequence[int]
) -> dict[str, Any]:
    aggs: dict[str, Any] = {}
    if "category" in wanted:
        aggs["category"] = {"terms": {"field": "cat_label", "size": MAX_CATEGORIES}}
    if "price" in wanted:
        lows = [0, *edges]
        highs: list[int | None] = [*edges, None]
        ranges = [
            {"from": lo, **({"to": hi} if hi is not None else {})}
            for lo, hi in zip(lows, highs, strict=True)
        ]
        aggs["price"] = {"range": {"field": "price", "ranges": ranges}}
    return searcher.aggregate(query, aggs)


def facets_json(
    searcher: tantivy.Searcher | None,
    query: tantivy.Query | None,
    wanted: Sequence[str],
    settings: SearchSettings,
) -> bytes:
    """``,"facets":{...}`` for the matches of ``query`` (empty when nothing is wanted;
    zero counts when there is no searcher or query)."""
    if not wanted:
        return b""
    edges = sorted(set(settings.price_buckets))
    result = _aggregate(searcher, query, wanted, edges) if searcher and query else {}
    category = None
    if "category" in wanted:
        buckets = result.get("category", {}).get("buckets", [])
        category = [CategoryCount(value=str(b["key"]), count=int(b["doc_count"])) for b in buckets]
    price = None
    if "price" in wanted:
        counts = {
            int(b.get("from", 0)): int(b["doc_count"])
            for b in result.get("price", {}).get("buckets", [])
        }
        price = _buckets(edges, counts)
    return b',"facets":' + _encode(Facets(category=category, price=price))
