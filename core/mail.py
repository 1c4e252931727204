"""Email: templates (Jinja2, text + HTML) and SMTP delivery through the ``email`` queue.

``await keel.mail.send(to, subject, text=..., html=...)`` enqueues the ``core.send_mail``
job on the ``email`` queue; a worker sends it with aiosmtplib using ``[mail]``, retried with
backoff like every job (and run again when its worker dies mid-send, see :mod:`core.jobs`).

A run of the job that follows an accepted send never sends again: right after the server
accepts the message (its reply to the end of ``DATA``), before ``QUIT`` and before the job
is marked complete, a marker is written next to the job in Valkey, and each run checks it
first. What remains at least once is the window SMTP itself leaves (RFC 1047): the server
has taken the message but its acceptance never reached the worker (the connection broke,
or the worker died, between the server's commit and the marker's write, a round trip or
two). A message sent twice then keeps one Message-ID, derived from the job, so receivers
that deduplicate by Message-ID show it once.

A queued message sits in Valkey (job arguments, kept a while after the job ends, and in
Valkey's RDB/AOF files), so a message that carries a secret (a one-time code, a reset link)
is never queued: a job of its own, whose arguments name what to send (an email and a
purpose), renders it and sends it with :meth:`Mailer.deliver_now`. Either way a failed
send raises :class:`MailDeliveryError`, whose text names the recipients and the server's
answer but never the message (it becomes the job's stored error and its log line).

Templates come in pairs named ``<name>.txt`` (required) and ``<name>.html`` (optional).
The text template's first line is the subject, written ``Subject: ...``::

    Subject: Your booking {{ booking.ref }} is confirmed

    Hello {{ user.name }}, ...

HTML templates are autoescaped; text templates are not. Undefined variables are errors.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosmtplib
import jinja2
from redis.exceptions import RedisError

from core.errors import ConfigError, KeelError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import saq

    from core.context import Keel
    from core.jobs import JobRunner
    from core.settings import MailSettings

SUBJECT_PREFIX = "Subject:"
SMTP_TIMEOUT_S = 30.0
SENT_MARKER_TTL_S = 7 * 24 * 3600
"""How long the "accepted by the server" marker of a mail job is kept (longer than any
job's retries last)."""
log = logging.getLogger("core.mail")


class MailDeliveryError(KeelError):
    """SMTP delivery failed (unreachable server, refused sender, recipient or message).

    The message names the recipients, the server and the failure; when the server refused
    the message itself (after ``DATA``), only its reply code is kept, since a content
    filter's reply may quote the message.
    """


_REPLIES_BEFORE_DATA = (
    aiosmtplib.SMTPConnectResponseError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientRefused,
)
"""Server replies to commands sent before the message: their text cannot quote it."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A rendered template pair."""

    subject: str
    text: str
    html: str | None = None


def template_env(*sources: str | os.PathLike[str] | jinja2.BaseLoader) -> jinja2.Environment:
    """A Jinja2 environment for mail templates.

    Args:
        *sources: template directories or Jinja2 loaders (e.g. ``jinja2.PackageLoader``
            for templates shipped inside a plugin package), searched in order.
    """
    loaders = [
        s if isinstance(s, jinja2.BaseLoader) else jinja2.FileSystemLoader(s) for s in sources
    ]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@functools.lru_cache(maxsize=32)
def _env_for(directory: str) -> jinja2.Environment:
    return template_env(directory)


def render(
    source: str | os.PathLike[str] | jinja2.Environment, name: str, /, **context: Any
) -> RenderedMail:
    """Render the ``<name>.txt`` / ``<name>.html`` template pair.

    Args:
        source: a template directory or an environment from :func:`template_env`.
        name: the templates' common name, without extension (may contain ``/``).
        **context: template variables.

    Raises:
        jinja2.TemplateNotFound: no ``<name>.txt``.
        ValueError: the text template does not start with a ``Subject:`` line.
    """
    env = source if isinstance(source, jinja2.Environment) else _env_for(str(Path(source)))
    first, _, body = env.get_template(f"{name}.txt").render(**context).partition("\n")
    if not first.startswith(SUBJECT_PREFIX):
        raise ValueError(f"mail template {name}.txt must start with a 'Subject:' line")
    try:
        html: str | None = env.get_template(f"{name}.html").render(**context)
    except jinja2.TemplateNotFound:
        html = None
    return RenderedMail(first[len(SUBJECT_PREFIX) :].strip(), body.lstrip("\n"), html)


class Mailer:
    """Sends email through the ``email`` queue.

    Args:
        settings: the ``[mail]`` table.
        jobs: the job runner.
    """

    def __init__(self, settings: MailSettings, jobs: JobRunner) -> None:
        self.settings = settings
        self._jobs = jobs

    async def send(
        self,
        to: str | Sequence[str],
        subject: str,
        *,
        text: str,
        html: str | None = None,
        key: str | None = None,
    ) -> saq.Job | None:
        """Enqueue a message; a worker sends it.

        Args:
            to: one address or several.
            subject: the subject line.
            text: the plain-text body.
            html: an optional HTML alternative.
            key: dedupe key (e.g. ``"<event id>:welcome"``): while a message with this key
                is queued or being sent, sending it again is a no-op.

        Returns:
            The enqueued job, or None when ``key`` is already in flight.
        """
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValueError("send() needs at least one recipient")
        return await self._jobs.enqueue(
            "core.send_mail", key=key, to=recipients, subject=subject, text=text, html=html
        )

    async def send_template(
        self,
        to: str | Sequence[str],
        source: str | os.PathLike[str] | jinja2.Environment,
        name: str,
        /,
        **context: Any,
    ) -> saq.Job | None:
        """Render ``name`` with :func:`render` and :meth:`send` it."""
        mail = render(source, name, **context)
        return await self.send(to, mail.subject, text=mail.text, html=mail.html)

    async def deliver_now(
        self,
        to: str | Sequence[str],
        source: str | os.PathLike[str] | jinja2.Environment,
        name: str,
        /,
        **context: Any,
    ) -> str:
        """Render ``name`` and send it over SMTP from this process, without the queue.

        For messages that carry a secret (a code, a reset link): call it from a job whose
        arguments say what to send, not the secret, so the message is never written to
        Valkey; a retry of that job renders the message again. Nothing of the message
        is kept or logged here.

        Returns:
            The message's Message-ID.

        Raises:
            ConfigError: ``[mail] host`` is empty.
            MailDeliveryError: the server could not be reached or refused the message.
        """
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValueError("deliver_now() needs at least one recipient")
        mail = render(source, name, **context)
        message = build_message(self.settings, recipients, mail.subject, mail.text, mail.html)
        await deliver(self.settings, message)
        return str(message["Message-ID"])


def build_message(
    settings: MailSettings,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    *,
    stable_id: str | None = None,
) -> EmailMessage:
    """The MIME message: text, plus an HTML alternative when given.

    Args:
        settings: the ``[mail]`` table (sender).
        to: the recipients.
        subject: the subject line.
        text: the plain-text body.
        html: an optional HTML alternative.
        stable_id: derive the Message-ID from this (every attempt at one delivery gets the
            same one); None makes a random one.
    """
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "keel.invalid"
    if stable_id is None:
        message["Message-ID"] = make_msgid(domain=domain)
    else:
        digest = hashlib.sha256(stable_id.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@{domain}>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def deliver(
    settings: MailSettings,
    message: EmailMessage,
    *,
    accepted: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Send ``message`` over SMTP now (no queue).

    Args:
        settings: the ``[mail]`` table.
        message: the message.
        accepted: awaited as soon as the server has accepted the message, before ``QUIT``
            (a failure after that point, e.g. a lost ``QUIT``, is ignored: the message
            is on its way).

    Raises:
        ConfigError: ``[mail] host`` is empty.
        MailDeliveryError: the server refused or could not be reached; raised without
            the aiosmtplib exception as its cause, whose text may quote the message.
    """
    if not settings.host:
        raise ConfigError(["mail.host: no SMTP server configured"])
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        username=settings.username or None,
        password=settings.password or None,
        start_tls=settings.starttls,
        timeout=SMTP_TIMEOUT_S,
    )
    try:
        await client.connect()
        await client.send_message(message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        to = str(message["To"])
        where = f"{settings.host}:{settings.port}"
        raise MailDeliveryError(f"mail to {to} via {where} not sent: {_failure(exc)}") from None
    try:
        if accepted is not None:
            await accepted()
    finally:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()
        client.close()


def _failure(exc: Exception) -> str:
    """What went wrong, without any text the server may have quoted from the message."""
    kind = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return f"{kind} ({refused})"
    if isinstance(exc, _REPLIES_BEFORE_DATA):
        return f"{kind} {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{kind} {exc.code} (reply text withheld: it may quote the message)"
    return f"{kind}: {exc}"


class SentMarker:
    """The "accepted by the SMTP server" marker of one mail job, in Valkey.

    One marker per enqueued job (its id and enqueue time, which every attempt shares and a
    later job with the same key does not), next to the job's own key, so it lives in the
    same store as the job that it guards.

    Args:
        job: the running SAQ job.
    """

    def __init__(self, job: saq.Job) -> None:
        if job.queue is None:
            raise ValueError("a mail job's marker needs the job's queue")
        self._redis: Any = getattr(job.queue, "redis", None)
        self.key = f"{job.id}:smtp-accepted"
        self.delivery = f"{job.id}:{job.queued}"

    async def sent(self) -> str | None:
        """The Message-ID an earlier attempt had accepted, or None."""
        value = await self._redis.get(self.key)
        if value is None:
            return None
        delivery, _, message_id = value.decode().rpartition("|")
        return message_id if delivery == self.delivery else None

    async def mark(self, message_id: str) -> None:
        """Record the acceptance; a failure is logged, not raised (the message is sent:
        failing the job now would send it again)."""
        try:
            await self._redis.set(self.key, f"{self.delivery}|{message_id}", ex=SENT_MARKER_TTL_S)
        except (RedisError, OSError) as exc:
            log.warning("mail job %s: sent, but its marker was not written: %s", self.key, exc)


async def send_mail(
    ctx: dict[str, Any], *, to: list[str], subject: str, text: str, html: str | None = None
) -> str:
    """The ``core.send_mail`` job; returns the Message-ID.

    An attempt after one whose message the server accepted sends nothing and returns
    that message's Message-ID (see :class:`SentMarker` and the module's docstring).

    Raises:
        MailDeliveryError: see :func:`deliver`; SAQ retries the job.
    """
    keel: Keel = ctx["keel"]
    job: saq.Job | None = ctx.get("job")
    marker = SentMarker(job) if job is not None and job.queue is not None else None
    if marker is not None and (earlier := await marker.sent()) is not None:
        log.info("mail job %s: accepted by the server in an earlier attempt", marker.key)
        return earlier
    stable = marker.delivery if marker is not None else None
    message = build_message(keel.settings.mail, to, subject, text, html, stable_id=stable)
    message_id = str(message["Message-ID"])

    async def accepted() -> None:
        if marker is not None:
            await marker.mark(message_id)

    await deliver(keel.settings.mail, message, accepted=accepted)
    return message_id
