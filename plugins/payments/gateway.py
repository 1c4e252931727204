"""The Stripe API, through the official SDK's async calls (``StripeClient`` + aiohttp).

Only this module talks to Stripe. Intents are plain dicts from here on (``to_dict``),
so the state machine in :mod:`plugins.payments.state` reads Stripe objects the same way
whether they come from an API answer, a webhook or reconciliation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import stripe

from core.context import settings_of
from core.errors import ServiceUnavailableError
from core.stash import StashKey
from plugins.payments.settings import PaymentsSettings

if TYPE_CHECKING:
    from core.context import Keel

log = logging.getLogger("plugins.payments")
Intent = dict[str, Any]


class CardDeclined(Exception):  # noqa: N818 - a Stripe outcome, not a keel error
    """Stripe declined the payment method; the intent is still there (retrieve it)."""

    def __init__(self, code: str | None, message: str | None) -> None:
        super().__init__(message or code or "declined")
        self.code = code
        self.message = message


class Gateway:
    """Async Stripe calls with keel's settings (key, ``api_base``, timeout).

    Args:
        settings: the plugin's settings.
    """

    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        # Not HTTPXClient: stripe 16 hands httpx 0.28 raw bytes as ``data=``, which warns.
        self._http = stripe.AIOHTTPClient(timeout=settings.request_timeout_s)
        self.client = stripe.StripeClient(
            settings.secret_key or "sk_test_unset",
            base_addresses={"api": settings.api_base},
            http_client=self._http,
            max_network_retries=2,
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> Intent:
        """A new PaymentIntent (server-side confirmation later); same key, same intent."""
        params: Any = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        return await self._call(
            self.client.v1.payment_intents.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        )

    async def confirm(self, intent_id: str, payment_method: str) -> Intent:
        """Attach ``payment_method`` and confirm on the server.

        Two calls (update, then confirm without a method): localstripe answers "Not
        implemented" to a confirm that carries the method; Stripe accepts both forms.

        Raises:
            CardDeclined: the card was declined (the intent awaits another method).
        """
        intents = self.client.v1.payment_intents
        await self._call(intents.update_async(intent_id, {"payment_method": payment_method}))
        return await self._call(intents.confirm_async(intent_id))

    async def retrieve(self, intent_id: str) -> Intent:
        """The intent with its latest charge expanded (for refunds and failures)."""
        params: Any = {"expand": ["latest_charge"]}
        return await self._call(self.client.v1.payment_intents.retrieve_async(intent_id, params))

    async def cancel(self, intent_id: str) -> Intent:
        """Cancel an unpaid intent so it can never be charged."""
        return await self._call(self.client.v1.payment_intents.cancel_async(intent_id))

    async def refund(self, intent_id: str, amount: int, *, idempotency_key: str) -> str:
        """Refund ``amount`` of the intent's charge; the Stripe refund id."""
        params: Any = {"payment_intent": intent_id, "amount": amount}
        refund = await self._call(
            self.client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key})
        )
        return str(refund["id"])

    async def _call(self, pending: Any) -> Intent:
        try:
            result = await pending
        except stripe.CardError as exc:
            raise CardDeclined(exc.code, exc.user_message) from None
        except stripe.InvalidRequestError as exc:
            raise StripeRejected(exc.http_status, exc.code, exc.user_message or str(exc)) from None
        except (stripe.StripeError, aiohttp.ClientError) as exc:
            log.warning("payments: Stripe call failed: %s", exc)
            raise ServiceUnavailableError("the payment provider is unavailable") from None
        return to_dict(result)


class StripeRejected(Exception):  # noqa: N818 - a Stripe outcome, not a keel error
    """Stripe refused a request (bad state, unknown object)."""

    def __init__(self, status: int | None, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def to_dict(obj: Any) -> dict[str, Any]:
    """A Stripe object (or anything mapping-like) as plain nested dicts."""
    if hasattr(obj, "to_dict"):
        result: dict[str, Any] = obj.to_dict()
        return result
    return dict(obj)


GATEWAY = StashKey[Gateway]("payments.gateway")
"""``keel.stash`` key of the process's :class:`Gateway`."""


def payments_settings(keel: Keel) -> PaymentsSettings:
    """The payments plugin's settings of ``keel``."""
    return settings_of(keel, PaymentsSettings)


def gateway(keel: Keel) -> Gateway:
    """The process's :class:`Gateway` (made on first use, closed by ``on_shutdown``)."""
    return keel.stash.get_or_create(GATEWAY, lambda: Gateway(payments_settings(keel)))
