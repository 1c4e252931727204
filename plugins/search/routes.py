"""``/api/search``, ``/api/search/services`` and ``/api/search/autocomplete``.

Anyone may search; an admin's token (``Authorization: Bearer``) widens user search to
every account, by name or email. Bodies are JSON stored finished in the index.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter

from core.context import settings_of
from core.errors import UnprocessableError
from core.http import KeelDep, error_responses
from core.http.security import OPTIONAL_SECURITY
from plugins.accounts.api import OptionalUserDep, optional_user
from plugins.search import service
from plugins.search.autocomplete import autocomplete
from plugins.search.schemas import GlobalResults, ServicePage, Suggestions
from plugins.search.settings import SearchSettings

MAX_QUERY = 100
Query = Annotated[
    str, QueryParameter(name="query", max_length=MAX_QUERY, description="Text, never a pattern.")
]
Page = Annotated[int, Parameter(ge=1, le=10_000, description="1-based page number.")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="Results per page (max 100).")]
FACETS_PATTERN = r"^(category|price)(,(category|price))*$"


_MIN0 = {"minimum": 0}
"""Litestar leaves ``ge=0`` out of the document (it tests the bound for truth), so say it."""


def _json(body: bytes) -> Response[bytes]:
    return Response(content=body, media_type=MediaType.JSON)


def _ok(model: type[Any]) -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(data_container=model, description="OK")}


class SearchController(Controller):
    """Global search, service search and autocomplete."""

    path = "/search"
    security = OPTIONAL_SECURITY  # anyone may search; a token sent must be valid (else 401)
    dependencies = {"user": Provide(optional_user)}  # noqa: RUF012 - Litestar reads a dict

    @get("/", responses=_ok(GlobalResults), summary="Search services and users")
    async def search(
        self,
        *,
        keel: KeelDep,
        user: OptionalUserDep,
        text: Annotated[str, QueryParameter(name="query", min_length=1, max_length=MAX_QUERY)],
        search_type: Annotated[service.SearchType, QueryParameter(name="type")] = "all",
        page: Page = 1,
        limit: Limit = 20,
    ) -> Response[bytes]:
        """Services by name, description and category; users by name (admins: and email)."""
        body = await service.search_all(
            keel,
            settings_of(keel, SearchSettings),
            text,
            kind=search_type,
            admin=user is not None and user.is_admin,
            page=page,
            limit=limit,
        )
        return _json(body)

    @get("/services", responses=_ok(ServicePage), summary="Search services")
    async def services(
        self,
        *,
        keel: KeelDep,
        text: Query = "",
        category: Annotated[str | None, Parameter(max_length=MAX_QUERY)] = None,
        min_price: Annotated[
            int | None, QueryParameter(name="minPrice", ge=0, schema_extra=_MIN0)
        ] = None,
        max_price: Annotated[
            int | None, QueryParameter(name="maxPrice", ge=0, schema_extra=_MIN0)
        ] = None,
        min_rating: Annotated[
            float | None, QueryParameter(name="minRating", ge=0, le=5, schema_extra=_MIN0)
        ] = None,
        sort_by: Annotated[service.SortBy, QueryParameter(name="sortBy")] = "relevance",
        sort_order: Annotated[service.SortOrder | None, QueryParameter(name="sortOrder")] = None,
        page: Page = 1,
        limit: Limit = 20,
        facets: Annotated[
            str | None,
            Parameter(
                max_length=40,
                pattern=FACETS_PATTERN,
                description="Comma-separated: `category` (counts), `price` (buckets).",
            ),
        ] = None,
    ) -> Response[bytes]:
        """Active services with filters (prices in minor units), sorting and an exact total;
        with ``facets``, category counts and price buckets of every match too."""
        # the pattern lets only facet names through
        wanted = cast(
            "tuple[service.Facet, ...]",
            tuple(dict.fromkeys((facets or "").split(",")) if facets else ()),
        )
        params = service.ServiceQuery(
            query=text,
            category=category,
            min_price=min_price,
            max_price=max_price,
            min_rating=min_rating,
            sort_by=sort_by,
            sort_order=sort_order,
            page=page,
            limit=limit,
            facets=wanted,
        )
        return _json(await service.search_services(keel, settings_of(keel, SearchSettings), params))

    @get(
        "/autocomplete",
        responses={**_ok(Suggestions), **error_responses(UnprocessableError)},
        summary="Suggestions as the user types",
    )
    async def autocomplete(
        self,
        *,
        keel: KeelDep,
        user: OptionalUserDep,
        text: Annotated[
            str,
            QueryParameter(
                name="query",
                min_length=2,
                max_length=MAX_QUERY,
                description="Text, never a pattern: 2 characters or more, not counting "
                "surrounding spaces (fewer once trimmed: 422).",
            ),
        ],
        search_type: Annotated[
            Literal["services", "users"], QueryParameter(name="type")
        ] = "services",
        limit: Annotated[int, Parameter(ge=1, le=20)] = 5,
    ) -> Response[bytes]:
        """Names starting with the query (at least 2 characters), best first."""
        body = await autocomplete(
            keel,
            text,
            kind=search_type,
            admin=user is not None and user.is_admin,
            limit=limit,
        )
        return _json(body)


def route_handlers() -> list[Any]:
    """The search plugin's controllers."""
    return [SearchController]
