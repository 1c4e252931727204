"""HTTP routes: ``/api/notifications/*`` (inbox, preferences, activity). Thin: parse, call."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from core.http.deps import KeelDep
from core.pagination import Limit, Page
from plugins.accounts.api import SECURITY, UserDep, current_user, parse_object_id
from plugins.notifications import preferences, schemas, service


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

    @put("/preferences")
    async def put_preferences(
        self, keel: KeelDep, user: UserDep, data: JSONBody[schemas.PreferencesUpdate]
    ) -> schemas.Preferences:
        """Switch channels of event types on or off; channels left out keep their setting."""
        return await preferences.update_preferences(keel, user.object_id, data)

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
