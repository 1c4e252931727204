"""The schemes a MongoDB or Valkey URL may use, checked when settings load.

An unknown scheme used to pass ``keel config check`` and crash the first client that read
the URL (SAQ's redis-py refuses ``valkey://``); now it is a configuration error with its
dotted path, and :func:`redis_url` hands redis-py a scheme it knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from core.settings._types import Settings

VALKEY_SCHEMES = ("valkey", "valkeys", "redis", "rediss", "unix")
"""``valkeys`` and ``rediss`` are TLS; ``unix`` is a socket path (``unix:///run/v.sock``)."""
MONGO_SCHEMES = ("mongodb", "mongodb+srv")
_REDIS_SCHEME = {"valkey": "redis", "valkeys": "rediss"}


def _problem(path: str, url: str, schemes: tuple[str, ...]) -> str | None:
    if not url:  # empty: keel run starts the embedded server
        return None
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in schemes:
        return None
    allowed = ", ".join(f"{s}://" for s in schemes)
    shown = f"{scheme}://" if scheme else "no scheme"
    return f"{path}: unknown URL scheme ({shown}); use one of {allowed}"


def url_problems(settings: Settings) -> list[str]:
    """Every ``database.url`` / ``valkey.url`` whose scheme no client of keel accepts."""
    found = [
        _problem("database.url", settings.database.url, MONGO_SCHEMES),
        _problem("valkey.url", settings.valkey.url, VALKEY_SCHEMES),
    ]
    return [p for p in found if p]


def redis_url(url: str) -> str:
    """``url`` for redis-py (SAQ): ``valkey://`` -> ``redis://``, ``valkeys://`` -> ``rediss://``."""
    scheme, sep, rest = url.partition("://")
    return f"{_REDIS_SCHEME.get(scheme.lower(), scheme)}{sep}{rest}"
