"""Per-process accounts objects, built once per :class:`~core.context.Keel`."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from core.context import Keel
from core.stash import StashKey

from .passwords import PasswordHasher
from .tokens import TokenCodec, TokenHasher, all_keys, derive_key


@dataclass
class Accounts:
    """The hasher, token codec and keys of one process."""

    hasher: PasswordHasher
    tokens: TokenCodec
    token_hashes: TokenHasher
    otp_keys: list[bytes]
    """Derived from the signing key, then from each previous key."""

    def otp_hash(self, user_id: str, code: str) -> str:
        """HMAC-SHA256 of a one-time code, bound to its user (the current key)."""
        return self.otp_hashes(user_id, code)[0]

    def otp_hashes(self, user_id: str, code: str) -> list[str]:
        """What a stored code hash may be, one per accepted key."""
        message = f"{user_id}:{code}".encode()
        return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in self.otp_keys]


ACCOUNTS = StashKey[Accounts]("accounts.runtime")
"""``keel.stash`` key of the process's :class:`Accounts`."""


def accounts(keel: Keel) -> Accounts:
    """The accounts objects of ``keel``, made on first use."""
    return keel.stash.get_or_create(ACCOUNTS, lambda: _build(keel))


def _build(keel: Keel) -> Accounts:
    return Accounts(
        hasher=PasswordHasher(keel.settings.auth),
        tokens=TokenCodec(keel.settings),
        token_hashes=TokenHasher(keel.settings),
        otp_keys=[derive_key(key, "otp") for key in all_keys(keel.settings)],
    )
