"""Pagination for plugins' list routes: one shape everywhere.

A list route takes ``page`` and ``limit`` query parameters and answers
``{"items": [...], "total", "page", "limit"}``::

    from core.pagination import Limit, Page, Paged, skip

    @get("/things")
    async def list_things(keel: KeelDep, page: Page = 1, limit: Limit = 20) -> Paged[Thing]:
        cursor = things(keel).find(query).skip(skip(page, limit)).limit(limit)
        items = [to_thing(doc) async for doc in cursor]
        return Paged(items=items, total=await things(keel).count_documents(query),
                     page=page, limit=limit)

(The built-in plugins keep a named Struct per page type, such as ``BookingPage``, so
that their OpenAPI components read well; ``Paged[T]`` gives the same JSON.)
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

__all__ = ["MAX_LIMIT", "MAX_PAGE", "Limit", "Page", "Paged", "skip"]

T = TypeVar("T")
MAX_PAGE = 10_000
"""The highest page number a list route accepts (deep pages are refused, not scanned)."""
MAX_LIMIT = 100
"""The most items one page may hold."""

Page = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1-based page number.")]
"""The ``page`` query parameter (default it to 1)."""
Limit = Annotated[
    int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")
]
"""The ``limit`` query parameter (default it to 20)."""


class Paged(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list: ``items`` and where it stands in the whole."""

    items: list[T]
    total: int
    """How many items the whole list holds."""
    page: int
    limit: int


def skip(page: int, limit: int) -> int:
    """How many items come before ``page``."""
    return (page - 1) * limit
