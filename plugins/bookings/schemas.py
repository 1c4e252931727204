"""Request and response bodies of the bookings API.

Request bodies forbid unknown fields and bound every value, so a negative price, a
rating of 6 or an operator object such as ``{"$ne": null}`` is a 400 before any code
runs. Money is an integer in minor units plus an ISO 4217 currency code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from core.text import MultiLine, NonBlankMultiLine, SingleLine
from plugins.bookings.events import BookingSnapshot, BookingStatus, ReviewSnapshot
from plugins.uploads.api import UPLOAD_REFERENCE_PATTERN, UploadReference

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
"""Weekday names, Monday first (``datetime.weekday()`` order)."""


def _documented(**schema: object) -> Meta:
    """JSON schema keywords for the OpenAPI document that Litestar does not derive itself.

    Litestar leaves out the constraints of list items and map values, a bound of 0, and
    every constraint of a field that may be ``UNSET``; the server enforces them all
    (msgspec), so the document states them here.
    """
    return Meta(extra_json_schema={"extra": schema})


HHMM = Annotated[
    str,
    Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="Local time HH:MM."),
]
Name = Annotated[SingleLine, Meta(min_length=1, max_length=120)]
Description = Annotated[MultiLine, Meta(max_length=2000)]
# a whitelist; ``(?![\s\S])`` and not ``$``, which would let a final "\n" through
Category = Annotated[str, Meta(min_length=1, max_length=60, pattern=r"^[\w][\w &/-]*(?![\s\S])")]
Price = Annotated[int, Meta(ge=0, le=100_000_000, description="Minor units (cents).")]
PRICE_SCHEMA = _documented(minimum=0, maximum=100_000_000)
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217, upper case.")]
Duration = Annotated[int, Meta(ge=5, le=720, multiple_of=5, description="Minutes, 5-minute steps.")]
MAX_IMAGES = 10
IMAGES_SCHEMA = _documented(
    maxItems=MAX_IMAGES, items={"type": "string", "pattern": UPLOAD_REFERENCE_PATTERN}
)
Images = Annotated[list[UploadReference], Meta(max_length=MAX_IMAGES), IMAGES_SCHEMA]
TimeZone = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        # the shape of an IANA name; one the server does not know is a 422
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*(?![\s\S])",
        description="IANA time zone name, e.g. `Europe/Berlin` or `UTC`; a name of that "
        "shape that is no known zone is a 422.",
    ),
]
ObjectIdStr = Annotated[str, Meta(pattern=r"^[0-9a-f]{24}$")]
Reason = Annotated[NonBlankMultiLine, Meta(min_length=1, max_length=500)]
Comment = Annotated[MultiLine, Meta(max_length=1000)]
Notes = Annotated[MultiLine, Meta(max_length=1000)]
Rating = Annotated[int, Meta(ge=1, le=5)]
AwareDatetime = Annotated[datetime, Meta(tz=True, description="ISO 8601 with an offset.")]


class TimeRange(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"
):
    """Opening hours ``[start, end)`` on one weekday, in the service's time zone."""

    start: HHMM
    end: HHMM


MAX_RANGES = 12
AVAILABILITY_SCHEMA = _documented(
    propertyNames={"enum": list(WEEKDAYS)},
    additionalProperties={
        "type": "array",
        "maxItems": MAX_RANGES,
        "items": {"$ref": "#/components/schemas/TimeRange"},
    },
    description="Weekday -> opening hours `[{start, end}]` (each start before its "
    "end, else a 422), in the service's time zone; a day left out is closed.",
)
Availability = Annotated[
    dict[Weekday, Annotated[list[TimeRange], Meta(max_length=MAX_RANGES)]], AVAILABILITY_SCHEMA
]


def default_availability() -> Availability:
    """Monday to Friday, 09:00 to 17:00."""
    return {day: [TimeRange(start="09:00", end="17:00")] for day in WEEKDAYS[:5]}


class _In(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """Base of request bodies (camelCase JSON, like every subclass)."""


class ServiceCreate(_In, frozen=True):
    """``POST /api/services`` (providers)."""

    name: Name
    category: Category
    price: Price
    currency: Currency
    duration_minutes: Duration
    description: Description = ""
    active: bool = True
    images: Images = msgspec.field(default_factory=list)
    timezone: TimeZone = "UTC"
    availability: Availability = msgspec.field(default_factory=default_availability)


class ServiceUpdate(_In, frozen=True):
    """``PATCH /api/services/{id}``: only the fields sent change."""

    name: Name | UnsetType = UNSET
    category: Category | UnsetType = UNSET
    price: Annotated[Price | UnsetType, PRICE_SCHEMA] = UNSET
    currency: Currency | UnsetType = UNSET
    duration_minutes: Duration | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    images: Annotated[Images | UnsetType, IMAGES_SCHEMA] = UNSET
    timezone: TimeZone | UnsetType = UNSET
    availability: Annotated[Availability | UnsetType, AVAILABILITY_SCHEMA] = UNSET


class _Out(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of response bodies (camelCase JSON, like every subclass)."""


class Service(_Out, frozen=True, kw_only=True):
    """A service, with its rating."""

    id: str
    provider_id: str
    name: str
    description: str
    category: str
    price: int
    currency: str
    duration_minutes: int
    active: bool
    images: list[str]
    timezone: str
    availability: Availability
    rating_average: float
    """Mean rating, 0.0 while there are no reviews."""
    rating_count: int
    created_at: datetime
    updated_at: datetime


class ServicePage(_Out, frozen=True, kw_only=True):
    """One page of services."""

    items: list[Service]
    total: int
    page: int
    limit: int


class BookingCreate(_In, frozen=True):
    """``POST /api/bookings`` (customers): the end is start + the service's duration."""

    service_id: ObjectIdStr
    start: AwareDatetime
    notes: Notes = ""


class BookingCancel(_In, frozen=True):
    """``POST /api/bookings/{id}/cancel``."""

    reason: Reason


class Booking(_Out, frozen=True, kw_only=True):
    """A booking as the API shows it: the fields of :class:`BookingSnapshot`, in camelCase.

    A class of its own because the snapshot travels in job arguments and is stored by
    listeners under its Python names.
    """

    id: str
    service_id: str
    service_name: str
    provider_id: str
    customer_id: str
    start: datetime
    end: datetime
    timezone: str
    """The provider's IANA time zone (for showing ``start``/``end`` locally)."""
    status: BookingStatus
    price: int
    """Price in minor units, fixed when the booking was made."""
    currency: str
    paid: bool
    payment_id: str | None
    notes: str
    cancel_reason: str | None
    cancelled_by: str | None
    """User id of who cancelled, when cancelled."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, snapshot: BookingSnapshot) -> Booking:
        """The API view of an event snapshot."""
        return cls(**msgspec.structs.asdict(snapshot))


class BookingPage(_Out, frozen=True, kw_only=True):
    """One page of bookings."""

    items: list[Booking]
    total: int
    page: int
    limit: int


class ReviewCreate(_In, frozen=True):
    """``POST /api/bookings/{id}/review`` (the customer, once the booking is completed)."""

    rating: Rating
    comment: Comment = ""


class Review(_Out, frozen=True, kw_only=True):
    """A review as the API shows it: the fields of :class:`ReviewSnapshot`, in camelCase."""

    id: str
    booking_id: str
    service_id: str
    service_name: str
    provider_id: str
    customer_id: str
    """The author."""
    rating: int
    """1-5."""
    comment: str
    created_at: datetime

    @classmethod
    def of(cls, snapshot: ReviewSnapshot) -> Review:
        """The API view of an event snapshot."""
        return cls(**msgspec.structs.asdict(snapshot))


class ReviewPage(_Out, frozen=True, kw_only=True):
    """One page of reviews."""

    items: list[Review]
    total: int
    page: int
    limit: int
