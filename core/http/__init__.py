"""HTTP plumbing of the app: error bodies, middleware, rate limits, stores, guards, deps.

What route authors use::

    from core.http import KeelDep, admin_only, error_responses

    @get("/things", opt={"rate_limit": ("minute", 30)}, responses=error_responses(409))
    async def list_things(keel: KeelDep) -> list[Thing]: ...
"""

from core.http.deps import KeelDep, provide_keel
from core.http.errors import error_response
from core.http.guards import admin_only
from core.http.middleware import server_send
from core.http.openapi import error_responses
from core.http.ratelimit import OPT_KEY as RATE_LIMIT_OPT
from core.http.security import OPTIONAL_SECURITY, SECURITY

__all__ = [
    "OPTIONAL_SECURITY",
    "RATE_LIMIT_OPT",
    "SECURITY",
    "KeelDep",
    "admin_only",
    "error_response",
    "error_responses",
    "provide_keel",
    "server_send",
]
