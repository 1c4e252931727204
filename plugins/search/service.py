"""Search, service search and autocomplete: turn validated parameters into index queries.

Queries run on this process's reader, on the event loop (about a millisecond each);
bodies are stored in the index as finished JSON, so a page is only joined here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import tantivy

from plugins.search import _query as q
from plugins.search._facets import facets_json
from plugins.search._schema import SERVICE_FIELDS, USER_FIELDS
from plugins.search.reader import SearchReader
from plugins.search.text import phrase

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.search.settings import SearchSettings

SortBy = Literal["relevance", "price", "createdAt", "rating"]
SortOrder = Literal["asc", "desc"]
SearchType = Literal["all", "users", "services"]
Facet = Literal["category", "price"]
_SORT_FIELDS: dict[str, str | None] = {
    "relevance": None,
    "price": "price",
    "createdAt": "created",
    "rating": "rating",
}


@dataclass(frozen=True, slots=True)
class ServiceQuery:
    """Validated parameters of ``GET /api/search/services``."""

    query: str = ""
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    min_rating: float | None = None
    sort_by: SortBy = "relevance"
    sort_order: SortOrder | None = None
    page: int = 1
    limit: int = 20
    facets: tuple[Facet, ...] = ()


def _tail(page: int, limit: int) -> bytes:
    return b',"page":%d,"limit":%d' % (page, limit)


def _page_json(found: q.Page, page: int, limit: int, extra: bytes = b"") -> bytes:
    items = b",".join(found.bodies)
    return b'{"items":[%s],"total":%d%s%s}' % (items, found.total, _tail(page, limit), extra)


def _service_filter(schema: tantivy.Schema, params: ServiceQuery) -> list[tantivy.Query] | None:
    """The filters of ``params`` (None: they match nothing)."""
    parts = [q.term(schema, "space", "s")]
    if params.category is not None:
        parts.append(q.term(schema, "cat", phrase(params.category)))
    if params.min_price is not None or params.max_price is not None:
        low, high = params.min_price, params.max_price
        if low is not None and high is not None and low > high:
            return None
        parts.append(q.int_range(schema, "price", params.min_price, params.max_price))
    if params.min_rating is not None:
        parts.append(q.float_range(schema, "rating", params.min_rating))
    return parts


def _services(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    params: ServiceQuery,
    settings: SearchSettings,
) -> bytes:
    words = q.words_of(params.query)
    filters = _service_filter(schema, params)
    if (params.query.strip() and not words) or filters is None:
        empty = q.Page([], 0)
        return _page_json(
            empty, params.page, params.limit, facets_json(None, None, params.facets, settings)
        )
    query = q.conjunction([*(q.word_query(schema, w, SERVICE_FIELDS) for w in words), *filters])
    sort = _SORT_FIELDS[params.sort_by] or (None if words else "created")
    desc = (params.sort_order or ("asc" if params.sort_by == "price" else "desc")) == "desc"
    offset = (params.page - 1) * params.limit
    found = q.page(searcher, query, sort, desc, offset, params.limit, "body")
    extra = facets_json(searcher, query, params.facets, settings)
    return _page_json(found, params.page, params.limit, extra)


Work = Callable[[tantivy.Searcher, tantivy.Schema], bytes]


def run_search(keel: Keel, work: Work) -> bytes | None:
    """``work(searcher, schema)`` on the latest searcher; None while there is no index.

    Runs on the event loop: a query takes about a millisecond, and handing it to a thread
    cost more than it saved (the benchmark: -40% req/s with ``asyncio.to_thread``)."""
    reader = SearchReader.of(keel)
    searcher, index = reader.searcher, reader.index
    if searcher is None or index is None:
        return None
    return work(searcher, index.schema)


async def search_services(keel: Keel, settings: SearchSettings, params: ServiceQuery) -> bytes:
    """One page of active services matching ``params`` (a JSON ``ServicePage``)."""
    body = run_search(keel, lambda s, schema: _services(s, schema, params, settings))
    if body is None:
        return _page_json(
            q.Page([], 0),
            params.page,
            params.limit,
            facets_json(None, None, params.facets, settings),
        )
    return body


def _user_query(schema: tantivy.Schema, words: list[q.Word], admin: bool) -> tantivy.Query:
    fields = USER_FIELDS if admin else USER_FIELDS[:1]
    parts = [q.word_query(schema, w, fields) for w in words]
    parts.append(q.term(schema, "space", "u"))
    if not admin:
        parts.append(q.term(schema, "flag", "provider"))
    return q.conjunction(parts)


async def search_users(keel: Keel, query: str, *, admin: bool, page: int, limit: int) -> bytes:
    """Users by name (providers only, public profile) or, for admins, anyone by name or email."""
    words = q.words_of(query)
    empty = _page_json(q.Page([], 0), page, limit)
    if not words:
        return empty

    def work(searcher: tantivy.Searcher, schema: tantivy.Schema) -> bytes:
        found = q.page(
            searcher,
            _user_query(schema, words, admin),
            None,
            True,
            (page - 1) * limit,
            limit,
            "body_x" if admin else "body",
        )
        return _page_json(found, page, limit)

    return run_search(keel, work) or empty


async def search_all(
    keel: Keel,
    settings: SearchSettings,
    query: str,
    *,
    kind: SearchType,
    admin: bool,
    page: int,
    limit: int,
) -> bytes:
    """Services and/or users matching ``query``, grouped by type (a JSON ``GlobalResults``)."""
    parts: list[bytes] = []
    if kind in {"all", "services"}:
        services = ServiceQuery(query=query, page=page, limit=limit)
        parts.append(b'"services":' + await search_services(keel, settings, services))
    if kind in {"all", "users"}:
        users = await search_users(keel, query, admin=admin, page=page, limit=limit)
        parts.append(b'"users":' + users)
    return b"{" + b",".join(parts) + b"}"
