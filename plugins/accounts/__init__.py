"""Accounts: users, authentication and roles, built into the core.

What plugins use (all importable from ``plugins.accounts``):

- ``current_user`` / ``optional_user``: Litestar dependencies giving the caller as a
  :class:`CurrentUser` (``dependencies={"user": Provide(current_user)}`` and a handler
  parameter ``user: UserDep``, or ``OptionalUserDep``);
  ``authenticate(connection)`` does the same for WebSockets.
- ``require_role("admin", ...)`` and ``admin_only``: route guards.
- ``owned_or_404(obj, owner_id, user)`` and ``parse_object_id(value)``: object-level
  authorization that answers 404 for objects a caller may not see.
- ``verify_access_token(keel, token)``: the same check for a token that comes on its own
  (a WebSocket's ``refresh`` frame).
- ``UserCreated``, ``UserUpdated``, ``UserDeleted``, ``SessionsRevoked`` (from
  :mod:`plugins.accounts.events`).
- ``SECURITY``: the OpenAPI ``security`` value for routes that need a token.

Names are imported on first use, so ``keel --help`` and workers do not load Litestar
through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Role, SessionsRevoked, UserCreated, UserDeleted, UserUpdated
    from .routes import BEARER, SECURITY
    from .security import (
        CurrentUser,
        OptionalUserDep,
        UserDep,
        admin_only,
        authenticate,
        current_user,
        optional_user,
        owned_or_404,
        parse_object_id,
        require_role,
        verify_access_token,
    )

__all__ = [
    "BEARER",
    "SECURITY",
    "CurrentUser",
    "OptionalUserDep",
    "Role",
    "SessionsRevoked",
    "UserCreated",
    "UserDeleted",
    "UserDep",
    "UserUpdated",
    "admin_only",
    "authenticate",
    "check_settings",
    "current_user",
    "event_types",
    "models",
    "optional_user",
    "owned_or_404",
    "parse_object_id",
    "require_role",
    "route_handlers",
    "verify_access_token",
]

_LAZY = {
    "Role": ".events",
    "SessionsRevoked": ".events",
    "UserCreated": ".events",
    "UserDeleted": ".events",
    "UserUpdated": ".events",
    "BEARER": ".routes",
    "SECURITY": ".routes",
    **dict.fromkeys(
        [
            "CurrentUser",
            "OptionalUserDep",
            "UserDep",
            "admin_only",
            "authenticate",
            "current_user",
            "optional_user",
            "owned_or_404",
            "parse_object_id",
            "require_role",
            "verify_access_token",
        ],
        ".security",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def route_handlers() -> list[Any]:
    """The ``/auth`` and ``/users`` controllers, for the app to mount under ``/api``."""
    from .routes import route_handlers as handlers  # noqa: PLC0415

    return list(handlers())


def models() -> list[Any]:
    """The accounts' odmantic models, whose indexes the runtime creates at startup."""
    from .documents import MODELS  # noqa: PLC0415

    return list(MODELS)


def event_types() -> list[Any]:
    """``user.created``, ``user.updated``, ``user.deleted``: for the event catalog."""
    from .events import EVENT_TYPES  # noqa: PLC0415

    return list(EVENT_TYPES)


def check_settings(settings: Any) -> list[str]:
    """Problems with ``[auth]`` given the rest of the settings (a production JWT key)."""
    from .tokens import check_settings as check  # noqa: PLC0415

    return check(settings)
