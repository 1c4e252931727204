"""The archive format: writing a new archive, opening one (plain or encrypted) and its checks."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import bson
from bson.errors import BSONError

from plugins.cron._seal import KEY_ENV, MAGIC, Opener, OpeningReader, SealingWriter
from plugins.cron.errors import BackupError

FORMAT = "keel-backup"
VERSION = 2
"""Version 2 added the ``sha256`` of the end frame; version 1 archives still restore."""
READABLE = (1, 2)
CHECKSUM_SINCE = 2
"""The first version whose end frame has a ``sha256``."""
SUFFIX = ".keelbak.gz"
ENCRYPTED_SUFFIX = ".keelbak.gz.enc"
_GZIP_MAGIC = b"\x1f\x8b"
_KINDS = frozenset((b"C", b"D", b"E"))
_MAX_FRAME = 64 * 1024 * 1024
"""Far above BSON's 16 MiB limit; a bigger size is a damaged length, not a document."""

Frames = Iterator[tuple[bytes, bytes]]
_ARCHIVE_MODE, _DIRECTORY_MODE = 0o600, 0o700


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def frame(kind: bytes, doc: Any) -> bytes:
    """One frame: ``kind`` and the BSON of ``doc``."""
    return kind + bson.encode(doc)


def private_directory(directory: Path) -> None:
    """Create ``directory`` with mode 0700, or tighten it to 0700."""
    directory.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode != _DIRECTORY_MODE:  # pre-existing, or mkdir's mode narrowed by the umask
        try:
            directory.chmod(_DIRECTORY_MODE)
        except OSError as exc:
            raise BackupError(
                f"backup directory {directory} has mode {mode:04o} and cannot be made 0700 "
                f"({exc.strerror}); use a directory of its own"
            ) from exc


class Writer:
    """The archive being written: a new 0600 file, gzip (and encryption) over it."""

    def __init__(self, partial: Path, key: str | None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._file = os.fdopen(os.open(partial, flags, _ARCHIVE_MODE), "wb")
        try:
            os.fchmod(self._file.fileno(), _ARCHIVE_MODE)  # exactly 0600, whatever the umask
            self._sealed = SealingWriter(self._file, key) if key is not None else None
            sink: SealingWriter | io.BufferedWriter = self._sealed or self._file
            self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6)
        except BaseException:
            self._file.close()
            raise
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self._gzip.write(data)

    def finish(self, collections: dict[str, int]) -> None:
        """Write the end frame, then flush everything to disk."""
        end = {"collections": collections, "sha256": self._digest.hexdigest()}
        self._gzip.write(frame(b"E", end))
        self._gzip.close()
        if self._sealed is not None:
            self._sealed.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def close(self) -> None:
        """Release the file (after :meth:`finish`, or when the backup failed)."""
        # Closed here rather than at garbage collection, where their last writes would
        # hit a closed file; what they write goes to a partial file that is deleted.
        for layer in (self._gzip, self._sealed):
            if layer is not None:
                with contextlib.suppress(OSError, ValueError):
                    layer.close()
        self._file.close()


def decode(body: bytes, name: str) -> dict[str, Any]:
    """The BSON document ``body`` of archive ``name``."""
    try:
        return bson.decode(body)
    except (BSONError, ValueError) as exc:
        raise BackupError(f"{name}: damaged archive (bad BSON: {exc})") from exc


class Source:
    """One open archive, read from its start on every call of :meth:`frames`.

    Restore reads the same open file twice (verify, then load), so replacing the path
    between the passes does not change what is loaded.
    """

    def __init__(self, src: IO[bytes], path: Path, key: str | None) -> None:
        self.src, self.name = src, str(path)
        head = src.read(len(MAGIC))
        src.seek(0)
        self.opener: Opener | None = None
        self.encrypted = head == MAGIC
        if self.encrypted:
            if key is None:
                raise BackupError(f"{path}: the archive is encrypted: set {KEY_ENV}")
            self.opener = Opener(src, key, self.name)
        elif not head.startswith(_GZIP_MAGIC):
            raise BackupError(f"{path}: not a keel backup archive")

    def frames(self) -> Frames:
        """Every frame, checked as :func:`checked_frames` does."""
        self.src.seek(0)
        inner: OpeningReader | IO[bytes] = self.opener.reader(self.src) if self.opener else self.src
        return checked_frames(gzip.GzipFile(filename="", mode="rb", fileobj=inner), self.name)


def _raw_frames(src: _Readable, name: str) -> Frames:
    while kind := src.read(1):
        size_bytes = src.read(4)
        if len(size_bytes) < 4:  # noqa: PLR2004
            raise BackupError(f"{name}: truncated archive")
        (size,) = struct.unpack("<i", size_bytes)
        if not 5 <= size <= _MAX_FRAME:  # noqa: PLR2004 - the smallest BSON document
            raise BackupError(f"{name}: damaged archive (frame of {size} bytes)")
        body = src.read(size - 4)
        if len(body) < size - 4:
            raise BackupError(f"{name}: truncated archive")
        yield kind, size_bytes + body


def checked_frames(src: _Readable, name: str) -> Frames:
    """The frames of the uncompressed stream ``src``: ``H`` first, ``E`` last.

    The ``E`` frame is yielded only once the ``sha256`` in it matches every byte before it
    (version 2), and nothing may follow it.

    Raises:
        BackupError: not a keel archive, an unsupported version, a damaged or truncated
            stream, or a checksum mismatch.
    """
    digest, version = hashlib.sha256(), 0
    try:
        for kind, body in _raw_frames(src, name):
            if not version:
                version = _version(kind, body, name)
            elif kind == b"E":
                _check_end(decode(body, name), digest.hexdigest(), version, name)
                if src.read(1):
                    raise BackupError(f"{name}: damaged archive (data after the end frame)")
                yield kind, body
                return
            elif kind not in _KINDS:
                raise BackupError(f"{name}: damaged archive (unexpected frame {kind!r})")
            digest.update(kind)
            digest.update(body)
            yield kind, body
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BackupError(f"{name}: damaged archive ({exc})") from exc
    raise BackupError(f"{name}: truncated archive (no end marker)")


def _version(kind: bytes, body: bytes, name: str) -> int:
    header = decode(body, name)
    if kind != b"H" or header.get("format") != FORMAT:
        raise BackupError(f"{name}: not a keel backup archive")
    version = header.get("version")
    if version not in READABLE:
        raise BackupError(
            f"{name}: archive format version {version!r} is not supported "
            f"(this keel reads versions {', '.join(map(str, READABLE))})"
        )
    return int(version)


def _check_end(end: dict[str, Any], actual: str, version: int, name: str) -> None:
    if version >= CHECKSUM_SINCE and end.get("sha256") != actual:
        raise BackupError(f"{name}: checksum mismatch: the archive is damaged or was tampered with")


def verify(frames: Frames, name: str) -> int:
    """Read every frame and check the counts in the end frame; the archive's version.

    Raises:
        BackupError: as :func:`checked_frames`, or a document outside a collection, or
            counts that differ from the end frame's.
    """
    counts: dict[str, int] = {}
    version, current, end = 0, "", None
    for kind, body in frames:
        if kind == b"H":
            version = int(decode(body, name)["version"])
        elif kind == b"C":
            current = str(decode(body, name).get("name", ""))
            counts[current] = 0
        elif kind == b"D" and current:
            counts[current] += 1
        elif kind == b"E":
            end = decode(body, name)
        else:
            raise BackupError(f"{name}: damaged archive (document before any collection)")
    expected = dict((end or {}).get("collections", {}))
    if expected != counts:
        raise BackupError(f"{name}: counts differ: {expected} != {counts}")
    return version
