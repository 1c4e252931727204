"""Route guards shared by core routes.

``admin_only``: 401 without a valid access token, 403 for a signed-in user who is not an
admin; the caller comes from the plugin that provides ``register_authenticator``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from core.errors import ForbiddenError, UnauthorizedError

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]

__all__ = ["admin_only", "plugin_gate"]


async def admin_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Allow administrators only, as the plugin that provides ``register_authenticator``
    (the essential ``accounts`` plugin) identifies them.

    Raises:
        UnauthorizedError: no valid access token, or no authenticator at all (401).
        ForbiddenError: a valid token of a user who is not an admin (403).
    """
    authenticate = connection.app.state.keel.host.authenticator()
    if authenticate is None:
        raise UnauthorizedError("no plugin authenticates callers")
    caller = await authenticate(connection)
    if caller.role != "admin":
        raise ForbiddenError("requires role admin")


def plugin_gate(plugin: str) -> Guard:
    """A guard for every route of ``plugin``: 404, as for a path no plugin serves, while
    the plugin is switched off live (:mod:`core.toggles`; an in-memory read)."""

    # async: Litestar runs a sync guard in a worker thread
    async def gate(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not connection.app.state.keel.toggles.active(plugin):
            raise NotFoundException()

    gate.plugin_gate = True  # type: ignore[attr-defined] # core.http.openapi: no 401/403
    return gate
