"""Database backup and restore: one gzip archive of framed BSON per backup.

The archive is a gzip stream of frames, each one kind byte followed by one BSON document:

- ``H`` header: ``{"format": "keel-backup", "version": 2, "database", "created_at"}``;
- ``C`` a collection: ``{"name", "options", "indexes": [index specs]}``, then
- ``D`` each of its documents, byte for byte as the server returned them;
- ``E`` the end: ``{"collections": {name: count}, "sha256": hex}``, the SHA-256 of every
  uncompressed byte before it; an archive without it is truncated.

With a key (``keel backup --encrypt``) the gzip stream is encrypted in authenticated
segments (see :mod:`plugins.cron._seal`) and the archive ends in ``.keelbak.gz.enc``.
Archives are created mode 0600 in a directory of mode 0700, written under a temporary
name and renamed when complete.

Documents stream through in batches of ``batch_size`` (compression runs in a thread), so
neither side ever holds a collection in memory. The dump is not a point-in-time snapshot:
writes during a backup may or may not be in it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from plugins.cron._archive import (
    CHECKSUM_SINCE,
    ENCRYPTED_SUFFIX,
    FORMAT,
    SUFFIX,
    VERSION,
    Frames,
    Source,
    Writer,
    decode,
    frame,
    private_directory,
    verify,
)
from plugins.cron._seal import KEY_ENV, MIN_KEY_CHARS, backup_key
from plugins.cron.errors import BackupError

__all__ = [
    "ENCRYPTED_SUFFIX",
    "FORMAT",
    "KEY_ENV",
    "MIN_KEY_CHARS",
    "SUFFIX",
    "VERSION",
    "BackupSummary",
    "RestoreSummary",
    "backup_database",
    "backup_key",
    "prune_backups",
    "restore_database",
]

_RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
_INDEX_DROP = frozenset({"v", "ns", "key"})
_STAMP = r"\d{8}T\d{12}Z"


@dataclass
class BackupSummary:
    """What a backup wrote."""

    path: str
    encrypted: bool = False
    collections: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    deleted: list[str] = field(default_factory=list)


@dataclass
class RestoreSummary:
    """What a restore loaded."""

    database: str
    collections: dict[str, int] = field(default_factory=dict)
    indexes: int = 0
    seconds: float = 0.0
    encrypted: bool = False
    verified: bool = True
    """False for a version-1 archive, which has no checksum to verify."""


async def backup_database(
    db: AsyncIOMotorDatabase[Any],
    directory: Path,
    *,
    batch_size: int = 500,
    keep: int = 0,
    key: str | None = None,
) -> BackupSummary:
    """Dump every collection of ``db`` into a new archive in ``directory``.

    Args:
        db: the database to dump.
        directory: where the archive goes (created, or tightened, to mode 0700).
        batch_size: documents per read and per compressed write.
        keep: when positive, delete all but the newest ``keep`` archives of ``db`` after.
        key: when given, the passphrase the archive is encrypted with.

    Returns:
        The archive's path, documents per collection, size and the archives deleted.
    """
    started = time.monotonic()
    await asyncio.to_thread(private_directory, directory)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{db.name}-{stamp}{SUFFIX if key is None else ENCRYPTED_SUFFIX}"
    partial = directory / f".{path.name}.{secrets.token_hex(4)}.partial"
    summary = BackupSummary(path=str(path), encrypted=key is not None)
    header = {"format": FORMAT, "version": VERSION, "database": db.name, "created_at": stamp}
    try:
        out = await asyncio.to_thread(Writer, partial, key)
        try:
            await asyncio.to_thread(out.write, frame(b"H", header))
            async for info in await db.list_collections():
                name = str(info["name"])
                if name.startswith("system.") or info.get("type", "collection") != "collection":
                    continue
                summary.collections[name] = await _dump(db[name], info, out, batch_size)
            await asyncio.to_thread(out.finish, summary.collections)
        finally:
            await asyncio.to_thread(out.close)
        await asyncio.to_thread(partial.rename, path)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    summary.bytes = (await asyncio.to_thread(path.stat)).st_size
    if keep > 0:
        summary.deleted = await asyncio.to_thread(prune_backups, directory, db.name, keep)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


async def _dump(
    collection: AsyncIOMotorCollection[Any], info: Any, out: Writer, batch_size: int
) -> int:
    indexes = [_index_spec(ix) async for ix in collection.list_indexes()]
    meta = {"name": collection.name, "options": dict(info.get("options", {})), "indexes": indexes}
    await asyncio.to_thread(out.write, frame(b"C", meta))
    raw = collection.with_options(codec_options=_RAW)
    count, chunk = 0, bytearray()
    async for doc in raw.find({}, batch_size=batch_size):
        chunk += b"D" + doc.raw
        count += 1
        if count % batch_size == 0:
            await asyncio.to_thread(out.write, bytes(chunk))
            chunk.clear()
    if chunk:
        await asyncio.to_thread(out.write, bytes(chunk))
    return count


def _index_spec(index: Any) -> dict[str, Any]:
    spec = {k: v for k, v in dict(index).items() if k not in ("v", "ns")}
    spec["key"] = dict(spec["key"].items())
    return spec


def prune_backups(directory: Path, database: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` archives of ``database``; the deleted paths.

    Plain and encrypted archives count alike; only names ``<database>-<stamp><suffix>``
    match, so another database whose name starts the same is left alone.
    """
    suffixes = "|".join(re.escape(s) for s in (SUFFIX, ENCRYPTED_SUFFIX))
    pattern = re.compile(f"{re.escape(database)}-({_STAMP})(?:{suffixes})")
    archives = sorted(
        (match[1], path) for path in directory.iterdir() if (match := pattern.fullmatch(path.name))
    )
    doomed = [path for _, path in archives[: max(len(archives) - keep, 0)]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return [str(p) for p in doomed]


def _next_batch(frames: Frames, size: int) -> list[tuple[bytes, bytes]]:
    batch = []
    for item in frames:
        batch.append(item)
        if len(batch) >= size:
            break
    return batch


async def restore_database(
    db: AsyncIOMotorDatabase[Any], path: Path, *, batch_size: int = 500, key: str | None = None
) -> RestoreSummary:
    """Load archive ``path`` into ``db``, which must hold no documents.

    The whole archive is verified (decrypted and authenticated, checksum and counts) before
    anything is written to ``db``. Collections that exist already (e.g. made by index
    creation at startup) are reused; their indexes are created as the archive has them.

    Args:
        db: the empty database to load.
        path: a plain or an encrypted archive.
        batch_size: documents per insert.
        key: the passphrase of an encrypted archive.

    Raises:
        BackupError: ``db`` is not empty, the key is missing or wrong, or the archive is
            not a complete, intact keel backup.
    """
    started = time.monotonic()
    if not await asyncio.to_thread(path.is_file):
        raise BackupError(f"{path}: no such archive")
    for name in await db.list_collection_names():
        if not name.startswith("system.") and await db[name].find_one({}, {"_id": 1}):
            raise BackupError(f"database {db.name!r} is not empty (collection {name!r})")
    src = await asyncio.to_thread(path.open, "rb")
    try:
        source = await asyncio.to_thread(Source, src, path, key)
        # Verifying first reads (and decrypts) the archive twice, but nothing reaches the
        # database from an archive that is damaged, truncated or tampered with.
        version = await asyncio.to_thread(verify, source.frames(), source.name)
        summary = RestoreSummary(
            db.name, encrypted=source.encrypted, verified=version >= CHECKSUM_SINCE
        )
        loader = _Loader(db, batch_size, summary, source.name)
        frames = source.frames()
        while batch := await asyncio.to_thread(_next_batch, frames, batch_size):
            for kind, body in batch:
                await loader.feed(kind, body)
    finally:
        await asyncio.to_thread(src.close)
    loader.check(path)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


class _Loader:
    """Restore's state machine over the (already verified) frames of the archive."""

    def __init__(
        self, db: AsyncIOMotorDatabase[Any], batch_size: int, summary: RestoreSummary, name: str
    ) -> None:
        self.db, self.batch_size, self.summary, self.name = db, batch_size, summary, name
        self.end: dict[str, Any] | None = None
        self.meta: dict[str, Any] | None = None
        self.pending: list[RawBSONDocument] = []

    async def feed(self, kind: bytes, body: bytes) -> None:
        if kind == b"D" and self.meta is not None:
            self.pending.append(RawBSONDocument(body))
            if len(self.pending) >= self.batch_size:
                await self._flush()
        elif kind in (b"C", b"E"):
            await self._close_collection()
            if kind == b"C":
                await self._open_collection(decode(body, self.name))
            else:
                self.end = decode(body, self.name)
        elif kind != b"H":
            raise BackupError(f"unexpected frame {kind!r}")

    async def _open_collection(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        name = str(meta["name"])
        self.summary.collections[name] = 0
        if name not in await self.db.list_collection_names(filter={"name": name}):
            await self.db.create_collection(name, **meta.get("options", {}))

    async def _flush(self) -> None:
        if self.pending and self.meta is not None:
            collection = self.db[str(self.meta["name"])]
            await collection.insert_many(self.pending, ordered=True)
            self.summary.collections[collection.name] += len(self.pending)
            self.pending = []

    async def _close_collection(self) -> None:
        if self.meta is None:
            return
        await self._flush()
        models = [
            pymongo.IndexModel(
                list(spec["key"].items()), **{k: v for k, v in spec.items() if k not in _INDEX_DROP}
            )
            for spec in self.meta["indexes"]
            if spec.get("name") != "_id_"
        ]
        if models:
            await self.db[str(self.meta["name"])].create_indexes(models)
            self.summary.indexes += len(models)
        self.meta = None

    def check(self, path: Path) -> None:
        if self.end is None:
            raise BackupError(f"{path}: truncated archive (no end marker)")
        expected = dict(self.end.get("collections", {}))
        if expected != self.summary.collections:
            raise BackupError(f"{path}: counts differ: {expected} != {self.summary.collections}")
