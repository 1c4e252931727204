"""Development without a Stripe account: localstripe as a dev service, and its webhook.

localstripe (GPL-3.0, in the ``dev`` extra) runs only as a separate process; keel
never imports it. It keeps its state in memory (``--from-scratch``: it would otherwise
reload ``/tmp/localstripe.pickle`` left by any earlier run on the machine).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx

from core.context import settings_of
from core.records import DevService
from core.settings import Settings
from plugins.payments.settings import PaymentsSettings

log = logging.getLogger("plugins.payments")
WEBHOOK_ID = "keel"
TEST_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - the emulator accepts any sk_ key
TEST_WEBHOOK_SECRET = "whsec_localstripe"  # noqa: S105 - development only
"""localstripe's documented webhook secret: public, so accepted only under ``keel run`` on
loopback. keel's own dev stacks never use it: each makes a random one (below)."""


def dev_webhook_secret() -> str:
    """A webhook secret for one dev stack: random, so nobody can sign with it but the
    localstripe the stack starts (which keel hands it when registering its webhook)."""
    return "whsec_dev" + secrets.token_hex(24)


def public_secret_problem(webhook_secret: str) -> str | None:
    """Why ``webhook_secret`` must not verify deliveries in this process, or None.

    It is the public localstripe secret and this process is not ``keel run`` on a
    loopback address: anyone could sign a ``payment_intent.succeeded`` with it and mark a
    booking paid with no charge. Checked at startup (``check_settings``) and again on
    each delivery.
    """
    from core.devstack import dev_pages  # noqa: PLC0415

    pages = dev_pages()
    if webhook_secret != TEST_WEBHOOK_SECRET or (pages is not None and not pages.admins_only):
        return None
    return (
        "plugins.payments.webhook_secret: localstripe's public secret, accepted only under"
        " `keel run` on a loopback address; set it to your Stripe endpoint's signing secret"
    )


def needs_localstripe(app_settings: Settings) -> bool:
    """localstripe is started when no Stripe secret key is configured."""
    return not settings_of(app_settings, PaymentsSettings).secret_key


def localstripe_service() -> DevService:
    """The localstripe dev service and the settings that point payments at it."""
    return DevService(
        name="localstripe",
        command=["{python}", "-m", "localstripe", "--port", "{port}", "--from-scratch"],
        settings_overrides={
            "plugins.payments.api_base": "http://127.0.0.1:{port}",
            "plugins.payments.secret_key": TEST_SECRET_KEY,
            "plugins.payments.webhook_secret": dev_webhook_secret(),
            "plugins.payments.emulator": "true",
        },
        needed=needs_localstripe,
    )


def webhook_url(settings: PaymentsSettings, app_settings: Any) -> str:
    """Where the emulator should post events: ``webhook_url`` or this server's endpoint."""
    if settings.webhook_url:
        return settings.webhook_url
    host = app_settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a listen address, not a bind
        host = "127.0.0.1"
    return f"http://{host}:{app_settings.server.port}/api/webhooks/stripe"


async def register_webhook(settings: PaymentsSettings, app_settings: Any) -> bool:
    """Tell localstripe to post every event, signed with ``webhook_secret``, to keel.

    A failure is logged, never raised: the API still works, only webhooks are missing
    (reconciliation repairs their absence).
    """
    url = webhook_url(settings, app_settings)
    form = {"url": url, "secret": settings.webhook_secret}
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.post(
                f"{settings.api_base}/_config/webhooks/{WEBHOOK_ID}", data=form
            )
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("payments: could not register the webhook with localstripe: %s", exc)
        return False
    log.info("payments: localstripe posts events to %s", url)
    return True
