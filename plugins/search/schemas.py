"""Response bodies of the search endpoints (also the JSON kept in the index)."""

from __future__ import annotations

from datetime import datetime

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


class UserHit(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """A user in results: a provider's public profile (admins also get ``email``)."""

    id: str
    name: str
    role: str
    avatar: str | None = None
    email: str | None = None


class ServicePage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of service hits with the exact number of matches."""

    items: list[ServiceHit]
    total: int
    page: int
    limit: int


class UserPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of user hits with the exact number of matches."""

    items: list[UserHit]
    total: int
    page: int
    limit: int


class GlobalResults(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """``GET /api/search``: results grouped by type (a type not asked for is absent)."""

    services: ServicePage | None = None
    users: UserPage | None = None


class Suggestions(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``GET /api/search/autocomplete?type=services``: best first.

    With ``type=users`` the items are :class:`UserHit` objects instead.
    """

    items: list[ServiceSuggestion]
