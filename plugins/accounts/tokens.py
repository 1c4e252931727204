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

KEY_ENV: Final = "KEEL_AUTH__JWT_SECRET"
"""The environment variable that carries the signing key."""
MIN_KEY_BYTES: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
"""RFC 7518 3.2: an HMAC key at least as long as the hash output."""
PUBLIC_KEY_DIGESTS: Final = frozenset(
    {"793b71fbb3bd9eb1095f807406981a65fa486bdce8c0499fa508268a59cc4669"}
)
"""SHA-256 of keys that were once published (a development key that shipped in the
source): refused as signing or verifying keys, since anyone can forge tokens with them."""
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


def _key_problems(path: str, key: str, algorithm: str) -> list[str]:
    need = MIN_KEY_BYTES[algorithm]
    size = len(key.encode())
    if size < need:
        return [
            f"{path}: too short for {algorithm}: {size} bytes, at least {need} needed"
            f" (set {KEY_ENV} to a random value)"
        ]
    if hashlib.sha256(key.encode()).hexdigest() in PUBLIC_KEY_DIGESTS:
        return [f"{path}: this key was published in keel's source; generate a new one"]
    return []


def check_settings(settings: Settings) -> list[str]:
    """Problems with ``[auth]``: a missing, short or published signing key.

    Every process that issues or verifies tokens needs the key, whatever ``app.env``
    says; ``keel run`` makes its own (see :func:`core.devstack.dev_signing_key`).
    """
    auth = settings.auth
    need = MIN_KEY_BYTES[auth.jwt_algorithm]
    if not auth.jwt_secret:
        return [
            f"auth.jwt_secret: required: set {KEY_ENV} to a random value of at least "
            f"{need} bytes ({auth.jwt_algorithm}); `keel run` makes a development key itself"
        ]
    problems = _key_problems("auth.jwt_secret", auth.jwt_secret, auth.jwt_algorithm)
    for i, old in enumerate(auth.jwt_previous_secrets):
        problems += _key_problems(f"auth.jwt_previous_secrets[{i}]", old, auth.jwt_algorithm)
    return problems


def signing_key(settings: Settings) -> str:
    """The JWT signing key.

    Raises:
        ConfigError: no key, or one that is too short or was published.
    """
    if problems := check_settings(settings):
        raise ConfigError(problems)
    return settings.auth.jwt_secret


def all_keys(settings: Settings) -> list[str]:
    """The signing key first, then the previous keys still accepted when verifying."""
    return [signing_key(settings), *settings.auth.jwt_previous_secrets]


def key_id(key: str) -> str:
    """The ``kid`` of ``key``: a keyed fingerprint, which reveals nothing of the key."""
    return derive_key(key, "kid").hex()[:16]


def derive_key(key: str, purpose: str) -> bytes:
    """A separate key per purpose (OTP hashing, token hashing, ...) from a signing key."""
    return hmac.new(key.encode(), f"keel:{purpose}".encode(), hashlib.sha256).digest()


class TokenCodec:
    """Issues and verifies access tokens with one key and one algorithm."""

    def __init__(self, settings: Settings) -> None:
        self._auth: AuthSettings = settings.auth
        keys = all_keys(settings)
        self._key, self._kid = keys[0], key_id(keys[0])
        self._keys = {key_id(key): key for key in reversed(keys)}  # the current one wins
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
        return jwt.encode(
            claims, self._key, algorithm=self._auth.jwt_algorithm, headers={"kid": self._kid}
        )

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
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise UnauthorizedError("invalid access token: unknown signing key")
            payload = jwt.decode(
                token,
                key,
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


class TokenHasher:
    """Keyed hashes of opaque tokens (refresh and reset tokens): what the database keeps.

    HMAC-SHA256 with a key derived from the signing key, so a copy of the database alone
    cannot even confirm a guessed token; lookups try the previous keys too, so rotating
    the signing key does not end every session.
    """

    def __init__(self, settings: Settings) -> None:
        self._keys = [derive_key(key, "token-hash") for key in all_keys(settings)]

    def hash(self, token: str) -> str:
        """The stored form of ``token`` (under the current key)."""
        return hmac.new(self._keys[0], token.encode(), hashlib.sha256).hexdigest()

    def candidates(self, token: str) -> list[str]:
        """The stored forms ``token`` may have, one per accepted key."""
        return [hmac.new(k, token.encode(), hashlib.sha256).hexdigest() for k in self._keys]


def new_family() -> str:
    """A new refresh-token family id (one per login session)."""
    return uuid.uuid4().hex
