"""HTTP routes: ``/api/notifications/*`` (inbox, preferences, activity). Thin: parse, call."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from core.errors import ConflictError
from core.http import error_responses
from core.http.deps import KeelDep
from core.pagination import Limit, Page
from plugins.accounts.api import SECURITY, UserDep, current_user, parse_object_id
from plugins.notifications import preferences, schemas, service


def _strictly(body: bytes) -> schemas.PreferencesUpdate:
    """``body`` decoded without coercion: Litestar converts request data leniently, so
    ``0`` and ``"true"`` would pass as booleans, which the document does not allow."""
    try:
        return msgspec.json.decode(body, type=schemas.PreferencesUpdate)
    except msgspec.ValidationError as exc:
        bad = {"key": "preferences", "message": str(exc), "source": "body"}
        raise ValidationException("Validation failed", extra=[bad]) from exc


class NotificationController(Controller):
    """The caller's in-app inbox, notification preferences and activity log."""

    path = "/notifications"
    dependencies = {"user": Provide(current_user)}  # noqa: RUF012 - Litestar reads it
    security = SECURITY

    @get("/")
    async def list_notifications(
        self,
        keel: KeelDep,
        user: UserDep,
        page: Page = 1,
        limit: Limit = 20,
        unread: Annotated[
            bool | None, QueryParameter(description="true: unread only; false: read only.")
        ] = None,
    ) -> schemas.NotificationPage:
        """My notifications, newest first, a page at a time."""
        return await service.list_notifications(
            keel, user.object_id, page=page, limit=limit, unread=unread
        )

    @get("/unread-count")
    async def unread_count(self, keel: KeelDep, user: UserDep) -> schemas.UnreadCount:
        """How many of my notifications are unread."""
        return await service.unread_count(keel, user.object_id)

    @post("/read-all", status_code=HTTP_200_OK)
    async def read_all(self, keel: KeelDep, user: UserDep) -> schemas.Updated:
        """Mark all my notifications read."""
        return await service.mark_all_read(keel, user.object_id)

    @get("/preferences")
    async def get_preferences(self, keel: KeelDep, user: UserDep) -> schemas.Preferences:
        """My choices per event type and channel (receipts and security mail: always)."""
        return await preferences.get_preferences(keel, user.object_id)

    @put("/preferences", responses=error_responses(ConflictError))
    async def put_preferences(
        self,
        request: Request[Any, Any, Any],
        keel: KeelDep,
        user: UserDep,
        data: JSONBody[schemas.PreferencesUpdate],
    ) -> schemas.Preferences:
        """Switch channels of event types on or off; channels left out keep their setting."""
        del data  # parsed (and documented) by Litestar, leniently: decoded again strictly
        update = _strictly(await request.body())
        return await preferences.update_preferences(keel, user.object_id, update)

    @get("/activity")
    async def activity(
        self, keel: KeelDep, user: UserDep, page: Page = 1, limit: Limit = 20
    ) -> schemas.ActivityPage:
        """My account activity (profile, role and password changes), newest first."""
        return await service.list_activity(keel, user.object_id, page=page, limit=limit)

    @get("/{notification_id:str}")
    async def get_notification(
        self, keel: KeelDep, user: UserDep, notification_id: FromPath[str]
    ) -> schemas.Notification:
        """One of my notifications."""
        oid = parse_object_id(notification_id, what="notification")
        return await service.get_notification(keel, user.object_id, oid)

    @patch("/{notification_id:str}/read")
    async def mark_read(
        self, keel: KeelDep, user: UserDep, notification_id: FromPath[str]
    ) -> schemas.Notification:
        """Mark one of my notifications read."""
        oid = parse_object_id(notification_id, what="notification")
        return await service.mark_read(keel, user.object_id, oid)

    @delete("/{notification_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def delete_notification(
        self, keel: KeelDep, user: UserDep, notification_id: FromPath[str]
    ) -> None:
        """Delete one of my notifications."""
        oid = parse_object_id(notification_id, what="notification")
        await service.delete_notification(keel, user.object_id, oid)
