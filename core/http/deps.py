"""The ``keel`` dependency: route handlers reach the runtime context through it.

::

    from core.http import KeelDep

    @get("/things")
    async def list_things(keel: KeelDep) -> list[Thing]:
        return await keel.db.find(Thing)
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from core.context import Keel

__all__ = ["KeelDep", "dependencies", "provide_keel"]

KeelDep = NamedDependency[SkipValidation[Keel]]
"""Annotation of a handler parameter named ``keel`` (the runtime context, not validated)."""


def provide_keel(request: Request[Any, Any, Any]) -> Keel:
    """The :class:`Keel` opened by the app's lifespan (``request.app.state.keel``)."""
    keel: Keel = request.app.state.keel
    return keel


def dependencies() -> dict[str, Provide]:
    """App-level dependencies: ``keel``."""
    return {"keel": Provide(provide_keel, sync_to_thread=False)}
