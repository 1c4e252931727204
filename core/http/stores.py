"""Litestar stores on keel's shared Valkey client (``app.stores``).

The app is built before any connection is open, so the registry is bound to the client in
the lifespan (:meth:`KeelStores.bind`). Every store is namespaced under
``<valkey.key_prefix>:``, so deployments and tests sharing one Valkey never collide.
"""

from __future__ import annotations

from typing import Any

from litestar.stores.base import Store
from litestar.stores.registry import StoreRegistry
from litestar.stores.valkey import ValkeyStore

from core.http.ratelimit import STORE_NAME, RateLimitStore

__all__ = ["KeelStores"]


class KeelStores(StoreRegistry):
    """A store registry whose stores live in Valkey once :meth:`bind` has run.

    ``rate_limit`` is a :class:`RateLimitStore` under ``<prefix>:ratelimit``; any other
    name (``response_cache``, a plugin's own) is a ``ValkeyStore`` under
    ``<prefix>:store:<name>``.
    """

    __slots__ = ("_prefix", "_valkey")

    def __init__(self) -> None:
        super().__init__(default_factory=self._create)
        self._valkey: Any = None
        self._prefix = ""

    def bind(self, valkey: Any, key_prefix: str) -> None:
        """Point the registry at ``valkey`` (a ``valkey.asyncio.Valkey``); called at startup."""
        self._valkey = valkey
        self._prefix = key_prefix
        self._stores.clear()
        self.register(STORE_NAME, RateLimitStore(valkey, namespace=f"{key_prefix}:ratelimit"))

    def _create(self, name: str) -> Store:
        if self._valkey is None:
            raise RuntimeError(f"store {name!r} is not available before the app has started")
        return ValkeyStore(self._valkey, namespace=f"{self._prefix}:store:{name}")
