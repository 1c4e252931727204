"""The development signing key: random, made once, kept under the data directory."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

KEY_FILE = "jwt_secret"
"""Its file name in the data directory (mode 0600)."""
KEY_BYTES = 64
"""Random bytes in a new key (long enough for HS512)."""
log = logging.getLogger("core.devstack")


def new_key() -> str:
    """A fresh random signing key."""
    return secrets.token_urlsafe(KEY_BYTES)


def dev_signing_key(data_dir: Path) -> str:
    """The key in ``data_dir/jwt_secret``, created (mode 0600) on first use.

    ``keel run`` signs with it when ``auth.jwt_secret`` is empty, so tokens survive a
    restart of the development server; nothing else ever reads or writes it.
    """
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, new_key().encode())
        finally:
            os.close(fd)
        log.info("devstack: made a development signing key in %s", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("devstack: %s was readable by others (mode %o); now 0600", path, mode)
        path.chmod(0o600)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < KEY_BYTES:  # empty or cut short (e.g. a crash while writing): replace it
        key = new_key()
        path.write_text(key, encoding="utf-8")
    return key
