"""Uploads, built into the core: ``/api/uploads`` and the ``uploads.make_thumbnail`` job.

Files stream to a staging file (size, count and type checked as they arrive; the type is
sniffed from the bytes), then go to a :class:`~plugins.uploads.storage.Storage` (a local
directory by default) under a server-generated name; the record lives in the ``uploads``
collection. Images get a WebP thumbnail from a job on the ``image`` queue.

What the app and runtime use: :func:`route_handlers`, :func:`models` and
:func:`plugins.uploads.jobs.jobs` (registered by :func:`core.jobs.core_jobs`).
Other code may use :class:`Storage`, :func:`storage_for` and the record,
:class:`plugins.uploads.documents.Upload`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .storage import LocalStorage, Storage, storage_for

if TYPE_CHECKING:
    from core.settings import UploadsSettings

__all__ = ["LocalStorage", "Storage", "models", "route_handlers", "storage_for"]


def route_handlers(settings: UploadsSettings) -> list[Any]:
    """The ``/uploads`` router for the app to mount under ``/api``."""
    from .routes import route_handlers as handlers  # noqa: PLC0415 - keeps Litestar lazy

    return list(handlers(settings))


def models() -> list[Any]:
    """The uploads' odmantic models, whose indexes the runtime creates at startup."""
    from .documents import MODELS  # noqa: PLC0415

    return list(MODELS)
