"""Authentication flows: register, login, codes, password reset and change, logout.

None of them tells whether an email has an account: unknown emails get the same status,
body and (within noise) time as known ones. Mail-sending work for such routes runs in the
``accounts.send_code`` job.
"""

from __future__ import annotations

from typing import cast

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.context import Keel
from core.errors import RateLimitedError, UnauthorizedError, UnprocessableError

from . import schemas
from ._codes import consume_otp, consume_reset_token, count_wrong_code, forget_user_codes
from ._revocation import cut_session, mark_user
from ._runtime import accounts
from ._sessions import (
    Client,
    end_all_sessions,
    end_other_sessions,
    end_sessions,
    issue_pair,
)
from ._throttle import (
    check_login_allowed,
    claim_send_slot,
    clear_account_failures,
    clear_login_failures,
    email_key,
    end_login_attempt,
    record_login_failure,
)
from ._users import find_by_email, find_by_id, mark_verified
from .documents import RefreshToken, User, utcnow
from .events import Role, UserCreated, UserUpdated
from .jobs import enqueue_send_code
from .passwords import check_policy
from .security import CurrentUser

BAD_LOGIN = "invalid email or password"
BAD_CODE = "invalid or expired code"
BAD_RESET = "invalid or expired reset token"
SENT = "If the address has an account, an email is on its way."


async def register(keel: Keel, data: schemas.Register) -> schemas.Accepted:
    """Create an unverified account and email it a code.

    An email that already has a verified account gets a notice instead; one whose
    account is not verified yet has that pending registration replaced (name, password,
    role) and its earlier codes and sessions voided, so whoever registered someone
    else's address first keeps no password on the account once its owner registers.
    The answer is the same in every case.
    """
    check_policy(data.password, keel.settings.auth, email=data.email)
    password_hash = await accounts(keel).hasher.hash(data.password)
    user = User(
        id=ObjectId(),
        name=data.name,
        email=data.email.strip(),
        email_key=email_key(data.email),
        phone=data.phone,
        role=data.role,
        password_hash=password_hash,
    )
    try:
        await keel.db.get_collection(User).insert_one(user.model_dump_doc())
    except DuplicateKeyError:
        if not await _replace_pending(keel, user) and await _try_claim(keel, "exists", user.email):
            await enqueue_send_code(keel, data.email, "exists")
    else:
        await mark_user(keel, str(user.id), exists=True)
        await keel.events.emit(_created(user))
        await enqueue_send_code(keel, data.email, "verify")
    return schemas.Accepted(status="verification_sent", detail=SENT)


async def _replace_pending(keel: Keel, new: User) -> bool:
    """Overwrite an unverified account of ``new``'s email with ``new``'s details.

    Its earlier codes stop working, and from now on a code confirms the address only
    together with the newest registration's password: otherwise whoever registers
    right after the owner would have the owner confirm *their* password with the code.
    At most one replacement per address per ``otp_resend_interval_s``. The failed-code
    budget is kept (it is the account's, not the registration's).
    """
    if not await _try_claim(keel, "register", new.email):
        return True  # throttled: nothing changes, and the answer is the same
    changes = {
        "name": new.name,
        "phone": new.phone,
        "role": new.role,
        "password_hash": new.password_hash,
        "verify_with_password": True,
        "updated_at": utcnow(),
    }
    old = await keel.db.get_collection(User).find_one_and_update(
        {"email_key": new.email_key, "verified": False}, {"$set": changes}
    )
    if old is None:
        return False
    await forget_user_codes(keel, old["_id"], keep_budget=True)
    await end_all_sessions(keel, old["_id"], "password_reset")
    await enqueue_send_code(keel, new.email, "verify")
    return True


def _created(user: User) -> UserCreated:
    return UserCreated(
        user_id=str(user.id), email=user.email, display_name=user.name, role=cast("Role", user.role)
    )


async def create_user(
    keel: Keel,
    *,
    email: str,
    password: str,
    name: str,
    role: Role,
    verified: bool,
    publish: bool = True,
) -> User:
    """Create a user directly (``keel users create-admin``); no email is sent, and with
    ``publish=False`` no ``user.created`` event either (test data).

    Raises:
        UnprocessableError: weak password.
        DuplicateKeyError: the email already has an account.
    """
    check_policy(password, keel.settings.auth, email=email)
    user = User(
        id=ObjectId(),
        name=name,
        email=email.strip(),
        email_key=email_key(email),
        role=role,
        verified=verified,
        password_hash=await accounts(keel).hasher.hash(password),
    )
    await keel.db.get_collection(User).insert_one(user.model_dump_doc())
    await mark_user(keel, str(user.id), exists=True)
    if publish:
        await keel.events.emit(_created(user))
    return user


async def login(keel: Keel, data: schemas.Login, client: Client) -> schemas.TokenPair | None:
    """Check the password; a token pair, or None when an emailed code must follow.

    Raises:
        RateLimitedError: this account must wait before a try from this IP, or the IP
            failed too often.
        UnauthorizedError: unknown email or wrong password (the same error).
    """
    ip = client.ip
    turn = await check_login_allowed(keel, data.email, ip)
    try:
        hasher = accounts(keel).hasher
        user = await find_by_email(keel, data.email)
        matches = await hasher.verify(user.password_hash if user else None, data.password)
        if user is None or not matches:
            await record_login_failure(keel, data.email, ip)
            raise UnauthorizedError(BAD_LOGIN)
    finally:
        await end_login_attempt(keel, turn)
    await clear_login_failures(keel, data.email, ip)
    if hasher.needs_rehash(user.password_hash):  # upgrade a weaker hash, silently
        new_hash = await hasher.hash(data.password)
        await _set_password_hash(keel, user, new_hash, publish=False)
    if not user.verified or keel.settings.auth.login_otp == "always":
        # At most one fresh code per interval: re-logging in must not reset the tries.
        if await _try_claim(keel, "otp", user.email):
            await enqueue_send_code(keel, user.email, "login")
        return None
    return await issue_pair(keel, user, client=client)


async def _try_claim(keel: Keel, kind: str, email: str) -> bool:
    try:
        await claim_send_slot(keel, kind, email)
    except RateLimitedError:  # the last code is still valid
        return False
    return True


async def verify_otp(keel: Keel, data: schemas.VerifyOtp, client: Client) -> schemas.TokenPair:
    """Exchange the emailed code for tokens; marks the email verified.

    Raises:
        UnauthorizedError: unknown email, wrong, expired, spent or dead code (one error).
    """
    user = await find_by_email(keel, data.email)
    if user is not None and not user.verified and user.verify_with_password:
        given = data.password if isinstance(data.password, str) else None
        if not await accounts(keel).hasher.verify(user.password_hash, given or ""):
            await count_wrong_code(keel, user.id)
            raise UnauthorizedError(BAD_CODE)
    if not await consume_otp(keel, user.id if user else None, data.code) or user is None:
        raise UnauthorizedError(BAD_CODE)
    if not user.verified:
        user = await mark_verified(keel, user)
    return await issue_pair(keel, user, client=client)


async def resend_otp(keel: Keel, data: schemas.EmailOnly) -> schemas.Accepted:
    """Send a new code (when one is due); the answer never depends on the account."""
    await claim_send_slot(keel, "otp", data.email)
    await enqueue_send_code(keel, data.email, "resend")
    return schemas.Accepted(status="otp_sent", detail=SENT)


async def forgot_password(keel: Keel, data: schemas.EmailOnly) -> schemas.Accepted:
    """Email a reset link; the same answer, and the same work here, for any email."""
    await claim_send_slot(keel, "reset", data.email)
    await enqueue_send_code(keel, data.email, "reset")
    return schemas.Accepted(status="reset_sent", detail=SENT)


async def reset_password(keel: Keel, data: schemas.ResetPassword) -> schemas.PasswordReset:
    """Set a new password with an emailed token; ends every session of the user and
    clears the account's failed-login and failed-code counters.

    Raises:
        UnprocessableError: weak password (the token stays usable), or an unknown,
            expired or spent token.
    """
    check_policy(data.password, keel.settings.auth)
    user_id = await consume_reset_token(keel, data.token)
    user = None if user_id is None else await find_by_id(keel, user_id)
    if user is None:
        raise UnprocessableError(BAD_RESET)
    password_hash = await accounts(keel).hasher.hash(data.password)
    await _set_password_hash(keel, user, password_hash, verified=True)
    await forget_user_codes(keel, user.id)
    await clear_account_failures(keel, user.email)
    ended = await end_all_sessions(keel, user.id, "password_reset")
    return schemas.PasswordReset(ended_sessions=ended)


async def change_password(
    keel: Keel, caller: CurrentUser, data: schemas.ChangePassword, ip: str
) -> schemas.PasswordChanged:
    """Change the caller's password; ends every other session, and gives this one a new
    token pair (its older refresh tokens stop working).

    Raises:
        UnauthorizedError: wrong current password (counted like a failed login).
        UnprocessableError: weak new password.
    """
    user = await find_by_id(keel, caller.object_id)
    if user is None:
        raise UnauthorizedError("user no longer exists")
    turn = await check_login_allowed(keel, user.email, ip)
    hasher = accounts(keel).hasher
    try:
        if not await hasher.verify(user.password_hash, data.current_password):
            await record_login_failure(keel, user.email, ip)
            raise UnauthorizedError("current password is wrong")
    finally:
        await end_login_attempt(keel, turn)
    check_policy(data.new_password, keel.settings.auth, email=user.email, field="newPassword")
    await _set_password_hash(keel, user, await hasher.hash(data.new_password))
    ended = await end_other_sessions(keel, user.id, caller.session, "password_changed")
    await _spend_refresh_tokens(keel, user.id, caller.session)
    await cut_session(keel, caller.session)  # this session's older access tokens too
    await forget_user_codes(keel, user.id)  # reset links asked for with the old password
    pair = await issue_pair(keel, user, family=caller.session)
    return schemas.PasswordChanged(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        ended_sessions=ended,
    )


async def _spend_refresh_tokens(keel: Keel, user_id: ObjectId, family: str) -> None:
    await keel.db.get_collection(RefreshToken).update_many(
        {"user_id": user_id, "family": family, "used_at": None}, {"$set": {"used_at": utcnow()}}
    )


async def logout(keel: Keel, caller: CurrentUser) -> None:
    """End the caller's current session: its refresh tokens and access tokens."""
    await end_sessions(keel, caller.object_id, [caller.session], "logout")


async def logout_all(keel: Keel, caller: CurrentUser) -> None:
    """End every session of the caller, on every device."""
    await end_all_sessions(keel, caller.object_id, "logout_all")


async def _set_password_hash(
    keel: Keel, user: User, password_hash: str, *, verified: bool = False, publish: bool = True
) -> None:
    changes: dict[str, object] = {"password_hash": password_hash, "updated_at": utcnow()}
    if verified and not user.verified:
        changes["verified"] = True
    await keel.db.get_collection(User).update_one({"_id": user.id}, {"$set": changes})
    if not publish:
        return
    changed = sorted({"password", *(["verified"] if "verified" in changes else [])})
    await keel.events.emit(
        UserUpdated(
            user_id=str(user.id),
            changed=changed,
            role=cast("Role", user.role),
            verified=bool(changes.get("verified", user.verified)),
        )
    )
