"""One-time codes and password-reset tokens: issued, stored hashed, consumed atomically."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from core.context import Keel

from ._runtime import accounts
from .documents import OtpChallenge, ResetToken, utcnow
from .tokens import hash_token, new_secret_token

OTP_DIGITS = 6


def _otp(keel: Keel) -> Any:
    return keel.db.get_collection(OtpChallenge)


def _resets(keel: Keel) -> Any:
    return keel.db.get_collection(ResetToken)


async def issue_otp(keel: Keel, user_id: ObjectId, purpose: str) -> str:
    """A new 6-digit code for ``user_id``; it replaces any pending one (and its tries)."""
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    now = utcnow()
    fields = {
        "purpose": purpose,
        "code_hash": accounts(keel).otp_hash(str(user_id), code),
        "attempts": 0,
        "consumed": False,
        "expires_at": now + timedelta(seconds=keel.settings.auth.otp_ttl_s),
        "created_at": now,
    }
    await _otp(keel).update_one({"user_id": user_id}, {"$set": fields}, upsert=True)
    return code


async def pending_otp_purpose(keel: Keel, user_id: ObjectId) -> str | None:
    """The purpose of the user's live, unconsumed code, if any."""
    doc = await _otp(keel).find_one(
        {"user_id": user_id, "consumed": False, "expires_at": {"$gt": utcnow()}},
        {"purpose": 1},
    )
    return None if doc is None else str(doc["purpose"])


async def consume_otp(keel: Keel, user_id: ObjectId | None, code: str) -> bool:
    """Whether ``code`` is the user's live code; a right code works once only.

    Each submission first takes one of the ``otp_max_attempts`` tries atomically, *then*
    compares, so no burst of parallel guesses can test more codes than that; of many
    parallel right submissions exactly one flips ``consumed``.
    """
    # An unknown email runs the same query on an id that matches nothing: same work.
    user_id = user_id or ObjectId()
    expected = accounts(keel).otp_hash(str(user_id), code)
    doc = await _otp(keel).find_one_and_update(
        {
            "user_id": user_id,
            "consumed": False,
            "expires_at": {"$gt": utcnow()},
            "attempts": {"$lt": keel.settings.auth.otp_max_attempts},
        },
        {"$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None or not hmac.compare_digest(str(doc["code_hash"]), expected):
        return False
    won = await _otp(keel).update_one(
        {"_id": doc["_id"], "consumed": False}, {"$set": {"consumed": True}}
    )
    return bool(won.modified_count == 1)


async def issue_reset_token(keel: Keel, user_id: ObjectId) -> str:
    """A new reset token for ``user_id``; earlier unused ones stop working."""
    token = new_secret_token()
    now = utcnow()
    await _resets(keel).delete_many({"user_id": user_id})
    await _resets(keel).insert_one(
        {
            "token_hash": hash_token(token),
            "user_id": user_id,
            "expires_at": now + timedelta(seconds=keel.settings.auth.reset_ttl_s),
            "used_at": None,
            "created_at": now,
        }
    )
    return token


async def consume_reset_token(keel: Keel, token: str) -> ObjectId | None:
    """The user id of a live reset token, marking it used (once); None otherwise."""
    now = utcnow()
    doc = await _resets(keel).find_one_and_update(
        {"token_hash": hash_token(token), "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    return None if doc is None else ObjectId(doc["user_id"])


async def forget_user_codes(keel: Keel, user_id: ObjectId) -> None:
    """Drop a user's pending codes and reset tokens (account deleted, password reset)."""
    await _otp(keel).delete_many({"user_id": user_id})
    await _resets(keel).delete_many({"user_id": user_id, "used_at": None})
