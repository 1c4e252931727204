"""The development pages' switch: turned on by ``keel run`` alone, never by configuration.

The SMTP sink's page (``/dev/mailbox``: every one-time code and reset link), the realtime
demo page and localstripe's public webhook secret exist only while this process runs
``keel run``. The switch is process state that only the ``keel run`` command sets, on
purpose not a setting: ``config.toml`` and ``KEEL_*`` variables reach ``keel serve`` as
well, so a setting could switch the pages on in production, while nothing a ``keel serve``
process (or one of its uvicorn workers, each a fresh process) reads can set this.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import NotFoundError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
"""Host names that always mean the loopback interface."""


@dataclass(frozen=True)
class DevPages:
    """How this process serves the development pages."""

    admins_only: bool
    """``keel run --public`` on a non-loopback address: each page needs an admin's token."""


_serving: DevPages | None = None


def dev_pages() -> DevPages | None:
    """The development pages of this process; None: there are none (anything but ``keel run``)."""
    return _serving


@contextlib.contextmanager
def serving_dev_pages(*, admins_only: bool) -> Iterator[DevPages]:
    """Serve the development pages while the block runs (``keel run``; tests standing in for it).

    Args:
        admins_only: refuse them to anyone but an admin (401 anonymous, 403 otherwise).
    """
    global _serving  # noqa: PLW0603 - the switch is process state, set by one command
    previous, _serving = _serving, DevPages(admins_only=admins_only)
    try:
        yield _serving
    finally:
        _serving = previous


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on the loopback interface only.

    ``""``, ``0.0.0.0`` and ``::`` listen everywhere; a host name other than ``localhost``
    may resolve to anything, so it counts as public.
    """
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def dev_pages_only(connection: Any, handler: Any) -> None:
    """Litestar guard of a development page: 404 outside ``keel run``, admins only if public.

    Checked on every request, so a page mounted by mistake still answers nothing.

    Raises:
        NotFoundError: this process serves no development pages.
        UnauthorizedError: public mode and no valid access token (401).
        ForbiddenError: public mode and a user who is not an admin (403).
    """
    pages = dev_pages()
    if pages is None:
        raise NotFoundError("no such page", details={"path": connection.url.path[:64]})
    if pages.admins_only:
        from core.http.guards import admin_only  # noqa: PLC0415 - Litestar only in API processes

        await admin_only(connection, handler)
