"""Authorization helpers for routes: who is calling, role guards, ownership checks.

Use them in any plugin::

    from litestar import get
    from litestar.di import Provide
    from plugins.accounts.api import UserDep, current_user, owned_or_404, parse_object_id

    @get("/bookings/{booking_id:str}", dependencies={"user": Provide(current_user)})
    async def get_booking(booking_id: str, user: UserDep) -> Booking:
        booking = await find(parse_object_id(booking_id))
        return owned_or_404(booking, booking and booking.customer_id, user)

Unauthorized callers get 401; an object a caller may not see is a 404, the same as an
object that does not exist (never a 403, never the object).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import msgspec
from bson import ObjectId
from bson.errors import InvalidId
from litestar.connection import ASGIConnection, Request
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import SkipValidation

from core.context import Keel
from core.errors import ForbiddenError, NotFoundError, UnauthorizedError
from core.logging import set_log_user

from ._revocation import access_problem
from ._runtime import accounts
from .events import Role

T = TypeVar("T")
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]
_STATE_KEY = "keel.current_user"
_BEARER = "bearer "


class CurrentUser(msgspec.Struct, frozen=True):
    """The authenticated caller, from a verified and unrevoked access token.

    Attributes:
        id: the user's id (hex ObjectId).
        role: ``customer``, ``provider`` or ``admin``.
        session: the login session (refresh-token family) the token belongs to.
        issued_at: when the token was issued (Unix time).
        expires_at: when the token expires (Unix time): a WebSocket opened with it
            ends then, unless the client sends a newer token.
    """

    id: str
    role: Role
    session: str
    issued_at: float = 0.0
    expires_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an admin."""
        return self.role == "admin"

    @property
    def object_id(self) -> ObjectId:
        """The id as an ObjectId, for queries."""
        return ObjectId(self.id)


UserDep = NamedDependency[SkipValidation[CurrentUser]]
"""Annotation of a handler parameter named ``user`` provided by :func:`current_user`."""
OptionalUserDep = NamedDependency[SkipValidation[CurrentUser | None]]
"""Annotation of a handler parameter provided by :func:`optional_user`."""


def keel_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Keel:
    """The runtime context of the app serving ``connection``."""
    keel: Keel = connection.app.state.keel
    return keel


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is none."""
    header = connection.headers.get("authorization")
    if header is None:
        return None
    if not header[: len(_BEARER)].lower() == _BEARER or len(header) > 4096:  # noqa: PLR2004
        raise UnauthorizedError("expected an 'Authorization: Bearer <token>' header")
    return header[len(_BEARER) :].strip()


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], token: str | None = None
) -> CurrentUser:
    """The caller of an HTTP request or WebSocket, verified once per connection.

    Args:
        connection: the request or WebSocket.
        token: the access token when it does not come in an ``Authorization`` header
            (browsers cannot set headers on a WebSocket: a query parameter or a
            ``Sec-WebSocket-Protocol`` entry carries it); None reads the header.

    Raises:
        UnauthorizedError: no token, or a bad, expired or revoked one.
    """
    cached = connection.state.get(_STATE_KEY)
    if isinstance(cached, CurrentUser):
        return cached
    if token is None:
        token = bearer_token(connection)
    if not token:
        raise UnauthorizedError("authentication required: send 'Authorization: Bearer <token>'")
    user = await verify_access_token(keel_of(connection), token)
    connection.state[_STATE_KEY] = user
    set_log_user(user.id)  # this request's later log lines, its access line included
    return user


async def verify_access_token(keel: Keel, token: str) -> CurrentUser:
    """The user of a valid, unrevoked access token of an existing user.

    For a token that does not come with a request (a WebSocket's ``refresh`` frame).

    Raises:
        UnauthorizedError: a bad, expired or revoked token, or one of an unknown or
            deleted user.
    """
    claims = accounts(keel).tokens.verify(token)
    problem = await access_problem(keel, claims)
    if problem is not None:
        raise UnauthorizedError(f"invalid access token: {problem}")
    return CurrentUser(
        id=claims.sub,
        role=claims.role,
        session=claims.fam,
        issued_at=claims.iat,
        expires_at=claims.exp,
    )


async def current_user(request: Request[Any, Any, Any]) -> CurrentUser:
    """Dependency: the authenticated caller; 401 without a valid access token.

    Use as ``dependencies={"user": Provide(current_user)}``.
    """
    return await authenticate(request)


async def optional_user(request: Request[Any, Any, Any]) -> CurrentUser | None:
    """Dependency: the caller, or None when no ``Authorization`` header was sent.

    A header with a bad token is still a 401, never silently anonymous.
    """
    if request.headers.get("authorization") is None:
        return None
    return await authenticate(request)


def require_role(*roles: Role) -> Guard:
    """A Litestar guard admitting only callers with one of ``roles`` (else 401 / 403).

    Example: ``@get("/reports", guards=[require_role("admin")])``.
    """
    allowed: Collection[str] = frozenset(roles)

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
    ) -> None:
        user = await authenticate(connection)
        if user.role not in allowed:
            raise ForbiddenError(f"requires role {' or '.join(sorted(allowed))}")

    guard.__name__ = f"require_role_{'_'.join(sorted(allowed))}"
    return guard


admin_only: Guard = require_role("admin")
"""Guard: admins only."""


def parse_object_id(value: str, *, what: str = "object") -> ObjectId:
    """``value`` as an ObjectId; anything else is a 404 (it cannot name an object).

    Raises:
        NotFoundError: ``value`` is not 24 hex digits.
    """
    if not isinstance(value, str) or len(value) != 24:  # noqa: PLR2004
        raise NotFoundError(f"{what} not found", details={"id": str(value)[:64]})
    try:
        return ObjectId(value)
    except InvalidId:
        raise NotFoundError(f"{what} not found", details={"id": value}) from None


def owned_or_404(
    obj: T | None,
    owner_id: str | ObjectId | None,
    user: CurrentUser,
    *,
    admin: bool = True,
    what: str = "object",
) -> T:
    """``obj`` when ``user`` owns it (or is an admin and ``admin`` is true), else 404.

    Args:
        obj: the object looked up, or None when there was none.
        owner_id: the id of its owner.
        user: the caller.
        admin: let admins see every object.
        what: the name used in the error message.

    Raises:
        NotFoundError: no object, or the caller may not see it (indistinguishable).
    """
    if obj is None or not (str(owner_id) == user.id or (admin and user.is_admin)):
        raise NotFoundError(f"{what} not found")
    return obj
