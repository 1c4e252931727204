"""The ``/ws`` endpoint, the history routes and the development demo page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Response, WebSocket, delete, get, post, websocket
from litestar.di import Provide
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from core.devstack import dev_pages_only
from core.errors import DomainError, UnprocessableError
from core.http import KeelDep, error_responses
from core.pagination import Limit, Page
from plugins.accounts.api import SECURITY, UserDep, admin_only, current_user
from plugins.realtime import api, blocks, service
from plugins.realtime.hub import hub_of
from plugins.realtime.schemas import (
    BlockOut,
    BlockPage,
    MessageOut,
    MessagePage,
    OnlineCount,
    RoomOut,
    RoomPage,
)
from plugins.realtime.session import open_session

DEMO = Path(__file__).with_name("demo.html")


class FeatureDisabledError(DomainError):
    """A feature switched off in ``[plugins.realtime]``."""

    status = 404
    code = "feature_disabled"


@websocket("/ws")
async def realtime_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """The realtime WebSocket (protocol: docs/realtime.md)."""
    await open_session(hub_of(socket.app.state.keel), socket)


def _check_enabled(keel: Any) -> None:
    if not hub_of(keel).feature("messages"):
        raise FeatureDisabledError("the realtime feature 'messages' is switched off")


class RoomController(Controller):
    """Rooms and message history of the caller."""

    path = "/realtime/rooms"
    dependencies = {"user": Provide(current_user)}  # noqa: RUF012 - Litestar reads a dict
    security = SECURITY

    @get("/")
    async def list_rooms(
        self,
        keel: KeelDep,
        user: UserDep,
        page: Page = 1,
        limit: Limit = 20,
    ) -> RoomPage:
        """The caller's rooms, most recently active first."""
        _check_enabled(keel)
        rooms, total = await service.rooms_of(keel, user.id, page=page, limit=limit)
        items = [msgspec.convert(service.room_data(r), RoomOut) for r in rooms]
        return RoomPage(items=items, page=page, limit=limit, total=total)

    @get("/{room_id:str}/messages")
    async def list_messages(
        self,
        keel: KeelDep,
        user: UserDep,
        room_id: FromPath[str],
        before: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^[0-9a-f]{24}$", description="`nextBefore` of the previous page."
            ),
        ] = None,
        limit: Limit = 50,
    ) -> MessagePage:
        """A room's messages, newest first (members only; others get 404)."""
        _check_enabled(keel)
        room = await service.member_room(keel, room_id, user.id)
        messages, cursor = await service.history(keel, str(room.id), before=before, limit=limit)
        items = [msgspec.convert(service.message_data(m), MessageOut) for m in messages]
        return MessagePage(items=items, next_before=cursor)


class BlockController(Controller):
    """The users the caller blocked: they get none of the caller's presence, typing or
    messages, and cannot open a conversation with them."""

    path = "/realtime/blocks"
    dependencies = {"user": Provide(current_user)}  # noqa: RUF012 - Litestar reads a dict
    security = SECURITY

    @get("/")
    async def list_blocks(
        self, keel: KeelDep, user: UserDep, page: Page = 1, limit: Limit = 20
    ) -> BlockPage:
        """The caller's blocked users, most recently blocked first."""
        found, total = await blocks.blocks_of(keel, user.id, page=page, limit=limit)
        items = [BlockOut(user_id=b.blocked, created_at=service.iso(b.created_at)) for b in found]
        return BlockPage(items=items, page=page, limit=limit, total=total)

    @post(
        "/{user_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(UnprocessableError),
    )
    async def block_user(self, keel: KeelDep, user: UserDep, user_id: FromPath[str]) -> None:
        """Block a user (idempotent; 404 for an unknown id, 422 for oneself)."""
        await blocks.block(keel, user.id, user_id)

    @delete("/{user_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def unblock_user(self, keel: KeelDep, user: UserDep, user_id: FromPath[str]) -> None:
        """Undo a block (idempotent)."""
        await blocks.unblock(keel, user.id, user_id)


@get("/realtime/online-count", guards=[admin_only], security=SECURITY)
async def online_count(keel: KeelDep) -> OnlineCount:
    """How many users are online on any process (admins only)."""
    return OnlineCount(count=await api.online_users_count(keel))


@get(
    "/realtime/demo",
    include_in_schema=False,
    opt={"rate_limit": None},
    guards=[dev_pages_only],  # 404 outside `keel run`, whatever `demo` says; admins if public
)
async def demo_page() -> Response[bytes]:
    """Two browser tabs, two users: typing, presence and messages live (``keel run`` only)."""
    csp = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'"
    )
    return Response(
        DEMO.read_bytes(), media_type=MediaType.HTML, headers={"content-security-policy": csp}
    )
