"""The accounts mail job: codes, reset links and "you already have an account" notices.

Routes that must not reveal whether an email has an account (register, resend-otp,
forgot-password) only enqueue ``accounts.send_code`` with the email as typed, the
same job in every case; the lookup, the token and the email happen here, in a worker, so
neither the answer nor its timing depends on the account. The email goes out through
:mod:`core.mail` whether or not the notifications plugin is enabled.

Codes and reset links are secrets: the job's arguments are the email and the purpose only,
and the job renders and sends the email itself (:meth:`core.mail.Mailer.deliver_now`)
instead of queueing ``core.send_mail`` with the body, so no code or link is ever written
to Valkey (job arguments, results, errors, and so Valkey's RDB/AOF files) or logged.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import jinja2

from core.context import Keel
from core.mail import template_env
from core.records import Job
from core.settings import public_link

from ._codes import issue_otp, issue_reset_token, pending_otp_purpose
from ._users import find_by_email

CodePurpose = Literal["verify", "verify_password", "login", "resend", "reset", "exists"]
JOB_NAME = "accounts.send_code"
log = logging.getLogger("plugins.accounts")
_ENV: list[jinja2.Environment] = []


def templates() -> jinja2.Environment:
    """The Jinja2 environment of the accounts mail templates."""
    if not _ENV:
        _ENV.append(template_env(jinja2.PackageLoader("plugins.accounts", "templates")))
    return _ENV[0]


async def enqueue_send_code(keel: Keel, email: str, purpose: CodePurpose) -> None:
    """Queue :func:`send_code` (one Valkey write, whatever the account state)."""
    await keel.jobs.enqueue(JOB_NAME, email=email, purpose=purpose)


async def send_code(ctx: dict[str, Any], *, email: str, purpose: CodePurpose) -> bool:
    """Look the email up and send what ``purpose`` asks for; nothing for unknown emails.

    Purposes: ``verify`` (code after registration; for an address registered again
    before it was confirmed, a code that confirms only with that registration's
    password, see :func:`plugins.accounts._auth.verify_otp`), ``login`` (code at login),
    ``resend`` (a new code for an unverified account or a pending code), ``reset``
    (a password-reset link), ``exists`` (a registration hit an existing account).

    The email is sent from this job, over SMTP, and never queued. When sending fails the
    job is retried, and each retry issues a fresh code or reset token, which replaces
    the one before: only the newest email's code or link works. (Delivery is still at
    least once: if a server took a message but its answer was lost, the retry sends a
    second email, and the first one's code or link no longer works.)

    Returns:
        Whether an email was sent (never the code or the token: SAQ stores the result).

    Raises:
        MailDeliveryError: the SMTP server was unreachable or refused the message; its
            text names the recipient, never the message.
    """
    keel: Keel = ctx["keel"]
    auth = keel.settings.auth
    user = await find_by_email(keel, email)
    if user is None:
        return False
    common = {"app_name": keel.settings.app.name, "name": user.name}
    if purpose == "reset":
        token = await issue_reset_token(keel, user.id)
        url = public_link(keel.settings, auth.reset_url.replace("{token}", token))
        minutes = auth.reset_ttl_s // 60
        await keel.mail.deliver_now(
            user.email, templates(), "reset", token=token, url=url, minutes=minutes, **common
        )
        return True
    if purpose == "exists":
        await keel.mail.deliver_now(user.email, templates(), "account_exists", **common)
        return True
    if purpose == "resend":
        pending = await pending_otp_purpose(keel, user.id)
        if pending is None and user.verified:
            return False
        purpose = "login" if pending == "login" else "verify"
    if purpose != "login" and not user.verified and user.verify_with_password:
        purpose = "verify_password"
    code = await issue_otp(keel, user.id, purpose)
    await keel.mail.deliver_now(
        user.email,
        templates(),
        "otp",
        code=code,
        purpose=purpose,
        minutes=auth.otp_ttl_s // 60,
        **common,
    )
    return True


def jobs() -> list[Job]:
    """The accounts jobs, registered by the core as ``plugins.accounts.<name>``."""
    return [Job("send_code", send_code, queue="email", recipient_arg="email")]
