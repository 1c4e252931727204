"""Search, service search and autocomplete: turn validated parameters into index queries.

Bodies come back from Valkey as finished JSON (cached there too), so the hot path never
decodes or re-encodes a result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from core.errors import BadRequestError
from plugins.search.documents import category_key
from plugins.search.index import SearchIndex
from plugins.search.text import MAX_QUERY_WORDS, normalize, phrase, tokens, typos_allowed

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.search.settings import SearchSettings

SortBy = Literal["relevance", "price", "createdAt", "rating"]
SortOrder = Literal["asc", "desc"]
SearchType = Literal["all", "users", "services"]
AUTOCOMPLETE_MIN = 2
_SORT_FIELDS = {"relevance": "", "price": "price", "createdAt": "created", "rating": "rating"}
_FAR = 1e18
_encode = msgspec.json.Encoder().encode


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


def _words(query: str) -> list[dict[str, Any]]:
    words = tokens(query)[:MAX_QUERY_WORDS]
    open_end = not query[-1:].isspace()
    last = len(words) - 1
    return [
        {"w": w, "pre": i == last and open_end, "k": typos_allowed(w)} for i, w in enumerate(words)
    ]


def _cache_key(kind: str, query: dict[str, Any], tail: str) -> str:
    digest = hashlib.blake2b(_encode(query) + tail.encode(), digest_size=12).hexdigest()
    return f"{kind}:{digest}"


def _tail(page: int, limit: int) -> str:
    return f',"page":{page},"limit":{limit}}}'


def _empty(page: int, limit: int) -> bytes:
    return b'{"items":[],"total":0' + _tail(page, limit).encode()


async def _run(
    keel: Keel, settings: SearchSettings, kind: str, q: dict[str, Any], tail: str
) -> bytes:
    index = SearchIndex.of(keel)
    return await index.search(_cache_key(kind, q, tail), settings.cache_ttl_s, q, tail)


async def search_services(keel: Keel, settings: SearchSettings, params: ServiceQuery) -> bytes:
    """One page of active services matching ``params`` (a JSON ``ServicePage``)."""
    words = _words(params.query)
    if params.query.strip() and not words:
        return _empty(params.page, params.limit)  # only separators: matches nothing
    ranges: list[list[Any]] = []
    if params.min_price is not None or params.max_price is not None:
        low = -_FAR if params.min_price is None else params.min_price
        ranges.append(["price", low, _FAR if params.max_price is None else params.max_price])
    if params.min_rating is not None:
        ranges.append(["rating", params.min_rating, _FAR])
    order = params.sort_order or ("asc" if params.sort_by == "price" else "desc")
    q = {
        "fams": ["s"],
        "words": words,
        # postings and sort fields hold active services only: no "all" set needed
        "sets": [category_key(params.category)] if params.category else [],
        "all": _SORT_FIELDS[params.sort_by] or "created",
        "ranges": ranges,
        "sort": _SORT_FIELDS[params.sort_by] or ("" if words else "created"),
        "desc": order == "desc",
        "off": (params.page - 1) * params.limit,
        "n": params.limit,
        "doc": "doc:s",
        "cap": settings.prefix_expansions,
        "nototal": False,
    }
    return await _run(keel, settings, "s", q, _tail(params.page, params.limit))


def _user_query(admin: bool, words: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    return {
        "fams": ["un", "ue"] if admin else ["un"],
        "words": words,
        "sets": [] if admin else ["prov:u"],
        "ranges": [],
        "sort": "",
        "desc": True,
        "doc": "docx:u" if admin else "doc:u",
        "cap": cap,
        "nototal": False,
    }


async def search_users(
    keel: Keel, settings: SearchSettings, query: str, *, admin: bool, page: int, limit: int
) -> bytes:
    """Users by name (providers only, public profile) or, for admins, anyone by name or email."""
    words = _words(query)
    if not words:
        return _empty(page, limit)
    q = _user_query(admin, words, settings.prefix_expansions) | {
        "off": (page - 1) * limit,
        "n": limit,
    }
    return await _run(keel, settings, "u", q, _tail(page, limit))


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
        users = await search_users(keel, settings, query, admin=admin, page=page, limit=limit)
        parts.append(b'"users":' + users)
    return b"{" + b",".join(parts) + b"}"


_AC_SETS = {
    ("services", False): ("acd:s", ("ac:s0", "ac:s1")),
    ("services", True): ("acd:s", ("ac:s0", "ac:s1")),
    ("users", False): ("doc:u", ("ac:u0", "ac:u1")),
    ("users", True): ("docx:u", ("ac:x0", "ac:x1", "ac:xe")),
}


async def autocomplete(
    keel: Keel,
    settings: SearchSettings,
    query: str,
    *,
    kind: Literal["services", "users"],
    admin: bool,
    limit: int,
) -> bytes:
    """Up to ``limit`` suggestions whose name starts with the query (typo-tolerant fallback).

    Raises:
        BadRequestError: the query has fewer than 2 characters.
    """
    if len(normalize(query).strip()) < AUTOCOMPLETE_MIN:
        raise BadRequestError(
            f"autocomplete needs a query of at least {AUTOCOMPLETE_MIN} characters",
            details={"query": query},
        )
    text = phrase(query)
    if not text:
        return b'{"items":[]}'
    doc, sets = _AC_SETS[kind, admin and kind == "users"]
    index = SearchIndex.of(keel)
    ttl = settings.cache_ttl_s
    found = await index.autocomplete(
        f"a:{kind}:{int(admin)}:{limit}:{text}", ttl, text, limit=limit, doc=doc, sets=sets
    )
    if found is not None:
        return found
    return await _typo_suggestions(keel, settings, query, kind=kind, admin=admin, limit=limit)


async def _typo_suggestions(
    keel: Keel,
    settings: SearchSettings,
    query: str,
    *,
    kind: Literal["services", "users"],
    admin: bool,
    limit: int,
) -> bytes:
    """Nothing starts with the query: the best search hits instead (typos allowed)."""
    words = _words(query)
    doc = _AC_SETS[kind, admin and kind == "users"][0]
    if kind == "users":
        q = _user_query(admin, words, settings.prefix_expansions)
    else:
        q = {"fams": ["s"], "sets": [], "ranges": [], "sort": "", "desc": True}
        q["cap"] = settings.prefix_expansions
    q |= {"words": words, "off": 0, "n": limit, "doc": doc, "nototal": True}
    ttl = settings.cache_ttl_s
    return await SearchIndex.of(keel).search(_cache_key("af", q, "}"), ttl, q, "}")
