"""``/api/admin/toggles``: the switchboard for administrators (see :mod:`core.toggles`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, put
from litestar.params import JSONBody

from core.errors import UnauthorizedError
from core.http.deps import KeelDep
from core.http.guards import admin_only
from core.http.security import SECURITY
from core.pagination import Limit, Page, Paged
from core.toggles._models import ToggleChange

MAX_CHANGES = 50
ToggleKey = Annotated[
    str,
    msgspec.Meta(
        max_length=100,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$",
        description="A plugin name (`search`) or `<plugin>.<feature>` (`realtime.typing`).",
    ),
]


class PluginState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    active: bool
    default: bool
    """The state ``config.toml`` gives (``plugins.enabled`` on, ``plugins.standby`` off)."""
    source: str
    """``switchboard`` when an operator set it, else ``config``."""
    essential: bool
    """Always on: can't be switched off."""
    requires: list[str]


class FeatureState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    key: str
    """``<plugin>.<feature>``."""
    enabled: bool
    """On, as set (in effect only while its plugin is active)."""
    default: bool
    source: str
    description: str


class ToggleBoard(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    version: int
    """The switchboard's version (0: never changed; each change adds one)."""
    plugins: list[PluginState]
    features: list[FeatureState]
    changed: list[ToggleChange] = msgspec.field(default_factory=list)
    """What a ``PUT`` changed (empty when everything already was so)."""


class ToggleUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    changes: Annotated[dict[ToggleKey, bool], msgspec.Meta(min_length=1, max_length=MAX_CHANGES)]
    """Plugin names (``search``) and feature keys (``realtime.typing``) -> on."""


class ToggleRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    version: int
    at: datetime
    by: str
    source: str
    """``api``, ``cli`` or ``config apply``."""
    changes: list[ToggleChange]


def _board(keel: Any, changed: list[ToggleChange] | None = None) -> ToggleBoard:
    state = keel.toggles.describe()
    return ToggleBoard(
        version=state["version"],
        plugins=[PluginState(**p) for p in state["plugins"]],
        features=[FeatureState(**f) for f in state["features"]],
        changed=changed or [],
    )


@get("/", summary="The switchboard: plugins and features, on or off")
async def show_toggles(keel: KeelDep) -> ToggleBoard:
    """Every loaded plugin and declared feature, as this process follows them."""
    return _board(keel)


@put("/", summary="Switch plugins and features on every process")
async def set_toggles(
    keel: KeelDep, request: Request[Any, Any, Any], data: JSONBody[ToggleUpdate]
) -> ToggleBoard:
    """Switch plugins and features on or off live; every process follows within a second.
    404 names an unknown key; 409 refuses an essential plugin, or one an active plugin
    requires (naming it), or one switched on without what it requires."""
    authenticate = keel.host.authenticator()
    if authenticate is None:
        raise UnauthorizedError("no plugin authenticates callers")
    caller = await authenticate(request)
    changed = await keel.toggles.set(data.changes, by=f"user:{caller.id}", source="api")
    return _board(keel, changed)


@get("/history", summary="Who switched what, and when")
async def toggle_history(keel: KeelDep, page: Page = 1, limit: Limit = 20) -> Paged[ToggleRecord]:
    """The switchboard's changes, newest first."""
    items, total = await keel.toggles.history(page=page, limit=limit)
    return Paged(
        items=[msgspec.convert(i, ToggleRecord, from_attributes=False) for i in items],
        total=total,
        page=page,
        limit=limit,
    )


def toggles_router() -> Router:
    """``/admin/toggles`` (mounted under ``/api``; admins only), tagged ``admin``."""
    return Router(
        path="/admin/toggles",
        route_handlers=[show_toggles, set_toggles, toggle_history],
        guards=[admin_only],
        security=SECURITY,
        tags=["admin"],
    )
