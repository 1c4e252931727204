"""Per-process accounts objects, built once per :class:`~core.context.Keel`."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from core.context import Keel

from .passwords import PasswordHasher
from .tokens import TokenCodec, derive_key, signing_key

EXTRAS_KEY = "core.accounts"


@dataclass
class Accounts:
    """The hasher, token codec and keys of one process."""

    hasher: PasswordHasher
    tokens: TokenCodec
    otp_key: bytes

    def otp_hash(self, user_id: str, code: str) -> str:
        """HMAC-SHA256 of a one-time code, bound to its user."""
        message = f"{user_id}:{code}".encode()
        return hmac.new(self.otp_key, message, hashlib.sha256).hexdigest()


def accounts(keel: Keel) -> Accounts:
    """The accounts objects of ``keel``, made on first use."""
    found: Any = keel.extras.get(EXTRAS_KEY)
    if found is None:
        found = Accounts(
            hasher=PasswordHasher(keel.settings.auth),
            tokens=TokenCodec(keel.settings),
            otp_key=derive_key(signing_key(keel.settings), "otp"),
        )
        keel.extras[EXTRAS_KEY] = found
    result: Accounts = found
    return result
