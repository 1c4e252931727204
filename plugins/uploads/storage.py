"""Where upload bytes live: a small :class:`Storage` interface and the local-directory backend.

Incoming files are first streamed to a staging file on local disk (so that size, type
and count are checked before anything is stored), then handed to :meth:`Storage.save`.
An S3-compatible backend implements the same four methods (``save`` uploads the staged
file, ``open`` streams the object) and is chosen in :func:`storage_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio

from core.stash import StashKey

if TYPE_CHECKING:
    from core.context import Keel
    from core.settings import UploadsSettings

__all__ = ["CHUNK_BYTES", "LocalStorage", "Storage", "staging_dir", "storage_for"]

CHUNK_BYTES = 64 * 1024
"""Size of the chunks read from storage."""
_SAFE_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.")


@runtime_checkable
class Storage(Protocol):
    """The bytes of uploads, by server-generated name (``<id>.<ext>``)."""

    async def save(self, name: str, staged: Path) -> None:
        """Store the finished staging file ``staged`` as ``name`` (consumes ``staged``)."""
        ...

    def open(self, name: str) -> AsyncIterator[bytes]:
        """The bytes of ``name`` in chunks (raises ``FileNotFoundError`` when iterated)."""
        ...

    async def delete(self, name: str) -> None:
        """Remove ``name``; no error when it is already gone."""
        ...

    async def exists(self, name: str) -> bool:
        """Whether ``name`` is stored."""
        ...


class LocalStorage:
    """Files in one local directory; names are checked so nothing escapes it.

    Args:
        root: the directory (created on first save).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path(self, name: str) -> Path:
        """The file of ``name``.

        Raises:
            ValueError: ``name`` is not a server-generated name (a path, ``..``, ...).
        """
        if not name or name.startswith(".") or not set(name) <= _SAFE_NAME:
            raise ValueError(f"invalid storage name {name!r}")
        return self.root / name

    async def save(self, name: str, staged: Path) -> None:
        """Move ``staged`` into place (a rename on the same file system)."""
        target = self.path(name)
        await asyncio.to_thread(self._move, staged, target)

    @staticmethod
    def _move(staged: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staged.replace(target)
        except OSError:
            shutil.move(staged, target)

    async def open(self, name: str) -> AsyncIterator[bytes]:
        """Stream the file in :data:`CHUNK_BYTES` chunks."""
        async with await anyio.open_file(self.path(name), "rb") as file:
            while chunk := await file.read(CHUNK_BYTES):
                yield chunk

    async def delete(self, name: str) -> None:
        """Remove the file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(self.path(name)).unlink()

    async def exists(self, name: str) -> bool:
        """Whether the file exists."""
        return await anyio.Path(self.path(name)).is_file()


_STORAGE = StashKey[Storage]("uploads.storage")


def storage_for(keel: Keel) -> Storage:
    """The process's upload storage for ``keel.settings.uploads`` (made once, then cached)."""
    return keel.stash.get_or_create(_STORAGE, lambda: LocalStorage(keel.settings.uploads.dir))


def staging_dir(settings: UploadsSettings) -> Path:
    """Local directory where incoming files stream before :meth:`Storage.save`.

    Inside the local backend's directory, so that saving is a rename.
    """
    return Path(settings.dir).resolve() / ".incoming"
