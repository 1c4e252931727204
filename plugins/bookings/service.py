"""The bookings domain: services, bookings, reviews. No Litestar here.

Routes, the CLI and tests call these functions; each raises :mod:`core.errors` domain
errors and emits the plugin's events (:mod:`plugins.bookings.events`).
"""

from plugins.bookings._booking import BookingSort, create_booking, get_booking, list_bookings
from plugins.bookings._catalog import (
    ServiceSort,
    create_service,
    delete_service,
    get_service,
    list_services,
    update_service,
)
from plugins.bookings._review import create_review, delete_review, list_reviews
from plugins.bookings._status import Action, transition

__all__ = [
    "Action",
    "BookingSort",
    "ServiceSort",
    "create_booking",
    "create_review",
    "create_service",
    "delete_review",
    "delete_service",
    "get_booking",
    "get_service",
    "list_bookings",
    "list_reviews",
    "list_services",
    "transition",
    "update_service",
]
