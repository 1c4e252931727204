"""Demo data for ``keel demo``: a provider, a customer, a few dozen services, reviews.

Everything goes through the service layer (events fire, so search indexes it), except
past bookings: the API only books future slots, so the completed bookings that reviews
need are inserted directly and then reviewed through the service layer, and so are
:data:`ENDED_CONFIRMED` confirmed bookings that have already ended (the provider can
complete them: ``POST /api/bookings/{id}/complete`` works on demo data). Seeding is
idempotent: users are found by email, services by provider and name, and past
bookings are only added with the service they are of.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from plugins.bookings import schemas, service
from plugins.bookings.models import Booking, Service, utcnow

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.api import CurrentUser
    from plugins.accounts.events import Role
    from plugins.bookings.events import BookingStatus

PROVIDER_EMAIL = "demo.provider@example.com"
CUSTOMER_EMAIL = "demo.customer@example.com"
_KINDS: dict[str, list[tuple[str, str]]] = {
    "cleaning": [("Home cleaning", "Two cleaners, all rooms"), ("Window cleaning", "Inside")],
    "plumbing": [("Plumber visit", "Leaks, taps, drains"), ("Boiler service", "Annual check")],
    "electrical": [("Electrician call-out", "Sockets, lights"), ("EV charger install", "7 kW")],
    "beauty": [("Haircut", "Wash, cut and style"), ("Manicure", "Classic or gel")],
    "fitness": [("Personal training", "One-to-one session"), ("Yoga class", "Vinyasa flow")],
    "tutoring": [("Maths tutoring", "GCSE and A level"), ("Guitar lesson", "All levels")],
    "pets": [("Dog walking", "Up to one hour"), ("Pet sitting", "At your home")],
    "garden": [("Lawn mowing", "Up to 200 m2"), ("Hedge trimming", "Incl. green waste")],
}
_VARIANTS = ("", " (express)", " (premium)")
_ZONES = ("Europe/Berlin", "Europe/London", "America/New_York")
_COMMENTS = ("Great, would book again.", "On time and friendly.", "Good value.", "", "Superb!")
ENDED_CONFIRMED = 2
"""How many confirmed bookings that have already ended the demo holds (one per service,
the first ones created), for the provider to complete."""


@dataclass
class DemoResult:
    """What :func:`seed_demo` created (zero counts on a second run)."""

    provider_email: str
    customer_email: str
    password: str
    users_created: int
    services_created: int
    reviews_created: int
    ended_bookings_created: int = 0
    """Confirmed bookings that have ended (ready to be completed)."""


async def _user(keel: Keel, email: str, name: str, role: Role, password: str) -> tuple[Any, bool]:
    from plugins.accounts.api import create_user, find_user_by_email  # noqa: PLC0415

    existing = await find_user_by_email(keel, email)
    if existing is not None:
        return _DemoUser(existing["_id"], existing["role"]), False
    user_id = await create_user(
        keel, email=email, password=password, name=name, role=role, verified=True
    )
    return _DemoUser(ObjectId(user_id), role), True


@dataclass(frozen=True)
class _DemoUser:
    id: ObjectId
    role: str


def _caller(user: Any) -> CurrentUser:
    from plugins.accounts.api import CurrentUser  # noqa: PLC0415 - loads Litestar lazily

    return CurrentUser(id=str(user.id), role=user.role, session="demo")


def _service_data(rng: random.Random, category: str, name: str, desc: str) -> Any:
    hours = [schemas.TimeRange(start="08:00", end="18:00")]
    days = schemas.WEEKDAYS[: rng.choice((5, 6, 7))]
    return schemas.ServiceCreate(
        name=name,
        category=category,
        price=rng.randrange(15, 200) * 100 + rng.choice((0, 50, 99)),
        currency=rng.choice(("EUR", "EUR", "GBP", "USD")),
        duration_minutes=rng.choice((30, 45, 60, 90)),
        description=desc,
        timezone=rng.choice(_ZONES),
        availability=dict.fromkeys(days, hours),
    )


async def _past_booking(
    keel: Keel, svc: schemas.Service, customer: Any, start: datetime, status: BookingStatus
) -> ObjectId:
    """A booking of ``svc`` at ``start`` in the past, inserted directly (no slot claims:
    nobody can book the past); its id."""
    doc = Booking(
        id=ObjectId(),
        service_id=ObjectId(svc.id),
        service_name=svc.name,
        provider_id=ObjectId(svc.provider_id),
        customer_id=customer.id,
        start=start,
        end=start + timedelta(minutes=svc.duration_minutes),
        timezone=svc.timezone,
        status=status,
        price=svc.price,
        currency=svc.currency,
    ).model_dump_doc()
    await keel.db.get_collection(Booking).insert_one(doc)
    booking_id: ObjectId = doc["_id"]
    return booking_id


async def _review(keel: Keel, rng: random.Random, svc: schemas.Service, customer: Any) -> None:
    """A completed booking in the past, reviewed through the service."""
    start = _hour() - timedelta(days=rng.randrange(2, 60))
    booking_id = await _past_booking(keel, svc, customer, start, "completed")
    data = schemas.ReviewCreate(rating=rng.choice((3, 4, 4, 5, 5)), comment=rng.choice(_COMMENTS))
    await service.create_review(keel, _caller(customer), str(booking_id), data)


async def _ended(keel: Keel, svc: schemas.Service, customer: Any, n: int) -> None:
    """The ``n``-th confirmed booking that has ended: yesterday, the day before..."""
    start = _hour() - timedelta(days=n + 1)
    await _past_booking(keel, svc, customer, start, "confirmed")


def _hour() -> datetime:
    """The start of the current hour (UTC): a 5-minute boundary."""
    return utcnow().replace(minute=0, second=0, microsecond=0)


async def seed_demo(keel: Keel, password: str, *, seed: int = 7) -> DemoResult:
    """Create the demo users, services and reviews that do not exist yet."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    provider, p_new = await _user(keel, PROVIDER_EMAIL, "Demo Provider", "provider", password)
    customer, c_new = await _user(keel, CUSTOMER_EMAIL, "Demo Customer", "customer", password)
    services = keel.db.get_collection(Service)
    created = reviews = ended = 0
    for category, kinds in _KINDS.items():
        for (name, desc), variant in [(k, v) for k in kinds for v in _VARIANTS]:
            data = _service_data(rng, category, name + variant, desc)
            if await services.find_one({"provider_id": provider.id, "name": data.name}):
                continue
            svc = await service.create_service(keel, _caller(provider), data)
            created += 1
            if ended < ENDED_CONFIRMED:
                await _ended(keel, svc, customer, ended)
                ended += 1
            for _ in range(rng.randrange(0, 4)):
                await _review(keel, rng, svc, customer)
                reviews += 1
    return DemoResult(
        provider_email=PROVIDER_EMAIL,
        customer_email=CUSTOMER_EMAIL,
        password=password,
        users_created=int(p_new) + int(c_new),
        services_created=created,
        reviews_created=reviews,
        ended_bookings_created=ended,
    )
