"""Events about users, published by the core; plugins import them from here."""

from __future__ import annotations

from typing import ClassVar, Literal

from core.events import Event

Role = Literal["customer", "provider", "admin"]
RevokeReason = Literal[
    "logout",
    "logout_all",
    "session_deleted",
    "password_changed",
    "password_reset",
    "role_changed",
    "account_deleted",
    "refresh_reuse",
]


class UserCreated(Event, frozen=True, kw_only=True):
    """A user account was created (registration or ``keel users create-admin``)."""

    name: ClassVar[str] = "user.created"
    user_id: str
    email: str
    display_name: str
    role: Role


class UserUpdated(Event, frozen=True, kw_only=True):
    """A user's profile, role, verified flag or password changed.

    ``changed`` names the fields that changed (``"password"`` for a new password; its
    value is never published).
    """

    name: ClassVar[str] = "user.updated"
    user_id: str
    changed: list[str]
    role: Role
    verified: bool


class UserDeleted(Event, frozen=True, kw_only=True):
    """A user account was deleted (by its owner or an admin)."""

    name: ClassVar[str] = "user.deleted"
    user_id: str
    deleted_by: str
    email: str = ""
    """The deleted account's address (the account is gone when listeners run)."""
    display_name: str = ""
    """The deleted account's name."""


class SessionsRevoked(Event, frozen=True, kw_only=True):
    """Login sessions of a user ended: their access tokens stopped working at ``before``.

    Plugins that keep something open on a token (realtime's WebSockets) end it here.
    """

    name: ClassVar[str] = "user.sessions_revoked"
    user_id: str
    sessions: list[str] | None = None
    """The sessions (refresh-token families, the tokens' ``fam``) that ended; None for
    every session of the user."""
    before: float
    """Unix time: tokens of those sessions issued before it are revoked."""
    reason: RevokeReason


EVENT_TYPES: tuple[type[Event], ...] = (UserCreated, UserUpdated, UserDeleted, SessionsRevoked)
"""The account events, for the event catalog."""
