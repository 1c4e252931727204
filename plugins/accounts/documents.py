"""MongoDB documents of accounts (odmantic models): users, refresh tokens, codes, reset tokens.

Every query the accounts code makes is backed by an index declared here; expiring
documents carry a TTL index on ``expires_at`` so MongoDB removes them by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import as_utc, utcnow

__all__ = [
    "MODELS",
    "LoginSession",
    "OtpChallenge",
    "RefreshToken",
    "ResetToken",
    "User",
    "as_utc",
    "doc_id",
    "utcnow",
]


def _ttl(field: str = "expires_at") -> pymongo.IndexModel:
    return pymongo.IndexModel([(field, pymongo.ASCENDING)], expireAfterSeconds=0)


class User(Model):
    """A person using the marketplace: a customer, a provider or an admin."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "users",
        "indexes": lambda: [
            pymongo.IndexModel([("email_key", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("role", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)]),
            pymongo.IndexModel([("created_at", pymongo.DESCENDING)]),
            pymongo.IndexModel([("name", pymongo.ASCENDING)]),
        ],
    }

    name: str
    email: str
    email_key: str = Field(description="The email, case-folded: the unique lookup key.")
    phone: str | None = None
    role: str = "customer"
    avatar: str | None = None
    verified: bool = False
    verify_with_password: bool = False
    """The address was registered again before it was confirmed: its code then confirms
    only together with the password of the newest registration."""
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RefreshToken(Model):
    """One refresh token (stored as its SHA-256) of a rotation family (one login session)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "auth_refresh_tokens",
        "indexes": lambda: [
            pymongo.IndexModel([("token_hash", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("family", pymongo.ASCENDING)]),
            pymongo.IndexModel([("user_id", pymongo.ASCENDING)]),
            # revoked sessions, for the cron plugin's cleanup_sessions
            pymongo.IndexModel(
                [("revoked", pymongo.ASCENDING)], partialFilterExpression={"revoked": True}
            ),
            _ttl(),
        ],
    }

    token_hash: str
    user_id: ObjectId
    family: str
    expires_at: datetime
    used_at: datetime | None = None
    revoked: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class LoginSession(Model):
    """One login session (a refresh-token family): what ``GET /api/auth/sessions`` lists."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "auth_sessions",
        "indexes": lambda: [
            pymongo.IndexModel([("family", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("user_id", pymongo.ASCENDING), ("last_used_at", -1)]),
            _ttl(),
        ],
    }

    family: str
    user_id: ObjectId
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    """When its newest refresh token expires (then MongoDB removes the session)."""
    user_agent: str = ""
    ip: str = ""


class OtpChallenge(Model):
    """The pending one-time code of a user (one at a time; a new code replaces it)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "auth_otp",
        "indexes": lambda: [
            pymongo.IndexModel([("user_id", pymongo.ASCENDING)], unique=True),
            _ttl(),
        ],
    }

    user_id: ObjectId
    purpose: str
    code_hash: str
    attempts: int = 0
    consumed: bool = False
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class ResetToken(Model):
    """A password-reset token (stored as its SHA-256)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "auth_reset_tokens",
        "indexes": lambda: [
            pymongo.IndexModel([("token_hash", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("user_id", pymongo.ASCENDING)]),
            _ttl(),
        ],
    }

    token_hash: str
    user_id: ObjectId
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


MODELS: tuple[type[Model], ...] = (User, RefreshToken, LoginSession, OtpChallenge, ResetToken)


def doc_id(doc: Any) -> str:
    """The hex id of a raw document or model."""
    return str(doc["_id"] if isinstance(doc, dict) else doc.id)
