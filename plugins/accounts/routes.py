"""HTTP routes of accounts: ``/api/auth/*`` and ``/api/users/*``. Thin: parse, call, shape."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from core.errors import ForbiddenError, NotFoundError, UnauthorizedError, UnprocessableError
from core.http import error_responses
from core.http.deps import KeelDep
from core.http.ratelimit import OPT_KEY as RATE_LIMIT
from core.http.security import BEARER, SECURITY
from core.pagination import Limit, Page

from . import _auth, _sessions, _users, schemas
from ._sessions import Client, rotate
from .events import Role
from .security import UserDep, current_user, require_role

__all__ = ["BEARER", "SECURITY", "AuthController", "UserController", "route_handlers"]
_AUTHED: dict[str, Any] = {"dependencies": {"user": Provide(current_user)}, "security": SECURITY}
_REFUSED = error_responses(UnauthorizedError)
"""Wrong credentials, code or refresh token (the routes that take them need no token)."""
_POLICY = error_responses(UnprocessableError)
"""A password the policy refuses (common, too short for the configured minimum...)."""


def _ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _client(request: Request[Any, Any, Any]) -> Client:
    return Client(ip=_ip(request), user_agent=request.headers.get("user-agent", ""))


class AuthController(Controller):
    """Registration, login, codes, tokens and passwords."""

    path = "/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads class attributes

    @post(
        "/register",
        status_code=HTTP_202_ACCEPTED,
        opt={RATE_LIMIT: ("minute", 10)},
        responses=_POLICY,
    )
    async def register(self, keel: KeelDep, data: JSONBody[schemas.Register]) -> schemas.Accepted:
        """Create an account (never an admin); a code is emailed to verify the address."""
        return await _auth.register(keel, data)

    @post(
        "/login",
        status_code=HTTP_200_OK,
        opt={RATE_LIMIT: ("minute", 30)},
        responses={202: ResponseSpec(schemas.Accepted, description="A code was emailed.")}
        | _REFUSED,
    )
    async def login(
        self, keel: KeelDep, data: JSONBody[schemas.Login], request: Request[Any, Any, Any]
    ) -> Response[schemas.TokenPair | schemas.Accepted]:
        """Sign in; unverified accounts (or every account, by config) get a code first."""
        pair = await _auth.login(keel, data, _client(request))
        if pair is None:
            body = schemas.Accepted(status="otp_required", detail="Enter the emailed code.")
            return Response(body, status_code=HTTP_202_ACCEPTED)
        return Response(pair)

    @post(
        "/verify-otp",
        status_code=HTTP_200_OK,
        opt={RATE_LIMIT: ("minute", 30)},
        responses=_REFUSED,
    )
    async def verify_otp(
        self, keel: KeelDep, data: JSONBody[schemas.VerifyOtp], request: Request[Any, Any, Any]
    ) -> schemas.TokenPair:
        """Exchange the emailed 6-digit code for tokens (verifies the email)."""
        return await _auth.verify_otp(keel, data, _client(request))

    @post("/resend-otp", status_code=HTTP_202_ACCEPTED, opt={RATE_LIMIT: ("minute", 10)})
    async def resend_otp(
        self, keel: KeelDep, data: JSONBody[schemas.EmailOnly]
    ) -> schemas.Accepted:
        """Email a new code (at most one per address per interval)."""
        return await _auth.resend_otp(keel, data)

    @post("/forgot-password", status_code=HTTP_202_ACCEPTED, opt={RATE_LIMIT: ("minute", 10)})
    async def forgot_password(
        self, keel: KeelDep, data: JSONBody[schemas.EmailOnly]
    ) -> schemas.Accepted:
        """Email a password-reset link; the same answer whether the address is known."""
        return await _auth.forgot_password(keel, data)

    @post(
        "/reset-password",
        status_code=HTTP_200_OK,
        opt={RATE_LIMIT: ("minute", 10)},
        responses=error_responses(UnprocessableError),  # also an unknown or spent token
    )
    async def reset_password(
        self, keel: KeelDep, data: JSONBody[schemas.ResetPassword]
    ) -> schemas.PasswordReset:
        """Set a new password with the emailed token; signs out every session."""
        return await _auth.reset_password(keel, data)

    @post("/refresh", status_code=HTTP_200_OK, opt={RATE_LIMIT: ("minute", 60)}, responses=_REFUSED)
    async def refresh(self, keel: KeelDep, data: JSONBody[schemas.Refresh]) -> schemas.TokenPair:
        """Rotate a refresh token; reusing a spent one ends its whole session."""
        return await rotate(keel, data.refresh_token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, **_AUTHED)
    async def logout(self, keel: KeelDep, user: UserDep) -> None:
        """Sign out this session: its refresh and access tokens and sockets stop working."""
        await _auth.logout(keel, user)

    @post("/logout-all", status_code=HTTP_204_NO_CONTENT, **_AUTHED)
    async def logout_all(self, keel: KeelDep, user: UserDep) -> None:
        """Sign out every session of the caller, on every device."""
        await _auth.logout_all(keel, user)

    @get("/sessions", **_AUTHED)
    async def list_sessions(self, keel: KeelDep, user: UserDep) -> schemas.SessionList:
        """The caller's open sessions (devices), most recently used first."""
        items = await _sessions.list_sessions(keel, user.object_id, user.session)
        return schemas.SessionList(items=items, total=len(items))

    @delete("/sessions/{session_id:str}", status_code=HTTP_204_NO_CONTENT, **_AUTHED)
    async def end_session(
        self, keel: KeelDep, user: UserDep, session_id: Annotated[str, Parameter(max_length=64)]
    ) -> None:
        """End one of the caller's sessions (404 for any other id)."""
        await _sessions.end_session(keel, user.object_id, session_id)

    @post(
        "/change-password",
        status_code=HTTP_200_OK,
        opt={RATE_LIMIT: ("minute", 10)},
        responses=_POLICY,
        **_AUTHED,
    )
    async def change_password(
        self,
        keel: KeelDep,
        user: UserDep,
        data: JSONBody[schemas.ChangePassword],
        request: Request[Any, Any, Any],
    ) -> schemas.PasswordChanged:
        """Change the password; every other session ends; this one gets a new pair."""
        return await _auth.change_password(keel, user, data, _ip(request))


class UserController(Controller):
    """Profiles: one's own, admins' view of everyone, providers' public profiles."""

    path = "/users"
    tags = ["users"]  # noqa: RUF012
    dependencies = {"user": Provide(current_user)}  # noqa: RUF012
    security = SECURITY

    @get("/me", responses=error_responses(NotFoundError))  # an account deleted meanwhile
    async def get_me(self, keel: KeelDep, user: UserDep) -> schemas.User:
        """The caller's own profile."""
        found = await _users.find_by_id(keel, user.object_id)
        return _users.to_view(_users.exists(found))

    @patch("/me", responses=error_responses(NotFoundError, UnprocessableError))
    async def update_me(
        self, keel: KeelDep, user: UserDep, data: JSONBody[schemas.UserUpdate]
    ) -> schemas.User:
        """Change one's name, phone or avatar (role, verified and email are rejected)."""
        return await _users.update_me(keel, user, data)

    @get("/", guards=[require_role("admin")])
    async def list_users(
        self,
        keel: KeelDep,
        page: Page = 1,
        limit: Limit = 20,
        role: FromQuery[Role | None] = None,
        sort: FromQuery[_users.UserSort] = "-createdAt",
    ) -> schemas.UserPage:
        """Admin: users, a page at a time, optionally of one role."""
        return await _users.list_users(keel, page=page, limit=limit, role=role, sort=sort)

    @get("/{user_id:str}")
    async def get_user(
        self, keel: KeelDep, user: UserDep, user_id: FromPath[str]
    ) -> schemas.User | schemas.PublicProfile:
        """Self or admin: the full profile; others: a provider's public profile (else 404)."""
        return await _users.view_user(keel, user, user_id)

    @patch("/{user_id:str}", responses=error_responses(ForbiddenError))  # non-admin on self
    async def update_user(
        self,
        keel: KeelDep,
        user: UserDep,
        user_id: FromPath[str],
        data: JSONBody[schemas.UserAdminUpdate],
    ) -> schemas.User:
        """Admin: change a user's role or verified flag."""
        return await _users.admin_update(keel, user, user_id, data)

    @delete("/{user_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def delete_user(self, keel: KeelDep, user: UserDep, user_id: FromPath[str]) -> None:
        """Delete an account (one's own, or any as admin); its sessions end."""
        await _users.delete_user(keel, user, user_id)


def route_handlers() -> list[type[Controller]]:
    """The accounts controllers, mounted by the app under ``/api``."""
    return [AuthController, UserController]
