"""Running a reaction: recipients, preferences, dedupe, email and in-app delivery.

Each delivery is claimed under a unique index before it happens, so a redelivered event
(the queue delivers at least once) finds the claim and does nothing more:

- email: ``notifications_deliveries`` (event id, recipient, channel); the claim is marked
  ``sent`` once the message is on the ``email`` queue. A claim left unsent by a crash is
  retried on the next delivery.
- in-app: ``notifications_inbox`` (event id, user id); ``published`` is set once
  ``notification.created`` went out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.clock import as_utc
from core.mail import render
from plugins.accounts.api import get_users
from plugins.notifications.events import NotificationCreated
from plugins.notifications.models import Delivery, Notification, utcnow
from plugins.notifications.preferences import allowed, preferences_of
from plugins.notifications.reactions import Reaction, Target, link_data

if TYPE_CHECKING:
    from core.context import Keel

log = logging.getLogger("plugins.notifications")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A resolved target: who they are and how to reach them."""

    id: str
    role: str
    name: str
    email: str


async def resolve(keel: Keel, targets: list[Target]) -> dict[str, Recipient]:
    """Look the targets up in the accounts' users (one query); unknown users are left out."""
    ids: list[ObjectId] = []
    for target in targets:
        if not target.email:
            try:
                ids.append(ObjectId(target.user_id))
            except (InvalidId, TypeError):
                log.warning("not a user id: %r", target.user_id)
    found = await get_users(keel, ids)
    people: dict[str, Recipient] = {}
    for t in targets:
        doc = found.get(t.user_id)
        if t.email:
            people[t.user_id] = Recipient(t.user_id, t.role, t.name or t.email, t.email)
        elif doc is not None:
            people[t.user_id] = Recipient(t.user_id, t.role, doc["name"], doc["email"])
    return people


class Reactor:
    """Delivers the reactions of :mod:`plugins.notifications.reactions`.

    Args:
        templates: the plugin's Jinja2 environment.
        app_url: base URL for links in templates.
    """

    def __init__(self, templates: jinja2.Environment, app_url: str) -> None:
        self.templates = templates
        self.app_url = app_url

    async def react(self, keel: Keel, reaction: Reaction, event: Any) -> None:
        """Send the emails and create the in-app notifications ``event`` calls for."""
        by_email = reaction.email(event)
        by_app = reaction.in_app(event)
        people = await resolve(keel, [*by_email, *by_app])
        prefs = await preferences_of(keel, list(people))
        for target in by_email:
            if (who := people.get(target.user_id)) and (
                reaction.always_email or allowed(prefs, who.id, reaction.event, "email")
            ):
                await self.email(keel, reaction, event, who)
        for target in by_app:
            if (who := people.get(target.user_id)) and allowed(
                prefs, who.id, reaction.event, "in_app"
            ):
                await self.in_app(keel, reaction, event, who)

    def _context(self, event: Any, who: Recipient) -> dict[str, Any]:
        return {"event": event, "recipient": who, "app_url": self.app_url}

    async def email(self, keel: Keel, reaction: Reaction, event: Any, who: Recipient) -> None:
        """Queue the email of ``reaction`` for ``who`` unless this event already did."""
        claims = keel.db.get_collection(Delivery)
        where = {"event_id": event.id, "recipient": who.id, "channel": "email"}
        fresh = {"kind": reaction.event, "sent": False, "created_at": utcnow()}
        try:
            claim = await claims.find_one_and_update(
                where, {"$setOnInsert": fresh}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # a concurrent delivery inserted it first
            claim = await claims.find_one(where)
        if claim is None or claim["sent"]:
            return
        mail = render(self.templates, reaction.template, **self._context(event, who))
        key = f"notifications:{event.id}:{who.id}"
        await keel.mail.send(who.email, mail.subject, text=mail.text, html=mail.html, key=key)
        await claims.update_one({"_id": claim["_id"]}, {"$set": {"sent": True}})

    async def in_app(self, keel: Keel, reaction: Reaction, event: Any, who: Recipient) -> None:
        """Add the in-app notification of ``reaction`` for ``who`` unless already there."""
        text = render(self.templates, f"inapp/{reaction.template}", **self._context(event, who))
        note = Notification(
            id=ObjectId(),
            user_id=ObjectId(who.id),
            event_id=event.id,
            kind=reaction.event,
            title=text.subject,
            body=text.text.strip(),
            data=link_data(event),
        )
        inbox = keel.db.get_collection(Notification)
        doc = note.model_dump_doc()
        try:
            await inbox.insert_one(doc)
        except DuplicateKeyError:
            found = await inbox.find_one({"event_id": event.id, "user_id": note.user_id})
            if found is None or found["published"]:
                return
            doc = found
        await publish(keel, doc)


async def publish(keel: Keel, doc: dict[str, Any]) -> None:
    """Emit ``notification.created`` for a stored notification, then mark it published.

    The event id is the notification's id, so listeners dedupe a second publication.
    """
    await keel.events.emit(
        NotificationCreated(
            id=str(doc["_id"]),
            notification_id=str(doc["_id"]),
            user_id=str(doc["user_id"]),
            kind=doc["kind"],
            title=doc["title"],
            body=doc["body"],
            data=dict(doc["data"]),
            created_at=as_utc(doc["created_at"]),
        )
    )
    await keel.db.get_collection(Notification).update_one(
        {"_id": doc["_id"]}, {"$set": {"published": True}}
    )
