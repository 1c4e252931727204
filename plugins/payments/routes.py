"""HTTP routes: ``/api/payments`` and ``/api/webhooks/stripe``. Thin: parse, call, shape."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from core.errors import ConflictError, NotFoundError, UnprocessableError
from core.http import error_responses
from core.http.deps import KeelDep
from core.pagination import Limit, Page
from plugins.accounts.api import SECURITY, UserDep, admin_only, current_user
from plugins.payments import refunds, schemas, service, webhooks
from plugins.payments.gateway import gateway

_ID = r"^[0-9a-f]{24}$"
BookingFilter = Annotated[str | None, QueryParameter(name="bookingId", pattern=_ID)]
CustomerFilter = Annotated[str | None, QueryParameter(name="customerId", pattern=_ID)]
ProviderFilter = Annotated[str | None, QueryParameter(name="providerId", pattern=_ID)]
StatusFilter = Annotated[str | None, QueryParameter(pattern=r"^[a-z_]{1,40}$")]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", pattern=r"^[A-Za-z0-9_.:-]{1,100}$", required=False),
]
StripeSignature = Annotated[
    str,
    HeaderParameter(
        name="Stripe-Signature",
        required=True,
        max_length=4096,
        pattern=r"^[\x21-\x7e]+(?![\s\S])",
        description="Stripe's signature of the raw body: `t=<unix time>,v1=<hex HMAC>`.",
    ),
]
_WEBHOOK_REFUSED = {
    401: ResponseSpec(
        data_container=None,
        description="The `Stripe-Signature` does not verify the body: malformed, tampered, "
        "older than 5 minutes, made with another secret, or no signing secret is "
        "configured (`unauthorized`). Nothing is recorded.",
    )
}


class PaymentController(Controller):
    """Payment intents of bookings, their listing and refunds."""

    path = "/payments"
    dependencies = {"user": Provide(current_user)}  # noqa: RUF012 - Litestar reads a dict
    security = SECURITY

    @post(
        "/intents",
        status_code=HTTP_200_OK,
        responses=error_responses(NotFoundError, ConflictError, UnprocessableError),
    )
    async def create_intent(
        self, *, keel: KeelDep, user: UserDep, data: JSONBody[schemas.IntentCreate]
    ) -> schemas.Payment:
        """The caller's booking's payment intent (the same one on every call).

        With ``paymentMethodId`` it is confirmed on the server; the answer's ``status``
        says how that went (``succeeded``, ``failed`` with ``failureCode``, ...).

        404: no such booking of the caller's. 409: the booking is cancelled or costs
        nothing, its currency is not accepted, or a payment of it is in progress.
        422: Stripe refused the payment method (unknown, or not usable).
        """
        doc = await service.open_intent(
            keel, gateway(keel), user.id, data.booking_id, data.payment_method_id
        )
        return schemas.payment_out(doc, user.id)

    @get("/")
    async def list_payments(
        self,
        *,
        keel: KeelDep,
        user: UserDep,
        page: Page = 1,
        limit: Limit = 20,
        status: StatusFilter = None,
        booking_id: BookingFilter = None,
        customer_id: CustomerFilter = None,
        provider_id: ProviderFilter = None,
    ) -> schemas.PaymentPage:
        """The caller's payments (as payer or provider); admins see all and may filter."""
        wanted = {
            "status": status,
            "booking_id": booking_id,
            "customer_id": customer_id,
            "provider_id": provider_id,
        }
        docs, total = await service.list_payments(
            keel,
            user.id,
            admin=user.is_admin,
            page=page,
            limit=limit,
            filters={k: v for k, v in wanted.items() if v is not None},
        )
        items = [schemas.payment_out(d, user.id) for d in docs]
        return schemas.PaymentPage(items=items, total=total, page=page, limit=limit)

    @get("/{payment_id:str}")
    async def get_payment(
        self, *, keel: KeelDep, user: UserDep, payment_id: FromPath[str]
    ) -> schemas.Payment:
        """One payment: for its payer, the booking's provider or an admin (others 404)."""
        doc = await service.get_payment(keel, payment_id, user.id, admin=user.is_admin)
        return schemas.payment_out(doc, user.id)

    @post(
        "/{payment_id:str}/refund",
        status_code=HTTP_200_OK,
        guards=[admin_only],
        responses=error_responses(ConflictError),
    )
    async def refund_payment(
        self,
        *,
        keel: KeelDep,
        user: UserDep,
        payment_id: FromPath[str],
        data: JSONBody[schemas.RefundCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> schemas.RefundResult:
        """Refund all that is left, or ``amount`` of it (admins; never more than is left).

        Send an ``Idempotency-Key`` header to make a retry safe: the same key never
        refunds twice. 409: not paid, nothing (or less than ``amount``) left, or Stripe
        refused; 503: Stripe did not answer (retry with the same key).
        """
        key = f"admin:{payment_id}:{idempotency_key or uuid.uuid4().hex}"
        doc, record = await refunds.refund(
            keel,
            gateway(keel),
            service.object_id(payment_id, "payment"),
            data.amount,
            key=key,
            reason=data.reason,
            by=user.id,
        )
        return schemas.RefundResult(
            refund_id=record["_id"],
            amount=int(record["amount"]),
            stripe_refund_id=record.get("stripe_refund_id"),
            payment=schemas.payment_out(doc, user.id),
        )


class WebhookController(Controller):
    """Stripe's event deliveries (signed; not rate limited)."""

    path = "/webhooks"

    @post("/stripe", status_code=HTTP_200_OK, opt={"rate_limit": None}, responses=_WEBHOOK_REFUSED)
    async def stripe_webhook(
        self,
        *,
        keel: KeelDep,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.StripeEvent],
        stripe_signature: StripeSignature,
    ) -> schemas.WebhookAck:
        """Stripe's delivery of an event: verified, recorded, processed once.

        The ``Stripe-Signature`` is checked on the raw bytes of the body (401 if it does
        not verify); a body that is not a Stripe event, or no signature, is a 400.
        """
        del data  # the documented shape; the event is read from the verified raw body
        payload = await request.body()
        event = webhooks.verify(keel, payload, stripe_signature)
        outcome = await webhooks.receive(keel, event)
        return schemas.WebhookAck(received=True, outcome=outcome)


def route_handlers() -> list[Any]:
    """The plugin's controllers."""
    return [PaymentController, WebhookController]
