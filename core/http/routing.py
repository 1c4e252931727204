"""A Router whose ``OPTIONS`` answers list every method of a path.

Litestar answers ``OPTIONS`` with a handler it creates when it first builds the route of
a path, and that handler's ``Allow`` lists the methods of *that* route object. When a
second controller or router adds methods to the same path, Litestar builds a new route
that keeps the old ``OPTIONS`` handler: ``Allow`` then leaves out the methods added later
(``Allow: OPTIONS, POST`` on a path that also has ``GET``). :class:`KeelRouter` rebuilds
each route it registers without the stale handler, so the new route makes a fresh one;
the app puts every route under one :class:`KeelRouter`, so no path escapes it.

The fresh handler belongs to the :class:`KeelRouter`, not to the controller of the
path's first handler: which methods a path has is public (the OpenAPI document lists
them), so ``OPTIONS`` answers without the guards of a controller (an admin-only one
would answer 401).
"""

from __future__ import annotations

from litestar import Router
from litestar.handlers import HTTPRouteHandler
from litestar.routes import BaseRoute, HTTPRoute
from litestar.types import ControllerRouterHandler

__all__ = ["KeelRouter"]

_AUTO_OPTIONS = f"{HTTPRoute.create_options_handler.__qualname__}.<locals>.options_handler"


def _is_auto_options(handler: HTTPRouteHandler) -> bool:
    """Whether ``handler`` is an ``OPTIONS`` handler Litestar made (not a route's own)."""
    return getattr(handler.fn, "__qualname__", "") == _AUTO_OPTIONS


class KeelRouter(Router):
    """A :class:`litestar.Router` that gives each path one ``OPTIONS`` answer listing all
    of its methods."""

    def register(self, value: ControllerRouterHandler) -> list[BaseRoute]:
        """Register ``value`` as Litestar does, then rebuild its routes' ``OPTIONS``."""
        routes = super().register(value)
        for position, route in enumerate(routes):
            if not isinstance(route, HTTPRoute):
                continue
            handlers = [h for h in route.route_handlers if not _is_auto_options(h)]
            if len(handlers) == len(route.route_handlers):
                continue  # the path has an OPTIONS handler of its own
            fresh = HTTPRoute(path=route.path, route_handlers=handlers)
            for handler in fresh.route_handlers:
                if _is_auto_options(handler):
                    handler.owner = self
            self.routes[self.routes.index(route)] = fresh
            routes[position] = fresh
        return routes
