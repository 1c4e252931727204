"""Response bodies of the search endpoints (also the JSON kept in the index); camelCase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class ServiceHit(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A service in search results, with its rating."""

    id: str
    provider_id: str
    name: str
    description: str
    category: str
    price: int
    """Minor units of ``currency`` (cents)."""
    currency: str
    duration_minutes: int
    images: list[str]
    rating_average: float
    rating_count: int
    created_at: datetime


class ServiceSuggestion(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An autocomplete suggestion for services."""

    id: str
    name: str
    category: str


class UserHit(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """A user in results: a provider's public profile (admins also get ``email``)."""

    id: str
    name: str
    role: str
    avatar: str | None = None
    email: str | None = None


class CategoryCount(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How many matches are in one category (as the services spell it)."""

    value: str
    count: int


class PriceBucket(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """How many matches cost from ``min`` (inclusive) to ``max`` (exclusive; absent: no
    upper bound), in minor units."""

    min: int
    max: int | None = None
    count: int


class Facets(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Counts over every match of the query and filters (``facets=category,price``)."""

    category: list[CategoryCount] | None = None
    """Categories by count, most frequent first (at most 50)."""
    price: list[PriceBucket] | None = None
    """Every price bucket in ascending order, empty ones included."""


class ServicePage(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One page of service hits with the exact number of matches."""

    items: list[ServiceHit]
    total: int
    page: int
    limit: int
    facets: Facets | None = None
    """Only when ``facets`` was asked for."""


class UserPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of user hits with the exact number of matches."""

    items: list[UserHit]
    total: int
    page: int
    limit: int


class GlobalResults(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """``GET /api/search``: results grouped by type (a type not asked for is absent)."""

    services: ServicePage | None = None
    users: UserPage | None = None


class Suggestions(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``GET /api/search/autocomplete``, best first: :class:`ServiceSuggestion` items with
    ``type=services``, :class:`UserHit` items with ``type=users`` (documented only: the
    route answers pre-encoded JSON)."""

    items: list[dict[str, Any]]
    """``{id, name, category}`` per service, or ``{id, name, role, avatar?, email?}`` per
    user (one array shape for both: msgspec cannot describe a union of two list types)."""
