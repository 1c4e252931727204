"""The OpenAPI security scheme of bearer access tokens, shared by every plugin's routes.

The token itself is issued and checked by the plugin that provides authentication (the
essential ``accounts`` plugin); a route that needs one declares ``security=SECURITY``.
"""

from __future__ import annotations

from typing import Any

BEARER = "BearerToken"
"""Name of the OpenAPI security scheme of access tokens."""
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
"""``security=`` of a route that needs an access token (OpenAPI)."""
OPTIONAL_SECURITY: list[dict[str, list[str]]] = [{}, {BEARER: []}]
"""``security=`` of a route that takes an access token but does not need one: anonymous
callers are served, a bad token is still a 401 (OpenAPI's ``{}`` alternative)."""


def security_schemes() -> dict[str, Any]:
    """The scheme for ``Components.security_schemes``."""
    from litestar.openapi.spec import SecurityScheme  # noqa: PLC0415 - Litestar lazily

    return {
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="An access token from /api/auth/login, /verify-otp or /refresh.",
        )
    }
