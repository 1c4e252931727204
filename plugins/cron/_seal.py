"""Encrypted backup archives: the gzip stream sealed in AES-256-GCM segments (STREAM).

An encrypted archive is a 48-byte header followed by segments::

    header   = MAGIC (8) | version (1) | salt (16) | nonce prefix (7) | key check (16)
    segment  = AES-256-GCM(key, nonce, plaintext, associated data) = ciphertext | tag (16)
    nonce    = nonce prefix (7) | segment index (4, big endian) | last flag (1)
    assoc.   = header (48) | segment index (4, big endian) | last flag (1)

Every segment but the last holds exactly ``SEGMENT`` bytes of plaintext; the last holds
1 to ``SEGMENT`` bytes (0 only when the whole plaintext is empty) and carries the last
flag. Reordered, dropped or changed segments, a truncated file, appended bytes and a
changed header all fail authentication (the header is part of every segment's associated
data).

``KEEL_BACKUP_KEY`` holds a passphrase of at least ``MIN_KEY_CHARS`` characters; the
archive's key is scrypt(passphrase, random salt) expanded with HKDF-SHA256 into the AES
key and a key check stored in the header, so a wrong passphrase is told apart from a
damaged archive. A random salt per file means a fresh key per file, so nonces never
repeat under one key.
"""

from __future__ import annotations

import hmac
import io
import os
import struct
from typing import IO, TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from plugins.cron.errors import BackupError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

KEY_ENV = "KEEL_BACKUP_KEY"
MIN_KEY_CHARS = 32
MAGIC = b"KEELBAK\x00"
VERSION = 1
SEGMENT = 64 * 1024
_TAG = 16
_SALT, _PREFIX, _CHECK = 16, 7, 16
_SALT_AT = len(MAGIC) + 1
_PREFIX_AT = _SALT_AT + _SALT
HEADER_SIZE = _PREFIX_AT + _PREFIX + _CHECK
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1  # 32 MiB, about 0.1 s
_MAX_SEGMENTS = 2**32


def backup_key() -> str:
    """The passphrase in ``KEEL_BACKUP_KEY``.

    Raises:
        BackupError: the variable is unset, empty or shorter than ``MIN_KEY_CHARS``.
    """
    value = os.environ.get(KEY_ENV, "")
    if not value:
        raise BackupError(f"{KEY_ENV} is not set: it must hold the backup passphrase")
    if len(value) < MIN_KEY_CHARS:
        raise BackupError(
            f"{KEY_ENV} must be at least {MIN_KEY_CHARS} characters long (it has {len(value)})"
        )
    return value


def _derive(passphrase: str, salt: bytes) -> tuple[bytes, bytes]:
    """The AES key and the key check of ``passphrase`` with ``salt``."""
    master = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        passphrase.encode()
    )

    def expand(info: bytes, length: int) -> bytes:
        return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(master)

    return expand(b"keel-backup aes-256-gcm key", 32), expand(b"keel-backup key check", _CHECK)


def _nonce_and_ad(header: bytes, index: int, last: bool) -> tuple[bytes, bytes]:
    if index >= _MAX_SEGMENTS:
        raise BackupError("archive too large: more than 2**32 encrypted segments")
    position = struct.pack(">IB", index, 1 if last else 0)
    return header[_PREFIX_AT : _PREFIX_AT + _PREFIX] + position, header + position


class SealingWriter(io.RawIOBase):
    """A write-only stream that encrypts what it is given into ``out``.

    :meth:`close` seals the last segment; it does not close ``out``.
    """

    def __init__(self, out: IO[bytes], passphrase: str) -> None:
        super().__init__()
        salt, prefix = os.urandom(_SALT), os.urandom(_PREFIX)
        key, check = _derive(passphrase, salt)
        self._out, self._aead, self._index = out, AESGCM(key), 0
        self._header = MAGIC + bytes([VERSION]) + salt + prefix + check
        self._pending = bytearray()
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        view = memoryview(data)
        self._pending += view
        # A full segment is sealed only once more data follows, so close() always has a
        # last segment to seal, even when the plaintext is a multiple of SEGMENT long.
        while len(self._pending) > SEGMENT:
            self._seal(bytes(self._pending[:SEGMENT]), last=False)
            del self._pending[:SEGMENT]
        return view.nbytes

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce, ad = _nonce_and_ad(self._header, self._index, last)
        self._out.write(self._aead.encrypt(nonce, plaintext, ad))
        self._index += 1

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._seal(bytes(self._pending), last=True)
        finally:  # closed even when sealing fails, or garbage collection would seal again
            self._pending.clear()
            super().close()


class Opener:
    """The key of one encrypted archive, checked against its header once for every pass."""

    def __init__(self, src: IO[bytes], passphrase: str, name: str) -> None:
        header = src.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
            raise BackupError(f"{name}: not an encrypted keel backup (bad header)")
        if header[len(MAGIC)] != VERSION:
            raise BackupError(
                f"{name}: encrypted archive version {header[len(MAGIC)]} is not supported "
                f"(this keel reads version {VERSION})"
            )
        salt = header[_SALT_AT:_PREFIX_AT]
        key, check = _derive(passphrase, salt)
        if not hmac.compare_digest(check, header[-_CHECK:]):
            raise BackupError(f"{name}: wrong {KEY_ENV} (or a damaged archive header)")
        self.header, self.name, self._aead = header, name, AESGCM(key)

    def reader(self, src: IO[bytes]) -> OpeningReader:
        """A reader of the plaintext of ``src``, positioned at its start."""
        src.seek(HEADER_SIZE)
        return OpeningReader(src, self)

    def open_segment(self, ciphertext: bytes, index: int, *, last: bool) -> bytes:
        """The plaintext of segment ``index``; raises :class:`BackupError` when it fails."""
        nonce, ad = _nonce_and_ad(self.header, index, last)
        try:
            return self._aead.decrypt(nonce, ciphertext, ad)
        except InvalidTag:
            pass
        if last and len(ciphertext) == SEGMENT + _TAG:
            nonce, ad = _nonce_and_ad(self.header, index, last=False)
            try:
                self._aead.decrypt(nonce, ciphertext, ad)
            except InvalidTag:
                pass
            else:
                raise BackupError(f"{self.name}: truncated archive (ends after segment {index})")
        raise BackupError(
            f"{self.name}: segment {index} fails authentication: "
            "the archive is damaged, truncated or was tampered with"
        )


class OpeningReader(io.RawIOBase):
    """A read-only stream of the authenticated plaintext of an encrypted archive."""

    def __init__(self, src: IO[bytes], opener: Opener) -> None:
        super().__init__()
        self._src, self._opener, self._index = src, opener, 0
        self._ahead: bytes | None = src.read(SEGMENT + _TAG)
        self._plain, self._offset = b"", 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        return super().read(size) or b""

    def readinto(self, buffer: WriteableBuffer) -> int:
        while self._offset >= len(self._plain):
            if self._ahead is None:
                return 0
            self._next_segment()
        view = memoryview(buffer).cast("B")
        count = min(view.nbytes, len(self._plain) - self._offset)
        view[:count] = self._plain[self._offset : self._offset + count]
        self._offset += count
        return count

    def _next_segment(self) -> None:
        current = self._ahead or b""
        # Reading one segment ahead tells whether this one is the last.
        ahead = self._src.read(SEGMENT + _TAG) if len(current) == SEGMENT + _TAG else b""
        last = not ahead
        self._plain = self._opener.open_segment(current, self._index, last=last)
        self._offset, self._index = 0, self._index + 1
        self._ahead = None if last else ahead
