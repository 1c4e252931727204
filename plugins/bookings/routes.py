"""HTTP routes: ``/api/services``, ``/api/bookings``, ``/api/reviews``. Thin: parse, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, ParameterKwarg, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from core.context import settings_of
from core.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from core.http import error_responses
from core.http.deps import KeelDep
from core.http.security import OPTIONAL_SECURITY
from plugins.accounts.api import SECURITY, OptionalUserDep, UserDep, current_user, optional_user
from plugins.bookings import schemas, service
from plugins.bookings.events import BookingStatus
from plugins.bookings.settings import BookingsSettings

Page = Annotated[int, QueryParameter(ge=1, le=10_000, description="1-based page number.")]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Items per page (at most 100).")]
_AUTHED: dict[str, Any] = {"dependencies": {"user": Provide(current_user)}, "security": SECURITY}
_OPTIONAL: dict[str, Any] = {
    "dependencies": {"user": Provide(optional_user)},
    "security": OPTIONAL_SECURITY,
}
ProviderFilter = Annotated[
    str | None,
    QueryParameter(name="providerId", pattern=r"^[0-9a-f]{24}$", description="A 24-hex id."),
]
_INSTANT = (
    r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)(?![\s\S])"
)


def _instant(name: str) -> ParameterKwarg:
    """A time query parameter: ISO 8601 with an offset, years 1000-2999 (a bare number or
    a time without an offset is a 400, not read as a Unix time or as local time)."""
    return QueryParameter(
        name=name,
        pattern=_INSTANT,
        schema_extra={"format": "date-time"},
        description="ISO 8601 with an offset (years 1000-2999), e.g. `2026-12-01T09:30:00Z`.",
    )


def _parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # the shape is right, the date is not (30 February)
        raise BadRequestError(f"{name}: no such date", details={name: value}) from None


# what the services raise on top of what core documents from the route itself
_OWNER_ONLY = error_responses(ForbiddenError)
_STATE = error_responses(ForbiddenError, ConflictError)


def _lead(keel: KeelDep) -> int:
    return settings_of(keel, BookingsSettings).min_lead_minutes


class ServiceController(Controller):
    """The catalogue: providers' services, their ratings and reviews."""

    path = "/services"

    @get("/", **_OPTIONAL)
    async def list_services(
        self,
        *,
        keel: KeelDep,
        user: OptionalUserDep,
        page: Page = 1,
        limit: Limit = 20,
        category: Annotated[str | None, QueryParameter(max_length=60)] = None,
        provider_id: ProviderFilter = None,
        active: FromQuery[bool | None] = None,
        sort: FromQuery[service.ServiceSort] = "-createdAt",
    ) -> schemas.ServicePage:
        """Services, a page at a time; inactive ones only for their provider and admins."""
        return await service.list_services(
            keel,
            user,
            page=page,
            limit=limit,
            category=category,
            provider_id=provider_id,
            active=active,
            sort=sort,
        )

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        responses=error_responses(ForbiddenError, UnprocessableError),
        **_AUTHED,
    )
    async def create_service(
        self, keel: KeelDep, user: UserDep, data: JSONBody[schemas.ServiceCreate]
    ) -> schemas.Service:
        """Providers: offer a new service.

        422: an unknown time zone, an opening-hours range that does not start before it
        ends, or an image that is not one of the caller's uploads.
        """
        return await service.create_service(keel, user, data)

    @get("/{service_id:str}", **_OPTIONAL)
    async def get_service(
        self, keel: KeelDep, user: OptionalUserDep, service_id: FromPath[str]
    ) -> schemas.Service:
        """One service with its rating."""
        return await service.get_service(keel, user, service_id)

    @patch(
        "/{service_id:str}",
        responses=error_responses(ForbiddenError, UnprocessableError),
        **_AUTHED,
    )
    async def update_service(
        self,
        keel: KeelDep,
        user: UserDep,
        service_id: FromPath[str],
        data: JSONBody[schemas.ServiceUpdate],
    ) -> schemas.Service:
        """Its provider or an admin: change the fields sent (422 as for creating one)."""
        return await service.update_service(keel, user, service_id, data)

    @delete("/{service_id:str}", status_code=HTTP_204_NO_CONTENT, responses=_OWNER_ONLY, **_AUTHED)
    async def delete_service(self, keel: KeelDep, user: UserDep, service_id: FromPath[str]) -> None:
        """Its provider or an admin: delete the service (its bookings stay)."""
        await service.delete_service(keel, user, service_id)

    @get("/{service_id:str}/reviews", **_OPTIONAL)
    async def list_reviews(
        self,
        keel: KeelDep,
        user: OptionalUserDep,
        service_id: FromPath[str],
        page: Page = 1,
        limit: Limit = 20,
    ) -> schemas.ReviewPage:
        """A service's reviews, newest first."""
        return await service.list_reviews(keel, user, service_id, page=page, limit=limit)


class BookingController(Controller):
    """Bookings and their status machine."""

    path = "/bookings"
    dependencies = _AUTHED["dependencies"]
    security = SECURITY

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        responses=error_responses(ForbiddenError, NotFoundError, ConflictError, UnprocessableError),
    )
    async def create_booking(
        self, keel: KeelDep, user: UserDep, data: JSONBody[schemas.BookingCreate]
    ) -> schemas.Booking:
        """Customers: book a service at a start time.

        404: no such active service. 409: the slot is taken, or the customer holds the
        most unpaid pending bookings allowed. 422: the start is not on a 5-minute
        boundary, is in the past (or too soon), too far ahead, or the booking would not
        lie inside the service's opening hours.
        """
        return await service.create_booking(keel, user, data, lead_minutes=_lead(keel))

    @get("/")
    async def list_bookings(
        self,
        *,
        keel: KeelDep,
        user: UserDep,
        page: Page = 1,
        limit: Limit = 20,
        status: FromQuery[BookingStatus | None] = None,
        start_from: Annotated[str | None, _instant("from")] = None,
        start_to: Annotated[str | None, _instant("to")] = None,
        sort: FromQuery[service.BookingSort] = "start",
    ) -> schemas.BookingPage:
        """A customer's bookings, a provider's bookings of its services, or (admin) all.

        ``from``/``to`` bound the start time (``from`` <= start < ``to``).
        """
        return await service.list_bookings(
            keel,
            user,
            page=page,
            limit=limit,
            status=status,
            start_from=_parse_instant(start_from, "from"),
            start_to=_parse_instant(start_to, "to"),
            sort=sort,
        )

    @get("/{booking_id:str}")
    async def get_booking(
        self, keel: KeelDep, user: UserDep, booking_id: FromPath[str]
    ) -> schemas.Booking:
        """One booking: its customer, its provider or an admin (else 404)."""
        return await service.get_booking(keel, user, booking_id)

    @post("/{booking_id:str}/confirm", status_code=HTTP_200_OK, responses=_STATE)
    async def confirm(
        self, keel: KeelDep, user: UserDep, booking_id: FromPath[str]
    ) -> schemas.Booking:
        """The provider (or an admin): pending → confirmed; 409 from any other status."""
        return await service.transition(keel, user, booking_id, "confirm")

    @post("/{booking_id:str}/complete", status_code=HTTP_200_OK, responses=_STATE)
    async def complete(
        self, keel: KeelDep, user: UserDep, booking_id: FromPath[str]
    ) -> schemas.Booking:
        """The provider (or an admin), after the end time: confirmed → completed.

        409 from any other status, or before the booking ends.
        """
        return await service.transition(keel, user, booking_id, "complete")

    @post(
        "/{booking_id:str}/cancel",
        status_code=HTTP_200_OK,
        responses=error_responses(ConflictError),
    )
    async def cancel(
        self,
        keel: KeelDep,
        user: UserDep,
        booking_id: FromPath[str],
        data: JSONBody[schemas.BookingCancel],
    ) -> schemas.Booking:
        """The customer or the provider: pending|confirmed → cancelled; frees the slot.

        409 from any other status.
        """
        return await service.transition(keel, user, booking_id, "cancel", data.reason)

    @post("/{booking_id:str}/review", status_code=HTTP_201_CREATED, responses=_STATE)
    async def review(
        self,
        keel: KeelDep,
        user: UserDep,
        booking_id: FromPath[str],
        data: JSONBody[schemas.ReviewCreate],
    ) -> schemas.Review:
        """The customer of a completed booking: rate it 1-5, once.

        403 for its provider or an admin; 409 when not completed or already reviewed.
        """
        return await service.create_review(keel, user, booking_id, data)


class ReviewController(Controller):
    """Deleting reviews (reading them is ``GET /api/services/{id}/reviews``)."""

    path = "/reviews"

    @delete("/{review_id:str}", status_code=HTTP_204_NO_CONTENT, responses=_OWNER_ONLY, **_AUTHED)
    async def delete_review(self, keel: KeelDep, user: UserDep, review_id: FromPath[str]) -> None:
        """Its author or an admin; the service's average is corrected."""
        await service.delete_review(keel, user, review_id)


def route_handlers() -> list[type[Controller]]:
    """The plugin's controllers, for ``register_routes``."""
    return [ServiceController, BookingController, ReviewController]
