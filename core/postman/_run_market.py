"""The run's second part: bookings, search, payments, notifications, realtime, cron
and health."""

from __future__ import annotations

from core.postman import _scripts as js
from core.postman._step import FIND, NONE, Step

_WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

MARKET: list[Step] = [
    # bookings: the provider offers, the customer books, pays, cancels and reviews
    Step("GET /api/services", auth=NONE, query={"category": "cleaning"}),
    Step(
        "POST /api/services",
        "Create a service (provider)",
        auth="providerToken",
        body={
            "name": "Postman test service",
            "category": "cleaning",
            "price": 4500,
            "currency": "EUR",
            "durationMinutes": 60,
            "timezone": "UTC",
            "description": "Made by the Postman collection.",
            "availability": {
                day: [{"start": "00:00", "end": "24:00"}]
                for day in (
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                )
            },
        },
        save={"serviceId": "body.id"},
    ),
    Step("GET /api/services/{service_id}", auth=NONE),
    Step(
        "PATCH /api/services/{service_id}",
        auth="providerToken",
        body={"description": "Updated by the Postman collection."},
    ),
    Step(
        "POST /api/bookings",
        "Book the service (customer)",
        auth="customerToken",
        pre=js.BOOKING_START,
        body={"serviceId": "{{serviceId}}", "start": "{{bookingStart}}", "notes": "Ring twice."},
        save={"bookingId": "body.id"},
    ),
    Step(
        "POST /api/bookings",
        "Book a second slot (cancelled below)",
        auth="customerToken",
        body={"serviceId": "{{serviceId}}", "start": "{{secondBookingStart}}"},
        save={"cancelBookingId": "body.id"},
    ),
    Step("GET /api/bookings", auth="customerToken"),
    Step("GET /api/bookings/{booking_id}", auth="customerToken"),
    Step("POST /api/bookings/{booking_id}/confirm", "Confirm (provider)", auth="providerToken"),
    Step(
        "POST /api/bookings/{booking_id}/cancel",
        "Cancel the second booking",
        auth="customerToken",
        path={"booking_id": "{{cancelBookingId}}"},
        body={"reason": "Plans changed."},
    ),
    Step(
        "GET /api/bookings",
        "Find a past confirmed booking (provider)",
        auth="providerToken",
        query={"status": "confirmed", "to": "{{$isoTimestamp}}"},
        save={"pastBookingId": "body.items[0].id"},
    ),
    Step(
        "POST /api/bookings/{booking_id}/complete",
        "Complete the past booking (provider)",
        auth="providerToken",
        path={"booking_id": "{{pastBookingId}}"},
    ),
    Step(
        "GET /api/bookings",
        "Find a completed booking (customer)",
        auth="customerToken",
        query={"status": "completed"},
        save={
            "reviewedBookingId": "body.items[0].id",
            "reviewedServiceId": "body.items[0].serviceId",
        },
    ),
    Step(
        "GET /api/services/{service_id}/reviews",
        "Its service's reviews",
        auth=NONE,
        path={"service_id": "{{reviewedServiceId}}"},
        query={"limit": "100"},
        save={
            "reviewId": FIND.format(cond="x.bookingId === pm.environment.get('reviewedBookingId')")
            + ".id"
        },
    ),
    Step("DELETE /api/reviews/{review_id}", "Withdraw the review (customer)", auth="customerToken"),
    Step(
        "POST /api/bookings/{booking_id}/review",
        "Review the booking again",
        auth="customerToken",
        path={"booking_id": "{{reviewedBookingId}}"},
        body={"rating": 5, "comment": "Great, would book again."},
        save={"reviewId": "body.id"},
    ),
    Step(
        "POST /api/services",
        "Create a second service (deleted below)",
        auth="providerToken",
        body={"name": "Postman spare service", "category": "garden", "durationMinutes": 30},
        save={"spareServiceId": "body.id"},
    ),
    Step(
        "DELETE /api/services/{service_id}",
        auth="providerToken",
        path={"service_id": "{{spareServiceId}}"},
    ),
    # search, anonymously
    Step("GET /api/search", auth=NONE, query={"query": "cleaning", "type": "all"}),
    Step(
        "GET /api/search/services",
        auth=NONE,
        query={"query": "cleaning", "minPrice": "1000", "sortBy": "price", "sortOrder": "asc"},
    ),
    Step("GET /api/search/autocomplete", auth=NONE, query={"query": "cl"}),
    # payments: the customer pays the confirmed booking, the admin refunds it
    Step(
        "POST /api/payments/intents",
        "Pay the booking (customer)",
        auth="customerToken",
        body={"bookingId": "{{bookingId}}", "paymentMethodId": "{{paymentMethodId}}"},
        save={"paymentId": "body.id", "stripePaymentIntentId": "body.stripePaymentIntentId"},
    ),
    Step("GET /api/payments", auth="customerToken"),
    Step("GET /api/payments/{payment_id}", auth="customerToken"),
    Step(
        "POST /api/webhooks/stripe",
        # keel run registers its webhook with localstripe under a random secret of its own
        # (localstripe delivers the real events); one signed with the public secret is refused.
        "Stripe webhook signed with localstripe's public secret (refused)",
        auth=NONE,
        status=401,
        pre=js.STRIPE_SIGNATURE,
        raw="{{webhookPayload}}",
        headers={"Stripe-Signature": "{{stripeSignature}}"},
    ),
    Step(
        "POST /api/payments/{payment_id}/refund",
        "Refund (admin)",
        auth="adminToken",
        body={"reason": "requested_by_customer"},
        headers={"Idempotency-Key": "{{$guid}}"},
    ),
    # notifications: the customer's, which bookings and payments made
    Step(
        "GET /api/notifications",
        auth="customerToken",
        until="body.items.length > 0",
        save={"notificationId": "body.items[0].id"},
    ),
    Step("GET /api/notifications/unread-count", auth="customerToken"),
    Step("GET /api/notifications/{notification_id}", auth="customerToken"),
    Step("PATCH /api/notifications/{notification_id}/read", auth="customerToken"),
    Step("POST /api/notifications/read-all", auth="customerToken"),
    Step(
        "GET /api/notifications/preferences",
        auth="customerToken",
        save={"preferenceEvent": "body.items[0].event"},
    ),
    Step(
        "PUT /api/notifications/preferences",
        auth="customerToken",
        raw='{"preferences": {"{{preferenceEvent}}": {"email": true}}}',
    ),
    Step("GET /api/notifications/activity", auth="customerToken"),
    Step("DELETE /api/notifications/{notification_id}", auth="customerToken"),
    # realtime: rooms are made over the WebSocket; blocking works over HTTP
    Step("GET /api/realtime/rooms", auth="customerToken", save={"roomId": "body.items[0].id"}),
    Step(
        "GET /api/realtime/rooms/{room_id}/messages",
        auth="customerToken",
        pre=js.SKIP_WITHOUT.format(var="'roomId'"),
    ),
    Step(
        "POST /api/realtime/blocks/{user_id}",
        "Block the provider",
        auth="customerToken",
        path={"user_id": "{{providerId}}"},
    ),
    Step("GET /api/realtime/blocks", auth="customerToken"),
    Step(
        "DELETE /api/realtime/blocks/{user_id}",
        "Unblock the provider",
        auth="customerToken",
        path={"user_id": "{{providerId}}"},
    ),
    Step("GET /api/realtime/online-count", auth="adminToken"),
    # cron: the operator's view, as the admin
    Step(
        "GET /api/cron/jobs",
        auth="adminToken",
        save={"jobName": FIND.format(cond="x.name.endsWith('daily_report')") + ".name"},
    ),
    Step("POST /api/cron/jobs/{name}/pause", auth="adminToken"),
    Step("POST /api/cron/jobs/{name}/resume", auth="adminToken"),
    Step("POST /api/cron/jobs/{name}/run", "Run the daily report now", auth="adminToken"),
    Step("GET /api/cron/jobs/{name}/history", auth="adminToken"),
    Step(
        "GET /api/cron/reports",
        auth="adminToken",
        until="body.items.length > 0",
        save={"reportDay": "body.items[0].date"},
    ),
    Step("GET /api/cron/reports/{day}", auth="adminToken"),
    # live toggles: the switchboard, a feature switched off and on again, the history
    Step("GET /api/admin/toggles", auth="adminToken"),
    Step(
        "PUT /api/admin/toggles",
        "Switch typing indicators off",
        auth="adminToken",
        body={"changes": {"realtime.typing": False}},
    ),
    Step(
        "PUT /api/admin/toggles",
        "Switch typing indicators back on",
        auth="adminToken",
        body={"changes": {"realtime.typing": True}},
    ),
    Step("GET /api/admin/toggles/history", auth="adminToken"),
    # health: the seed's four checks and the rest, detailed for admins
    Step("GET /health", auth=NONE),
    Step("GET /health/live", auth=NONE),
    Step("GET /health/ready", auth=NONE),
    Step("GET /health/db", auth=NONE),
    Step("GET /health/valkey", auth=NONE),
    Step("GET /health/detailed", auth="adminToken"),
]
