"""Route guards shared by core routes.

``admin_only``: 401 without a valid access token, 403 for a signed-in user who is not an
admin; the caller comes from the plugin that provides ``register_authenticator``.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from core.errors import ForbiddenError, UnauthorizedError

__all__ = ["admin_only"]


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
