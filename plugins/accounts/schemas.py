"""Request and response bodies of the accounts API.

Every request body forbids unknown fields and bounds every string, so an extra ``role``
or an operator object such as ``{"$ne": null}`` is a 400 before any code runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from core.text import SingleLine
from plugins.uploads.api import UploadReference

from .events import Role
from .passwords import MAX_PASSWORD_LENGTH

# Not ``\s`` alone: Python's and ECMA-262's differ (``\x85``, ``\x1c``-``\x1f``,
# ``\ufeff``); spelling out the control characters makes the server (Python) and
# clients reading the document (JSON Schema) agree on every address.
_EMAIL_CHAR = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=254,
        pattern=rf"^{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+(?![\s\S])",
        description="An email address (compared case-insensitively).",
    ),
]
Password = Annotated[str, Meta(min_length=8, max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[SingleLine, Meta(min_length=1, max_length=100)]
# ``(?![\s\S])`` and not ``$``, which would let a final "\n" through
Phone = Annotated[
    str, Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ()./-]*(?![\s\S])")
]
Avatar = UploadReference
OtpCode = Annotated[str, Meta(pattern=r"^[0-9]{6}$", description="The 6-digit emailed code.")]
SecretToken = Annotated[str, Meta(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
SelfRole = Literal["customer", "provider"]


class _In(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """Base of request bodies (camelCase on the wire)."""


class Register(_In, frozen=True):
    """``POST /api/auth/register``. Registration never creates an admin."""

    name: Name
    email: Email
    password: Password
    phone: Phone | None = None
    role: SelfRole = "customer"


class Login(_In, frozen=True):
    """``POST /api/auth/login``."""

    email: Email
    password: Annotated[str, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class VerifyOtp(_In, frozen=True):
    """``POST /api/auth/verify-otp``: the code emailed at registration or login."""

    email: Email
    code: OtpCode
    password: Annotated[str, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)] | UnsetType = UNSET
    """Needed only when the email says so: the address was registered more than once
    before it was confirmed, and the code confirms only the registration with this
    password."""


class EmailOnly(_In, frozen=True):
    """``POST /api/auth/resend-otp`` and ``/forgot-password``."""

    email: Email


class ResetPassword(_In, frozen=True):
    """``POST /api/auth/reset-password``: the emailed token and the new password."""

    token: SecretToken
    password: Password


class Refresh(_In, frozen=True):
    """``POST /api/auth/refresh``: the refresh token to rotate."""

    refresh_token: SecretToken


class ChangePassword(_In, frozen=True):
    """``POST /api/auth/change-password``."""

    current_password: Annotated[str, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    new_password: Password


class UserUpdate(_In, frozen=True):
    """``PATCH /api/users/me``: own profile. Role, verified and email are not accepted."""

    name: Name | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    avatar: Avatar | UnsetType | None = UNSET


class UserAdminUpdate(_In, frozen=True):
    """``PATCH /api/users/{id}`` (admin)."""

    role: Role | UnsetType = UNSET
    verified: bool | UnsetType = UNSET


class TokenPair(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A fresh access token and the refresh token that replaces the one used."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int
    """Seconds until the access token expires."""


class PasswordChanged(TokenPair, frozen=True, kw_only=True):
    """``POST /api/auth/change-password``: a new pair for this session; the others ended."""

    ended_sessions: int
    """How many other sessions (devices) were signed out."""


class PasswordReset(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``POST /api/auth/reset-password``: the new password is set."""

    ended_sessions: int
    """How many sessions (devices) were signed out."""


class SessionView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One open login session (a device or browser that signed in)."""

    id: str
    created_at: datetime
    last_used_at: datetime
    """The last login or token refresh."""
    expires_at: datetime
    user_agent: str
    ip: str
    """The client IP at login."""
    current: bool
    """Whether this is the session of the token making the request."""


class SessionList(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``GET /api/auth/sessions``: the caller's open sessions, most recent first."""

    items: list[SessionView]
    total: int


class Accepted(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An answer that says nothing about whether the account exists."""

    status: Literal["otp_sent", "verification_sent", "reset_sent", "otp_required"]
    detail: str


class User(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A user as seen by themself or an admin."""

    id: str
    name: str
    email: str
    phone: str | None
    role: Role
    avatar: str | None
    verified: bool
    created_at: datetime
    updated_at: datetime


class PublicProfile(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A provider as seen by other users."""

    id: str
    name: str
    role: Role
    avatar: str | None


class UserPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of users."""

    items: list[User]
    total: int
    page: int
    limit: int
