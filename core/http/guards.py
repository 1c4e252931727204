"""Route guards shared by core routes.

``admin_only`` delegates to :func:`core.accounts.require_role` (``"admin"``): 401 without a
valid access token, 403 for a signed-in user who is not an admin.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

__all__ = ["admin_only"]


async def admin_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Allow administrators only (the real check lives in :mod:`core.accounts`).

    Raises:
        UnauthorizedError: no valid access token (401).
        ForbiddenError: a valid token of a user who is not an admin (403).
    """
    from core.accounts.security import admin_only as accounts_admin_only  # noqa: PLC0415 - cycle

    await accounts_admin_only(connection, handler)
