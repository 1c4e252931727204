"""HTTP plumbing of the app: error bodies, middleware, rate limits, stores, guards, deps.

What route authors use::

    from core.http import KeelDep, admin_only

    @get("/things", opt={"rate_limit": ("minute", 30)})
    async def list_things(keel: KeelDep) -> list[Thing]: ...
"""

from core.http.deps import KeelDep, provide_keel
from core.http.errors import error_response
from core.http.guards import admin_only
from core.http.middleware import server_send
from core.http.ratelimit import OPT_KEY as RATE_LIMIT_OPT

__all__ = [
    "RATE_LIMIT_OPT",
    "KeelDep",
    "admin_only",
    "error_response",
    "provide_keel",
    "server_send",
]
