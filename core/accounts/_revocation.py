"""Access-token revocation in Valkey, shared by every process.

Access tokens are stateless, so logout, a password change, a role change or a deleted
account would otherwise leave them valid until they expire. Two kinds of marker, each
kept only as long as a token can live: a per-user epoch (tokens issued before it are
dead) and a per-family flag (one login session is dead).
"""

from __future__ import annotations

import time

from core.context import Keel

from .tokens import AccessClaims


def _ttl(keel: Keel) -> int:
    auth = keel.settings.auth
    return auth.access_ttl_s + auth.clock_leeway_s + 1


def _epoch_key(keel: Keel, user_id: str) -> str:
    return keel.key("auth", "epoch", user_id)


def _family_key(keel: Keel, family: str) -> str:
    return keel.key("auth", "family", family)


async def revoke_user_access(keel: Keel, user_id: str) -> None:
    """Make every access token of ``user_id`` issued until now invalid."""
    await keel.valkey.set(_epoch_key(keel, user_id), int(time.time() * 1000), ex=_ttl(keel))


async def revoke_family_access(keel: Keel, family: str) -> None:
    """Make every access token of login session ``family`` invalid."""
    await keel.valkey.set(_family_key(keel, family), 1, ex=_ttl(keel))


async def is_revoked(keel: Keel, claims: AccessClaims) -> bool:
    """Whether the token with ``claims`` was revoked (one Valkey round trip)."""
    epoch, family = await keel.valkey.mget(
        _epoch_key(keel, claims.sub), _family_key(keel, claims.fam)
    )
    if family is not None:
        return True
    return epoch is not None and round(claims.iat * 1000) < int(epoch)
