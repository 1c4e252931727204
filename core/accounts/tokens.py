"""Access tokens (JWT, PyJWT with an allow-listed algorithm) and opaque secret tokens.

PyJWT is used directly rather than through ``litestar.security.jwt``: Litestar's JWT
middleware authenticates *every* route except an exclude list, while keel authenticates
per route through a dependency (so ``/health`` and ``/schema`` never pay for it, plugins
opt in, and optional authentication is possible); its ``Token.decode`` is a thin wrapper
over the same ``jwt.decode`` call made here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any, Final

import jwt
import msgspec

from core.errors import ConfigError, UnauthorizedError
from core.settings import AuthSettings, Settings

from .events import Role

DEV_SECRET: Final = "keel-development-secret-not-for-production-use-keel-development-secret"  # noqa: S105
"""Used when ``auth.jwt_secret`` is empty outside production: public, so never secure."""
MIN_KEY_BYTES: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
"""RFC 7518 3.2: an HMAC key at least as long as the hash output."""
ACCESS: Final = "access"
_REQUIRED = ("exp", "iat", "nbf", "sub", "iss", "aud", "typ", "role", "fam")


VERIFIED_CACHE_SIZE: Final = 4096
"""Verified tokens remembered per process (PyJWT's checks cost ~100 us per request)."""


class AccessClaims(msgspec.Struct, frozen=True):
    """The verified claims of an access token."""

    sub: str
    role: Role
    fam: str
    iat: float
    nbf: float
    exp: float


def check_settings(settings: Settings) -> list[str]:
    """Problems with ``[auth]`` that only show with the rest of the settings."""
    auth = settings.auth
    need = MIN_KEY_BYTES[auth.jwt_algorithm]
    if not auth.jwt_secret:
        if settings.app.env != "production":
            return []
        return [
            f"auth.jwt_secret: required in production (set KEEL_AUTH__JWT_SECRET to {need}+ bytes)"
        ]
    if len(auth.jwt_secret.encode()) < need:
        return [
            f"auth.jwt_secret: too short for {auth.jwt_algorithm}: "
            f"{len(auth.jwt_secret.encode())} bytes, at least {need} needed"
        ]
    return []


def signing_key(settings: Settings) -> str:
    """The JWT key; raises :class:`ConfigError` when production has none."""
    if problems := check_settings(settings):
        raise ConfigError(problems)
    return settings.auth.jwt_secret or DEV_SECRET


def derive_key(key: str, purpose: str) -> bytes:
    """A separate key per purpose (OTP hashing, ...) derived from the signing key."""
    return hmac.new(key.encode(), f"keel:{purpose}".encode(), hashlib.sha256).digest()


class TokenCodec:
    """Issues and verifies access tokens with one key and one algorithm."""

    def __init__(self, settings: Settings) -> None:
        self._auth: AuthSettings = settings.auth
        self._key = signing_key(settings)
        self._algorithms = [settings.auth.jwt_algorithm]
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: str, role: str, family: str) -> str:
        """A signed access token for ``user_id`` in login session ``family``."""
        now = time.time()
        claims: dict[str, Any] = {
            "sub": user_id,
            "role": role,
            "fam": family,
            "typ": ACCESS,
            "iss": self._auth.jwt_issuer,
            "aud": self._auth.jwt_audience,
            "iat": round(now, 3),  # sub-second, so revocation "as of now" is exact
            "nbf": int(now),
            "exp": int(now) + self._auth.access_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=self._auth.jwt_algorithm)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid access token.

        A token whose signature and claims were verified once is remembered (bounded,
        per process) and only its time window is checked again: the exact same string
        cannot carry other claims, and revocation is checked by the caller every time.

        Raises:
            UnauthorizedError: bad signature or algorithm (``none`` included), expired,
                not yet valid, wrong audience or issuer, not an access token, malformed.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # oldest first
            self._verified[token] = claims
        now, leeway = time.time(), self._auth.clock_leeway_s
        if now > claims.exp + leeway:
            self._verified.pop(token, None)
            raise UnauthorizedError("invalid access token: expired")
        if now < claims.nbf - leeway:
            raise UnauthorizedError("invalid access token: not yet valid")
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._auth.jwt_audience,
                issuer=self._auth.jwt_issuer,
                leeway=self._auth.clock_leeway_s,
                options={"require": list(_REQUIRED), "strict_aud": True},
            )
            if payload.get("typ") != ACCESS:
                raise UnauthorizedError("invalid access token: not an access token")
            return msgspec.convert(payload, AccessClaims, strict=False)
        except (jwt.InvalidTokenError, msgspec.ValidationError) as exc:
            raise UnauthorizedError(f"invalid access token: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError | jwt.InvalidIssuerError):
        return "wrong audience or issuer"
    return "malformed or badly signed"


def new_secret_token() -> str:
    """An opaque token with 256 bits from the CSPRNG (refresh and reset tokens)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of an opaque token: what the database keeps (the token itself never)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_family() -> str:
    """A new refresh-token family id (one per login session)."""
    return uuid.uuid4().hex
