"""Database backup and restore: one gzip archive of framed BSON per backup.

The archive is a gzip stream of frames, each one kind byte followed by one BSON document:

- ``H`` header: ``{"format": "keel-backup", "version": 1, "database", "created_at"}``;
- ``C`` a collection: ``{"name", "options", "indexes": [index specs]}``, then
- ``D`` each of its documents, byte for byte as the server returned them;
- ``E`` the end: ``{"collections": {name: count}}``; an archive without it is truncated.

Documents stream through in batches of ``batch_size`` (compression runs in a thread), so
neither side ever holds a collection in memory. The dump is not a point-in-time snapshot:
writes during a backup may or may not be in it.
"""

from __future__ import annotations

import asyncio
import gzip
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from plugins.cron.errors import BackupError

FORMAT = "keel-backup"
VERSION = 1
SUFFIX = ".keelbak.gz"
_RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
_INDEX_DROP = frozenset({"v", "ns", "key"})


@dataclass
class BackupSummary:
    """What a backup wrote."""

    path: str
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


def _frame(kind: bytes, doc: Any) -> bytes:
    return kind + bson.encode(doc)


async def backup_database(
    db: AsyncIOMotorDatabase[Any], directory: Path, *, batch_size: int = 500, keep: int = 0
) -> BackupSummary:
    """Dump every collection of ``db`` into a new archive in ``directory``.

    Args:
        db: the database to dump.
        directory: where the archive goes (created if missing).
        batch_size: documents per read and per compressed write.
        keep: when positive, delete all but the newest ``keep`` archives of ``db`` after.

    Returns:
        The archive's path, documents per collection, size and the archives deleted.
    """
    started = time.monotonic()
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{db.name}-{stamp}{SUFFIX}"
    partial = path.with_name(path.name + ".partial")
    summary = BackupSummary(path=str(path))
    header = {"format": FORMAT, "version": VERSION, "database": db.name}
    try:
        with gzip.open(partial, "wb", compresslevel=6) as out:
            await asyncio.to_thread(out.write, _frame(b"H", {**header, "created_at": stamp}))
            async for info in await db.list_collections():
                name = str(info["name"])
                if name.startswith("system.") or info.get("type", "collection") != "collection":
                    continue
                summary.collections[name] = await _dump(db[name], info, out, batch_size)
            end = {"collections": summary.collections}
            await asyncio.to_thread(out.write, _frame(b"E", end))
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    summary.bytes = path.stat().st_size
    if keep > 0:
        summary.deleted = prune_backups(directory, db.name, keep)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


async def _dump(
    collection: AsyncIOMotorCollection[Any], info: Any, out: gzip.GzipFile, batch_size: int
) -> int:
    indexes = [_index_spec(ix) async for ix in collection.list_indexes()]
    meta = {"name": collection.name, "options": dict(info.get("options", {})), "indexes": indexes}
    await asyncio.to_thread(out.write, _frame(b"C", meta))
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
    """Delete all but the newest ``keep`` archives of ``database``; the deleted paths."""
    archives = sorted(directory.glob(f"{database}-*{SUFFIX}"))
    doomed = archives[: max(len(archives) - keep, 0)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return [str(p) for p in doomed]


def _frames(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with gzip.open(path, "rb") as src:
        while kind := src.read(1):
            size_bytes = src.read(4)
            if len(size_bytes) < 4:  # noqa: PLR2004
                raise BackupError(f"{path}: truncated archive")
            (size,) = struct.unpack("<i", size_bytes)
            body = src.read(size - 4)
            if len(body) < size - 4:
                raise BackupError(f"{path}: truncated archive")
            yield kind, size_bytes + body


def _next_batch(frames: Iterator[tuple[bytes, bytes]], size: int) -> list[tuple[bytes, bytes]]:
    batch = []
    for item in frames:
        batch.append(item)
        if len(batch) >= size:
            break
    return batch


async def restore_database(
    db: AsyncIOMotorDatabase[Any], path: Path, *, batch_size: int = 500
) -> RestoreSummary:
    """Load archive ``path`` into ``db``, which must hold no documents.

    Collections that exist already (e.g. made by index creation at startup) are reused;
    their indexes are created as the archive has them.

    Raises:
        BackupError: ``db`` is not empty, or the archive is not a complete keel backup.
    """
    started = time.monotonic()
    if not await asyncio.to_thread(path.is_file):
        raise BackupError(f"{path}: no such archive")
    for name in await db.list_collection_names():
        if not name.startswith("system.") and await db[name].find_one({}, {"_id": 1}):
            raise BackupError(f"database {db.name!r} is not empty (collection {name!r})")
    loader = _Loader(db, batch_size, RestoreSummary(database=db.name))
    frames = _frames(path)
    while batch := await asyncio.to_thread(_next_batch, frames, batch_size):
        for kind, body in batch:
            await loader.feed(kind, body)
    loader.check(path)
    loader.summary.seconds = round(time.monotonic() - started, 3)
    return loader.summary


class _Loader:
    """Restore's state machine over the archive's frames."""

    def __init__(
        self, db: AsyncIOMotorDatabase[Any], batch_size: int, summary: RestoreSummary
    ) -> None:
        self.db, self.batch_size, self.summary = db, batch_size, summary
        self.header: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.meta: dict[str, Any] | None = None
        self.pending: list[RawBSONDocument] = []

    async def feed(self, kind: bytes, body: bytes) -> None:
        if self.header is None:
            header = bson.decode(body)
            if kind != b"H" or header.get("format") != FORMAT:
                raise BackupError("not a keel backup archive")
            self.header = header
        elif kind == b"D" and self.meta is not None:
            self.pending.append(RawBSONDocument(body))
            if len(self.pending) >= self.batch_size:
                await self._flush()
        elif kind in (b"C", b"E"):
            await self._close_collection()
            if kind == b"C":
                await self._open_collection(bson.decode(body))
            else:
                self.end = bson.decode(body)
        else:
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
