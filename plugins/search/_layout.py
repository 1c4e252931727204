"""The index directory of one host: generations, the live pointer, locks and cursors.

::

    <index_dir>/CURRENT          the live generation's name (replaced atomically)
    <index_dir>/PENDING          a finished rebuild waiting for the writer to swap it in
    <index_dir>/writer.lock      held (flock) by the one process that writes the index
    <index_dir>/reindex.lock     held while a rebuild runs
    <index_dir>/<generation>/    a tantivy index, plus ``keel.json``: the schema version
                                 and the feed position its last commit includes
    <index_dir>/tmp-<name>/      a rebuild in progress
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec

from plugins.search._schema import SCHEMA_VERSION

TMP = "tmp-"
STALE_S = 30.0
"""Generations neither live nor pending are removed this long after they were replaced."""
ABANDONED_S = 3600.0
"""A rebuild directory untouched this long belongs to a rebuild that died."""


class GenerationMeta(msgspec.Struct, frozen=True, kw_only=True):
    """``keel.json`` of a generation."""

    schema: int
    cursor: str
    """The last change-feed entry the generation's last commit includes (``0-0``: none)."""


@dataclass(frozen=True)
class Layout:
    """Paths and small atomic files of one index directory."""

    root: Path

    @classmethod
    def of(cls, index_dir: str, *, create: bool = True) -> Layout:
        """The layout of ``index_dir`` (created if missing, unless ``create`` is false:
        a reader never creates it)."""
        root = Path(index_dir).resolve()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    def _read(self, name: str) -> str | None:
        try:
            return (self.root / name).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _write(self, name: str, value: str) -> None:
        tmp = self.root / f".{name}.{secrets.token_hex(4)}"
        tmp.write_text(value, encoding="utf-8")
        os.replace(tmp, self.root / name)

    def current(self) -> str | None:
        """The live generation, if any."""
        name = self._read("CURRENT")
        return name if name and (self.root / name).is_dir() else None

    def set_current(self, name: str) -> None:
        """Make ``name`` live (readers follow within ``refresh_ms``)."""
        self._write("CURRENT", name)

    def pending(self) -> str | None:
        """A finished rebuild waiting to be swapped in."""
        name = self._read("PENDING")
        return name if name and (self.root / name).is_dir() else None

    def set_pending(self, name: str | None) -> None:
        """Hand a finished rebuild to the writer (None: clear)."""
        if name is None:
            with contextlib.suppress(FileNotFoundError):
                (self.root / "PENDING").unlink()
        else:
            self._write("PENDING", name)

    def new_name(self) -> str:
        """A fresh generation name that sorts after older ones."""
        return f"g{time.time_ns():x}-{secrets.token_hex(3)}"

    def path(self, name: str) -> Path:
        """The directory of generation ``name``."""
        return self.root / name

    def meta(self, name: str) -> GenerationMeta | None:
        """``keel.json`` of ``name``; None when missing, unreadable or another schema."""
        try:
            meta = msgspec.json.decode(
                (self.path(name) / "keel.json").read_bytes(), type=GenerationMeta
            )
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        return meta if meta.schema == SCHEMA_VERSION else None

    def set_cursor(self, name: str, cursor: str) -> None:
        """Record that generation ``name`` includes the feed up to ``cursor`` (after a commit)."""
        body = msgspec.json.encode(GenerationMeta(schema=SCHEMA_VERSION, cursor=cursor))
        tmp = self.path(name) / f".keel.json.{secrets.token_hex(4)}"
        tmp.write_bytes(body)
        os.replace(tmp, self.path(name) / "keel.json")

    def remove_stale(self) -> None:
        """Remove generations neither live nor pending once :data:`STALE_S` old (readers
        have moved on by then), and rebuilds abandoned for :data:`ABANDONED_S`."""
        keep = {self.current(), self.pending()}
        for entry in self.root.iterdir():
            if not entry.is_dir() or entry.name in keep:
                continue
            age = time.time() - entry.stat().st_mtime
            if age > (ABANDONED_S if entry.name.startswith(TMP) else STALE_S):
                shutil.rmtree(entry, ignore_errors=True)


class FileLock:
    """A non-blocking exclusive ``flock`` (released when the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when taken (or already held)."""
        if self._file is not None:
            return True
        file = self.path.open("ab")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        """Give the lock up."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
