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
from .tokens import new_secret_token

OTP_DIGITS = 6
DAY_S = 86_400


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


def _failures_key(keel: Keel, user_id: ObjectId) -> str:
    return keel.key("auth", "otp-fail", str(user_id))


async def consume_otp(keel: Keel, user_id: ObjectId | None, code: str) -> bool:
    """Whether ``code`` is the user's live code; a right code works once only.

    Each submission first takes one of the ``otp_max_attempts`` tries atomically, *then*
    compares, so no burst of parallel guesses can test more codes than that; of many
    parallel right submissions exactly one flips ``consumed``. Wrong codes also count
    against the account's daily budget (``otp_daily_failures``), kept across resends, so
    asking for new codes does not buy new guesses; once it is spent no code works until
    a password reset (:func:`forget_user_codes`) or the end of the day.
    """
    budget = keel.settings.auth.otp_daily_failures
    known = user_id is not None
    # An unknown email runs the same queries on an id that matches nothing: same work.
    user_id = user_id or ObjectId()
    failures = await keel.valkey.get(_failures_key(keel, user_id))
    if failures is not None and int(failures) >= budget:
        return False
    expected = accounts(keel).otp_hashes(str(user_id), code)
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
    stored = "" if doc is None else str(doc["code_hash"])
    if doc is None or not any(hmac.compare_digest(stored, e) for e in expected):
        if doc is not None and known:
            await _spend_budget(keel, user_id)
        return False
    won = await _otp(keel).update_one(
        {"_id": doc["_id"], "consumed": False}, {"$set": {"consumed": True}}
    )
    return bool(won.modified_count == 1)


async def count_wrong_code(keel: Keel, user_id: ObjectId) -> None:
    """Count a failed code submission against the account's daily budget, and take one
    try of its live code (if it has one)."""
    await _otp(keel).update_one({"user_id": user_id, "consumed": False}, {"$inc": {"attempts": 1}})
    await _spend_budget(keel, user_id)


async def _spend_budget(keel: Keel, user_id: ObjectId) -> None:
    async with keel.valkey.pipeline(transaction=False) as pipe:
        pipe.incr(_failures_key(keel, user_id))
        pipe.expire(_failures_key(keel, user_id), DAY_S, nx=True)
        await pipe.execute()


async def issue_reset_token(keel: Keel, user_id: ObjectId) -> str:
    """A new reset token for ``user_id``; earlier unused ones stop working."""
    token = new_secret_token()
    now = utcnow()
    await _resets(keel).delete_many({"user_id": user_id})
    await _resets(keel).insert_one(
        {
            "token_hash": accounts(keel).token_hashes.hash(token),
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
        {
            "token_hash": {"$in": accounts(keel).token_hashes.candidates(token)},
            "used_at": None,
            "expires_at": {"$gt": now},
        },
        {"$set": {"used_at": now}},
    )
    return None if doc is None else ObjectId(doc["user_id"])


async def forget_user_codes(keel: Keel, user_id: ObjectId, *, keep_budget: bool = False) -> None:
    """Drop a user's pending codes and reset tokens, and (unless ``keep_budget``) the
    spent code budget: account deleted, password reset or changed, registration replaced
    (which keeps the budget)."""
    await _otp(keel).delete_many({"user_id": user_id})
    if not keep_budget:
        await keel.valkey.delete(_failures_key(keel, user_id))
    await _resets(keel).delete_many({"user_id": user_id, "used_at": None})
