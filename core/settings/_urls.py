"""The URLs of the settings, checked when they load, and the public base of links.

An unknown scheme used to pass ``keel config check`` and crash the first client that read
the URL (SAQ's redis-py refuses ``valkey://``); now it is a configuration error with its
dotted path, and :func:`redis_url` hands redis-py a scheme it knows. ``[app] public_url``
must be an http(s) URL; :func:`public_link` builds every absolute link keel mails.
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


def _sentinel_problem(settings: Settings) -> str | None:
    conf = settings.valkey
    if not conf.sentinels:
        return None
    if not conf.url:  # empty would start the embedded valkey-server instead
        return (
            "valkey.url: required with valkey.sentinels, for the scheme, password and"
            " database (e.g. valkey://:PASSWORD@mymaster/0; its host is not used)"
        )
    if urlsplit(conf.url).scheme.lower() == "unix":
        return "valkey.url: a unix:// socket cannot be used with valkey.sentinels"
    return None


def _public_url_problem(url: str) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    web = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    extras = parts.query or parts.fragment or parts.username or parts.password
    if web and not extras:
        return None
    return (
        f"app.public_url: {url!r} is not an http:// or https:// URL with a host and no"
        " credentials, query or fragment (e.g. https://market.example.com)"
    )


def url_problems(settings: Settings) -> list[str]:
    """Every ``database.url`` / ``valkey.url`` whose scheme no client of keel accepts, a
    ``valkey.sentinels`` without a usable ``valkey.url``, and a bad ``app.public_url``."""
    found = [
        _problem("database.url", settings.database.url, MONGO_SCHEMES),
        _problem("valkey.url", settings.valkey.url, VALKEY_SCHEMES),
        _sentinel_problem(settings),
        _public_url_problem(settings.app.public_url),
    ]
    return [p for p in found if p]


def public_url(settings: Settings) -> str:
    """``[app] public_url`` without a trailing slash; ``http://127.0.0.1:<port>`` if empty."""
    return settings.app.public_url.rstrip("/") or f"http://127.0.0.1:{settings.server.port}"


def public_link(settings: Settings, target: str) -> str:
    """An absolute link for an email: ``target`` as is when it is already absolute
    (``https://app.example.com/reset``), else joined to :func:`public_url` (``/reset``)."""
    if urlsplit(target).scheme.lower() in ("http", "https"):
        return target
    return f"{public_url(settings)}/{target.lstrip('/')}"


def redis_url(url: str) -> str:
    """``url`` for redis-py (SAQ): ``valkey://`` -> ``redis://``, ``valkeys://`` -> ``rediss://``."""
    scheme, sep, rest = url.partition("://")
    return f"{_REDIS_SCHEME.get(scheme.lower(), scheme)}{sep}{rest}"
