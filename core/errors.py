"""The error hierarchy: configuration, plugin and domain errors.

Services raise :class:`DomainError` subclasses, never HTTP exceptions; the app maps each
to one JSON body ``{"error": {"code", "message", "details"}}`` with its ``status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class KeelError(Exception):
    """Base of every error keel raises on purpose."""


class ConfigError(KeelError):
    """Invalid configuration, found at startup. Carries every problem at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class PluginError(KeelError):
    """A plugin is missing, misconfigured or broke its contract."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class DomainError(KeelError):
    """An error a client caused or should see, with an HTTP status and a stable code."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        self.message = message
        self.details = details
        super().__init__(message)


class BadRequestError(DomainError):
    """The request is malformed or invalid."""

    status = 400
    code = "bad_request"


class UnauthorizedError(DomainError):
    """Missing or bad credentials."""

    status = 401
    code = "unauthorized"


class ForbiddenError(DomainError):
    """Authenticated, but not allowed."""

    status = 403
    code = "forbidden"


class NotFoundError(DomainError):
    """No such object, or the caller may not see it."""

    status = 404
    code = "not_found"


class ConflictError(DomainError):
    """The request conflicts with the current state (a taken slot, a bad transition)."""

    status = 409
    code = "conflict"


class UnprocessableError(DomainError):
    """Well-formed and valid by the schema, but refused by a business rule (an expired
    reset token, a review of a booking not yet completed); 400 stays for requests that
    break the documented schema."""

    status = 422
    code = "unprocessable_entity"


class PayloadTooLargeError(DomainError):
    """The body or file is over its limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(DomainError):
    """The content type is not accepted."""

    status = 415
    code = "unsupported_media_type"


class RateLimitedError(DomainError):
    """Too many requests; retry later."""

    status = 429
    code = "rate_limited"


class ServiceUnavailableError(DomainError):
    """A dependency (MongoDB, Valkey) is unreachable; retry later."""

    status = 503
    code = "service_unavailable"
